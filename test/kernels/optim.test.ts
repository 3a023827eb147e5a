// test/kernels/optim.test.ts: the fused optimiser kernels (kernels/optim/dispatch.ts) against the float64 torch rules
// in kernels/optim/reference.ts, on sizes off every workgroup multiple, over several steps, with and without decay.
import { describe, it, expect } from 'vitest';
import * as os from '../../engine';
import { adamStep, clipScale, emaUpdate, normFromPartials, sgdStep } from '../../kernels/optim/dispatch';
import { adamRef, emaRef, sgdRef } from '../../kernels/optim/reference';

const SIZES = [1, 3, 17, 33, 65, 1000];
const STEPS = 4;

/** Deterministic values in roughly [-scale, scale], exactly representable in f32. */
function randomF32(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = scale * (((t ^ (t >>> 14)) >>> 0) / 2 ** 31 - 1);
  }
  return out;
}

/** Worst of |got − want| / max(1, |want|): relative above magnitude 1, absolute below. */
function expectClose(got: Float32Array, want: Float64Array, tol: number, what: string): void {
  expect(got.length).toBe(want.length);
  let worst = 0, at = -1;
  for (let i = 0; i < got.length; i++) {
    const err = Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i]));
    if (!(err <= worst)) (worst = err), (at = i);
  }
  expect(worst, `${what}: worst error ${worst} at ${at} (got ${got[at]}, want ${want[at]})`).toBeLessThanOrEqual(tol);
}

type AdamCase = { name: string; decoupled: boolean; weightDecay: number; lr: number };
const ADAM_CASES: AdamCase[] = [
  { name: 'Adam', decoupled: false, weightDecay: 0, lr: 1e-2 },
  { name: 'Adam + L2', decoupled: false, weightDecay: 0.1, lr: 1e-2 },
  { name: 'AdamW', decoupled: true, weightDecay: 1e-2, lr: 1e-2 },
  { name: 'AdamW, large decay', decoupled: true, weightDecay: 0.5, lr: 0.1 },
];

describe('kernels/optim adam', () => {
  for (const c of ADAM_CASES) {
    it(`${c.name} matches torch's rule over ${STEPS} steps, sizes ${SIZES.join(', ')}`, async () => {
      for (const n of SIZES) {
        const p0 = randomF32(n, n * 7 + 1);
        const p = os.tensor(p0), m = os.zeros([n]), v = os.zeros([n]);
        const pr = Float64Array.from(p0), mr = new Float64Array(n), vr = new Float64Array(n);
        for (let step = 1; step <= STEPS; step++) {
          const g0 = randomF32(n, n * 131 + step, 0.5);
          const g = os.tensor(g0);
          const args = { lr: c.lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: c.weightDecay, decoupled: c.decoupled, step };
          const before = os.memory().dispatches;
          adamStep(p, g, m, v, args);
          expect(os.memory().dispatches - before).toBe(1);
          adamRef(pr, g0, mr, vr, args);
          g.dispose();
        }
        expectClose(await p.data(), pr, 1e-6, `${c.name} p (n=${n})`);
        expectClose(await m.data(), mr, 1e-6, `${c.name} exp_avg (n=${n})`);
        expectClose(await v.data(), vr, 1e-6, `${c.name} exp_avg_sq (n=${n})`);
        for (const t of [p, m, v]) t.dispose();
      }
    });
  }
});

type SgdCase = { name: string; momentum: number; dampening: number; weightDecay: number; nesterov: boolean };
const SGD_CASES: SgdCase[] = [
  { name: 'plain', momentum: 0, dampening: 0, weightDecay: 0, nesterov: false },
  { name: 'weight decay', momentum: 0, dampening: 0, weightDecay: 0.1, nesterov: false },
  { name: 'momentum', momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: false },
  { name: 'momentum + dampening + decay', momentum: 0.9, dampening: 0.3, weightDecay: 0.05, nesterov: false },
  { name: 'nesterov + decay', momentum: 0.8, dampening: 0, weightDecay: 0.05, nesterov: true },
];

describe('kernels/optim sgd', () => {
  for (const c of SGD_CASES) {
    it(`${c.name} matches torch's rule over ${STEPS} steps`, async () => {
      for (const n of SIZES) {
        const p0 = randomF32(n, n * 3 + 5);
        const p = os.tensor(p0);
        const buf = c.momentum ? os.full([n], 123) : null; // garbage: the first step must overwrite it
        const pr = Float64Array.from(p0), br = c.momentum ? new Float64Array(n) : null;
        for (let step = 1; step <= STEPS; step++) {
          const g0 = randomF32(n, n * 17 + step);
          const g = os.tensor(g0);
          const args = { lr: 0.05, momentum: c.momentum, dampening: c.dampening, weightDecay: c.weightDecay, nesterov: c.nesterov, first: step === 1 };
          sgdStep(p, g, buf, args);
          sgdRef(pr, g0, br, args);
          g.dispose();
        }
        expectClose(await p.data(), pr, 1e-6, `SGD ${c.name} p (n=${n})`);
        if (buf && br) expectClose(await buf.data(), br, 1e-6, `SGD ${c.name} momentum_buffer (n=${n})`);
        p.dispose();
        buf?.dispose();
      }
    });
  }
});

describe('kernels/optim ema and clipping', () => {
  it('ema lerp matches decay·ema + (1 − decay)·p', async () => {
    for (const n of SIZES) {
      const e0 = randomF32(n, n + 11);
      const ema = os.tensor(e0);
      const er = Float64Array.from(e0);
      for (const [k, decay] of [0.9, 0.999, 0.5, 0].entries()) {
        const p0 = randomF32(n, n * 5 + k);
        const p = os.tensor(p0);
        emaUpdate(ema, p, decay);
        emaRef(er, p0, decay);
        p.dispose();
      }
      expectClose(await ema.data(), er, 1e-6, `ema (n=${n})`);
      ema.dispose();
    }
  });

  it('the norm kernel adds partial sums of squares; the scale kernel clips by min(1, max/(norm + eps))', async () => {
    const partials = os.tensor([9, 16, 0, 0.25]);
    const norm = os.zeros([]);
    normFromPartials(partials, 3, norm); // only the first 3 count
    expect(await norm.item()).toBeCloseTo(5, 6);
    for (const n of SIZES) {
      const g0 = randomF32(n, n + 99);
      for (const maxNorm of [1, 10]) {
        const g = os.tensor(g0);
        clipScale(g, norm, maxNorm, 1e-6);
        const coef = Math.min(1, maxNorm / (5 + 1e-6));
        expectClose(await g.data(), Float64Array.from(g0, (x) => x * coef), 1e-6, `clip scale (n=${n}, max ${maxNorm})`);
        g.dispose();
      }
    }
    partials.dispose();
    norm.dispose();
  });
});
