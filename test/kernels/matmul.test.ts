// test/kernels/matmul.test.ts: every variant of MATMUL_VARIANTS through `matmulKernel` on M, N, K off every tile
// multiple (odd: scalar strided reads; multiples of 4 and mixes: the vec4 read modes) with all transpose flags,
// batched and broadcast batches, the fused bias, K = 0 and empty outputs, the subgroup kernels' plain-load path and
// their register fallback, then the engine's matmul / linear (1-D operands, options), all against
// kernels/matmul/reference.ts. Backward: test/engine/grad.test.ts. A first run compiles ~30 pipelines (~2 min on
// lavapipe, the big subgroup tiles ~30 s each); Mesa's shader cache makes later runs take seconds.
import { describe, it, expect } from 'vitest';
import * as os from '../../engine';
import {
  MATMUL_VARIANTS,
  heuristicMatmulConfig,
  matmulCandidates,
  matmulConfigId,
  matmulKernel,
  matmulLayout,
  matmulShapeKey,
  resolveMatmulConfig,
  type MatmulShape,
  type MatmulVariant,
} from '../../kernels/matmul/dispatch';
import { linearRef, matmulRef } from '../../kernels/matmul/reference';
import { roundToHalf } from '../../kernels/cast/reference';
import { checkOp, expectClose, expectThrows, rng, toHost } from '../helpers';
import type { DeviceArray } from '../../runtime';

const DIMS = [1, 3, 17, 33, 65];
/** Every M and N with a K that cycles through DIMS: 25 triples, each dim value met with every other. */
const TRIPLES: [number, number, number][] = DIMS.flatMap((M, i) => DIMS.map((N, j) => [M, N, DIMS[(i + 2 * j) % DIMS.length]] as [number, number, number]));
/** Multiples of 4 off the tile sizes (vec4 reads on both operands), then mixes where only some dims allow vec4. */
const DIMS4 = [4, 8, 20, 36, 68];
const ALIGNED: [number, number, number][] = [
  ...DIMS4.map((M, i) => [M, DIMS4[(i + 1) % 5], DIMS4[(i + 3) % 5]] as [number, number, number]),
  [68, 68, 68],
  [17, 36, 20], // M odd
  [36, 17, 20], // N odd
  [20, 36, 17], // K odd
  [3, 8, 12],
];
const TRANS: [boolean, boolean][] = [[false, false], [true, false], [false, true], [true, true]];
/** Variants whose shaders take a long time to compile on CPU drivers (first run only). */
const SLOW_COMPILE = 360_000;

interface Pending {
  out: DeviceArray;
  ref: Float64Array;
  label: string;
  tensors: DeviceArray[];
}

/** Runs every (shape, trans) case for one variant: all dispatches first, then one readback round. */
async function checkShapes(v: MatmulVariant | undefined, shapes: [number, number, number][], seed: number, o: { bias?: boolean; noSubgroupPath?: boolean } = {}): Promise<void> {
  const r = rng(seed);
  for (const [transA, transB] of TRANS) {
    const pending: Pending[] = [];
    for (const [M, N, K] of shapes) {
      const aShape = transA ? [K, M] : [M, K], bShape = transB ? [N, K] : [K, N];
      const a = r.array(M * K), b = r.array(K * N), bias = o.bias ? r.array(N) : undefined;
      const A = os.tensor(Float32Array.from(a), aShape), B = os.tensor(Float32Array.from(b), bShape);
      const Bias = bias ? os.tensor(Float32Array.from(bias)) : undefined;
      const out = matmulKernel(A, B, { transA, transB, bias: Bias, config: v?.config, noSubgroupPath: o.noSubgroupPath });
      expect(out.shape).toEqual([M, N]);
      pending.push({ out, ref: matmulRef(a, aShape, b, bShape, { transA, transB, bias }).data, label: `M=${M} N=${N} K=${K} transA=${transA} transB=${transB}`, tensors: [A, B, out, ...(Bias ? [Bias] : [])] });
    }
    const got = await Promise.all(pending.map((p) => toHost(p.out)));
    pending.forEach((p, i) => {
      expectClose(got[i], p.ref, { atol: 1e-5, rtol: 1e-5, label: `${v?.name ?? 'default'}${o.bias ? ' +bias' : ''}${o.noSubgroupPath ? ' plain path' : ''} ${p.label}` });
      p.tensors.forEach((t) => t.dispose());
    });
  }
}

const BATCHED: [number[], number[], boolean, boolean][] = [
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
  // vec4 reads with batch strides
  [[3, 20, 8], [3, 8, 12], false, false],
  [[3, 8, 20], [3, 12, 8], true, true],
  [[2, 20, 8], [20, 12], true, false],
  [[20, 8], [2, 12, 8], false, true],
];

