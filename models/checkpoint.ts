// models/checkpoint.ts: model files are safetensors whose `__metadata__.onestep` holds the JSON needed to rebuild the
// model (kind, network config, σ_data) and the recipe that made it, so `onestep sample` needs nothing but the file.
import * as os from '../engine';
import { FormatError } from '../engine/errors';
import { EDMDenoiser } from './edm';
import { MLPScoreNet, MLP_DEFAULTS, mlpParamCount, type MLPScoreNetConfig } from './mlp';
import { UNet, UNET_DEFAULTS, unetParamCount, type UNetConfig } from './unet';

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

/** Parameters the described network has, from its config alone (nothing allocated). */
export function paramCountOf(meta: ModelMeta): number {
  if (meta.net === 'mlp') return mlpParamCount({ ...MLP_DEFAULTS, ...meta.netConfig });
  if (meta.net === 'unet') return unetParamCount({ ...UNET_DEFAULTS, ...meta.netConfig });
  throw new FormatError(`checkpoint: unknown network "${String((meta as { net: unknown }).net)}" (this build knows: mlp, unet)`);
}

/** Checks the metadata's structure (it comes from a file: anything may be in it). */
function checkMeta(meta: unknown): asserts meta is ModelMeta {
  const m = meta as Partial<ModelMeta> | null;
  if (!m || typeof m !== 'object' || Array.isArray(m)) throw new FormatError(`checkpoint: __metadata__.${META_KEY} must be a JSON object, got ${JSON.stringify(meta)?.slice(0, 40)}`);
  if (m.kind !== 'edm-denoiser') throw new FormatError(`checkpoint: unknown model kind ${JSON.stringify(m.kind)?.slice(0, 40)} (this build knows: edm-denoiser)`);
  if (!m.netConfig || typeof m.netConfig !== 'object') throw new FormatError('checkpoint: the metadata has no netConfig object');
  if (!(typeof m.sigmaData === 'number' && m.sigmaData > 0)) throw new FormatError(`checkpoint: sigmaData must be a positive number, got ${JSON.stringify(m.sigmaData)}`);
  if (typeof m.data !== 'string') throw new FormatError('checkpoint: the metadata names no data set');
}

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
    let meta: unknown;
    try {
      meta = JSON.parse(raw);
    } catch {
      throw new FormatError(`checkpoint: __metadata__.${META_KEY} is not valid JSON`);
    }
    checkMeta(meta);
    // the config must describe exactly the weights in the file before anything is built: a hostile config cannot ask
    // for a network larger than the file
    let want: number;
    try {
      want = paramCountOf(meta);
    } catch (e) {
      throw e instanceof FormatError ? e : new FormatError(`checkpoint: invalid network config: ${(e as Error).message}`);
    }
    const have = Object.values(tensors).reduce((n, t) => n + t.size, 0);
    if (want !== have) throw new FormatError(`checkpoint: the ${meta.net} config describes ${want} parameters but the file holds ${have}; the metadata and the weights do not belong together`);
    const den = buildDenoiser(meta);
    den.loadStateDict(tensors);
    return { den, meta };
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
}
