// test/kernels/matmul.test.ts: every tile of MATMUL_TILES through `matmulKernel` on M, N, K off every tile multiple with
// all transpose flags, batched and broadcast batches, the fused bias, and the engine's matmul / linear (1-D operands,
// options), all against kernels/matmul/reference.ts. Backward: test/engine/grad.test.ts.
import { describe, it, expect } from 'vitest';
import * as os from '../../engine';
import { MATMUL_TILES, matmulKernel } from '../../kernels/matmul/dispatch';
import { linearRef, matmulRef } from '../../kernels/matmul/reference';
import { checkOp, expectClose, expectThrows, rng, toHost } from '../helpers';

const DIMS = [1, 3, 17, 33, 65];
/** Every M and N with a K that cycles through DIMS: 25 triples, each dim value met with every other. */
const TRIPLES: [number, number, number][] = DIMS.flatMap((M, i) => DIMS.map((N, j) => [M, N, DIMS[(i + 2 * j) % DIMS.length]] as [number, number, number]));
const TRANS: [boolean, boolean][] = [[false, false], [true, false], [false, true], [true, true]];

describe('matmulKernel: every tile × trans flags × odd M, N, K', () => {
  const r = rng(42);
  for (const tile of MATMUL_TILES) {
    it(`tile ${JSON.stringify(tile)}`, async () => {
      for (const [transA, transB] of TRANS) {
        // issue all dispatches, then read them all back: one sync per flag combination
        const pending: { out: os.Tensor; ref: Float64Array; label: string; tensors: os.Tensor[] }[] = [];
        for (const [M, N, K] of TRIPLES) {
          const aShape = transA ? [K, M] : [M, K], bShape = transB ? [N, K] : [K, N];
          const a = r.array(M * K), b = r.array(K * N);
          const A = os.tensor(Float32Array.from(a), aShape), B = os.tensor(Float32Array.from(b), bShape);
          const out = matmulKernel(A, B, { transA, transB, config: tile });
          expect(out.shape).toEqual([M, N]);
          pending.push({ out, ref: matmulRef(a, aShape, b, bShape, { transA, transB }).data, label: `M=${M} N=${N} K=${K} transA=${transA} transB=${transB}`, tensors: [A, B, out] });
        }
        const got = await Promise.all(pending.map((p) => toHost(p.out)));
        pending.forEach((p, i) => {
          expectClose(got[i], p.ref, { atol: 1e-5, rtol: 1e-5, label: `${JSON.stringify(tile)} ${p.label}` });
          p.tensors.forEach((t) => t.dispose());
        });
      }
    });
  }

  it('K = 0 gives zeros (plus the bias); M or N = 0 gives an empty result', async () => {
    for (const tile of MATMUL_TILES) {
      const A = os.zeros([3, 0]), B = os.zeros([0, 5]), bias = os.tensor([1, 2, 3, 4, 5]);
      const c = matmulKernel(A, B, { config: tile }), cb = matmulKernel(A, B, { bias, config: tile });
      expectClose(await toHost(c), new Float64Array(15));
      expectClose(await toHost(cb), Array.from({ length: 15 }, (_, i) => (i % 5) + 1));
      const e = matmulKernel(os.zeros([0, 4]), os.zeros([4, 3]), { config: tile });
      expect(e.shape).toEqual([0, 3]);
      for (const t of [A, B, bias, c, cb, e]) t.dispose();
    }
  });

  it('fused bias with every tile and trans flag', async () => {
    const r2 = rng(3);
    for (const tile of MATMUL_TILES) {
      for (const [transA, transB] of TRANS) {
        const [M, N, K] = [17, 33, 3];
        const aShape = transA ? [K, M] : [M, K], bShape = transB ? [N, K] : [K, N];
        const a = r2.array(M * K), b = r2.array(K * N), bias = r2.array(N);
        const A = os.tensor(Float32Array.from(a), aShape), B = os.tensor(Float32Array.from(b), bShape), Bias = os.tensor(Float32Array.from(bias));
        const out = matmulKernel(A, B, { transA, transB, bias: Bias, config: tile });
        expectClose(await toHost(out), matmulRef(a, aShape, b, bShape, { transA, transB, bias }).data, { atol: 1e-5, rtol: 1e-5, label: `bias ${JSON.stringify(tile)} ${transA} ${transB}` });
        for (const t of [A, B, Bias, out]) t.dispose();
      }
    }
  });
});

