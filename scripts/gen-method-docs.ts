// Generates docs/methods.md, the method catalogue, from the parameter schemas in
// main/engine/merge/methods/* plus the hand-written notes on variants below.
//   npx tsx scripts/gen-method-docs.ts          write docs/methods.md
//   npx tsx scripts/gen-method-docs.ts --check  exit 1 when docs/methods.md is out of date
import { readFileSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { MethodInfo, ParamSpec } from '#common/types'
import { listMethods } from '../main/engine/merge/registry'

const OUT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', 'docs', 'methods.md')

/** Hand-written notes: where our defaults follow FusionBench and what the `variant` options change. */
const NOTES: Record<string, string> = {
  simple_average: 'float32 sum of the fine-tuned models divided by N (FusionBench `state_dict_avg`). Integer buffers are copied from the base.',
  task_arithmetic: 'Computed with the fused kernel (Σθ_i − N·θ0 in float64, one rounding); FusionBench sums float32 task vectors — the two agree to float32 rounding.',
  ties_merging: 'Default = FusionBench: one threshold per task over the whole flattened task vector (the exact k-th smallest |τ|, never an N×d matrix), k = d − int(d·K), every |τ| ≥ threshold kept (ties included, so int(d·K)+1 entries on distinct values); elected sign = sgn(Σ trimmed) with exact zeros replaced by the global majority sign; `merge_func` sum/mean/max. One read pass on pools of ≥ 4 M values per task (sampled plan): a block sample of 1/16 of every page (8 runs of 8 values per 4 KiB, read through a mapping of the page cache) places each threshold in a narrow band of ranks (z = 6 standard errors, the error measured by the spread of 8 sub-samples that each cover every page); the merge pass finishes every coordinate whose trim is certain, counts the entries below each band, sets aside the coordinates with an entry inside a band (≈ 2 %) or an exactly zero mass (which needs the majority sign), settles the exact thresholds from them and patches those coordinates into the written tensors. The result never depends on the sample: a band that misses its threshold is detected by the counts, and the thresholds are then selected exactly and the merge redone (diagnostics: plan, bandMisses). Otherwise (smaller pools, bands wider than 5 % of coordinates, sources without block samples) two read passes: a selection pass histograms the top 21 bits of |τ_t| to find the bucket holding each threshold, then the same merge pass (sinks without patch: held, or three passes above AMALGAM_MERGE_HOLD_BYTES). With a workspace cache the thresholds of an earlier run on the pool are reused: one pass. `merge_func=max` keeps the three-pass path. `variant=mergekit`: per tensor, exactly int(K·n) entries (ties by index), zero mass counts as +.',
  dare_task_arithmetic: 'Masks drawn from one torch.manual_seed(seed) MT19937 stream, model-major then tensor-major in sorted key order, u = (mt & 0xFFFFFF)·2⁻²⁴, keep where u > float32(p), survivors ÷ float32(1 − p). The masks are bit sets drawn before the merge (1/32 of a model per model). FusionBench iterates `named_parameters()` in module order; our key order is sorted, so the exact FusionBench masks are reproduced only where the two orders agree (documented gap). `variant=mergekit`: keep where u < 1 − p and rescale to the tensor L1 norm.',
  dare_ties_merging: 'DARE drop and rescale, then the FusionBench TIES pipeline on τ̃ (the random masks are identical in every pass because they are drawn once).',
  dare_simple_average: 'The average of the models θ0 + τ̃_t.',
  tsvm: 'Rank per task r = int(min(m,n)·(1/N)) (a float product); blocks placed in task order; U and V replaced by their polar factors; σ kept. Tensors that are not 2-D get FusionBench’s running mean of τ; α scales everything. SVDs in float64 (LAPACK gesdd through the native addon).',
  iso_c: 'Σ τ computed as float32 sum/N then ×N as FusionBench does; all min(m,n) singular values replaced by their mean.',
  iso_cts: 'Split c = int(k·f), T = round_half_even((k − c)/N)·N, c = k − T, per-task d = T/N; blocks [task 0 … task N−1, common]; σ = mean of all placed values. f = 1 reduces to Iso-C.',
  model_stock: 'FusionBench: float32 cosines with +1e-8 in the denominator, averaged as angles; `variant=mergekit` averages the cosines. t is not clamped (negative cosines extrapolate).',
  slerp: 'Exactly two models; v0 = first model in the pool; lerp when |cos| > DOT_THRESHOLD. The base is not used.',
  nuslerp: 'mergekit semantics; the axis of the per-vector mode is stated explicitly: row_wise=false slerps W[i,:], row_wise=true slerps W[:,j].',
  breadcrumbs: 'Official per-row mask (last axis). `variant=mergekit` is per tensor and keeps the ascending ranks [n_bot, n − n_top) — without mergekit’s n_top = 0 bug that zeroes the tensor.',
  della: 'Per-row rank-based keep probabilities. The random stream is per (seed, model index, tensor name), so results do not depend on tensor order (no FusionBench implementation to match). `consensus=sum` is mergekit `della` (sign election + disjoint mean), `none` is `della_linear`.',
  consensus_ta: 'TALL masks from τ_MTL = Σ τ (unscaled) with a fixed λ (data-free), each task’s mask computed independently (FusionBench’s helper re-binds one dict so that all masks equal the last one; that defect is not reproduced). Single pass, per tensor. A TIES-based τ_MTL is not offered yet.',
  tall_mask_task_arithmetic: 'Writes one model per task (runMerge with `sinks`).',
  pcb: 'The authors’ packaged PCB_merge, global per task, in five streaming passes: exact clip quantiles (index-based order statistics of |τ|), then the exact (1 − r)-quantile and maximum of the score per task (signed selection), then the weighted merge. `variant=vit` uses the ViT files’ inter-balance term; set `clip_ratio=0.01` for their clip ratio.',
  emr_merging: 'Two passes: the per-task rescalers (sum over tensors of per-tensor mean |·|) first, then one modulated model per task. A task whose mask is empty gets rescaler 0.',
  doge_ta: 'FusionBench semantics: filter "encoder" ∧ ¬"layer_norm" ∧ "weight" (2-D); λ_i = η/‖τ_i‖ (0 for a zero τ); shared subspace from the per-task top-⌊min/N⌋ left singular vectors, k_s = ⌊min/subspace⌋; closed-form row-wise gradient; projection g − U_s(U_sᵀg) through BLAS; float32 Adam in PyTorch’s update order; global top-K % mask per task from the original τ (exact selection); everything else θ0. `variant=sgd` is the paper’s exact projected gradient descent.',
  awd: 'Port semantics (official code unreleased): one global δ, δ(0) = 0, plain gradient descent. Because δ stays in span{τ_i}, the optimisation runs exactly on N coefficients through the N×N Gram matrix (one read pass), then one pass writes θ0 + λ Σ (1 − N·c_j) τ_j.',
  knots: 'One fp64 SVD per target matrix of the side-by-side concatenation [ΔW_1 … ΔW_N] (σ ≤ 1e-5 dropped); R_t = S·V_tᵀ per task; TIES on the R_t with one exact threshold per task over all target matrices (kth-value semantics of §29, ties kept), sign by the summed values with FusionBench’s majority fallback, disjoint mean; θ = θ0 + α·U·R_m on the targets, θ0 elsewhere. U and every R_t are held until the merge (≈ 1.1 GB for ViT-B/32 × 8).',
  wudi: 'Adam (lr 1e-5) from the TA sum; gradient 2(τ_m A − C) with A = Σ τ̂ᵀτ̂ and C = Σ τ_t A_t precomputed, one BLAS product per step. `variant=official`: block linear weights only, all else θ0.',
}

const NOT_IMPLEMENTED: Array<[string, string]> = [
  ['KnOTS on adapter folders', 'the `knots` method reads full checkpoints (ΔW_t = θ_t − θ0 of the target matrices). A PEFT LoRA adapter folder (adapter_model.safetensors with lora_A/lora_B) is not read directly: merge it into its base first (PEFT `merge_and_unload`), which gives the same ΔW_t = (α/r)·B_t·A_t up to float32 rounding. KnOTS-DARE-TIES (DARE on R_t) is not offered.'],
]

function fmt(v: unknown): string {
  if (v === '') return '""'
  if (Array.isArray(v)) return `[${v.join(', ')}]`
  return String(v)
}

function paramRow(p: ParamSpec): string {
  const range = p.type === 'enum' ? (p.choices ?? []).join(' \\| ') : p.min !== undefined || p.max !== undefined ? `[${p.min ?? '−∞'}, ${p.max ?? '∞'}]` : ''
  return `| \`${p.name}\` | ${p.type} | \`${fmt(p.default)}\` | ${range} | ${p.description.replace(/\|/g, '\\|')} | ${(p.citation ?? '').replace(/\|/g, '\\|')} |`
}

function section(m: MethodInfo): string {
  const lines = [`<a id="${m.name}"></a>`, '', `## \`${m.name}\` — ${m.title}`, '', m.description, '', `*Family:* ${m.family}${m.perTask ? ' · *output:* one model per task' : ''}  `, `*Source:* ${m.citation}`, '']
  if (m.params.length) {
    lines.push('| parameter | type | default | range / choices | meaning | default from |', '|---|---|---|---|---|---|', ...m.params.map(paramRow), '')
  } else lines.push('No parameters.', '')
  if (m.presets?.length) lines.push('Presets: ' + m.presets.map((p) => `**${p.name}** (${Object.entries(p.params).map(([k, v]) => `${k}=${fmt(v)}`).join(', ')})${p.note ? ` — ${p.note}` : ''}`).join('; '), '')
  if (NOTES[m.name]) lines.push(`**Semantics and variants.** ${NOTES[m.name]}`, '')
  return lines.join('\n')
}

export function render(): string {
  const methods = listMethods()
  const head = [
    '# Merge methods',
    '',
    '<!-- generated by scripts/gen-method-docs.ts from the method schemas; edit the schemas or the notes in that script, not this file -->',
    '',
    'Every method is one file under `main/engine/merge/methods/`, declaring its parameter schema (the CLI `--set key=value`, recipes, the UI forms and this page all read it). Names follow FusionBench’s configs; defaults are FusionBench’s where it has the method (methods.md §29), and mergekit / paper semantics are offered as `variant` parameters.',
    '',
    '| method | title | family | parameters |',
    '|---|---|---|---|',
    ...methods.map((m) => `| [\`${m.name}\`](#${m.name}) | ${m.title} | ${m.family}${m.perTask ? ', per task' : ''} | ${m.params.map((p) => `\`${p.name}\``).join(', ') || '—'} |`),
    '',
    'Run a method: `amalgam merge --base DIR --model DIR … --method NAME [--set key=value …] [--seed N] --out DIR`; list them: `amalgam methods [--json]`. In code: `runMerge({ method, params, seed, pool, sink | sinks, ctx })` (main/engine/merge/run.ts).',
    '',
  ]
  const tail = ['## Not implemented', '', ...NOT_IMPLEMENTED.map(([n, why]) => `- **${n}**: ${why}`), '']
  return [...head, ...methods.map(section), ...tail].join('\n')
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const text = render()
  if (process.argv.includes('--check')) {
    let cur = ''
    try { cur = readFileSync(OUT, 'utf8') } catch { /* missing counts as stale */ }
    if (cur !== text) { console.error(`${OUT} is out of date: run npx tsx scripts/gen-method-docs.ts`); process.exit(1) }
  } else {
    writeFileSync(OUT, text)
    console.log(`wrote ${OUT} (${listMethods().length} methods)`)
  }
}
