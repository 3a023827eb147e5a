// cli/sampling.ts: `onestep sample`, `onestep data`, `onestep eval` — samples to .npy, and metrics on .npy files.
import { readFileSync } from 'node:fs';
import * as os from '../engine';
import { ValueError } from '../engine/errors';
import { HostRng } from '../models/data/rng';
import { toy2d } from '../models/data/toy2d';
import { loadModel, sampleShapeOf } from '../models/checkpoint';
import { imageGridPng, scatterPng } from './plot';
import { eulerSample, heunSample, oneStepSample } from '../models/samplers';
import { modeStats, slicedWasserstein } from '../models/metrics/toy';
import { evaluateImageFile } from './classifier';

export interface SampleArgs {
  model: string;
  sampler: 'heun' | 'euler' | 'onestep';
  steps: number;
  n: number;
  seed: number;
  out: string;
  classLabel?: number;
  cfg: number;
}

export async function sample(a: SampleArgs): Promise<void> {
  if (!['heun', 'euler', 'onestep'].includes(a.sampler)) throw new ValueError(`sample: --sampler must be heun, euler or onestep, got "${a.sampler}"`);
  const png = a.out.endsWith('.png');
  if (!png && !a.out.endsWith('.npy')) throw new ValueError(`sample: --out must end in .npy (the samples) or .png (a picture of them), got "${a.out}"`);
  await os.init();
  const { den, meta } = await loadModel(new Uint8Array(readFileSync(a.model)));
  const shape = sampleShapeOf(meta), numel = shape.reduce((p, d) => p * d, 1), K = den.labelDim;
  if (a.classLabel !== undefined && !(K > 0 && a.classLabel >= 0 && a.classLabel < K)) {
    throw new ValueError(`sample: --class ${a.classLabel} needs a class-conditional model with classes 0..${K - 1}; ${a.model} has ${K === 0 ? 'no classes' : `${K} classes`}`);
  }
  const t0 = performance.now();
  const all = new Float32Array(a.n * numel);
  const classes = new Int32Array(a.n).map((_, i) => a.classLabel ?? i % Math.max(K, 1)); // balanced when no --class
  let nfe = 0;
  const chunk = Math.max(1, Math.floor(8_388_608 / (numel * 64))) * 64; // bounded GPU memory for large --n
  for (let done = 0; done < a.n; done += chunk) {
    const b = Math.min(chunk, a.n - done);
    const seed = a.seed + done;
    const labels = K > 0 ? os.oneHot(os.tensor(Float32Array.from(classes.subarray(done, done + b)), [b]), K) : null;
    const r =
      a.sampler === 'onestep'
        ? oneStepSample(den, { shape: [b, ...shape], sigma: meta.generatorSigma ?? 80, seed, labels })
        : (a.sampler === 'heun' ? heunSample : eulerSample)(den, { steps: a.steps, shape: [b, ...shape], seed, cfg: a.cfg, labels });
    all.set(await r.x.data(), done * numel);
    r.x.dispose();
    labels?.dispose();
    nfe = r.nfe;
  }
  const bytes = !png ? os.io.encodeNpy(all, [a.n, ...shape]) : meta.net === 'mlp' ? scatterPng(all) : imageGridPng(all, a.n, shape[1], { cols: K > 0 ? K : 16 });
  await os.io.writeFileAtomic(a.out, bytes);
  console.log(JSON.stringify({ out: a.out, n: a.n, sampler: a.sampler, nfe, seconds: +((performance.now() - t0) / 1000).toFixed(2), model: meta.data, ...(K > 0 ? { classes: a.classLabel ?? 'balanced' } : {}) }));
}

export async function data(a: { name: string; n: number; seed: number; out: string }): Promise<void> {
  const d = toy2d(a.name);
  const x = d.sample(a.n, new HostRng(a.seed));
  await os.io.writeFileAtomic(a.out, os.io.encodeNpy(x, [a.n, 2]));
  console.log(JSON.stringify({ out: a.out, n: a.n, data: a.name, seed: a.seed }));
}

export async function evaluateFile(a: { samples: string; data: string; seed: number; classifier?: string; classLabel?: number | 'balanced' }): Promise<Record<string, unknown>> {
  if (a.data.startsWith('mnist')) return evaluateImageFile(a); // FD, precision/recall, class histogram (cli/classifier.ts)
  const { data: raw, shape } = os.io.decodeNpy(new Uint8Array(readFileSync(a.samples)));
  if (shape.length !== 2 || shape[1] !== 2) throw new ValueError(`eval: ${a.samples} has shape [${shape}]; 2-D toy metrics need [N, 2]`);
  const x = Float32Array.from(raw as ArrayLike<number>);
  const d = toy2d(a.data);
  const n = shape[0];
  const ref = d.sample(n, new HostRng(a.seed + 1)), ref2 = d.sample(n, new HostRng(a.seed + 2));
  const out: Record<string, unknown> = { samples: a.samples, n, data: a.data, swd: slicedWasserstein(x, ref), floor: slicedWasserstein(ref2, ref) };
  if (d.modes) out.modes = modeStats(x, d.modes);
  console.log(JSON.stringify(out));
  return out;
}
