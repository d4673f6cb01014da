// Writes a CLIP vision state dict as a Hugging Face CLIPVisionModel folder (config.json,
// preprocessor_config.json, model.safetensors), atomically as a whole folder.
import type { MemTensor } from '../tensors/source'
import { AtomicDir, writeFileAtomic } from '../util/atomic'
import { writeSafetensors } from '../safetensors/writer'
import { configToHf, type ClipVisionConfig } from '../model/config'
import { MINI8_NORM } from '../benchmark/tasks'

export async function writeClipFolder(dir: string, cfg: ClipVisionConfig, sd: Map<string, MemTensor>, metadata: Record<string, string> = {}): Promise<void> {
  const out = await AtomicDir.create(dir, { overwrite: true })
  try {
    await writeFileAtomic(out.path('config.json'), JSON.stringify(configToHf(cfg), null, 2) + '\n')
    await writeFileAtomic(out.path('preprocessor_config.json'), JSON.stringify({
      image_processor_type: 'CLIPImageProcessor', do_resize: false, do_center_crop: false,
      do_rescale: true, rescale_factor: 1 / 255, do_normalize: true,
      image_mean: Array(cfg.numChannels).fill(MINI8_NORM.mean), image_std: Array(cfg.numChannels).fill(MINI8_NORM.std),
      do_convert_rgb: false,
    }, null, 2) + '\n')
    const names = [...sd.keys()].sort()
    await writeSafetensors(out.path('model.safetensors'), new Map(names.map((n) => [n, { dtype: 'F32' as const, shape: sd.get(n)!.shape, data: sd.get(n)!.data }])), { format: 'pt', ...metadata })
    await out.commit()
  } catch (e) {
    await out.abort()
    throw e
  }
}