describe('batched matmul', () => {
  const CASES: [number[], number[], boolean, boolean][] = [
    [[2, 3, 17, 5], [2, 3, 5, 33], false, false],
    [[4, 5, 3], [4, 3, 6], false, false],
    [[4, 3, 5], [4, 6, 3], true, true],
    [[3, 1, 4, 5], [2, 5, 6], false, false], // [3,1] × [2] batch broadcast → [3,2]
    [[1, 4, 5], [3, 5, 6], false, false], // one-batch operand shared
    [[4, 5], [3, 5, 6], false, false], // 2-D operand shared across a batch
    [[3, 17, 5], [5, 33], false, false],
    [[2, 1, 5, 4], [1, 3, 6, 4], false, true],
    [[2, 1, 4, 5], [1, 3, 4, 6], true, false],
    [[0, 3, 4], [4, 5], false, false],
  ];
  for (const tile of [undefined, ...MATMUL_TILES]) {
    it(`batch dims broadcast (${tile ? JSON.stringify(tile) : 'default tile'})`, async () => {
      for (const [as, bs, transA, transB] of CASES) {
        await checkOp(`matmul [${as}]${transA ? 'ᵀ' : ''} @ [${bs}]${transB ? 'ᵀ' : ''}`, [as, bs],
          (a, b) => matmulKernel(a, b, { transA, transB, config: tile }),
          (a, b) => matmulRef(a.data, a.shape, b.data, b.shape, { transA, transB }), { atol: 1e-5, rtol: 1e-5 });
      }
    });
  }
});

describe('os.matmul and os.linear', () => {
  it('1-D operands follow torch.matmul', async () => {
    const cases: [number[], number[]][] = [[[5], [5, 3]], [[4, 5], [5]], [[5], [5]], [[2, 4, 5], [5]], [[5], [2, 5, 3]], [[1], [1]], [[17], [17, 33]]];
    for (const [as, bs] of cases) {
      await checkOp(`matmul [${as}] @ [${bs}]`, [as, bs], (a, b) => os.matmul(a, b), (a, b) => matmulRef(a.data, a.shape, b.data, b.shape), { atol: 1e-5, rtol: 1e-5 });
    }
  });
  it('transA / transB options and the method form', async () => {
    for (const [transA, transB] of TRANS) {
      const as = transA ? [2, 5, 3] : [2, 3, 5], bs = transB ? [2, 4, 5] : [2, 5, 4];
      await checkOp(`matmul opts ${transA} ${transB}`, [as, bs], (a, b) => os.matmul(a, b, { transA, transB }), (a, b) => matmulRef(a.data, a.shape, b.data, b.shape, { transA, transB }), { atol: 1e-5 });
    }
    await checkOp('a.matmul(b)', [[3, 4], [4, 2]], (a, b) => a.matmul(b), (a, b) => matmulRef(a.data, a.shape, b.data, b.shape));
  });
  it('linear with and without bias, 1-D / 2-D / 3-D input', async () => {
    const cases: [number[], number[]][] = [[[7], [3, 7]], [[5, 7], [3, 7]], [[2, 5, 7], [3, 7]], [[2, 3, 4, 17], [33, 17]], [[0, 7], [3, 7]]];
    for (const [xs, ws] of cases) {
      await checkOp(`linear [${xs}] [${ws}]`, [xs, ws], (x, w) => os.linear(x, w), (x, w) => linearRef(x, w), { atol: 1e-5, rtol: 1e-5 });
      await checkOp(`linear+b [${xs}] [${ws}]`, [xs, ws, [ws[0]]], (x, w, b) => os.linear(x, w, b), (x, w, b) => linearRef(x, w, b), { atol: 1e-5, rtol: 1e-5 });
    }
  });
  it('rejects mismatched shapes with ShapeError naming them', () => {
    const a = os.zeros([3, 4]), b = os.zeros([5, 2]), s = os.tensor(2), w = os.zeros([2, 5]);
    expectThrows(() => os.matmul(a, b), os.ShapeError, 'matmul', '[3,4]', '[5,2]');
    expectThrows(() => os.matmul(a, s), os.ShapeError, 'matmul');
    expectThrows(() => os.matmul(os.zeros([2, 3, 4]), os.zeros([3, 4, 2])), os.ShapeError, 'matmul');
    expectThrows(() => os.linear(a, w), os.ShapeError, 'linear', '[3,4]', '[2,5]');
    expectThrows(() => os.linear(os.zeros([3, 5]), w, os.zeros([3])), os.ShapeError, 'bias');
    expectThrows(() => os.linear(os.zeros([3, 5]), os.zeros([5])), os.ShapeError, 'weight');
    for (const t of [a, b, s, w]) t.dispose();
  });
});
