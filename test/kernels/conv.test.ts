// test/kernels/conv.test.ts: every CONV_LANE_VARIANTS tile through conv2d forward, backward-data and backward-weight (and
// so convTranspose2d), and the wT layouts p16x8 and t64x64 (forward and stride-1 backward-data, one group) on their own cases, on odd shapes (channels 3/5/7, sizes 1/7/9/17, stride, groups, depthwise, dilation, padding 0/1/2,
// non-square kernels, batch 1 and 3, bias, the 1×1 matmul path) against kernels/conv/reference.ts; gradients of
// os.conv2d / os.convTranspose2d against float64 finite differences; nn.Conv2d / nn.ConvTranspose2d; error messages.
import { describe, expect, it } from 'vitest';
import * as os from '../../engine';
import { CONV_LANE_VARIANTS, conv2dBackwardData, conv2dBackwardWeight, conv2dForward, type ConvGeometry } from '../../kernels/conv/dispatch';
import {
  conv2dBackwardDataRef,
  conv2dBackwardWeightRef,
  conv2dOutHW,
  conv2dRef,
  convTranspose2dRef,
  type ConvRefOptions,
  type ConvTransposeRefOptions,
} from '../../kernels/conv/reference';
import { checkOp, expectClose, expectThrows, makeInputs, toHost, type HostTensor } from '../helpers';
import type { DeviceArray } from '../../runtime';

/**
 * A variant's first case compiles its four pass kernels (and the 1×1 matmuls); on a cold shader cache s8x32's take
 * 5–15 s each on SwiftShader (CPU time), so on a loaded 2-core host the test outlives the default 60 s.
 */
const COLD_COMPILE = 300_000;

interface Case {
  x: number[];
  w: number[];
  o?: ConvRefOptions;
  bias?: boolean;
}

/** Forward / backward-data / backward-weight shapes; `o.paddingAfter` ≠ padding is torch's padding='same' with an odd total. */
const CASES: Case[] = [
  { x: [1, 3, 7, 7], w: [5, 3, 3, 3], o: { padding: 1 } },
  { x: [3, 5, 9, 9], w: [7, 5, 3, 3], o: { stride: 2, padding: 1 }, bias: true },
  { x: [2, 4, 17, 9], w: [6, 2, 3, 3], o: { groups: 2, padding: [1, 2] }, bias: true },
  { x: [2, 5, 9, 7], w: [5, 1, 3, 3], o: { groups: 5, padding: 1 } }, // depthwise
  { x: [1, 3, 9, 9], w: [4, 3, 3, 3], o: { dilation: 2, padding: 2 }, bias: true },
  { x: [3, 3, 7, 9], w: [5, 3, 2, 4], o: { padding: [0, 2], stride: [1, 2] } }, // non-square kernel and stride
  { x: [2, 3, 17, 17], w: [5, 3, 5, 5], o: { stride: 2, padding: 2 } },
  { x: [1, 5, 7, 7], w: [17, 5, 3, 3], o: { padding: 1 }, bias: true }, // more channels than any tile
  { x: [3, 3, 1, 7], w: [5, 3, 1, 3], o: { padding: [0, 1] } }, // one row
  { x: [1, 2, 7, 7], w: [3, 2, 7, 7] }, // the kernel covers the image: 1×1 output
  { x: [2, 7, 9, 7], w: [3, 7, 1, 1], bias: true }, // 1×1: matmul in the engine path
  { x: [1, 7, 1, 1], w: [5, 7, 1, 1] }, // 1×1 on a 1×1 image
  { x: [2, 6, 9, 9], w: [4, 3, 1, 1], o: { groups: 2, stride: 2 } }, // 1×1 that is not a matmul
  { x: [2, 4, 8, 9], w: [4, 4, 4, 3], o: { padding: [1, 1], paddingAfter: [2, 1], dilation: [1, 1] } }, // 'same', odd total
  { x: [1, 3, 9, 7], w: [6, 1, 3, 2], o: { groups: 3, stride: [2, 3], padding: [1, 0], dilation: [2, 1] } },
  { x: [1, 2, 1, 5], w: [3, 2, 1, 3], o: { stride: 2, padding: [0, 1] }, bias: true }, // a stride phase with no rows
];

