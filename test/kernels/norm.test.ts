// test/kernels/norm.test.ts: groupNorm and layerNorm (kernels/norm/), every variant of NORM_VARIANTS, forward (output
// and saved stats) against kernels/norm/reference.ts on odd shapes, backward against finite differences (small
// inputs) and against the analytic float64 backward (larger ones); nn.GroupNorm; errors; dispatch counts.
import { describe, expect, it } from 'vitest';
import * as os from '../../engine';
import { NORM_VARIANTS, normBackward, normForward, pickNormVariant } from '../../kernels/norm/dispatch';
import { groupNormBackwardRef, groupNormFullRef, groupNormRef, layerNormRef } from '../../kernels/norm/reference';
import { checkOp, expectClose, expectThrows, fromHost, makeInputs, toHost } from '../helpers';

// [shape, numGroups]: channels 3/5/7/6/12, spatial 1/7/9/17 (and multiples of 4 for the vec4 path), 1-D and 3-D
const FWD_CASES: [number[], number][] = [
  [[2, 3, 7], 1], [[2, 3, 7], 3], [[1, 5, 9], 5], [[3, 7, 17], 7], [[2, 7, 17], 1], [[2, 6], 2], [[2, 6, 1], 3],
  [[2, 12, 3, 3], 4], [[1, 12, 2, 3, 3], 6], [[2, 6, 4, 4], 3], [[2, 12, 8], 12], [[1, 5, 1, 1], 1],
  [[2, 8, 300], 2], [[1, 4, 24, 24], 2], [[1, 6, 2, 2, 3], 2], [[3, 16], 2], [[2, 8, 1], 1],
];

const affineInputs = (shape: number[], seed: number) => {
  const C = shape[1];
  return makeInputs([shape, [C], [C]], { seed, init: [[-2, 2], [0.5, 1.5], [-0.5, 0.5]] });
};

describe('groupNorm forward, every variant', () => {
  for (const variant of NORM_VARIANTS) {
    it(variant, async () => {
      let seed = 1;
      for (const [shape, G] of FWD_CASES) {
        const [x, w, b] = affineInputs(shape, seed);
        // plain, affine, affine + SiLU, and (alternating per case) weight only or bias only + SiLU
        const modes: [boolean, boolean, boolean][] = [[false, false, false], [true, true, false], [true, true, true], seed % 2 ? [true, false, false] : [false, true, true]];
        seed++;
        for (const [hasW, hasB, silu] of modes) {
          const wh = hasW ? w : undefined, bh = hasB ? b : undefined;
          const xt = fromHost(x), wt = wh && fromHost(wh), bt = bh && fromHost(bh);
          const { y, stats } = normForward(xt, { N: shape[0], G, Cg: shape[1] / G, S: shape.slice(2).reduce((p, q) => p * q, 1) }, wt, bt, 1e-5, { variant, silu });
          const ref = groupNormFullRef(x, G, wh, bh, 1e-5, silu);
          const label = `groupNorm ${variant} [${shape}] G=${G}${hasW ? ' weight' : ''}${hasB ? ' bias' : ''}${silu ? ' silu' : ''}`;
          const [yh, st] = await Promise.all([toHost(y), toHost(stats)]);
          expectClose(yh, ref.y.data, { atol: 2e-5, rtol: 1e-4, shape, label });
          expectClose(st.filter((_, i) => i % 2 === 0), ref.mean.data, { atol: 1e-5, rtol: 1e-5, label: `${label} mean` });
          expectClose(st.filter((_, i) => i % 2 === 1), ref.rstd.data, { atol: 1e-5, rtol: 1e-4, label: `${label} rstd` });
          for (const t of [xt, wt, bt, y, stats]) t?.dispose();
        }
      }
    });
  }

  it('per-sample γ, β [N, C] (adaptive group norm), every variant, with and without SiLU', async () => {
    let seed = 40;
    for (const variant of NORM_VARIANTS) {
      for (const [shape, G] of FWD_CASES) {
        const [N, C] = shape;
        const [x, w, b] = makeInputs([shape, [N, C], [N, C]], { seed: seed++, init: [[-2, 2], [0.5, 1.5], [-0.5, 0.5]] });
        for (const silu of [false, true]) {
          const xt = fromHost(x), wt = fromHost(w), bt = fromHost(b);
          const { y, stats } = normForward(xt, { N, G, Cg: C / G, S: shape.slice(2).reduce((p, q) => p * q, 1) }, wt, bt, 1e-5, { variant, silu, perSample: true });
          const ref = groupNormFullRef(x, G, w, b, 1e-5, silu);
          expectClose(await toHost(y), ref.y.data, { atol: 2e-5, rtol: 1e-4, shape, label: `groupNorm per-sample ${variant} [${shape}] G=${G}${silu ? ' silu' : ''}` });
          for (const t of [xt, wt, bt, y, stats]) t.dispose();
        }
      }
    }
  });

  it('stays accurate when |mean| ≫ std (shifted sums)', async () => {
    for (const variant of NORM_VARIANTS) {
      const [x] = makeInputs([[2, 4, 33]], { init: (r) => 300 + r.normal() * 0.5, seed: 9 });
      await checkOp(`groupNorm offset ${variant}`, [[2, 4, 33]], (t) => os.groupNorm(t, 2, undefined, undefined, 1e-5, { variant }), (t) => groupNormRef(t, 2), { values: [x.data], atol: 3e-3, rtol: 1e-3 });
    }
  });

  it('constant groups give β (variance 0 → rstd = 1/√eps)', async () => {
    const x = os.full([1, 4, 5], 3), w = os.tensor([1, 2, 3, 4]), b = os.tensor([0.5, -1, 0, 2]);
    const y = os.groupNorm(x, 2, w, b);
    expectClose(await toHost(y), Array.from({ length: 20 }, (_, i) => [0.5, -1, 0, 2][Math.floor(i / 5)]), { atol: 1e-6 });
    for (const t of [x, w, b, y]) t.dispose();
  });
});

