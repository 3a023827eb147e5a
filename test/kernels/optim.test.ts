// test/kernels/optim.test.ts: the fused optimiser kernels (kernels/optim/dispatch.ts), one tensor per dispatch and many,
// against the float64 torch rules in kernels/optim/reference.ts, on sizes off every workgroup multiple, over several
// steps, with and without decay; the multi-tensor planner's grouping and aliasing rules.
import { describe, it, expect } from 'vitest';
import * as os from '../../engine';
import { adamStep, clipGradNorm, emaUpdate, sgdStep } from '../../kernels/optim/dispatch';
import { maxSegments, planGroups } from '../../kernels/optim/segments';
import { adamRef, clipGradNormRef, emaRef, sgdRef } from '../../kernels/optim/reference';

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
          const args = { lr: c.lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: c.weightDecay, decoupled: c.decoupled };
          const before = os.memory().dispatches;
          adamStep([{ param: p, grad: g, expAvg: m, expAvgSq: v, step }], args, { perTensor: true });
          expect(os.memory().dispatches - before).toBe(1);
          adamRef(pr, g0, mr, vr, args, step);
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
          const args = { lr: 0.05, momentum: c.momentum, dampening: c.dampening, weightDecay: c.weightDecay, nesterov: c.nesterov };
          sgdStep([{ param: p, grad: g, buf, step }], args, { perTensor: true });
          sgdRef(pr, g0, br, args, step);
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
        emaUpdate([[ema, p]], decay, { perTensor: true });
        emaRef(er, p0, decay);
        p.dispose();
      }
      expectClose(await ema.data(), er, 1e-6, `ema (n=${n})`);
      ema.dispose();
    }
  });

  it('clipping one tensor per dispatch: two passes per gradient, the norm and the scaled grads as torch', async () => {
    const host = SIZES.map((n) => randomF32(n, n + 99));
    const gs = host.map((x) => os.tensor(x));
    const ref = host.map((x) => Float64Array.from(x));
    const want = clipGradNormRef(ref, 1);
    const norm = os.zeros([]);
    const before = os.memory().dispatches;
    expect(clipGradNorm(gs, 1, 1e-6, norm, { perTensor: true })).toBe(2 * SIZES.length);
    expect(os.memory().dispatches - before).toBe(2 * SIZES.length);
    expect(Math.abs((await norm.item()) - want) / want).toBeLessThan(1e-6);
    for (let k = 0; k < gs.length; k++) expectClose(await gs[k].data(), ref[k], 1e-6, `clip (n=${SIZES[k]})`);
    [...gs, norm].forEach((t) => t.dispose());
  });

});

// ---- multi-tensor kernels ------------------------------------------------------------------------------------------

/** Many tensors of sizes around the 256-wide workgroup and the 1,024-element chunk, plus a 0-size one. */
const MULTI_SIZES = [1, 3, 255, 256, 257, 1023, 1024, 1025, 17, 4097, 0, 33, 65, 1000, 5, 2, 9, 700];

