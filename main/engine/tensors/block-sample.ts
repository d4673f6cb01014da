// The block sample of a tensor (TIES's sampled plan, merge/methods/_ties-sample.ts). Each whole
// block of `block` values is cut into `runs` equal parts and `run` consecutive values are read from
// each, at a pseudo-random run-aligned place; the run from part r of block b goes to sub-sample
// (r + rot(b)) mod runs (rot: a pseudo-random rotation per block), at position b of it. The sample
// is laid out sub-sample by sub-sample (blocks·run values each), then the tail past the last whole
// block verbatim.
// Why this shape: sampling inside every block (every page of a weight matrix), at several places,
// keeps every row and many columns represented — rows and columns of fine-tuning deltas differ in
// scale, and a sample of whole chunks (whole rows) estimated the k-th magnitude several times less
// precisely. Every sub-sample covers every block, so they differ only by the random places: the
// spread between them measures the sample's error (sub-samples of different blocks measured the
// differences between blocks instead, which the full sample does not suffer from).
// The addon (sampleMapped) reads files the same way; blockPhase is its exact JS twin.

export interface BlockSpec {
  block: number
  /** parts per block = sub-samples */
  runs: number
  /** values read from each part */
  run: number
  /** varies the places per tensor */
  seed: number
}

/** An integer hash of (seed, key) reduced to [0, span) (the addon's BlockPhase, bit for bit). */
export function blockPhase(seed: number, key: number, span: number): number {
  let h = (Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(key + 1, 0x85ebca6b)) >>> 0
  h ^= h >>> 15; h = Math.imul(h, 0x2c1b3c6d) >>> 0; h ^= h >>> 12
  return (h >>> 0) % span
}

export interface BlockLayout {
  /** whole blocks (each stands for `block` values) */
  blocks: number
  /** values per sub-sample: sub-sample g at [g·groupLength, (g + 1)·groupLength) */
  groupLength: number
  /** the tail's length, at [runs·groupLength, total) */
  tail: number
  total: number
}

export function blockLayout(n: number, s: BlockSpec): BlockLayout {
  checkBlockSpec(s)
  const blocks = Math.floor(n / s.block)
  const groupLength = blocks * s.run
  const tail = n - blocks * s.block
  return { blocks, groupLength, tail, total: s.runs * groupLength + tail }
}

/** Throws unless runs divides block and run divides block/runs. */
export function checkBlockSpec(s: BlockSpec): void {
  const ok = s.runs > 0 && s.run > 0 && s.block % s.runs === 0 && (s.block / s.runs) % s.run === 0
  if (!ok) throw new Error(`block sample: runs (${s.runs}) must divide the block (${s.block}) and the run (${s.run}) its parts`)
}

/**
 * Block b's rotation and the places of its runs (run-aligned offsets into the block): one hash
 * per block, then an LCG stream — the addon's sampleMapped, bit for bit.
 */
export function blockPlaces(s: BlockSpec, b: number): { rot: number; at: number[] } {
  const part = s.block / s.runs, span = part / s.run
  let x = blockPhase(s.seed, b, 0xffffffff)
  const rot = x % s.runs
  const at: number[] = []
  for (let r = 0; r < s.runs; r++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0
    at.push(r * part + ((x >>> 8) % span) * s.run)
  }
  return { rot, at }
}

/** The block sample of `data` into `out` (at least blockLayout(…).total long). */
export function sampleBlocksOf(data: Float32Array, s: BlockSpec, out: Float32Array): void {
  const { blocks, groupLength } = blockLayout(data.length, s)
  for (let b = 0; b < blocks; b++) {
    const { rot, at } = blockPlaces(s, b)
    for (let r = 0; r < s.runs; r++) {
      const from = b * s.block + at[r]
      out.set(data.subarray(from, from + s.run), ((r + rot) % s.runs) * groupLength + b * s.run)
    }
  }
  out.set(data.subarray(blocks * s.block), s.runs * groupLength)
}
