// Types for core.mjs (plain JS so that worker threads can load it without a TS loader).
type F32 = Float32Array
export interface TaskArithmeticArgs { out: F32; base: F32; models: readonly F32[]; lambda: number }
export interface WeightedSumArgs { out: F32; arrays: readonly F32[]; weights: ArrayLike<number>; accumulate?: boolean }
export interface AxpyArgs { out: F32; a: number; x: F32 }
export interface SubArgs { out: F32; x: F32; y: F32 }
export interface ScaleArgs { out: F32; a: number }
export interface ClampArgs { out: F32; x: F32; lo: number; hi: number }
export interface TrimAbsArgs { out: F32; x: F32; threshold: number }
export interface MaskedSumArgs { out: F32; arrays: readonly F32[]; masks: readonly Uint8Array[]; weights?: ArrayLike<number> }
export interface SignElectArgs { out: F32; arrays: readonly F32[] }
export interface DisjointMergeArgs { out: F32; arrays: readonly F32[]; sign: F32; mean: boolean }

export interface KernelArgs {
  taskArithmetic: TaskArithmeticArgs
  weightedSum: WeightedSumArgs
  axpy: AxpyArgs
  sub: SubArgs
  scale: ScaleArgs
  clamp: ClampArgs
  trimAbs: TrimAbsArgs
  maskedSum: MaskedSumArgs
  signElect: SignElectArgs
  disjointMerge: DisjointMergeArgs
}
export type KernelOp = keyof KernelArgs

export function taskArithmetic(args: TaskArithmeticArgs, start: number, end: number): void
export function weightedSum(args: WeightedSumArgs, start: number, end: number): void
export function axpy(args: AxpyArgs, start: number, end: number): void
export function sub(args: SubArgs, start: number, end: number): void
export function scale(args: ScaleArgs, start: number, end: number): void
export function clamp(args: ClampArgs, start: number, end: number): void
export function trimAbs(args: TrimAbsArgs, start: number, end: number): void
export function maskedSum(args: MaskedSumArgs, start: number, end: number): void
export function signElect(args: SignElectArgs, start: number, end: number): void
export function disjointMerge(args: DisjointMergeArgs, start: number, end: number): void
export const KERNELS: { [K in KernelOp]: (args: KernelArgs[K], start: number, end: number) => void }
