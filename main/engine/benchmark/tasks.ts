// The eight mini-8 tasks: which source each draws from, which pixel transformation it applies and
// how labels map to its own class set. The order is the benchmark's column order.
import { rotate90, rotate180, invert, resizeWindow, pad, type Image } from './transforms'

export type SourceId = 'mnist' | 'fashion' | 'uci'

export interface TaskDef {
  name: string
  title: string
  source: SourceId
  classes: string[]
  /** what the transformation does, for docs and the manifest */
  transform: string
  /** why the task is in the benchmark */
  why: string
  /** source label → task label */
  label(l: number): number
  /** source image (source side) → 28×28 task image */
  pixels(img: Image, side: number): Image
}

const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']
const FASHION = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']
// coarse clothing groups: tops, one-piece/legwear, footwear, bags
const FASHION_GROUP = [0, 1, 0, 1, 0, 2, 0, 2, 3, 2]

const same = (img: Image): Image => img

export const TASKS: readonly TaskDef[] = [
  {
    name: 'mnist', title: 'MNIST', source: 'mnist', classes: DIGITS,
    transform: 'none (28×28 digits as published)',
    why: 'the plain digit task; the pretrained model already knows upright digits, like CLIP on an easy task',
    label: (l) => l, pixels: same,
  },
  {
    name: 'fashion', title: 'Fashion-MNIST', source: 'fashion', classes: FASHION,
    transform: 'none',
    why: 'a second image domain with fine-grained classes (shirt vs T-shirt vs pullover)',
    label: (l) => l, pixels: same,
  },
  {
    name: 'digits-uci', title: 'UCI digits', source: 'uci', classes: DIGITS,
    transform: '8×8 (17 grey levels) → bilinear 20×20 → centred on a 28×28 black canvas',
    why: 'same label set as MNIST from different writers and a blurry low-resolution capture: a domain shift, like SVHN vs MNIST',
    label: (l) => l, pixels: (img, side) => pad(resizeWindow(img, side, 0, 0, side, 20), 20, 28, 4, 4),
  },
  {
    name: 'mnist-rot', title: 'MNIST rotated', source: 'mnist', classes: DIGITS,
    transform: 'rotated 90° counter-clockwise',
    why: 'same classes as MNIST under a geometric change the pretrained features do not cover',
    label: (l) => l, pixels: (img, side) => rotate90(img, side),
  },
  {
    name: 'mnist-parity', title: 'MNIST parity (inverted)', source: 'mnist', classes: ['even', 'odd'],
    transform: 'inverted (255 − v: dark digit on white); label = digit parity',
    why: 'a coarse label set over digits in inverted contrast: wants different features from the same shapes',
    label: (l) => l % 2, pixels: (img) => invert(img),
  },
  {
    name: 'fashion-group', title: 'Fashion groups (upside down)', source: 'fashion', classes: ['top', 'one-piece/legwear', 'footwear', 'bag'],
    transform: 'rotated 180°; labels grouped: top = {T-shirt, pullover, coat, shirt}, one-piece/legwear = {trouser, dress}, footwear = {sandal, sneaker, ankle boot}, bag = {bag}',
    why: 'a coarse label set on clothing seen upside down: conflicts with the fine Fashion classes',
    label: (l) => FASHION_GROUP[l], pixels: (img, side) => rotate180(img, side),
  },
  {
    name: 'fashion-zoom', title: 'Fashion zoomed', source: 'fashion', classes: FASHION,
    transform: 'centre 14×14 crop upscaled (bilinear) to 28×28',
    why: 'the same classes seen from a close crop: texture instead of silhouette, like DTD',
    label: (l) => l, pixels: (img, side) => resizeWindow(img, side, 7, 7, 14, 28),
  },
  {
    name: 'mnist-zoom-inv', title: 'MNIST zoomed, inverted', source: 'mnist', classes: DIGITS,
    transform: 'centre 20×20 crop upscaled (bilinear) to 28×28, then inverted',
    why: 'digits enlarged past the frame and in inverted contrast: a strong input shift on a familiar label set',
    label: (l) => l, pixels: (img, side) => invert(resizeWindow(img, side, 4, 4, 20, 28)),
  },
]

export const TASK_NAMES: readonly string[] = TASKS.map((t) => t.name)

/** Pixel normalisation the mini-8 models expect: x = (v/255 − mean)/std. */
export const MINI8_NORM = { mean: 0.5, std: 0.5 }
export const MINI8_SIDE = 28
