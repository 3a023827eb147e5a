// cli/sampling.ts: `onestep sample`, `onestep data`, `onestep eval` — samples to .npy, and metrics on .npy files.
import { readFileSync } from 'node:fs';
import * as os from '../engine';
import { ValueError } from '../engine/errors';
import { HostRng } from '../models/data/rng';
import { toy2d } from '../models/data/toy2d';
import { loadModel } from '../models/checkpoint';
import { eulerSample, heunSample, oneStepSample } from '../models/samplers';
import { modeStats, slicedWasserstein } from '../models/metrics/toy';

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
  if (!a.out.endsWith('.npy')) throw new ValueError(`sample: --out must end in .npy (PNG output arrives with the image models), got "${a.out}"`);
  await os.init();
  const { den, meta } = await loadModel(new Uint8Array(readFileSync(a.model)));
  const dim = meta.netConfig.dim;
  const t0 = performance.now();
  const chunks: Float32Array[] = [];
  let nfe = 0;
  const chunk = 8192; // bounded GPU memory for large --n
  for (let done = 0; done < a.n; done += chunk) {
    const b = Math.min(chunk, a.n - done);
    const seed = a.seed + done;
    const r =
      a.sampler === 'onestep'
        ? oneStepSample(den, { shape: [b, dim], sigma: meta.generatorSigma ?? 80, seed })
        : (a.sampler === 'heun' ? heunSample : eulerSample)(den, { steps: a.steps, shape: [b, dim], seed, cfg: a.cfg });
    chunks.push(await r.x.data());
    r.x.dispose();
    nfe = r.nfe;
  }
  const all = new Float32Array(a.n * dim);
  chunks.forEach((c, i) => all.set(c, i * chunk * dim));
  await os.io.writeFileAtomic(a.out, os.io.encodeNpy(all, [a.n, dim]));
  console.log(JSON.stringify({ out: a.out, n: a.n, sampler: a.sampler, nfe, seconds: +((performance.now() - t0) / 1000).toFixed(2), model: meta.data }));
}

export async function data(a: { name: string; n: number; seed: number; out: string }): Promise<void> {
  const d = toy2d(a.name);
  const x = d.sample(a.n, new HostRng(a.seed));
  await os.io.writeFileAtomic(a.out, os.io.encodeNpy(x, [a.n, 2]));
  console.log(JSON.stringify({ out: a.out, n: a.n, data: a.name, seed: a.seed }));
}

export async function evaluateFile(a: { samples: string; data: string; seed: number }): Promise<Record<string, unknown>> {
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