const pairOf = (v: number | readonly [number, number] | undefined, d: number): [number, number] => (v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : [v[0], v[1]]);
const geomOf = (o: ConvRefOptions = {}): ConvGeometry => ({ stride: pairOf(o.stride, 1), padding: pairOf(o.padding, 0), dilation: pairOf(o.dilation, 1), groups: o.groups ?? 1 });
/** The engine options for a case (padding 'same' where the reference pads unevenly). */
const engineOpts = (o: ConvRefOptions = {}): os.Conv2dOptions => ({ ...o, padding: o.paddingAfter ? 'same' : o.padding });
const label = (c: Case) => `x [${c.x}] w [${c.w}] ${JSON.stringify(c.o ?? {})}${c.bias ? ' +bias' : ''}`;

const fromHost = (h: HostTensor) => os.tensor(Float32Array.from(h.data), h.shape);

interface Pending {
  out: DeviceArray;
  ref: HostTensor;
  what: string;
}
/** Reads every pending output back (one submit for all), checks each against its reference, frees outputs and inputs. */
async function expectAllClose(variant: string, pending: Pending[], owned: DeviceArray[]): Promise<void> {
  const got = await Promise.all(pending.map((p) => toHost(p.out)));
  pending.forEach((p, i) => {
    expect(p.out.shape, p.what).toEqual(p.ref.shape);
    expectClose(got[i], p.ref.data, { atol: 1e-4, rtol: 1e-4, shape: p.ref.shape, label: `${variant} ${p.what}` });
    p.out.dispose();
  });
  owned.forEach((t) => t.dispose());
}

describe('conv2d kernels: every variant × forward / backward-data / backward-weight against the reference', () => {
  for (const variant of CONV_LANE_VARIANTS) {
    it(`variant ${variant}`, async () => {
      // issue every dispatch, then read everything back: one sync per variant
      const pending: Pending[] = [];
      const owned: DeviceArray[] = [];
      CASES.forEach((c, k) => {
        const [x, w, b] = makeInputs([c.x, c.w, [c.w[0]]], { seed: 100 + k });
        const outHW = conv2dOutHW(c.x, c.w, c.o);
        const [dy] = makeInputs([[c.x[0], c.w[0], ...outHW]], { seed: 200 + k });
        const X = fromHost(x), Wt = fromHost(w), B = fromHost(b), DY = fromHost(dy);
        owned.push(X, Wt, B, DY);
        const geom = geomOf(c.o), opts = { variant, matmul1x1: false };
        const bias = c.bias ? B : undefined;
        pending.push({ out: conv2dForward(X, Wt, bias, geom, outHW, opts), ref: conv2dRef(x, w, c.bias ? b : undefined, c.o), what: 'forward' });
        pending.push({ out: conv2dBackwardData(DY, Wt, undefined, geom, [c.x[2], c.x[3]], opts), ref: conv2dBackwardDataRef(dy, w, c.x, c.o), what: 'backward-data' });
        const dwRef = conv2dBackwardWeightRef(x, dy, c.w, c.o);
        for (const weightRows of [false, true]) {
          pending.push({ out: conv2dBackwardWeight(X, DY, geom, [c.w[2], c.w[3]], { ...opts, weightRows }), ref: dwRef, what: `backward-weight (${weightRows ? 'rows' : 'tap per workgroup'})` });
        }
        // the engine op (1×1 cases go through matmul here)
        pending.push({ out: os.conv2d(X, Wt, bias, { ...engineOpts(c.o), variant }), ref: conv2dRef(x, w, c.bias ? b : undefined, c.o), what: 'os.conv2d' });
        for (let i = 1; i <= 5; i++) pending[pending.length - i].what += ` ${label(c)}`;
      });
      await expectAllClose(variant, pending, owned);
    }, COLD_COMPILE);
  }

  it('an empty batch gives an empty output and a zero weight gradient', async () => {
    const x = os.zeros([0, 3, 5, 5]), w = os.ones([4, 3, 3, 3]);
    const y = os.conv2d(x, w, undefined, { padding: 1 });
    expect(y.shape).toEqual([0, 4, 5, 5]);
    const dw = conv2dBackwardWeight(x, y, geomOf({ padding: 1 }), [3, 3]);
    expectClose(await toHost(dw), new Float64Array(4 * 27));
    for (const t of [x, w, y, dw]) t.dispose();
  });
});

