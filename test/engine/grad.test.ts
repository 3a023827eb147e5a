// test/engine/grad.test.ts: the op table (engine/ops/table.ts), walked: every entry has a case that applies it through
// the public functions, checks its forward against a float64 host reference (kernels/*/reference.ts) and, when the
// entry has a backward, every input gradient against central finite differences of that reference, on small awkward
// shapes. An entry without a case, or a case that never applies its entry (or never differentiates it), fails.
// Gradient-kernel entries (siluGrad, softmaxGrad, conv2dWeightGrad, …) are checked through the gradients they make.
// Forward correctness on many shapes and every kernel variant lives in test/kernels/*.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as os from '../../engine';
import { OPS, observeOps, type OpName } from '../../engine/ops';
import { attentionRef } from '../../kernels/attention/reference';
import { roundToHalf } from '../../kernels/cast/reference';
import { conv2dRef, convTranspose2dRef } from '../../kernels/conv/reference';
import { binaryRef, mapRef, unaryRef, whereRef, type HostTensor } from '../../kernels/elementwise/reference';
import type { BinaryOp, UnaryOp } from '../../kernels/elementwise/ops';
import { catRef, expandRef, padRef, permuteRef, reshapeRef, sliceRef, splitRef, stackRef } from '../../kernels/layout/reference';
import { linearRef, matmulRef } from '../../kernels/matmul/reference';
import { groupNormRef } from '../../kernels/norm/reference';
import { avgPool2dRef, upsampleNearest2dRef } from '../../kernels/pool/reference';
import { randomRef } from '../../kernels/random/dispatch';
import { crossEntropyRef, layerNormRef, mseLossRef, reduceRef, type ReductionRef } from '../../kernels/reduce/reference';
import { logSoftmaxRef, softmaxRef } from '../../kernels/softmax/reference';
import { checkOp, expectClose, expectThrows, makeInputs, rng, toHost, type InitSpec, type Rng } from '../helpers';

const G = { grads: true } as const;
const POS: InitSpec = [0.2, 3];
const AWAY0: InitSpec = (r: Rng) => (r.next() < 0.5 ? -1 : 1) * r.uniform(0.4, 2);
/** Keeps |x| ≥ 0.05 so the FD step never straddles a kink at 0. */
const NOT0: InitSpec = (r: Rng) => (r.next() < 0.5 ? -1 : 1) * r.uniform(0.05, 2);
const COND: InitSpec = (r) => (r.next() < 0.5 ? 0 : 1);
const u = (op: UnaryOp, p0 = 0, p1 = 0) => (x: HostTensor) => unaryRef(op, x, p0, p1);
const b = (op: BinaryOp) => (x: HostTensor, y: HostTensor) => binaryRef(op, x, y);
const host = (data: ArrayLike<number>, shape: number[]): HostTensor => ({ data: Float64Array.from(data), shape });