describe('groupNorm backward', () => {
  const GRAD = { grads: true, atol: 2e-5, rtol: 1e-4, gradAtol: 2e-3, gradRtol: 2e-3 } as const;
  const INIT = [[-2, 2], [0.5, 1.5], [-0.5, 0.5]] as const;
  for (const variant of NORM_VARIANTS) {
    it(`${variant}: x, weight, bias vs finite differences`, async () => {
      const o = (silu = false) => ({ variant, silu });
      await checkOp('gn affine [2,6,5] G3', [[2, 6, 5], [6], [6]], (x, w, b) => os.groupNorm(x, 3, w, b, 1e-5, o()), (x, w, b) => groupNormRef(x, 3, w, b), { ...GRAD, init: INIT });
      await checkOp('gn silu [2,6,5] G2', [[2, 6, 5], [6], [6]], (x, w, b) => os.groupNorm(x, 2, w, b, 1e-5, o(true)), (x, w, b) => groupNormRef(x, 2, w, b, 1e-5, true), { ...GRAD, init: INIT });
      await checkOp('gn vec4 [2,4,2,4] G2', [[2, 4, 2, 4], [4], [4]], (x, w, b) => os.groupNorm(x, 2, w, b, 1e-5, o(true)), (x, w, b) => groupNormRef(x, 2, w, b, 1e-5, true), { ...GRAD, init: INIT });
      await checkOp('gn G=C [1,7,9]', [[1, 7, 9], [7], [7]], (x, w, b) => os.groupNorm(x, 7, w, b, 1e-5, o()), (x, w, b) => groupNormRef(x, 7, w, b), { ...GRAD, init: INIT });
      await checkOp('gn G=1 3-D [1,3,2,3,3]', [[1, 3, 2, 3, 3], [3]], (x, w) => os.groupNorm(x, 1, w, undefined, 1e-5, o()), (x, w) => groupNormRef(x, 1, w), { ...GRAD, init: INIT });
      await checkOp('gn no affine [3,5,4]', [[3, 5, 4]], (x) => os.groupNorm(x, 5, undefined, undefined, 1e-5, o()), (x) => groupNormRef(x, 5), GRAD);
      await checkOp('gn no affine silu [2,6,1]', [[2, 6, 1]], (x) => os.groupNorm(x, 2, undefined, undefined, 1e-5, o(true)), (x) => groupNormRef(x, 2, undefined, undefined, 1e-5, true), GRAD);
      await checkOp('gn bias only silu [2,3,7]', [[2, 3, 7], [3]], (x, b) => os.groupNorm(x, 3, undefined, b, 1e-5, o(true)), (x, b) => groupNormRef(x, 3, undefined, b, 1e-5, true), { ...GRAD, init: [[-2, 2], [-0.5, 0.5]] });
      // per-sample γ, β [N, C]: a UNet block's scale and shift (odd shapes; the vec4 path; 1×1 spatial)
      await checkOp('gn per-sample silu [3,6,5] G3', [[3, 6, 5], [3, 6], [3, 6]], (x, w, b) => os.groupNorm(x, 3, w, b, 1e-5, o(true)), (x, w, b) => groupNormRef(x, 3, w, b, 1e-5, true), { ...GRAD, init: INIT });
      await checkOp('gn per-sample vec4 [2,4,2,4] G2', [[2, 4, 2, 4], [2, 4], [2, 4]], (x, w, b) => os.groupNorm(x, 2, w, b, 1e-5, o()), (x, w, b) => groupNormRef(x, 2, w, b), { ...GRAD, init: INIT });
      await checkOp('gn per-sample [1,8,1,1] G2', [[1, 8, 1, 1], [1, 8], [1, 8]], (x, w, b) => os.groupNorm(x, 2, w, b, 1e-5, o(true)), (x, w, b) => groupNormRef(x, 2, w, b, 1e-5, true), { ...GRAD, init: INIT });
      // only the weight needs a gradient: the kernel skips grad x
      await checkOp('gn weight grad only', [[2, 6, 5], [6], [6]], (x, w, b) => os.groupNorm(x, 3, w, b, 1e-5, o(true)), (x, w, b) => groupNormRef(x, 3, w, b, 1e-5, true), { ...GRAD, init: INIT, grads: [false, true, false] });
    });

    it(`${variant}: larger shapes vs the analytic backward`, async () => {
      // S % 4 == 0 (spatial quads), S == 1 with Cg % 4 == 0 (channel quads), odd S (scalars)
      // [70, 8, 17]: N·lanes-per-row partials per channel outnumber the 64 lanes of the GPU grad-weight sum
      const cases: [number[], number, boolean][] = [[[2, 8, 33], 4, true], [[2, 12, 16, 16], 4, true], [[3, 6, 9, 9], 6, false], [[2, 4, 300], 1, true], [[37, 64], 1, true], [[5, 24, 1], 3, false], [[70, 8, 17], 4, true]];
      let seed = 40;
      // every case with per-channel γ, β; every other one also per sample ([N, C]), with both grad-weight kernels
      const runs = cases.flatMap((c, i) => [[c, 1, false], [c, 64, false], ...(i % 2 ? [] : [[c, 1, true], [c, 64, true]])] as [typeof c, 1 | 64, boolean][]);
      for (const [[shape, G, silu], weightGradLanes, perSample] of runs) {
        const affine = perSample ? [shape[0], shape[1]] : [shape[1]];
        const [x, w, b, dy] = makeInputs([shape, affine, affine, shape], { seed: seed++, init: [[-2, 2], [0.5, 1.5], [-0.5, 0.5], [-1, 1]] });
        const ref = groupNormBackwardRef(dy, x, G, w, b, 1e-5, silu);
        const [xt, wt, bt, dyt] = [x, w, b, dy].map((h) => fromHost(h));
        const { y, stats } = normForward(xt, { N: shape[0], G, Cg: shape[1] / G, S: shape.slice(2).reduce((p, q) => p * q, 1) }, wt, bt, 1e-5, { variant, silu, perSample });
        const d = { N: shape[0], G, Cg: shape[1] / G, S: shape.slice(2).reduce((p, q) => p * q, 1) };
        const { dx, dw, db } = normBackward(dyt, xt, stats, d, wt, bt, { variant, silu, weightGradLanes, perSample });
        const label = `gn bwd ${variant} [${shape}] G=${G} grad-weight lanes ${weightGradLanes}${perSample ? ' per-sample' : ''}`;
        expectClose(await toHost(dx!), ref.dx.data, { atol: 1e-4, rtol: 1e-3, shape, label: `${label} dx` });
        expectClose(await toHost(dw!), ref.dw.data, { atol: 1e-3, rtol: 1e-3, label: `${label} dw` });
        expectClose(await toHost(db!), ref.db.data, { atol: 1e-3, rtol: 1e-3, label: `${label} db` });
        for (const t of [xt, wt, bt, dyt, y, stats, dx, dw, db]) t?.dispose();
      }
    });
  }

  it('one dispatch forward, two backward (one without weight/bias grads); saved stats die with the graph', async () => {
    const live0 = os.memory().liveTensors;
    const x = os.randn([2, 8, 5, 5], { seed: 3 }).requiresGrad_(), m = new os.nn.GroupNorm(4, 8);
    const before = os.memory().dispatches;
    const y = m.forward(x, { silu: true });
    expect(os.memory().dispatches - before).toBe(1);
    const g = os.randn(y.shape, { seed: 4 });
    const mid = os.memory().dispatches;
    y.backward(g); // first gradients: the tape adds nothing, so these are the norm kernels alone
    expect(os.memory().dispatches - mid).toBe(2);
    const x2 = os.randn([2, 8, 5, 5], { seed: 5 }).requiresGrad_();
    const y2 = os.groupNorm(x2, 2);
    const g2 = os.randn(y2.shape, { seed: 6 });
    const mid2 = os.memory().dispatches;
    y2.backward(g2);
    expect(os.memory().dispatches - mid2).toBe(1);
    m.zeroGrad();
    for (const t of [x, y, g, x2, y2, g2, m.weight!, m.bias!]) t.dispose();
    expect(os.memory().liveTensors).toBe(live0);
    // without grad the stats are freed at once
    const x3 = os.randn([1, 4, 3]);
    const y3 = os.groupNorm(x3, 2);
    expect(os.memory().liveTensors).toBe(live0 + 2);
    for (const t of [x3, y3]) t.dispose();
  });
});