for (const v of MATMUL_VARIANTS) {
  const timeout = v.config.kind === 'subgroup' || v.name === 'r8x16v' ? SLOW_COMPILE : 120_000;
  describe(`matmul variant ${v.name} ${JSON.stringify(v.config)}`, () => {
    it('odd M, N, K × transpose flags (scalar reads)', () => checkShapes(v, TRIPLES, 42), timeout);
    it('M, N, K multiples of 4 and mixes × transpose flags (vec4 reads)', () => checkShapes(v, ALIGNED, 43), timeout);
    it('fused bias × transpose flags', () => checkShapes(v, [[17, 33, 3], [20, 36, 12], [1, 8, 9]], 3, { bias: true }), timeout);
    it('K = 0 gives zeros (plus the bias); M or N = 0 gives an empty result', async () => {
      const A = os.zeros([3, 0]), B = os.zeros([0, 5]), bias = os.tensor([1, 2, 3, 4, 5]);
      const c = matmulKernel(A, B, { config: v.config }), cb = matmulKernel(A, B, { bias, config: v.config });
      expectClose(await toHost(c), new Float64Array(15));
      expectClose(await toHost(cb), Array.from({ length: 15 }, (_, i) => (i % 5) + 1));
      const e = matmulKernel(os.zeros([0, 4]), os.zeros([4, 3]), { config: v.config });
      expect(e.shape).toEqual([0, 3]);
      for (const t of [A, B, bias, c, cb, e]) t.dispose();
    }, timeout);
    it('batch dims broadcast, batch strides', async () => {
      for (const [as, bs, transA, transB] of BATCHED) {
        await checkOp(`${v.name} matmul [${as}]${transA ? 'ᵀ' : ''} @ [${bs}]${transB ? 'ᵀ' : ''}`, [as, bs],
          (a, b) => matmulKernel(a, b, { transA, transB, config: v.config }),
          (a, b) => matmulRef(a.data, a.shape, b.data, b.shape, { transA, transB }), { atol: 1e-5, rtol: 1e-5 });
      }
    }, timeout);
    if (v.config.kind === 'subgroup') {
      it('plain-load path (what runs where subgroups are smaller than SG) on every shape class', async () => {
        await checkShapes(v, [[17, 33, 65], [65, 3, 17], [20, 36, 68], [4, 8, 9]], 44, { noSubgroupPath: true });
      }, timeout);
    }
  });
}

/**
 * f16 operands: each read path of `ld` (scalar strided, vec4 along K, vec4 along M/N) in each kernel kind (register,
 * subgroup, tiled), with halves stored natively (shader-f16, where the adapter has it) and packed in pairs, against the
 * reference on the half-rounded inputs; output and accumulation are f32. The cases are chosen to cover those paths
 * with few pipelines (each is a fresh compile on a cold shader cache).
 */