/** Shapes every elementwise case runs on: a matrix, an odd vector, a scalar. */
const SHAPES = [[3, 5], [17], []];
const unary = (gpu: (x: os.Tensor) => os.Tensor, ref: (x: HostTensor) => HostTensor, init?: InitSpec, shapes = SHAPES) => async () => {
  for (const s of shapes) await checkOp(gpu.name || 'unary', [s], gpu, ref, { ...G, init, atol: 2e-6, rtol: 2e-6 });
};
const BROADCAST: [number[], number[]][] = [[[3, 1], [1, 4]], [[17], [3, 17]], [[], [3, 4]], [[3, 4], []], [[2, 3, 4], [3, 1]], [[2, 1, 3], [4, 1]]];
const binary = (op: BinaryOp, gpu: (a: os.Tensor, c: os.Tensor) => os.Tensor, ia?: InitSpec, ib?: InitSpec, grads = true) => async () => {
  for (const [sa, sb] of BROADCAST) await checkOp(`${op} [${sa}]·[${sb}]`, [sa, sb], gpu, b(op), { grads, init: [ia, ib], atol: 2e-6, rtol: 2e-6 });
};
const S = 1.7;
const scalar = (...cases: [string, (x: os.Tensor) => os.Tensor, (x: HostTensor) => HostTensor, InitSpec?][]) => async () => {
  for (const [name, gpu, ref, init] of cases) for (const s of [[3, 5], []]) await checkOp(name, [s], gpu, ref, { ...G, init, atol: 2e-6, rtol: 2e-6 });
};
type Axes = number | number[] | undefined;
const reduction = (gpu: (x: os.Tensor, axes?: Axes, keepdim?: boolean) => os.Tensor, refOp: 'sum' | 'mean' | 'max' | 'min') => async () => {
  for (const axes of [undefined, 0, -1, [0, 2], [1, 2]] as Axes[]) {
    for (const keepdim of [false, true]) await checkOp(`${refOp}([3,4,5], ${JSON.stringify(axes)}, ${keepdim})`, [[3, 4, 5]], (x) => gpu(x, axes, keepdim), (x) => reduceRef(refOp, x, axes, keepdim), { ...G, atol: 1e-5 });
  }
  await checkOp(`${refOp}([17])`, [[17]], (x) => gpu(x), (x) => reduceRef(refOp, x), { ...G, atol: 1e-5 });
  await checkOp(`${refOp}([])`, [[]], (x) => gpu(x), (x) => reduceRef(refOp, x), { ...G, atol: 1e-5 });
};
const softmaxCase = (gpu: typeof os.softmax, ref: typeof softmaxRef) => async () => {
  for (const [shape, axis] of [[[3, 4, 5], -1], [[3, 4, 5], 1], [[17], 0], [[5, 1], 1]] as [number[], number][]) {
    await checkOp(`softmax-like([${shape}], ${axis})`, [shape], (x) => gpu(x, axis), (x) => ref(x, axis), { ...G, atol: 2e-6 });
  }
};
const mm = (o: { transA?: boolean; transB?: boolean } = {}) => (a: HostTensor, c: HostTensor) => matmulRef(a.data, a.shape, c.data, c.shape, o);
const CONV = { atol: 1e-4, rtol: 1e-4, grads: 'finite-differences' } as const;
const convCase = async () => {
  await checkOp('conv2d padded, bias', [[2, 3, 3, 3], [2, 3, 3, 3], [2]], (x, w, c) => os.conv2d(x, w, c, { padding: 1 }), (x, w, c) => conv2dRef(x, w, c, { padding: 1 }), CONV);
  await checkOp('conv2d stride 2, groups 2', [[1, 4, 5, 5], [4, 2, 3, 3]], (x, w) => os.conv2d(x, w, undefined, { stride: 2, groups: 2 }), (x, w) => conv2dRef(x, w, undefined, { stride: 2, groups: 2 }), CONV);
};
const convTransposeCase = async () => {
  const o = { stride: 2, padding: 1, outputPadding: 1 };
  await checkOp('convTranspose2d', [[1, 3, 3, 3], [3, 2, 3, 3], [2]], (x, w, c) => os.convTranspose2d(x, w, c, o), (x, w, c) => convTranspose2dRef(x, w, c, o), CONV);
};
const NORM = { grads: true, atol: 2e-5, rtol: 1e-4, gradAtol: 2e-3, gradRtol: 2e-3 } as const;
const normCase = async () => {
  await checkOp('groupNorm affine silu', [[2, 6, 5], [6], [6]], (x, w, c) => os.groupNorm(x, 3, w, c, 1e-5, { silu: true }), (x, w, c) => groupNormRef(x, 3, w, c, 1e-5, true), { ...NORM, init: [undefined, [0.5, 1.5], [-0.5, 0.5]] });
  await checkOp('groupNorm bias only', [[2, 3, 7], [3]], (x, c) => os.groupNorm(x, 3, undefined, c), (x, c) => groupNormRef(x, 3, undefined, c), NORM);
  await checkOp('layerNorm 2 dims', [[2, 3, 5], [3, 5], [3, 5]], (x, w, c) => os.layerNorm(x, [3, 5], w, c), (x, w, c) => layerNormRef(x, [3, 5], w, c), NORM);
};
const avgPoolCase = async () => {
  for (const [shape, k, s, p] of [[[2, 3, 7, 5], 3, 2, 1], [[3, 4, 4], 2, 2, 0]] as [number[], number, number, number][]) {
    await checkOp(`avgPool2d [${shape}] k${k} s${s} p${p}`, [shape], (x) => os.avgPool2d(x, k, s, p), (x) => avgPool2dRef(x, k, s, p), { ...G, atol: 1e-5 });
  }
};
const upsampleCase = async () => {
  for (const s of [2, [1, 3] as [number, number]]) await checkOp(`upsample x${s}`, [[1, 2, 3, 5]], (x) => os.upsampleNearest2d(x, s), (x) => upsampleNearest2dRef(x, s), { ...G, atol: 1e-5 });
};
const attentionCase = async () => {
  for (const causal of [false, true]) {
    await checkOp(`attention causal=${causal}`, [[1, 2, 5, 3], [1, 2, 7, 3], [1, 2, 7, 3]], (q, k, v) => os.attention(q, k, v, { causal }), (q, k, v) => attentionRef(q, k, v, { causal }).out, { ...G, atol: 1e-5, gradAtol: 2e-3 });
  }
  await checkOp('attention, only k and v differentiated', [[1, 1, 3, 4], [1, 1, 5, 4], [1, 1, 5, 4]], (q, k, v) => os.attention(q, k, v), (q, k, v) => attentionRef(q, k, v).out, { grads: [false, true, true], atol: 1e-5 });
};
const lossCases = {
  mse: async () => {
    for (const reduction of ['mean', 'sum', 'none'] as ReductionRef[]) {
      await checkOp(`mseLoss ${reduction}`, [[3, 5], [3, 5]], (a, c) => os.mseLoss(a, c, reduction), (a, c) => mseLossRef(a, c, reduction), { ...G, atol: 1e-5 });
    }
  },
  crossEntropy: async () => {
    const r = rng(8);
    const labels = Array.from({ length: 5 }, () => r.int(0, 7));
    for (const reduction of ['mean', 'sum', 'none'] as ReductionRef[]) {
      await checkOp(`crossEntropy [5,7] ${reduction}`, [[5, 7]], (l) => os.crossEntropy(l, labels, reduction), (l) => crossEntropyRef(l, host(labels, [5]), reduction), { ...G, atol: 1e-5 });
    }
    const spatial = Array.from({ length: 6 }, () => r.int(0, 4));
    await checkOp('crossEntropy [2,4,3]', [[2, 4, 3]], (l) => os.crossEntropy(l, spatial), (l) => crossEntropyRef(l, host(spatial, [2, 3])), { ...G, atol: 1e-5 });
    const [raw] = makeInputs([[4, 6]], { seed: 3 });
    await checkOp('crossEntropy probability targets', [[4, 6], [4, 6]], (l, p) => os.crossEntropy(l, p), (l, p) => crossEntropyRef(l, p), { ...G, values: [undefined, softmaxRef(raw, 1).data], atol: 1e-5 });
  },
};

