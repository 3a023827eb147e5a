// models/tasks/toy.ts: a 2-D data set as a distillation task: real batches for the GAN head, and the evaluation behind
// time to quality: 16,384 samples scored against fresh data by sliced Wasserstein distance, mode coverage, the
// near-mode fraction hq and each mode's mass. The generator has reached its teacher when its SWD is within 1.1× the
// teacher's, every mode is covered, hq is at least 0.95× the teacher's and every mode holds 1/K ± 2 points.
import * as os from '../../engine';
import { HostRng } from '../data/rng';
import { toy2d } from '../data/toy2d';
import type { EDMDenoiser } from '../edm';
import { SlicedReference, modeStats, slicedWasserstein } from '../metrics/toy';
import { heunSample, oneStepSample } from '../samplers';
import type { Quality, SessionTask } from '../session';

export interface ToyTaskOptions {
  /** Samples per evaluation (16,384). */
  n?: number;
  /** Random projections of the SWD (128). */
  projections?: number;
}

export interface ToyQuality extends Quality {
  swd: number;
  modes: number | null;
  totalModes: number | null;
  hq: number | null;
  /** The largest |mode mass − 1/K|. */
  maxModeDeviation: number | null;
  mean: number[];
  std: number[];
}

/** A toy task, plus its parts: drawing the evaluation's samples and scoring samples. */
export type ToyTask = SessionTask & { n: number; samples(net: EDMDenoiser, sigma: number | null): Promise<Float32Array>; score(xs: Float32Array): ToyQuality };

export function toyTask(name: string, o: ToyTaskOptions = {}): ToyTask {
  const data = toy2d(name);
  const n = o.n ?? 16384;
  const fresh = data.sample(n, new HostRng(101));
  const samples = async (net: EDMDenoiser, sigma: number | null): Promise<Float32Array> => {
    // fixed noises: evaluations differ only by the weights
    const { x } = sigma === null ? heunSample(net, { steps: 18, shape: [n, 2], seed: 4242 }) : oneStepSample(net, { shape: [n, 2], sigma, seed: 4242 });
    const xs = await x.data();
    x.dispose();
    return xs;
  };
  let reference: SlicedReference | null = null; // the fresh data sorted along each direction, made at the first score
  const score = (xs: Float32Array): ToyQuality => {
    const swd = slicedWasserstein(xs, (reference ??= new SlicedReference(fresh, { projections: o.projections ?? 128 })));
    const ms = data.modes ? modeStats(xs, data.modes) : null;
    const mean = [0, 1].map((d) => xs.reduce((s, v, i) => (i % 2 === d ? s + v : s), 0) / n);
    const std = [0, 1].map((d) => Math.sqrt(xs.reduce((s, v, i) => (i % 2 === d ? s + (v - mean[d]) ** 2 : s), 0) / n));
    return {
      metric: swd, swd, modes: ms?.covered ?? null, totalModes: ms?.total ?? null, hq: ms?.hq ?? null,
      maxModeDeviation: ms ? Math.max(...ms.mass.map((m) => Math.abs(m - 1 / ms.total))) : null, mean, std,
    };
  };
  return {
    n,
    sampleShape: [2],
    realData: (B, rng) => ({ x: os.tensor(data.sample(B, rng), [B, 2]), labels: null }),
    samples,
    score,
    evaluate: async (net, sigma) => score(await samples(net, sigma)),
    reached: (g, t) => {
      if (g.swd === null || t.swd === null || (g.swd as number) > 1.1 * (t.swd as number)) return false;
      if (!data.modes) return true;
      return g.modes === g.totalModes && (g.hq as number) >= 0.95 * (t.hq as number) && (g.maxModeDeviation as number) <= 0.02;
    },
  };
}