describe('layerNorm (fused kernels)', () => {
  for (const variant of NORM_VARIANTS) {
    it(`${variant}: 1 and 2 trailing dims, forward and gradients`, async () => {
      const o = { variant };
      const G = { grads: true, atol: 2e-5, rtol: 1e-4, gradAtol: 2e-3, gradRtol: 2e-3 } as const;
      await checkOp('ln [3,8]', [[3, 8]], (x) => os.layerNorm(x, [8], undefined, undefined, 1e-5, o), (x) => layerNormRef(x, [8]), G);
      await checkOp('ln affine [2,3,6]', [[2, 3, 6], [6], [6]], (x, w, b) => os.layerNorm(x, [6], w, b, 1e-5, o), (x, w, b) => layerNormRef(x, [6], w, b), G);
      await checkOp('ln affine 2 dims [2,3,5]', [[2, 3, 5], [3, 5], [3, 5]], (x, w, b) => os.layerNorm(x, [3, 5], w, b, 1e-5, o), (x, w, b) => layerNormRef(x, [3, 5], w, b), G);
      await checkOp('ln weight only [4,5]', [[4, 5], [5]], (x, w) => os.layerNorm(x, [5], w, undefined, 1e-5, o), (x, w) => layerNormRef(x, [5], w), G);
      await checkOp('ln channel quads [3,8]', [[3, 8], [8], [8]], (x, w, b) => os.layerNorm(x, [8], w, b, 1e-5, { ...o, silu: true }), (x, w, b) => layerNormRef(x, [8], w, b, 1e-5, true), G);
      await checkOp('ln silu [3,7]', [[3, 7], [7], [7]], (x, w, b) => os.layerNorm(x, [7], w, b, 1e-5, { ...o, silu: true }), (x, w, b) => layerNormRef(x, [7], w, b, 1e-5, true), G);
      // forward only, wide rows and many rows
      await checkOp('ln [37,300]', [[37, 300], [300], [300]], (x, w, b) => os.layerNorm(x, [300], w, b, 1e-5, o), (x, w, b) => layerNormRef(x, [300], w, b), { atol: 2e-5, rtol: 1e-4 });
      await checkOp('ln [300,12]', [[300, 12]], (x) => os.layerNorm(x, [12], undefined, undefined, 1e-3, o), (x) => layerNormRef(x, [12], undefined, undefined, 1e-3), { atol: 2e-5, rtol: 1e-4 });
    });
  }

  it('nn.LayerNorm still trains through the fused kernel', async () => {
    const ln = new os.nn.LayerNorm([4]);
    const x = os.randn([3, 4], { seed: 2 });
    const y = ln.forward(x);
    os.sum(os.mul(y, y)).backward();
    expect(ln.weight!.grad).not.toBeNull();
    expect(ln.bias!.grad!.shape).toEqual([4]);
    for (const t of [x, y]) t.dispose();
    ln.zeroGrad();
  });
});