/** One check per table entry. A Record over OpName: a new entry without a case does not compile. */
const CASES: Record<OpName, () => Promise<void>> = {
  full: async () => {
    for (const [shape, v] of [[[3, 5], 1.5], [[], -2], [[17], 0]] as [number[], number][]) {
      await checkOp(`full [${shape}] ${v}`, [], () => os.full(shape, v), () => host(new Array(shape.reduce((p, d) => p * d, 1)).fill(v), shape));
    }
  },
  random: async () => {
    for (const dist of ['uniform', 'normal'] as const) {
      const draw = (dist === 'uniform' ? os.rand : os.randn)([3, 17], { seed: 11 });
      expectClose(await toHost(draw), Array.from({ length: 51 }, (_, i) => randomRef(dist, i, 11, 0)), { atol: 2e-6, rtol: 2e-6, label: `${dist} draws` });
      draw.dispose();
    }
  },
  neg: unary(os.neg, u('neg')),
  exp: unary(os.exp, u('exp')),
  log: unary(os.log, u('log'), POS),
  sqrt: unary(os.sqrt, u('sqrt'), POS),
  rsqrt: unary(os.rsqrt, u('rsqrt'), POS),
  abs: unary(os.abs, u('abs'), NOT0),
  square: unary(os.square, u('square')),
  relu: unary(os.relu, u('relu'), NOT0),
  silu: unary(os.silu, u('silu'), [-4, 4]),
  sigmoid: unary(os.sigmoid, u('sigmoid'), [-4, 4]),
  softplus: unary(os.softplus, u('softplus'), [-6, 6]),
  tanh: unary(os.tanh, u('tanh'), [-3, 3]),
  gelu: unary(os.gelu, u('gelu'), [-4, 4]),
  sin: unary(os.sin, u('sin'), [-3, 3]),
  cos: unary(os.cos, u('cos'), [-3, 3]),
  sign: unary(os.sign, u('sign'), NOT0),
  nanToNum: unary(os.nanToNum, u('finiteOr0')),
  clamp: async () => {
    await unary((x) => os.clamp(x, -0.5, 0.7), u('clamp', -0.5, 0.7))();
    await unary((x) => x.clamp(undefined, -0.25), u('clamp', -Infinity, -0.25))();
  },
  floor: async () => checkOp('floor', [[3, 5]], os.floor, u('floor'), { init: [-3, 3] }),
  isFinite: async () => {
    // through nanToNum's gradient: 1 where finite
    const x = os.tensor([1, NaN, Infinity, -Infinity, -2], undefined, { requiresGrad: true });
    os.sum(os.mul(os.nanToNum(x), 3)).backward();
    expectClose(await toHost(x.grad!), [3, 0, 0, 0, 3]);
    x.dispose();
  },
  inRange: async () => unary((x) => os.clamp(x, 0.25), u('clamp', 0.25, Infinity))(),
  addScalar: scalar(['x + s', (x) => os.add(x, S), (x) => binaryRef('add', x, S)], ['s + x', (x) => os.add(S, x), (x) => binaryRef('add', S, x)], ['x - s', (x) => os.sub(x, S), (x) => binaryRef('sub', x, S)]),
  rsubScalar: scalar(['s - x', (x) => os.sub(S, x), (x) => binaryRef('sub', S, x)]),
  mulScalar: scalar(['x * s', (x) => os.mul(x, S), (x) => binaryRef('mul', x, S)], ['s * x', (x) => os.mul(S, x), (x) => binaryRef('mul', S, x)]),
  divScalar: scalar(['x / s', (x) => os.div(x, S), (x) => binaryRef('div', x, S)]),
  rdivScalar: scalar(['s / x', (x) => os.div(S, x), (x) => binaryRef('div', S, x), AWAY0]),
  powScalar: scalar(
    ['x ** 2', (x) => os.pow(x, 2), (x) => binaryRef('pow', x, 2)],
    ['x ** 3 (negative bases)', (x) => os.pow(x, 3), (x) => binaryRef('pow', x, 3)],
    ['x ** 0', (x) => os.pow(x, 0), (x) => binaryRef('pow', x, 0)],
    ['x ** -1.5', (x) => os.pow(x, -1.5), (x) => binaryRef('pow', x, -1.5), POS],
  ),
  rpowScalar: scalar(['2 ** x', (x) => os.pow(2, x), (x) => binaryRef('pow', 2, x)], ['0.5 ** x', (x) => os.pow(0.5, x), (x) => binaryRef('pow', 0.5, x)]),
  maxScalar: scalar(['maximum(x, s)', (x) => os.maximum(x, 0.3), (x) => binaryRef('maximum', x, 0.3)], ['maximum(s, x)', (x) => os.maximum(0.3, x), (x) => binaryRef('maximum', 0.3, x)]),
  minScalar: scalar(['minimum(x, s)', (x) => os.minimum(x, 0.3), (x) => binaryRef('minimum', x, 0.3)], ['minimum(s, x)', (x) => os.minimum(0.3, x), (x) => binaryRef('minimum', 0.3, x)]),
  add: binary('add', os.add),
  sub: binary('sub', os.sub),
  mul: binary('mul', os.mul),
  div: binary('div', os.div, undefined, AWAY0),
  pow: async () => {
    await binary('pow', os.pow, [0.3, 2.5], [-2, 2])();
    await checkOp('pow: negative bases, integer exponents', [[6], [6]], os.pow, b('pow'), { grads: [true, false], values: [[-2, -1.5, -0.5, 0.5, 1.5, -3], [2, 3, -1, 2, 0, 1]] });
  },
  maximum: binary('maximum', os.maximum),
  minimum: binary('minimum', os.minimum),
  gt: binary('gt', os.gt, undefined, undefined, false),
  lt: binary('lt', os.lt, undefined, undefined, false),
  ge: binary('ge', os.ge, [-1, 1], [-1, 1], false),
  le: binary('le', os.le, [-1, 1], [-1, 1], false),
  eq: async () => checkOp('eq', [[3, 4], [3, 1]], os.eq, b('eq'), { values: [[1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4], [1, 3, 4]] }),
  powGradBase: binary('pow', os.pow, [0.3, 2.5], [-2, 2]),
  reluGrad: unary(os.relu, u('relu'), NOT0),
  siluGrad: unary(os.silu, u('silu'), [-4, 4]),
  sigmoidGradFromOut: unary(os.sigmoid, u('sigmoid'), [-4, 4]),
  tanhGradFromOut: unary(os.tanh, u('tanh'), [-3, 3]),
  geluGrad: unary(os.gelu, u('gelu'), [-4, 4]),
  absGrad: unary(os.abs, u('abs'), NOT0),
  where: async () => {
    for (const [c, a, bb] of [[[3, 1], [1, 4], [3, 4]], [[17], [3, 17], []], [[2, 3, 4], [3, 4], [2, 1, 4]]] as [number[], number[], number[]][]) {
      await checkOp(`where [${c}] [${a}] [${bb}]`, [c, a, bb], os.where, whereRef, { grads: [false, true, true], init: [COND, undefined, undefined] });
    }
    await checkOp('where(c, x, 0.5)', [[3, 5], [3, 5]], (c, x) => os.where(c, x, 0.5), (c, x) => whereRef(c, x, 0.5), { grads: [false, true], init: [COND, undefined] });
  },
  fused: async () => {
    // a·b + c², with its rule; the rule's gradient for an input nobody differentiates is dropped
    const gpu = (a: os.Tensor, c: os.Tensor, d: os.Tensor) => os.fused('test a*b+c*c', 'a * b + c * c', [a, c, d], (g, [x, y, z]) => [os.mul(g, y), os.mul(g, x), os.mul(g, os.mul(z, 2))]);
    const ref = (a: HostTensor, c: HostTensor, d: HostTensor) => mapRef((p, q, r) => p * q + r * r, a, c, d);
    await checkOp('fused', [[3, 4], [4], [3, 1]], gpu, ref, G);
    await checkOp('fused, one input differentiated', [[3, 4], [4], [3, 1]], gpu, ref, { grads: [false, true, false] });
  },
  sum: reduction(os.sum, 'sum'),
  mean: reduction(os.mean, 'mean'),
  max: async () => {
    await reduction(os.max, 'max')();
    const x = os.tensor([[1, 3, 3], [2, 0, 0]], undefined, { requiresGrad: true });
    os.add(os.sum(os.max(x, 1)), os.sum(os.min(x, 1))).backward();
    expectClose(await toHost(x.grad!), [1, 0.5, 0.5, 1, 0.5, 0.5]); // ties share the gradient equally
    x.dispose();
  },
  min: reduction(os.min, 'min'),
  sumTo: binary('add', os.add), // the tape sums broadcast gradients back with it
  softmax: softmaxCase(os.softmax, softmaxRef),
  logSoftmax: softmaxCase(os.logSoftmax, logSoftmaxRef),
  softmaxGrad: softmaxCase(os.softmax, softmaxRef),
  logSoftmaxGrad: softmaxCase(os.logSoftmax, logSoftmaxRef),
  reshape: async () => {
    await checkOp('reshape', [[3, 4, 5]], (x) => os.reshape(x, [5, -1]), (x) => reshapeRef(x, [5, -1]), G);
    await checkOp('view 0-d', [[]], (x) => x.view([1, 1]), (x) => reshapeRef(x, [1, 1]), G);
  },
  permute: async () => {
    await checkOp('permute', [[2, 3, 4]], (x) => os.permute(x, [2, 0, 1]), (x) => permuteRef(x, [2, 0, 1]), G);
    await checkOp('permute 4-d', [[2, 3, 2, 5]], (x) => x.permute([3, 1, 0, 2]), (x) => permuteRef(x, [3, 1, 0, 2]), G);
  },
  expand: async () => {
    for (const [s, t] of [[[3, 1], [3, 4]], [[1, 4], [2, 3, 4]], [[], [2, 3]], [[3, 1, 5], [2, 3, 4, 5]], [[3, 1], [-1, 6]]] as [number[], number[]][]) {
      await checkOp(`expand [${s}] → [${t}]`, [s], (x) => os.expand(x, t), (x) => expandRef(x, t), G);
    }
  },
  slice: async () => {
    const cases: [number[], number[], number[], number[] | undefined][] = [[[17], [1], [17], [3]], [[5, 13], [1, -10], [5, 13], [2, 4]], [[6, 7], [2, 0], [4, 7], undefined], [[4, 6], [3, 0], [1, 6], undefined]];
    for (const [s, st, en, sp] of cases) await checkOp(`slice [${s}] ${st}:${en}:${sp}`, [s], (x) => os.slice(x, st, en, sp), (x) => sliceRef(x, st, en, sp), G);
    await checkOp('split list', [[5, 7]], (x) => os.split(x, [2, 0, 5], 1), (x) => splitRef(x, [2, 0, 5], 1), G);
  },
  embed: async () => {
    await checkOp('pad last dim', [[17]], (x) => os.pad(x, [2, 3], 1.5), (x) => padRef(x, [2, 3], 1.5), G);
    await checkOp('pad two dims', [[2, 3, 5]], (x) => x.pad([1, 0, 2, 1]), (x) => padRef(x, [1, 0, 2, 1]), G);
  },
  cat: async () => {
    await checkOp('cat dim 0', [[3, 5], [1, 5], [4, 5]], (a, c, d) => os.cat([a, c, d], 0), (a, c, d) => catRef([a, c, d], 0), G);
    await checkOp('cat dim 1 with a size-0 piece', [[2, 3, 4], [2, 5, 4], [2, 0, 4]], (a, c, d) => os.cat([a, c, d], 1), (a, c, d) => catRef([a, c, d], 1), G);
    await checkOp('stack dim -1', [[3, 5], [3, 5]], (a, c) => os.stack([a, c], -1), (a, c) => stackRef([a, c], -1), G);
  },
  cast: async () => {
    await checkOp('cast to f32 (a view; the gradient passes)', [[3, 5]], (x) => os.cast(x, 'f32'), (x) => x, G);
    await checkOp('f32 → f16 → f32 rounds as torch', [[17]], (x) => x.half().float(), (x) => host(roundToHalf(x.data), x.shape), { init: [-70000, 70000] });
  },
  matmul: async () => {
    for (const [as, bs] of [[[3, 5], [5, 4]], [[2, 1, 3, 4], [3, 4, 2]], [[5], [5, 3]], [[2, 4, 5], [5]]] as [number[], number[]][]) {
      await checkOp(`matmul [${as}] @ [${bs}]`, [as, bs], (a, c) => os.matmul(a, c), mm(), { ...G, atol: 1e-5 });
    }
    for (const [transA, transB] of [[true, false], [false, true], [true, true]]) {
      const as = transA ? [2, 5, 3] : [2, 3, 5], bs = transB ? [4, 5] : [5, 4];
      await checkOp(`matmul transA=${transA} transB=${transB}`, [as, bs], (a, c) => os.matmul(a, c, { transA, transB }), mm({ transA, transB }), { ...G, atol: 1e-5 });
    }
    await checkOp('linear+bias [2,3,4] [5,4]', [[2, 3, 4], [5, 4], [5]], (x, w, c) => os.linear(x, w, c), (x, w, c) => linearRef(x, w, c), { ...G, atol: 1e-5 });
    await checkOp('linear, weight grad only', [[4, 6], [3, 6], [3]], (x, w, c) => os.linear(x, w, c), (x, w, c) => linearRef(x, w, c), { grads: [false, true, false], atol: 1e-5 });
  },
  conv2d: convCase,
  convTranspose2d: convTransposeCase,
  conv2dWeightGrad: convCase,
  norm: normCase,
  avgPool2d: avgPoolCase,
  avgPool2dGrad: avgPoolCase,
  upsampleNearest2d: upsampleCase,
  upsampleNearest2dGrad: upsampleCase,
  attention: attentionCase,
  mseLoss: lossCases.mse,
  crossEntropy: lossCases.crossEntropy,
};