interface TCase {
  x: number[];
  w: number[];
  o: ConvTransposeRefOptions;
  bias?: boolean;
}
const TCASES: TCase[] = [
  { x: [1, 3, 4, 4], w: [3, 2, 3, 3], o: { stride: 2, padding: 1, outputPadding: 1 }, bias: true },
  { x: [2, 4, 3, 5], w: [4, 3, 3, 3], o: { stride: 2, groups: 2 } },
  { x: [3, 5, 7, 7], w: [5, 7, 3, 3], o: { padding: 1 }, bias: true },
  { x: [1, 3, 4, 4], w: [3, 5, 1, 1], bias: true, o: {} }, // 1×1: matmul
  { x: [1, 2, 3, 4], w: [2, 3, 2, 3], o: { stride: [2, 1], dilation: 2, padding: [0, 1], outputPadding: [1, 0] } },
  { x: [2, 3, 9, 9], w: [3, 1, 4, 4], o: { stride: 2, padding: 1, groups: 3 } },
];

/** dx of conv2d (+ bias[c] per input channel, as convTranspose2d's forward adds it), from the reference. */
function backwardDataWithBias(dy: HostTensor, w: HostTensor, c: Case, b: HostTensor | undefined): HostTensor {
  const dx = conv2dBackwardDataRef(dy, w, c.x, c.o);
  if (!b) return dx;
  const [, C, H, W] = c.x;
  return { shape: dx.shape, data: dx.data.map((v, i) => v + b.data[Math.floor(i / (H * W)) % C]) };
}

/**
 * p16x8 runs one group with channels divisible by 4 on the written side: channel tails (C 3, 5, 9, 17), 4–64 output
 * channels; its backward-data runs on the stride-1 cases with C % 4 = 0 (4, 8, 64) and the default tile elsewhere.
 */
const SHARED_CASES: Case[] = [
  { x: [3, 5, 9, 9], w: [8, 5, 3, 3], o: { stride: 2, padding: 1 }, bias: true },
  { x: [2, 3, 17, 9], w: [12, 3, 3, 3], o: { padding: [1, 2] } }, // fewer channels than a subgroup's share
  { x: [1, 9, 7, 7], w: [4, 9, 3, 3], o: { dilation: 2, padding: 2 }, bias: true },
  { x: [2, 4, 8, 9], w: [4, 4, 4, 3], o: { padding: [1, 1], paddingAfter: [2, 1] } }, // 'same', odd total
  { x: [1, 17, 7, 5], w: [36, 17, 3, 2], o: { stride: [1, 2], padding: [1, 0] }, bias: true }, // 36 channels: a part-filled workgroup
  { x: [3, 8, 1, 7], w: [4, 8, 1, 3], o: { padding: [0, 1] } }, // one row
  { x: [1, 64, 9, 9], w: [64, 64, 3, 3], o: { padding: 1 }, bias: true },
  { x: [2, 7, 9, 7], w: [4, 7, 1, 1], bias: true }, // 1×1 outside the matmul path
  { x: [2, 8, 9, 7], w: [12, 8, 3, 3], o: { padding: [0, 2] }, bias: true }, // backward-data: padding 0 (flipped 2) and 2 (flipped 0)
  { x: [1, 4, 9, 9], w: [8, 4, 3, 3], o: { dilation: 2, padding: 1 } }, // backward-data: dilated, flipped padding 3
];
/** t64x64 takes any channel counts: partial 64×64 tiles on both sides, K = 45 straddling its 16-row steps, 1 channel; its backward-weight splits the 1,296 pixels of the last case into slices. */
const TILED_CASES: Case[] = [
  ...SHARED_CASES,
  { x: [1, 5, 9, 9], w: [70, 5, 3, 3], o: { padding: 1 }, bias: true }, // 81 pixels × 70 channels: 2 × 2 tiles
  { x: [2, 70, 5, 3], w: [3, 70, 3, 3], o: { padding: [1, 0] } }, // backward-data writes 70 channels from 3
  { x: [3, 1, 7, 7], w: [1, 1, 3, 3], o: { padding: 1 }, bias: true },
  { x: [4, 6, 18, 18], w: [5, 6, 3, 3], o: { padding: 1 } },
];

