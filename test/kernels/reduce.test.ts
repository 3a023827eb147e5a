// test/kernels/reduce.test.ts: sum / mean / max / min / var over axis sets with keepdim, and both
// kernel variants of kernels/reduce/dispatch.ts, forward against kernels/reduce/reference.ts. Backward: grad.test.ts.
import { describe, it, expect } from 'vitest';
import * as os from '../../engine';
import { REDUCE_VARIANTS, reduce, type ReduceOp, type ReducePrologue } from '../../kernels/reduce/dispatch';
import { normAxesRef, reduceRef, varRef } from '../../kernels/reduce/reference';
import { checkOp, expectClose, expectThrows, fromHost, makeInputs, toHost } from '../helpers';

type Axes = number | number[] | undefined;
const CASES: [number[], Axes[]][] = [
  [[17], [undefined, 0, -1, [0]]],
  [[1], [undefined, 0]],
  [[5, 17], [undefined, 0, 1, -1, [0, 1], [-1, 0]]],
  [[3, 5, 7], [undefined, 0, 1, 2, [0, 2], [1, 2], [0, 1], [2, 0, 2]]],
  [[2, 3, 4, 5], [[1, 3], [0, 2], [0, 1, 2], 3, [1, 2]]],
  [[65, 33], [0, 1, undefined]],
  [[7, 1, 9], [1, [0, 1], 2]],
  [[3, 0, 4], [2, [0, 2]]],
];

const OPS = [
  ['sum', (x: os.Tensor, a: Axes, k: boolean) => os.sum(x, a, k), 'sum'],
  ['mean', (x: os.Tensor, a: Axes, k: boolean) => os.mean(x, a, k), 'mean'],
  ['max', (x: os.Tensor, a: Axes, k: boolean) => os.max(x, a, k), 'max'],
  ['min', (x: os.Tensor, a: Axes, k: boolean) => os.min(x, a, k), 'min'],
] as const;

describe('reductions over axis sets, keepdim true/false', () => {
  for (const [name, gpu, refOp] of OPS) {
    it(name, async () => {
      for (const [shape, axesList] of CASES) {
        for (const axes of axesList) {
          const empty = shape.includes(0);
          const nRed = normAxesRef(shape.length, axes).reduce((p, d) => p * shape[d], 1);
          if (empty && (name === 'max' || name === 'min')) continue; // rejected, tested below
          if (name === 'mean' && nRed === 0) continue;
          for (const keepdim of [false, true]) {
            await checkOp(`${name}([${shape}], ${JSON.stringify(axes)}, ${keepdim})`, [shape], (x) => gpu(x, axes, keepdim), (x) => reduceRef(refOp, x, axes, keepdim), { atol: 2e-5, rtol: 1e-5 });
          }
        }
      }
    });
  }

  it('var (correction 1 and 0) and the method form', async () => {
    for (const [shape, axesList] of CASES.slice(0, 6)) {
      for (const axes of axesList) {
        for (const keepdim of [false, true]) {
          await checkOp(`var([${shape}], ${JSON.stringify(axes)}, ${keepdim})`, [shape], (x) => os.variance(x, axes, keepdim), (x) => varRef(x, axes, keepdim), { atol: 2e-5, rtol: 1e-5 });
          await checkOp(`var0([${shape}], ${JSON.stringify(axes)})`, [shape], (x) => x.var(axes, keepdim, 0), (x) => varRef(x, axes, keepdim, 0), { atol: 2e-5, rtol: 1e-5 });
        }
      }
    }
  });

  it('0-d input, sums over empty dims, and NaN propagation in max/min', async () => {
    const s = os.tensor(4.5);
    const a = os.sum(s), b = os.max(s), c = os.mean(s, undefined, true);
    expect(a.shape).toEqual([]);
    expect(await a.item()).toBe(4.5);
    expect(await b.item()).toBe(4.5);
    expect(c.shape).toEqual([]);
    const e = os.sum(os.zeros([3, 0]), 1);
    expect(e.shape).toEqual([3]);
    expectClose(await toHost(e), [0, 0, 0]);
    const n = os.tensor([[1, NaN, 3], [4, 5, 6]]);
    expectClose(await toHost(os.max(n, 1)), [NaN, 6]);
    expectClose(await toHost(os.min(n, 1)), [NaN, 4]);
    expectClose(await toHost(os.sum(n, 1)), [NaN, 15]);
    for (const t of [s, a, b, c, e, n]) t.dispose();
  });

  it('rejects empty max/min/mean and bad axes', () => {
    const z = os.zeros([3, 0]), x = os.zeros([2, 3]);
    expectThrows(() => os.max(z), os.ValueError, 'max', '[3,0]');
    expectThrows(() => os.min(z, 1), os.ValueError);
    expectThrows(() => os.mean(z, 1), os.ValueError, 'mean');
    expectThrows(() => os.sum(x, 2), os.ValueError, 'axis', '[2,3]');
    expectThrows(() => os.sum(x, -3), os.ValueError);
    expectThrows(() => os.softmax(x, 2), os.ValueError, 'softmax');
    z.dispose();
    x.dispose();
  });
});