describe('matmul with f16 operands', () => {
  const forms = () => [true, ...(os.device().features.has('shader-f16') ? [false] : [])]; // packed always; native where offered
  const ODD: [number, number, number] = [17, 33, 3], ALIGNED4: [number, number, number] = [20, 36, 12];
  // [variant, operand dtypes, transposes, shapes]: r8x8v4 FF reads A vecK / B vecMN, TT reads A vecMN / B vecK
  const CASES: [string, [os.DType, os.DType], [boolean, boolean][], [number, number, number][]][] = [
    ['r8x8v4', ['f16', 'f16'], [[false, false], [true, true]], [ALIGNED4]],
    ['r8x8v4', ['f16', 'f16'], [[false, false]], [ODD]],
    ['s16x8b4', ['f16', 'f16'], [[false, false]], [ALIGNED4, ODD]],
    ['t4x4w16', ['f16', 'f16'], [[false, true]], [ODD]],
    ['r4x8', ['f32', 'f16'], [[false, false]], [ODD, [1, 5, 7]]],
    ['r4x8', ['f16', 'f32'], [[true, false]], [ODD]],
  ];
  it('every read path and kernel kind, both storage forms', async () => {
    const r = rng(7);
    for (const packedF16 of forms()) {
      for (const [name, [ta, tb], transes, shapes] of CASES) {
        const pending: Pending[] = [];
        for (const [transA, transB] of transes) {
          for (const [M, N, K] of shapes) {
            const aShape = transA ? [K, M] : [M, K], bShape = transB ? [N, K] : [K, N];
            const a = Float32Array.from(r.array(M * K, -4, 4)), b = Float32Array.from(r.array(K * N, -4, 4));
            const A = os.tensor(a, aShape, { dtype: ta }), B = os.tensor(b, bShape, { dtype: tb });
            const out = matmulKernel(A, B, { transA, transB, config: name, packedF16 });
            const ah = ta === 'f16' ? roundToHalf(a) : a, bh = tb === 'f16' ? roundToHalf(b) : b;
            pending.push({ out, ref: matmulRef(Float64Array.from(ah), aShape, Float64Array.from(bh), bShape, { transA, transB }).data, label: `${name} ${packedF16 ? 'packed' : 'native'} ${ta}×${tb} M=${M} N=${N} K=${K} transA=${transA} transB=${transB}`, tensors: [A, B, out] });
          }
        }
        const got = await Promise.all(pending.map((p) => toHost(p.out)));
        pending.forEach((p, i) => {
          expect(p.out.dtype).toBe('f32');
          expectClose(got[i], p.ref, { atol: 1e-4, rtol: 1e-5, label: p.label });
          p.tensors.forEach((t) => t.dispose());
        });
      }
    }
  }, SLOW_COMPILE);

  it('os.matmul and os.linear take f16 weights; the gradient reaches the f32 weight through its cast', async () => {
    const r = rng(8);
    const x = Float32Array.from(r.array(5 * 7)), w = Float32Array.from(r.array(3 * 7)), b = Float32Array.from(r.array(3));
    const X = os.tensor(x, [5, 7]), W = os.tensor(w, [3, 7], { requiresGrad: true }), Bs = os.tensor(b);
    const wh = roundToHalf(w);
    const y = os.linear(X, W.half(), Bs);
    expectClose(await toHost(y), linearRef({ data: Float64Array.from(x), shape: [5, 7] }, { data: Float64Array.from(wh), shape: [3, 7] }, { data: Float64Array.from(b), shape: [3] }).data, { atol: 1e-5, rtol: 1e-5, label: 'linear f16 weight' });
    y.sum().backward();
    // d(Σ y)/dW[o, i] = Σ_n x[n, i]
    const colSums = Array.from({ length: 3 * 7 }, (_, k) => [0, 1, 2, 3, 4].reduce((acc, n) => acc + x[n * 7 + (k % 7)], 0));
    expectClose(await toHost(W.grad!), colSums, { atol: 1e-5, rtol: 1e-5, label: 'dW through half()' });
    expectThrows(() => os.linear(X, W.half(), Bs.half()), os.ValueError, 'linear', 'f16');
    const batched = os.tensor(new Float32Array(2 * 3 * 4), [2, 3, 4], { dtype: 'f16' });
    expectThrows(() => os.matmul(os.zeros([2, 2, 5, 3]), batched), os.ShapeError, 'f16 operand [2,3,4]', 'x.float()');
    for (const t of [X, W, Bs, y, batched]) t.dispose();
  });
});