describe('kernels/optim multi-tensor', () => {
  it('planGroups: at most K per group, never a buffer twice in a group, empty segments dropped, order kept', () => {
    const bufs = Array.from({ length: 6 }, () => ({}) as GPUBuffer);
    const seg = (n: number, ...b: number[]) => ({ n, buffers: b.map((i) => bufs[i]) });
    const groups = planGroups([seg(1, 0, 1), seg(2, 2), seg(0, 3), seg(3, 1), seg(4, 4), seg(5, 5)], 2);
    expect(groups.map((g) => g.map((s) => s.n))).toEqual([[1, 2], [3, 4], [5]]);
    // a shared buffer counts as used in every group
    expect(planGroups([seg(1, 0), seg(2, 1)], 4, [bufs[1]]).map((g) => g.map((s) => s.n))).toEqual([[1], [2]]);
    const dev = os.device();
    expect(maxSegments(dev, 4, 0)).toBe(Math.min(14, Math.floor(dev.limits.maxStorageBuffersPerShaderStage / 4)));
    expect(maxSegments(dev, 1, 2)).toBe(Math.min(14, dev.limits.maxStorageBuffersPerShaderStage - 2));
  });

  for (const c of ADAM_CASES) {
    it(`${c.name} (multi) matches torch's rule on ${MULTI_SIZES.length} tensors with different step counts`, async () => {
      const n = MULTI_SIZES.length;
      const p = MULTI_SIZES.map((sz, k) => os.tensor(randomF32(sz, 40 + k), [sz]));
      const m = MULTI_SIZES.map((sz) => os.zeros([sz])), v = MULTI_SIZES.map((sz) => os.zeros([sz]));
      const ref = MULTI_SIZES.map((sz, k) => ({ p: Float64Array.from(randomF32(sz, 40 + k)), m: new Float64Array(sz), v: new Float64Array(sz), step: 0 }));
      const K = maxSegments(os.device(), 4, 0);
      for (let step = 1; step <= STEPS; step++) {
        // tensor k joins at step 1 + (k % 3): bias corrections differ within one dispatch
        const active = MULTI_SIZES.map((_, k) => k).filter((k) => step > k % 3);
        const grads = active.map((k) => randomF32(MULTI_SIZES[k], 500 * step + k, 0.5));
        const gs = grads.map((g) => os.tensor(g, [g.length]));
        const args = { lr: c.lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: c.weightDecay, decoupled: c.decoupled };
        const before = os.memory().dispatches;
        const d = adamStep(active.map((k, j) => ({ param: p[k], grad: gs[j], expAvg: m[k], expAvgSq: v[k], step: ++ref[k].step })), args);
        const nonEmpty = active.filter((k) => MULTI_SIZES[k] > 0).length;
        expect(d).toBe(Math.ceil(nonEmpty / K));
        expect(os.memory().dispatches - before).toBe(d);
        active.forEach((k, j) => adamRef(ref[k].p, grads[j], ref[k].m, ref[k].v, args, ref[k].step));
        gs.forEach((g) => g.dispose());
      }
      for (let k = 0; k < n; k++) {
        expectClose(await p[k].data(), ref[k].p, 1e-6, `${c.name} p[${k}] (n=${MULTI_SIZES[k]})`);
        expectClose(await m[k].data(), ref[k].m, 1e-6, `${c.name} exp_avg[${k}]`);
        expectClose(await v[k].data(), ref[k].v, 1e-6, `${c.name} exp_avg_sq[${k}]`);
      }
      [...p, ...m, ...v].forEach((t) => t.dispose());
    });
  }

  for (const c of SGD_CASES) {
    it(`SGD ${c.name} (multi) matches torch's rule`, async () => {
      const p = MULTI_SIZES.map((sz, k) => os.tensor(randomF32(sz, 60 + k), [sz]));
      const bufs = c.momentum ? MULTI_SIZES.map((sz) => os.full([sz], 123)) : null; // garbage until the first step
      const ref = MULTI_SIZES.map((sz, k) => ({ p: Float64Array.from(randomF32(sz, 60 + k)), b: c.momentum ? new Float64Array(sz) : null, step: 0 }));
      for (let step = 1; step <= STEPS; step++) {
        const active = MULTI_SIZES.map((_, k) => k).filter((k) => step > k % 2);
        const grads = active.map((k) => randomF32(MULTI_SIZES[k], 700 * step + k));
        const gs = grads.map((g) => os.tensor(g, [g.length]));
        const args = { lr: 0.05, momentum: c.momentum, dampening: c.dampening, weightDecay: c.weightDecay, nesterov: c.nesterov };
        sgdStep(active.map((k, j) => ({ param: p[k], grad: gs[j], buf: bufs ? bufs[k] : null, step: ++ref[k].step })), args);
        active.forEach((k, j) => sgdRef(ref[k].p, grads[j], ref[k].b, args, ref[k].step));
        gs.forEach((g) => g.dispose());
      }
      for (let k = 0; k < p.length; k++) {
        expectClose(await p[k].data(), ref[k].p, 1e-6, `SGD ${c.name} p[${k}]`);
        if (bufs) expectClose(await bufs[k].data(), ref[k].b!, 1e-6, `SGD ${c.name} momentum_buffer[${k}]`);
      }
      [...p, ...(bufs ?? [])].forEach((t) => t.dispose());
    });
  }

  it('a call reuses the last grouping only for the same buffers and sizes: a shared gradient splits the dispatch again', async () => {
    const sizes = [5, 17, 17];
    const p = sizes.map((sz, k) => os.tensor(randomF32(sz, 300 + k), [sz]));
    const m = sizes.map((sz) => os.zeros([sz])), v = sizes.map((sz) => os.zeros([sz]));
    const ref = sizes.map((sz, k) => ({ p: Float64Array.from(randomF32(sz, 300 + k)), m: new Float64Array(sz), v: new Float64Array(sz) }));
    const args = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false };
    // steps 1, 2 and 4: a gradient per parameter, one dispatch (a step may find the last one's grouping); step 3:
    // parameters 1 and 2 share one gradient tensor, which a dispatch may not bind twice (with a writable binding)
    for (let step = 1; step <= 4; step++) {
      const grads = sizes.map((sz, k) => randomF32(sz, 1000 * step + (step === 3 && k === 2 ? 1 : k), 0.5));
      const gs = grads.map((g) => os.tensor(g, [g.length]));
      if (step === 3) {
        gs[2].dispose();
        gs[2] = gs[1];
      }
      const d = adamStep(sizes.map((_, k) => ({ param: p[k], grad: gs[k], expAvg: m[k], expAvgSq: v[k], step })), args);
      expect(d, `step ${step}`).toBe(step === 3 ? 2 : 1);
      sizes.forEach((_, k) => adamRef(ref[k].p, grads[k], ref[k].m, ref[k].v, args, step));
      new Set(gs).forEach((g) => g.dispose());
    }
    for (let k = 0; k < sizes.length; k++) expectClose(await p[k].data(), ref[k].p, 1e-6, `p[${k}]`);
    [...p, ...m, ...v].forEach((t) => t.dispose());
  });

  it('ema lerp (multi)', async () => {
    const ema = MULTI_SIZES.map((sz, k) => os.tensor(randomF32(sz, 80 + k), [sz]));
    const ref = MULTI_SIZES.map((sz, k) => Float64Array.from(randomF32(sz, 80 + k)));
    for (const [r, decay] of [0.9, 0.999, 0].entries()) {
      const src = MULTI_SIZES.map((sz, k) => randomF32(sz, 90 + 10 * r + k));
      const ts = src.map((x) => os.tensor(x, [x.length]));
      emaUpdate(ema.map((e, k) => [e, ts[k]]), decay);
      ref.forEach((e, k) => emaRef(e, src[k], decay));
      ts.forEach((t) => t.dispose());
    }
    for (let k = 0; k < ema.length; k++) expectClose(await ema[k].data(), ref[k], 1e-6, `ema[${k}]`);
    ema.forEach((t) => t.dispose());
  });

  it('clipping (multi): two dispatches per K tensors, the norm to 1e-6, grads scaled (or left bit-exact below maxNorm)', async () => {
    const cases: { sizes: number[]; what: string }[] = [
      { sizes: MULTI_SIZES, what: `${MULTI_SIZES.length} tensors (more than one group)` },
      { sizes: [3], what: 'one tensor' },
      { sizes: [600_000, 7, 300_001], what: 'large tensors (more elements per invocation, still ≤ ~512 partials)' },
    ];
    for (const { sizes, what } of cases) {
      const K = maxSegments(os.device(), 1, 2);
      for (const maxNorm of [1, 1e6]) {
        const host = sizes.map((sz, k) => randomF32(sz, 33 + k));
        const gs = host.map((x) => os.tensor(x, [x.length]));
        const ref = host.map((x) => Float64Array.from(x));
        const want = clipGradNormRef(ref, maxNorm);
        const norm = os.zeros([]);
        const before = os.memory().dispatches;
        const d = clipGradNorm(gs, maxNorm, 1e-6, norm);
        expect(os.memory().dispatches - before).toBe(d);
        const live = sizes.filter((sz) => sz > 0).length;
        expect(d, what).toBe(2 * Math.ceil(live / K));
        expect(Math.abs((await norm.item()) - want) / want, what).toBeLessThan(1e-6);
        for (let k = 0; k < gs.length; k++) {
          if (maxNorm === 1) expectClose(await gs[k].data(), ref[k], 1e-6, `${what}: grad ${k}`);
          else expect(Array.from(await gs[k].data())).toEqual(Array.from(host[k]));
        }
        [...gs, norm].forEach((t) => t.dispose());
      }
    }
    const norm = os.full([], 7), empty = os.zeros([0]);
    expect(clipGradNorm([empty], 1, 1e-6, norm)).toBe(0);
    expect(await norm.item()).toBe(0);
    [norm, empty].forEach((t) => t.dispose());
  });
});