for (const variant of ['p16x8', 't64x64'] as const) describe(`conv2d forward over a transposed weight copy (${variant})`, () => {
  it('forward, backward-data and backward-weight against the reference on odd shapes, through the dispatcher and os.conv2d', async () => {
    const pending: Pending[] = [];
    const owned: DeviceArray[] = [];
    (variant === 'p16x8' ? SHARED_CASES : TILED_CASES).forEach((c, k) => {
      const [x, w, b] = makeInputs([c.x, c.w, [c.w[0]]], { seed: 300 + k });
      const X = fromHost(x), Wt = fromHost(w), B = fromHost(b);
      owned.push(X, Wt, B);
      const ref = conv2dRef(x, w, c.bias ? b : undefined, c.o), bias = c.bias ? B : undefined;
      pending.push({ out: conv2dForward(X, Wt, bias, geomOf(c.o), conv2dOutHW(c.x, c.w, c.o), { variant, matmul1x1: false }), ref, what: `kernel ${label(c)}` });
      pending.push({ out: os.conv2d(X, Wt, bias, { ...engineOpts(c.o), variant }), ref, what: `os.conv2d ${label(c)}` });
      // backward-data: the variant where stride 1 (p16x8: and input channels % 4 = 0), the default tile elsewhere (both must be right)
      const outHW = conv2dOutHW(c.x, c.w, c.o);
      const [dy, bx] = makeInputs([[c.x[0], c.w[0], ...outHW], [c.x[1]]], { seed: 400 + k });
      const DY = fromHost(dy), BX = fromHost(bx);
      owned.push(DY, BX);
      pending.push({ out: conv2dBackwardData(DY, Wt, c.bias ? BX : undefined, geomOf(c.o), [c.x[2], c.x[3]], { variant, matmul1x1: false }), ref: backwardDataWithBias(dy, w, c, c.bias ? bx : undefined), what: `backward-data ${label(c)}` });
      // backward-weight: t64x64's split-K kernel (one slice but on the last case's 1,296 pixels); p16x8 takes the default tile
      pending.push({ out: conv2dBackwardWeight(X, DY, geomOf(c.o), [c.w[2], c.w[3]], { variant, matmul1x1: false }), ref: conv2dBackwardWeightRef(x, dy, c.w, c.o), what: `backward-weight ${label(c)}` });
    });
    await expectAllClose(variant, pending, owned);
  });

  it('gradients against finite differences (backward passes take the variant where they can, default tiles elsewhere)', async () => {
    const cases: Case[] = [{ x: [2, 3, 3, 3], w: [4, 3, 3, 3], o: { padding: 1 }, bias: true }, { x: [1, 5, 7, 5], w: [4, 5, 3, 3], o: { stride: 2, padding: 1 } }];
    for (const [k, c] of cases.entries()) {
      const shapes = c.bias ? [c.x, c.w, [c.w[0]]] : [c.x, c.w];
      await checkOp(`conv2d grad ${label(c)} ${variant}`, shapes, (x, w, b) => os.conv2d(x, w, b, { ...engineOpts(c.o), variant }),
        (x, w, b) => conv2dRef(x, w, b, c.o), { atol: 1e-4, rtol: 1e-4, grads: 'finite-differences', seed: 40 + k });
    }
  });

  it('refuses what it cannot run, naming why and the alternatives', () => {
    const x = os.zeros([1, 4, 5, 5]);
    expectThrows(() => os.conv2d(x, os.zeros([4, 2, 3, 3]), undefined, { groups: 2, variant }), os.ValueError, variant, 'one group (groups = 2)', 's8x32');
    if (variant === 'p16x8') expectThrows(() => os.conv2d(x, os.zeros([6, 4, 3, 3]), undefined, { variant }), os.ValueError, 'p16x8', 'divisible by 4 (6)');
    x.dispose();
  });
});

describe('convTranspose2d forward against the reference', () => {
  for (const variant of CONV_LANE_VARIANTS) {
    it(`variant ${variant}`, async () => {
      for (const [k, c] of TCASES.entries()) {
        const shapes = c.bias ? [c.x, c.w, [c.w[1] * (c.o.groups ?? 1)]] : [c.x, c.w];
        await checkOp(`convTranspose2d x [${c.x}] w [${c.w}] ${JSON.stringify(c.o)}`, shapes,
          (x, w, b) => os.convTranspose2d(x, w, b, { ...c.o, variant }),
          (x, w, b) => convTranspose2dRef(x, w, b, c.o), { atol: 1e-4, rtol: 1e-4, seed: k });
      }
    });
  }
});

