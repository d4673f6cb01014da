// Real CLIP models from local files: base + fine-tuned vision towers, zero-shot text heads, the
// FusionBench evaluation protocol and the TA8 folder layout.
export { ClipTokenizer, loadClipTokenizer, bytesToUnicode, cleanText } from './tokenizer'
export { type ClipTextConfig, textConfigFromHf, textParamShapes, eosPositions } from './text-config'
export { ClipText } from './text-model'
export { openClipBase, type ClipBase } from './base'
export { buildZeroShotHead, zeroShotHeadCached, headCacheKey, type ZeroShotHead } from './heads'
export { TA8_TASKS, TEMPLATES, CLASS_NAMES, canonicalTask, templatesFor, fillTemplates, type Ta8Task } from './templates'
export { openClipPool, PrefixSource, OverlaySource, type ClipPool } from './pool'
export { evaluateClipTasks, resolveClassNames, resolveTemplates, zeroShotLogits, type ClipEvalOptions, type ClipEvalTask } from './evaluate'
export { ta8Layout, TA8_MODELS, TA8_EXPERT_ACCURACY, type Ta8Layout, type Ta8Model } from './ta8'