describe('nn.GroupNorm and errors', () => {
  it('torch names, shapes and init; forward equals the functional form', async () => {
    const m = new os.nn.GroupNorm(2, 6);
    expect(m.namedParameters().map(([k, t]) => [k, t.shape])).toEqual([['weight', [6]], ['bias', [6]]]);
    expect(Array.from(await m.weight!.data())).toEqual([1, 1, 1, 1, 1, 1]);
    expect(Array.from(await m.bias!.data())).toEqual([0, 0, 0, 0, 0, 0]);
    const [xh] = makeInputs([[2, 6, 3, 3]], { seed: 11 });
    const x = fromHost(xh);
    const y = m.forward(x), ys = m.forward(x, { silu: true });
    expectClose(await toHost(y), groupNormRef(xh, 2).data, { atol: 2e-5, rtol: 1e-4 });
    expectClose(await toHost(ys), groupNormRef(xh, 2, undefined, undefined, 1e-5, true).data, { atol: 2e-5, rtol: 1e-4 });
    const noAffine = new os.nn.GroupNorm(3, 6, { affine: false, eps: 1e-3 });
    expect(noAffine.parameters()).toEqual([]);
    const y2 = noAffine.forward(x);
    expectClose(await toHost(y2), groupNormRef(xh, 3, undefined, undefined, 1e-3).data, { atol: 2e-5, rtol: 1e-4 });
    expect(Object.keys(m.stateDict())).toEqual(['weight', 'bias']);
    for (const t of [x, y, ys, y2, m.weight!, m.bias!]) t.dispose();
  });

  it('bad inputs throw errors naming the op, the shapes and the fix', () => {
    const x = os.zeros([2, 6, 4]);
    expectThrows(() => os.groupNorm(x, 4), os.ShapeError, 'groupNorm', '6 channels', '[2,6,4]', '4 groups', '1, 2, 3, 6');
    expectThrows(() => os.groupNorm(x, 0), os.ValueError, 'groupNorm', 'numGroups');
    expectThrows(() => os.groupNorm(x, 1.5), os.ValueError, 'groupNorm');
    const w5 = os.ones([5]), w6 = os.ones([6]);
    expectThrows(() => os.groupNorm(x, 2, w5), os.ShapeError, 'groupNorm', 'weight', '[5]', '[6]');
    expectThrows(() => os.groupNorm(x, 2, w6, w5), os.ShapeError, 'groupNorm', 'bias', '[5]');
    const w26 = os.ones([2, 6]), w36 = os.ones([3, 6]);
    expectThrows(() => os.groupNorm(x, 2, w36), os.ShapeError, 'groupNorm', 'weight', '[3,6]', '[2, 6]', 'per sample');
    expectThrows(() => os.groupNorm(x, 2, w26, w6), os.ShapeError, 'groupNorm', 'bias', '[6]', 'the same one of the two');
    w26.dispose();
    w36.dispose();
    expectThrows(() => os.groupNorm(os.zeros([6]), 2), os.ShapeError, 'groupNorm', '[6]');
    expectThrows(() => os.groupNorm(x, 2, undefined, undefined, -1), os.ValueError, 'eps');
    expectThrows(() => new os.nn.GroupNorm(4, 6), os.ValueError, 'GroupNorm', '6', '4');
    expectThrows(() => new os.nn.GroupNorm(2, 8).forward(x), os.ShapeError, 'GroupNorm', '[2,6,4]', '8');
    expectThrows(() => os.layerNorm(x, [6]), os.ShapeError, 'layerNorm', '[2,6,4]', '[6]');
    expectThrows(() => os.layerNorm(x, [4], w5), os.ShapeError, 'layerNorm', 'weight', '[5]', '[4]');
    expectThrows(() => os.layerNorm(x, [2, 6, 4, 1]), os.ShapeError, 'layerNorm');
    for (const t of [x, w5, w6]) t.dispose();
  });

  it('the default variant: one lane per row on CPU drivers when rows are many, workgroups per row on GPUs', () => {
    const unet = { N: 8, G: 32, Cg: 2, S: 1024 };
    expect(pickNormVariant(unet, true)).toBe('thread');
    expect(pickNormVariant({ ...unet, N: 1 }, true)).toBe('wg8');
    expect(pickNormVariant(unet, false)).toBe('wg64');
    expect(pickNormVariant({ N: 1, G: 1, Cg: 64, S: 4096 }, false)).toBe('wg256');
    expect(pickNormVariant({ N: 4096, G: 1, Cg: 32, S: 1 }, false)).toBe('thread');
  });

  it('empty batches give empty outputs and zero weight/bias gradients', async () => {
    const x = os.zeros([0, 4, 3], { requiresGrad: true }), w = os.ones([4], { requiresGrad: true }), b = os.zeros([4], { requiresGrad: true });
    const y = os.groupNorm(x, 2, w, b);
    expect(y.shape).toEqual([0, 4, 3]);
    os.sum(y).backward();
    expect(Array.from(await w.grad!.data())).toEqual([0, 0, 0, 0]);
    for (const t of [x, w, b, y]) t.dispose();
  });
});