describe('gradients against float64 finite differences', () => {
  const GRAD_CASES: Case[] = [
    { x: [2, 3, 3, 3], w: [2, 3, 3, 3], o: { padding: 1 }, bias: true },
    { x: [1, 2, 7, 5], w: [3, 2, 3, 3], o: { stride: 2, padding: 1 }, bias: true },
    { x: [1, 4, 4, 4], w: [4, 2, 3, 3], o: { groups: 2, padding: [0, 1] } },
    { x: [1, 3, 4, 5], w: [3, 1, 3, 3], o: { groups: 3, dilation: 2, padding: 2 }, bias: true }, // depthwise, dilated
    { x: [2, 2, 3, 5], w: [3, 2, 2, 3], o: { stride: [2, 1] } },
    { x: [2, 3, 3, 3], w: [5, 3, 1, 1], bias: true }, // 1×1: matmul
  ];
  const T_GRAD_CASES: TCase[] = [
    { x: [1, 3, 3, 3], w: [3, 2, 3, 3], o: { stride: 2, padding: 1, outputPadding: 1 }, bias: true },
    { x: [1, 4, 3, 3], w: [4, 1, 2, 2], o: { stride: 2, groups: 2 } },
    { x: [2, 3, 3, 3], w: [3, 2, 1, 1], bias: true, o: {} },
  ];
  for (const variant of CONV_LANE_VARIANTS) {
    it(`conv2d x, w, b (${variant})`, async () => {
      for (const [k, c] of GRAD_CASES.entries()) {
        const shapes = c.bias ? [c.x, c.w, [c.w[0]]] : [c.x, c.w];
        await checkOp(`conv2d grad ${label(c)} ${variant}`, shapes,
          (x, w, b) => os.conv2d(x, w, b, { ...engineOpts(c.o), variant }),
          (x, w, b) => conv2dRef(x, w, b, c.o), { atol: 1e-4, rtol: 1e-4, grads: 'finite-differences', seed: 10 + k });
      }
    });
    it(`convTranspose2d x, w, b (${variant})`, async () => {
      for (const [k, c] of T_GRAD_CASES.entries()) {
        const shapes = c.bias ? [c.x, c.w, [c.w[1] * (c.o.groups ?? 1)]] : [c.x, c.w];
        await checkOp(`convTranspose2d grad x [${c.x}] w [${c.w}] ${JSON.stringify(c.o)} ${variant}`, shapes,
          (x, w, b) => os.convTranspose2d(x, w, b, { ...c.o, variant }),
          (x, w, b) => convTranspose2dRef(x, w, b, c.o), { atol: 1e-4, rtol: 1e-4, grads: 'finite-differences', seed: 20 + k });
      }
    });
  }

  it('unbatched [C, H, W] input, with its gradient', async () => {
    await checkOp('conv2d unbatched', [[2, 5, 4], [3, 2, 3, 3], [3]],
      (x, w, b) => os.conv2d(x, w, b, { padding: 1 }),
      (x, w, b) => {
        const y = conv2dRef({ data: x.data, shape: [1, ...x.shape] }, w, b, { padding: 1 });
        return { data: y.data, shape: y.shape.slice(1) };
      }, { atol: 1e-4, rtol: 1e-4, grads: 'finite-differences' });
  });
});

describe('nn.Conv2d and nn.ConvTranspose2d', () => {
  it('parameter names, shapes and torch default init', async () => {
    const conv = new os.nn.Conv2d(4, 8, 3, { padding: 1 });
    expect(conv.namedParameters().map(([n, t]) => [n, t.shape])).toEqual([['weight', [8, 4, 3, 3]], ['bias', [8]]]);
    const bound = 1 / Math.sqrt(4 * 9);
    for (const p of conv.parameters()) {
      const v = await toHost(p);
      expect(Math.max(...v.map(Math.abs))).toBeLessThanOrEqual(bound);
      expect(Math.max(...v.map(Math.abs))).toBeGreaterThan(bound / 2);
    }
    const x = os.randn([2, 4, 5, 5]);
    const y = conv.forward(x);
    expect(y.shape).toEqual([2, 8, 5, 5]);
    const sum = os.sum(y);
    sum.backward();
    expect(conv.weight.grad?.shape).toEqual([8, 4, 3, 3]);
    expect(conv.bias?.grad?.shape).toEqual([8]);

    const grouped = new os.nn.Conv2d(4, 6, [3, 1], { groups: 2, bias: false, stride: 2 });
    expect(grouped.namedParameters().map(([n, t]) => [n, t.shape])).toEqual([['weight', [6, 2, 3, 1]]]);
    expect(grouped.forward(x).shape).toEqual([2, 6, 2, 3]);

    const up = new os.nn.ConvTranspose2d(4, 6, [3, 2], { groups: 2, stride: 2, padding: 1, outputPadding: 1 });
    expect(up.namedParameters().map(([n, t]) => [n, t.shape])).toEqual([['weight', [4, 3, 3, 2]], ['bias', [6]]]);
    const ub = 1 / Math.sqrt(3 * 6); // fanIn from weight.shape[1] = outChannels/groups
    expect(Math.max(...(await toHost(up.weight)).map(Math.abs))).toBeLessThanOrEqual(ub);
    expect(up.forward(x).shape).toEqual([2, 6, 10, 9]);
    expect(Object.keys(up.stateDict())).toEqual(['weight', 'bias']);
    for (const t of [x, y, sum]) t.dispose();
    expectThrows(() => new os.nn.Conv2d(4, 6, 3, { groups: 4 }), os.ValueError, 'groups 4', 'outChannels 6');
  });
});