describe('the op table', () => {
  /** Per entry: applied at all, and applied with an output that joined the graph (so its backward ran). */
  let seen = new Map<string, { applied: boolean; differentiated: boolean }>();
  beforeAll(() => {
    observeOps({
      applied(name, _def, _inputs, _attrs, out) {
        const s = seen.get(name) ?? { applied: false, differentiated: false };
        s.applied = true;
        s.differentiated ||= out.node !== null;
        seen.set(name, s);
      },
    });
  });
  afterAll(() => observeOps(null));

  it('has a case for every entry', () => {
    expect(Object.keys(OPS).filter((k) => !(k in CASES))).toEqual([]);
  });

  for (const name of Object.keys(OPS) as OpName[]) {
    // gradient-kernel entries run inside the backward of the op that makes them
    const backwardOnly = /Grad(FromOut|Base)?$/.test(name) || ['sumTo', 'isFinite', 'inRange'].includes(name);
    it(name, async () => {
      seen = new Map();
      await CASES[name]();
      expect(seen.get(name)?.applied, `the case for ${name} never applied it`).toBe(true);
      if (OPS[name].backward && !backwardOnly) expect(seen.get(name)?.differentiated, `the case for ${name} never differentiated it`).toBe(true);
    });
  }
});

describe('gradients across ops', () => {
  it('a tensor used several times gets the sum of its gradients', async () => {
    await checkOp('x·x + exp(x) + 2x', [[3, 5]], (x) => os.add(os.add(os.mul(x, x), os.exp(x)), os.mul(x, 2)), (x) => mapRef((v) => v * v + Math.exp(v) + 2 * v, x), G);
    await checkOp('x ⊙ xᵀ-broadcast', [[4, 1]], (x) => os.mul(x, os.transpose(x, 0, 1)), (x) => mapRef((p, q) => p * q, x, { data: x.data, shape: [1, 4] }), G);
  });
  it('a small MLP: linear → silu → linear → mseLoss', async () => {
    const fwdRef = (x: HostTensor, w1: HostTensor, b1: HostTensor, w2: HostTensor, y: HostTensor) => mseLossRef(linearRef(unaryRef('silu', linearRef(x, w1, b1)), w2), y);
    await checkOp('mlp', [[4, 3], [5, 3], [5], [2, 5], [4, 2]], (x, w1, b1, w2, y) => os.mseLoss(os.linear(os.silu(os.linear(x, w1, b1)), w2), y), fwdRef, { ...G, atol: 1e-5 });
  });
  it('losses and norms reject bad inputs with errors naming the op', () => {
    const l = os.zeros([3, 4]);
    expectThrows(() => os.mseLoss(l, os.zeros([4, 3])), os.ShapeError, 'mseLoss', '[3,4]', '[4,3]');
    expectThrows(() => os.crossEntropy(l, [0, 1]), os.ShapeError, 'crossEntropy');
    expectThrows(() => os.crossEntropy(l, [0, 1, 4]), os.ValueError, 'crossEntropy', '4');
    expectThrows(() => os.crossEntropy(l, [0, 1.5, 2]), os.ValueError);
    expectThrows(() => os.crossEntropy(os.zeros([4]), [0]), os.ShapeError, 'crossEntropy');
    expectThrows(() => os.layerNorm(l, [3]), os.ShapeError, 'layerNorm');
    expectThrows(() => os.layerNorm(l, [4], os.ones([3])), os.ShapeError, 'weight');
    l.dispose();
  });
  it('slices that tile a tensor send their gradients back as one cat; other slices are zero-padded and added', async () => {
    type Cut = [number[], number[]];
    const cases: [string, number[], Cut[], boolean][] = [
      ['rows 0:3 | 3:7 | 7:17', [17, 3], [[[0], [3]], [[7], [17]], [[3], [7]]], false],
      ['columns 0:1 | 1:33 beside a dense use', [5, 33], [[[0, 0], [5, 1]], [[0, 1], [5, 33]]], true],
      ['a gap', [17], [[[0], [3]], [[5], [17]]], false],
      ['an overlap', [17], [[[0], [9]], [[3], [17]]], false],
      ['one window, all of it', [3, 1], [[[0, 0], [3, 1]]], false],
    ];
    for (const [name, shape, cuts, dense] of cases) {
      const gpu = (x: os.Tensor) => [...cuts.map(([s, e], i) => os.mul(os.slice(x, s, e), i + 2)), ...(dense ? [os.exp(x)] : [])];
      const ref = (x: HostTensor) => [...cuts.map(([s, e], i) => mapRef((v) => v * (i + 2), sliceRef(x, s, e, undefined))), ...(dense ? [mapRef(Math.exp, x)] : [])];
      await checkOp(name, [shape], gpu, ref, G);
    }
    // which op places the pieces: a cat where they tile the tensor, zero-padded copies (embed) where they do not
    const placing = (cuts: Cut[]): string[] => {
      const names: string[] = [];
      const x = os.randn([7, 3]).requiresGrad_(true);
      const prev = observeOps({ applied: (n) => void names.push(n) });
      try {
        os.tidy(() => cuts.map(([s, e]) => os.sum(os.slice(x, s, e))).reduce((a, b) => os.add(a, b)).backward());
      } finally {
        observeOps(prev);
        x.grad?.dispose();
        x.dispose();
      }
      return names.filter((n) => n === 'cat' || n === 'embed');
    };
    expect(placing([[[0], [2]], [[2], [7]]])).toEqual(['cat']);
    expect(placing([[[0], [2]], [[3], [7]]])).toEqual(['embed', 'embed']);
  });
  it('checkOp catches a wrong backward (sanity check of the harness)', async () => {
    // forward x², backward x (detach hides one factor)
    await expect(checkOp('bad', [[5]], (x) => os.mul(x, x.detach()), (x) => mapRef((v) => v * v, x), G)).rejects.toThrow(/grad of input 0/);
    await expect(checkOp('bad fwd', [[5]], (x) => os.mul(x, 2.001), (x) => mapRef((v) => v * 2, x))).rejects.toThrow(/forward/);
  });
});