describe('matmul variant choice', () => {
  const dev = () => os.device();
  const shape = (M: number, N: number, K: number, transA = false, transB = false): MatmulShape => ({ M, N, K, batch: 1, transA, transB });

  it('the default variant (heuristic: tuning is off under vitest) on odd and aligned shapes', async () => {
    await checkShapes(undefined, [...TRIPLES.slice(0, 8), ...ALIGNED.slice(0, 4), [256, 256, 40], [300, 260, 33]], 45);
  }, SLOW_COMPILE);

  it('read modes follow the contiguous dim and divisibility', () => {
    const v4 = MATMUL_VARIANTS.find((v) => v.name === 'r8x8v4')!.config;
    expect(matmulLayout(v4, shape(8, 8, 8))).toEqual({ aMode: 'vecK', bMode: 'vecMN', transA: false, transB: false, aType: 'f32', bType: 'f32' });
    expect(matmulLayout(v4, shape(8, 8, 8, true, true))).toEqual({ aMode: 'vecMN', bMode: 'vecK', transA: false, transB: false, aType: 'f32', bType: 'f32' });
    expect(matmulLayout(v4, shape(8, 9, 7), { aType: 'f16', bType: 'f16packed' })).toEqual({ aMode: 'strided', bMode: 'strided', transA: false, transB: false, aType: 'f16', bType: 'f16packed' });
    const sg = MATMUL_VARIANTS.find((v) => v.name === 's16x8s8')!.config;
    expect(matmulLayout(sg, shape(8, 8, 8))).toMatchObject({ aMode: 'strided', bMode: 'vecMN' });
    expect(matmulLayout(sg, shape(8, 8, 8, false, true))).toMatchObject({ aMode: 'strided', bMode: 'vecK' }); // a linear layer's weight, read along K
    expect(matmulLayout(sg, shape(8, 8, 7, false, true))).toMatchObject({ bMode: 'strided' });
    const broadcast = MATMUL_VARIANTS.find((v) => v.name === 's16x8b4')!.config;
    expect(matmulLayout(broadcast, shape(8, 8, 8, false, true))).toMatchObject({ bMode: 'strided' }); // SwiftShader's: no gain there
    const tiled = MATMUL_VARIANTS.find((v) => v.name === 't4x4w16')!.config;
    expect(matmulLayout(tiled, shape(8, 8, 8, true, false))).toEqual({ aMode: 'strided', bMode: 'strided', transA: true, transB: false, aType: 'f32', bType: 'f32' });
  });

  it('subgroup variants fall back to the register kernel where the device lacks the feature, and run', async () => {
    const noSub = new Set(['shader-f16']);
    for (const v of MATMUL_VARIANTS.filter((x) => x.config.kind === 'subgroup')) {
      const c = resolveMatmulConfig(v.name, noSub);
      expect(c.kind).toBe('register');
      expect(resolveMatmulConfig(v.name, new Set(['subgroups']))).toBe(v.config);
      await checkShapes({ name: `${v.name}→fallback`, config: c }, [[17, 20, 9], [20, 36, 12]], 46);
    }
    const fake = { features: noSub, isCpu: true } as unknown as os.Device;
    expect(matmulCandidates(fake, shape(512, 512, 512)).some((c) => c.kind === 'subgroup' || c.kind === 'tiled')).toBe(false);
  });

  it('names, tiles and unknown variants', () => {
    expect(resolveMatmulConfig({ tm: 4, tn: 8 }, dev().features)).toMatchObject({ kind: 'register', tm: 4, tn: 8, wgX: 8, wgY: 8 });
    expectThrows(() => resolveMatmulConfig('nope', dev().features), os.ShapeError, 'nope', 'r8x8');
    expect(new Set(MATMUL_VARIANTS.map((v) => v.name)).size).toBe(MATMUL_VARIANTS.length);
  });

  it('heuristic: tiny products and thin outputs get r1x4; CPU drivers with subgroups get subgroup kernels from M = 16 and 64³ of work up', () => {
    const fake = (isCpu: boolean, features: string[], label = 'llvmpipe') =>
      ({ isCpu, features: new Set(features), adapterLabel: label, adapterInfo: { description: label } }) as unknown as os.Device;
    const pick = (d: os.Device, s: MatmulShape) => matmulConfigId(heuristicMatmulConfig(d, s));
    const lavapipe = fake(true, ['subgroups']), swiftshader = fake(true, ['subgroups'], 'SwiftShader');
    // the DMD MLP's matmuls (batch 256, width 128): forward, both backwards, the 15-wide input and 2-wide output layers
    for (const s of [shape(256, 128, 128, false, true), shape(256, 128, 128), shape(128, 128, 256, true), shape(128, 15, 256, true)]) {
      expect(pick(lavapipe, s)).toBe('s16x8s8');
      expect(pick(swiftshader, s)).toBe('s16x8b4');
    }
    expect(pick(lavapipe, shape(2, 128, 256, true))).toBe('r1x4'); // M < 8
    expect(pick(lavapipe, shape(32, 32, 32))).toBe('r1x4'); // tiny: grad checks, cheap to compile
    expect(pick(lavapipe, shape(256, 2, 128, false, true))).toBe('r4x8'); // ≤ 64³ of work: not worth a subgroup compile
    expect(pick(lavapipe, shape(64, 64, 64))).toBe('r4x8');
    expect(pick(lavapipe, shape(12, 256, 256))).toBe('r4x8'); // fewer rows than one subgroup tile
    // without subgroups, and on GPUs, the earlier rules
    expect(pick(fake(true, []), shape(256, 128, 128))).toBe('r4x8');
    expect(pick(fake(false, ['subgroups']), shape(256, 128, 128))).toBe('r4x8');
    expect(pick(fake(false, ['subgroups']), shape(512, 512, 512))).toBe('t4x4w16');
    expect(pick(fake(false, []), shape(32, 32, 32))).toBe('r1x4');
  });

  it('heuristic and candidates come from MATMUL_VARIANTS; shape classes bucket to powers of two', () => {
    const configs = new Set(MATMUL_VARIANTS.map((v) => v.config));
    for (const s of [shape(2, 3, 4), shape(1, 512, 512), shape(100, 100, 100), shape(1024, 1024, 1024), shape(512, 512, 8)]) {
      expect(configs.has(heuristicMatmulConfig(dev(), s))).toBe(true);
      const cands = matmulCandidates(dev(), s);
      expect(cands.length).toBeGreaterThan(1);
      for (const c of cands) expect(configs.has(c)).toBe(true);
    }
    expect(matmulShapeKey(shape(1000, 513, 512))).toBe('m1024n1024k512b1NN');
    expect(matmulShapeKey({ ...shape(1024, 512, 64, true, false), batch: 3 })).toBe('m1024n512k64b4TNa4');
  });
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