describe('errors name the op, the shapes and the fix', () => {
  it('conv2d', () => {
    const x = os.zeros([1, 3, 5, 5]), w = os.zeros([8, 4, 3, 3]);
    expectThrows(() => os.conv2d(x, w), os.ShapeError, 'conv2d: input has 3 channels but weight expects 4 (weight [8,4,3,3]');
    const x4 = os.zeros([1, 4, 5, 5]), wg = os.zeros([6, 2, 3, 3]);
    expectThrows(() => os.conv2d(x4, wg, undefined, { groups: 3 }), os.ValueError, 'conv2d', 'groups 3', '4 input channels');
    expectThrows(() => os.conv2d(x4, wg, undefined, { groups: 4 }), os.ValueError, 'groups 4', '6 output channels');
    expectThrows(() => os.conv2d(os.zeros([1, 4, 5, 5]), os.zeros([6, 1, 3, 3]), undefined, { groups: 2 }), os.ShapeError, 'weight expects 2 (1 per group × 2 groups)');
    const big = os.zeros([1, 1, 5, 5]);
    expectThrows(() => os.conv2d(os.zeros([1, 1, 3, 3]), big), os.ShapeError, 'kernel 5×5', 'larger than the padded input 3×3');
    expectThrows(() => os.conv2d(os.zeros([1, 1, 2, 2]), big, undefined, { padding: 1 }), os.ShapeError, 'padded input 4×4', 'pad the input more');
    expect(os.conv2d(os.zeros([1, 1, 3, 3]), big, undefined, { padding: 1 }).shape).toEqual([1, 1, 1, 1]);
    expectThrows(() => os.conv2d(x4, os.zeros([6, 4, 3, 3]), os.zeros([5])), os.ShapeError, 'bias [5]', 'must be [6]');
    expectThrows(() => os.conv2d(x4, os.zeros([6, 4, 3])), os.ShapeError, 'weight must be', '[6,4,3]');
    expectThrows(() => os.conv2d(os.zeros([4, 5]), w), os.ShapeError, '[N, C, H, W]', '[4,5]');
    expectThrows(() => os.conv2d(x4, os.zeros([6, 4, 3, 3]), undefined, { stride: 0 }), os.ValueError, 'stride');
    expectThrows(() => os.conv2d(x4, os.zeros([6, 4, 3, 3]), undefined, { padding: -1 }), os.ValueError, 'padding');
    expectThrows(() => os.conv2d(x4, os.zeros([6, 4, 3, 3]), undefined, { padding: 'same', stride: 2 }), os.ValueError, "'same'", 'stride 1');
    for (const t of [x, w, x4, wg, big]) t.dispose();
  });
  it('convTranspose2d', () => {
    const x = os.zeros([1, 3, 4, 4]);
    expectThrows(() => os.convTranspose2d(x, os.zeros([4, 2, 3, 3])), os.ShapeError, 'convTranspose2d: input has 3 channels but weight expects 4', '[4,2,3,3]');
    expectThrows(() => os.convTranspose2d(x, os.zeros([3, 2, 3, 3]), undefined, { stride: 2, outputPadding: 2 }), os.ValueError, 'outputPadding', 'smaller than stride');
    expectThrows(() => os.convTranspose2d(x, os.zeros([3, 2, 3, 3]), undefined, { groups: 2 }), os.ValueError, 'groups 2', '3 input channels');
    expectThrows(() => os.convTranspose2d(os.zeros([1, 3, 1, 1]), os.zeros([3, 2, 1, 1]), undefined, { padding: 1 }), os.ShapeError, 'crops the whole output');
    x.dispose();
  });
});