describe('reduce kernel variants', () => {
  const KCASES: [number[], number[]][] = [
    [[65, 33], [0]],
    [[65, 33], [1]],
    [[65, 33], [0, 1]],
    [[3, 300], [1]],
    [[2, 17, 3, 5], [1, 3]],
    [[2, 17, 3, 5], [0, 2]],
    [[2, 17, 3, 5], [0, 1, 2, 3]],
    [[1000], [0]],
    [[7, 1, 9], [1]],
    [[7, 1, 9], [0, 2]],
    [[5, 0], [1]],
    [[], []],
    [[4, 5], []],
    // long reductions with few outputs: 'split' chunks cross the contiguous runs (bias gradients of a conv)
    [[3, 5, 70, 33], [0, 2, 3]],
    [[33, 4, 100], [0, 2]],
    [[5, 3001], [1]],
    // innermost reduced run contiguous with a length divisible by 4: read as vec4s ('thread4'), across several runs
    [[3, 5, 8, 16], [0, 2, 3]],
    [[6, 8, 12], [0, 2]],
    [[2, 4100], [1]],
    // innermost kept dim contiguous, divisible by 4, other strides too: four columns per invocation ('cols4', sums)
    [[70, 68], [0]],
    [[1, 4], [0]],
    [[3, 17, 8], [0, 1]],
    [[5, 4, 12], [1]],
    [[17, 3, 4], [0]], // the outer kept stride 4
    [[33, 6], [0]], // 6 columns: not a multiple of 4, the scalar kernel
  ];
  const ROPS: ReduceOp[] = ['sum', 'max', 'min', 'sumSquares'];
  for (const variant of REDUCE_VARIANTS) {
    it(`${variant}: sum / max / min / sumSquares with keepdim and scale`, async () => {
      for (const [shape, axes] of KCASES) {
        const [x] = makeInputs([shape], { seed: shape.length * 31 + axes.length });
        const t = fromHost(x);
        for (const op of ROPS) {
          if ((op === 'max' || op === 'min') && axes.some((d) => shape[d] === 0)) continue;
          for (const [keepdim, scale] of [[false, 1], [true, 0.5]] as const) {
            const out = reduce(op, t, axes, keepdim, scale, variant);
            const ref = reduceRef(op, x, axes, keepdim, scale);
            expect(out.shape, `${op} [${shape}] axes [${axes}]`).toEqual(ref.shape);
            expectClose(await toHost(out), ref.data, { atol: 1e-4, rtol: 1e-5, label: `${variant} ${op} [${shape}] axes [${axes}] keepdim ${keepdim}`, shape: ref.shape });
            out.dispose();
          }
        }
        t.dispose();
      }
    });
    it(`${variant}: through a prologue of three inputs (what a compiled step fuses into a reduction)`, async () => {
      // f(a, b, c) = |a − b|·c + 0.5, in steps that read inputs and earlier steps
      const prologue: ReducePrologue = {
        inputs: [null, null, null],
        steps: [
          { fn: { args: ['a', 'b'], expr: 'abs(a - b)' }, args: [{ input: 0 }, { input: 1 }] },
          { fn: { args: ['a', 'b'], expr: 'a * b + h', consts: { h: 0.5 } }, args: [{ step: 0 }, { input: 2 }] },
        ],
        label: 'abs → mul → add',
      };
      for (const [shape, axes] of KCASES) {
        if (shape.includes(0)) continue;
        const xs = makeInputs([shape, shape, shape], { seed: shape.length * 7 + axes.length });
        const ts = xs.map((x) => fromHost(x));
        const f = { shape: xs[0].shape, data: xs[0].data.map((a, i) => Math.abs(a - xs[1].data[i]) * xs[2].data[i] + 0.5) };
        for (const op of ROPS) {
          const out = reduce(op, ts[0], axes, true, 0.5, variant, { prologue, inputs: ts });
          const ref = reduceRef(op, f, axes, true, 0.5);
          expectClose(await toHost(out), ref.data, { atol: 1e-4, rtol: 1e-5, label: `${variant} ${op} of f [${shape}] axes [${axes}]`, shape: ref.shape });
          out.dispose();
        }
        ts.forEach((t) => t.dispose());
      }
    });
  }
});

describe('reduce over many outputs (2-D workgroup grid)', () => {
  it('70,000 outputs with both variants', async () => {
    const n = 70_000; // > 65,535 workgroups for the 'workgroup' variant
    const x = os.tensor(Float32Array.from({ length: n * 3 }, (_, i) => (i % 7) - 3), [n, 3]);
    const want = Float64Array.from({ length: n }, (_, r) => [0, 1, 2].reduce((s, c) => s + (((r * 3 + c) % 7) - 3), 0));
    for (const variant of REDUCE_VARIANTS) {
      const out = reduce('sum', x, [1], false, 1, variant);
      expectClose(await toHost(out), want, { label: variant });
      out.dispose();
    }
    x.dispose();
  });
});

