// models/checkpoint.ts: model files are safetensors whose `__metadata__.onestep` holds the JSON needed to rebuild the
// model (kind, network config, σ_data) and the recipe that made it, so `onestep sample` needs nothing but the file.
import * as os from '../engine';
import { FormatError } from '../engine/errors';
import { EDMDenoiser } from './edm';
import { MLPScoreNet, type MLPScoreNetConfig } from './mlp';
import { UNet, type UNetConfig } from './unet';

export type ModelMeta = ModelMetaBase & ({ net: 'mlp'; netConfig: MLPScoreNetConfig } | { net: 'unet'; netConfig: UNetConfig });

interface ModelMetaBase {
  kind: 'edm-denoiser';
  sigmaData: number;
  /** Data set the model was trained on (toy2d name or 'mnist'). */
  data: string;
  /** Free-form: command, steps, seed, wall time, adapter, metrics. */
  recipe?: Record<string, unknown>;
  /** For generators: the fixed σ at which x = D(σ·z; σ). */
  generatorSigma?: number;
}

export const META_KEY = 'onestep';

export function buildDenoiser(meta: ModelMeta): EDMDenoiser {
  if (meta.kind !== 'edm-denoiser') throw new FormatError(`checkpoint: unknown model kind "${meta.kind}"`);
  if (meta.net === 'mlp') return new EDMDenoiser(new MLPScoreNet(meta.netConfig), { sigmaData: meta.sigmaData });
  if (meta.net === 'unet') return new EDMDenoiser(new UNet(meta.netConfig), { sigmaData: meta.sigmaData });
  throw new FormatError(`checkpoint: unknown network "${(meta as { net: string }).net}" (this build knows: mlp, unet)`);
}

/** The shape of one sample the model denoises: [dim] for the MLP, [C, H, W] for the UNet. */
export function sampleShapeOf(meta: ModelMeta): number[] {
  return meta.net === 'mlp' ? [meta.netConfig.dim] : [meta.netConfig.inChannels, meta.netConfig.resolution, meta.netConfig.resolution];
}

export async function saveModel(den: EDMDenoiser, meta: ModelMeta): Promise<Uint8Array> {
  return os.io.saveSafetensors(den.stateDict(), { [META_KEY]: JSON.stringify(meta) });
}

/** Reads a model file: validates the header, rebuilds the network from the metadata, loads the weights strictly. */
export async function loadModel(bytes: Uint8Array): Promise<{ den: EDMDenoiser; meta: ModelMeta }> {
  const { tensors, metadata } = await os.io.loadSafetensors(bytes);
  try {
    const raw = metadata[META_KEY];
    if (!raw) throw new FormatError(`checkpoint: no "${META_KEY}" entry in __metadata__; this file was not written by onestep (keys: ${Object.keys(metadata).join(', ') || 'none'})`);
    let meta: ModelMeta;
    try {
      meta = JSON.parse(raw) as ModelMeta;
    } catch {
      throw new FormatError(`checkpoint: __metadata__.${META_KEY} is not valid JSON`);
    }
    const den = buildDenoiser(meta);
    den.loadStateDict(tensors);
    return { den, meta };
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
}
