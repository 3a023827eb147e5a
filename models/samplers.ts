// models/samplers.ts: EDM's deterministic samplers (NVlabs/edm generate.py, Algorithm 1 with S_churn = 0) and the
// one-step generator's sampler. Each returns the samples and the number of network evaluations it spent.
import * as os from '../engine';
import type { Tensor } from '../engine';
import { EDMDenoiser, edmSigmas } from './edm';

export interface SampleOptions {
  steps: number; // N: sigma levels before 0 (Heun spends 2N − 1 evaluations)
  shape: readonly number[]; // [B, ...]
  seed?: number; // noise seed (default: the global RNG)
  labels?: Tensor | null; // one-hot [B, K] for class-conditional models
  cfg?: number; // classifier-free guidance scale (1 = none)
  sigmaMin?: number;
  sigmaMax?: number;
  rho?: number;
  /** Called after each step with (step, steps) — progress lines in long runs. */
  onStep?: (i: number, n: number) => void;
}

export interface SampleResult {
  x: Tensor;
  nfe: number;
}

function run(den: EDMDenoiser, o: SampleOptions, heun: boolean): SampleResult {
  const t = edmSigmas(o.steps, o.sigmaMin, o.sigmaMax, o.rho);
  const B = o.shape[0];
  let nfe = 0;
  const D = (x: Tensor, s: number) => {
    nfe++;
    return den.guided(x, os.full([B], s), o.labels ?? null, o.cfg ?? 1);
  };
  return os.noGrad(() => {
    let x = os.tidy(() => os.mul(os.randn(o.shape, o.seed === undefined ? {} : { seed: o.seed }), t[0]));
    for (let i = 0; i < o.steps; i++) {
      const next = os.tidy(() => {
        const d = os.div(os.sub(x, D(x, t[i])), t[i]);
        const xe = os.add(x, os.mul(d, t[i + 1] - t[i])); // Euler step
        if (!heun || t[i + 1] === 0) return xe;
        const d2 = os.div(os.sub(xe, D(xe, t[i + 1])), t[i + 1]); // Heun's 2nd-order correction
        return os.add(x, os.mul(os.add(d, d2), 0.5 * (t[i + 1] - t[i])));
      });
      x.dispose();
      x = next;
      o.onStep?.(i + 1, o.steps);
    }
    return { x, nfe };
  });
}

/** EDM's deterministic 2nd-order sampler: N steps, 2N − 1 evaluations (N = 18 → 35). */
export const heunSample = (den: EDMDenoiser, o: SampleOptions): SampleResult => run(den, o, true);
/** First-order Euler over the same schedule: N evaluations. */
export const eulerSample = (den: EDMDenoiser, o: SampleOptions): SampleResult => run(den, o, false);

/** A one-step generator: x = D(σ·z; σ, y) at a fixed σ (80 by default). One evaluation. */
export function oneStepSample(den: EDMDenoiser, o: { shape: readonly number[]; sigma?: number; seed?: number; labels?: Tensor | null }): SampleResult {
  const sigma = o.sigma ?? 80;
  return os.noGrad(() =>
    os.tidy(() => {
      const z = os.mul(os.randn(o.shape, o.seed === undefined ? {} : { seed: o.seed }), sigma);
      return { x: den.forward(z, os.full([o.shape[0]], sigma), o.labels ?? null), nfe: 1 };
    }),
  );
}
