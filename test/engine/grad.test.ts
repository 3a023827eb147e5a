// test/engine/grad.test.ts: every differentiable op of engine/ops.ts, backward through the engine's autograd against
// central finite differences of the float64 host references (kernels/*/reference.ts), on small awkward shapes.
// Forward correctness on many shapes lives in test/kernels/*.test.ts; here checkOp also re-checks each forward.
import { describe, it, expect } from 'vitest';
import * as os from '../../engine';
import { binaryRef, mapRef, unaryRef, whereRef, type HostTensor } from '../../kernels/elementwise/reference';
import type { BinaryOp, UnaryOp } from '../../kernels/elementwise/ops';
import {
  crossEntropyRef, layerNormRef, logSoftmaxRef, mseLossRef, reduceRef, softmaxRef, varRef, type ReductionRef,
} from '../../kernels/reduce/reference';
import {
  catRef, expandRef, flattenRef, padRef, permuteRef, reshapeRef, sliceRef, splitRef, squeezeRef, stackRef, transposeRef, unsqueezeRef,
} from '../../kernels/layout/reference';
import { linearRef, matmulRef } from '../../kernels/matmul/reference';
import { checkOp, expectClose, expectThrows, makeInputs, rng, toHost, type InitSpec, type Rng } from '../helpers';

const G = { grads: true } as const;
const POS: InitSpec = [0.2, 3];
const AWAY0: InitSpec = (r: Rng) => (r.next() < 0.5 ? -1 : 1) * r.uniform(0.4, 2);
/** Keeps |x| ≥ 0.05 so the FD step never straddles a kink at 0. */
const NOT0: InitSpec = (r: Rng) => (r.next() < 0.5 ? -1 : 1) * r.uniform(0.05, 2);
const u = (op: UnaryOp, p0 = 0, p1 = 0) => (x: HostTensor) => unaryRef(op, x, p0, p1);
const b = (op: BinaryOp) => (x: HostTensor, y: HostTensor) => binaryRef(op, x, y);

describe('gradcheck: unary', () => {
  const cases: [string, (x: os.Tensor) => os.Tensor, (x: HostTensor) => HostTensor, InitSpec?][] = [
    ['neg', os.neg, u('neg')],
    ['exp', os.exp, u('exp')],
    ['log', os.log, u('log'), POS],
    ['sqrt', os.sqrt, u('sqrt'), POS],
    ['rsqrt', os.rsqrt, u('rsqrt'), POS],
    ['abs', os.abs, u('abs'), NOT0],
    ['square', os.square, u('square')],
    ['relu', os.relu, u('relu'), NOT0],
    ['silu', os.silu, u('silu'), [-4, 4]],
    ['sigmoid', os.sigmoid, u('sigmoid'), [-4, 4]],
    ['tanh', os.tanh, u('tanh'), [-3, 3]],
    ['gelu', os.gelu, u('gelu'), [-4, 4]],
    ['sin', os.sin, u('sin'), [-3, 3]],
    ['cos', os.cos, u('cos'), [-3, 3]],
    ['sign (zero gradient)', os.sign, u('sign'), NOT0],
    ['nanToNum', os.nanToNum, u('finiteOr0')],
    ['clamp(-0.5, 0.7)', (x) => os.clamp(x, -0.5, 0.7), u('clamp', -0.5, 0.7)],
    ['clamp(min)', (x) => os.clamp(x, 0.25), u('clamp', 0.25, Infinity)],
    ['clamp(max)', (x) => x.clamp(undefined, -0.25), u('clamp', -Infinity, -0.25)],
  ];
  for (const [name, gpu, ref, init] of cases) {
    it(name, async () => {
      for (const s of [[3, 5], [17], []]) await checkOp(name, [s], gpu, ref, { ...G, init, atol: 2e-6, rtol: 2e-6 });
    });
  }

  it('nanToNum passes the gradient only where the input is finite', async () => {
    const x = os.tensor([1, NaN, Infinity, -Infinity, -2], undefined, { requiresGrad: true });
    const y = os.nanToNum(x);
    expectClose(await toHost(y), [1, 0, 0, 0, -2]);
    os.sum(os.mul(y, 3)).backward();
    expectClose(await toHost(x.grad!), [3, 0, 0, 0, 3]);
    x.dispose();
    y.dispose();
  });
});

describe('gradcheck: binary with broadcasting', () => {
  const PAIRS: [number[], number[]][] = [[[3, 1], [1, 4]], [[17], [3, 17]], [[], [3, 4]], [[3, 4], []], [[2, 3, 4], [3, 1]], [[3, 4], [3, 4]], [[2, 1, 3], [4, 1]]];
  const cases: [BinaryOp, (a: os.Tensor, b: os.Tensor) => os.Tensor, InitSpec?, InitSpec?][] = [
    ['add', os.add],
    ['sub', os.sub],
    ['mul', os.mul],
    ['div', os.div, undefined, AWAY0],
    ['pow', os.pow, [0.3, 2.5], [-2, 2]], // tensor exponent: positive base
    ['maximum', os.maximum],
    ['minimum', os.minimum],
  ];
  for (const [op, gpu, ia, ib] of cases) {
    it(op, async () => {
      for (const [sa, sb] of PAIRS) await checkOp(`${op} [${sa}]·[${sb}]`, [sa, sb], gpu, b(op), { ...G, init: [ia, ib], atol: 2e-6, rtol: 2e-6 });
    });
  }

  it('pow with a tensor exponent: negative bases and integer exponents (grad to the base)', async () => {
    await checkOp('pow neg base', [[6], [6]], os.pow, b('pow'), { grads: [true, false], values: [[-2, -1.5, -0.5, 0.5, 1.5, -3], [2, 3, -1, 2, 0, 1]] });
  });

  it('maximum / minimum ties split the gradient', async () => {
    const x = os.tensor([1, 2, 3], undefined, { requiresGrad: true }), y = os.tensor([1, 5, 0], undefined, { requiresGrad: true });
    os.sum(os.add(os.maximum(x, y), os.mul(os.minimum(x, y), 10))).backward();
    expectClose(await toHost(x.grad!), [5.5, 10, 1]);
    expectClose(await toHost(y.grad!), [5.5, 1, 10]);
    x.dispose();
    y.dispose();
  });
});

describe('gradcheck: scalar operands', () => {
  const S = 1.7;
  const cases: [string, (x: os.Tensor) => os.Tensor, (x: HostTensor) => HostTensor, InitSpec?][] = [
    ['x + s', (x) => os.add(x, S), (x) => binaryRef('add', x, S)],
    ['s + x', (x) => os.add(S, x), (x) => binaryRef('add', S, x)],
    ['x - s', (x) => os.sub(x, S), (x) => binaryRef('sub', x, S)],
    ['s - x', (x) => os.sub(S, x), (x) => binaryRef('sub', S, x)],
    ['x * s', (x) => os.mul(x, S), (x) => binaryRef('mul', x, S)],
    ['s * x', (x) => os.mul(S, x), (x) => binaryRef('mul', S, x)],
    ['x / s', (x) => os.div(x, S), (x) => binaryRef('div', x, S)],
    ['s / x', (x) => os.div(S, x), (x) => binaryRef('div', S, x), AWAY0],
    ['x ** 2', (x) => os.pow(x, 2), (x) => binaryRef('pow', x, 2)],
    ['x ** 3 (negative bases)', (x) => os.pow(x, 3), (x) => binaryRef('pow', x, 3)],
    ['x ** 0', (x) => os.pow(x, 0), (x) => binaryRef('pow', x, 0)],
    ['x ** 0.5', (x) => os.pow(x, 0.5), (x) => binaryRef('pow', x, 0.5), POS],
    ['x ** -1.5', (x) => os.pow(x, -1.5), (x) => binaryRef('pow', x, -1.5), POS],
    ['2 ** x', (x) => os.pow(2, x), (x) => binaryRef('pow', 2, x)],
    ['0.5 ** x', (x) => os.pow(0.5, x), (x) => binaryRef('pow', 0.5, x)],
    ['maximum(x, s)', (x) => os.maximum(x, 0.3), (x) => binaryRef('maximum', x, 0.3)],
    ['maximum(s, x)', (x) => os.maximum(0.3, x), (x) => binaryRef('maximum', 0.3, x)],
    ['minimum(x, s)', (x) => os.minimum(x, 0.3), (x) => binaryRef('minimum', x, 0.3)],
    ['minimum(s, x)', (x) => os.minimum(0.3, x), (x) => binaryRef('minimum', 0.3, x)],
  ];
  for (const [name, gpu, ref, init] of cases) {
    it(name, async () => {
      for (const s of [[3, 5], []]) await checkOp(name, [s], gpu, ref, { ...G, init, atol: 2e-6, rtol: 2e-6 });
    });
  }
});

describe('gradcheck: where', () => {
  const COND: InitSpec = (r) => (r.next() < 0.5 ? 0 : 1);
  it('gradients go to the chosen branch only, summed over broadcast dims', async () => {
    const cases: [number[], number[], number[]][] = [[[3, 1], [1, 4], [3, 4]], [[17], [3, 17], []], [[2, 3, 4], [3, 4], [2, 1, 4]]];
    for (const [c, a, bb] of cases) {
      await checkOp(`where [${c}] [${a}] [${bb}]`, [c, a, bb], os.where, whereRef, { grads: [false, true, true], init: [COND, undefined, undefined] });
    }
    await checkOp('where(c, x, 0.5)', [[3, 5], [3, 5]], (c, x) => os.where(c, x, 0.5), (c, x) => whereRef(c, x, 0.5), { grads: [false, true], init: [COND, undefined] });
    await checkOp('where(c, -1, x)', [[3, 1], [3, 5]], (c, x) => os.where(c, -1, x), (c, x) => whereRef(c, -1, x), { grads: [false, true], init: [COND, undefined] });
  });
});

describe('gradcheck: reductions', () => {
  type Axes = number | number[] | undefined;
  const AXES: Axes[] = [undefined, 0, 1, -1, [0, 2], [1, 2]];
  const ops = [
    ['sum', os.sum, 'sum'],
    ['mean', os.mean, 'mean'],
    ['max', os.max, 'max'],
    ['min', os.min, 'min'],
  ] as const;
  for (const [name, gpu, refOp] of ops) {
    it(`${name} over several axis sets, keepdim true/false`, async () => {
      for (const axes of AXES) {
        for (const keepdim of [false, true]) {
          await checkOp(`${name}([3,4,5], ${JSON.stringify(axes)}, ${keepdim})`, [[3, 4, 5]], (x) => gpu(x, axes, keepdim), (x) => reduceRef(refOp, x, axes, keepdim), { ...G, atol: 1e-5 });
        }
      }
      await checkOp(`${name}([17])`, [[17]], (x) => gpu(x), (x) => reduceRef(refOp, x), { ...G, atol: 1e-5 });
      await checkOp(`${name}([])`, [[]], (x) => gpu(x), (x) => reduceRef(refOp, x), { ...G, atol: 1e-5 });
    });
  }
  it('var over several axis sets, keepdim true/false, correction 0/1', async () => {
    for (const axes of AXES) {
      for (const keepdim of [false, true]) {
        await checkOp(`var([3,4,5], ${JSON.stringify(axes)}, ${keepdim})`, [[3, 4, 5]], (x) => os.variance(x, axes, keepdim), (x) => varRef(x, axes, keepdim), { ...G, atol: 1e-5 });
      }
    }
    await checkOp('var correction 0', [[5, 7]], (x) => x.var(1, false, 0), (x) => varRef(x, 1, false, 0), { ...G, atol: 1e-5 });
  });
  it('max / min ties share the gradient equally', async () => {
    const x = os.tensor([[1, 3, 3], [2, 0, 0]], undefined, { requiresGrad: true });
    os.add(os.sum(os.max(x, 1)), os.sum(os.min(x, 1))).backward();
    expectClose(await toHost(x.grad!), [1, 0.5, 0.5, 1, 0.5, 0.5]); // row 0: max tie + min; row 1: max + min tie
    x.dispose();
  });
  for (const [name, gpu, ref] of [
    ['softmax', os.softmax, softmaxRef],
    ['logSoftmax', os.logSoftmax, logSoftmaxRef],
  ] as const) {
    it(`${name} on axis -1 and a middle axis`, async () => {
      for (const [shape, axis] of [[[3, 4, 5], -1], [[3, 4, 5], 1], [[3, 4, 5], 0], [[17], 0], [[5, 1], 1]] as [number[], number][]) {
        await checkOp(`${name}([${shape}], ${axis})`, [shape], (x) => gpu(x, axis), (x) => ref(x, axis), { ...G, atol: 2e-6 });
      }
    });
  }
});

describe('gradcheck: shape ops', () => {
  it('reshape / view / flatten / squeeze / unsqueeze', async () => {
    await checkOp('reshape', [[3, 4, 5]], (x) => os.reshape(x, [5, -1]), (x) => reshapeRef(x, [5, -1]), G);
    await checkOp('view 0-d', [[]], (x) => x.view([1, 1]), (x) => reshapeRef(x, [1, 1]), G);
    await checkOp('flatten', [[2, 3, 5]], (x) => os.flatten(x, 1), (x) => flattenRef(x, 1), G);
    await checkOp('squeeze', [[1, 3, 1, 5]], (x) => os.squeeze(x), (x) => squeezeRef(x), G);
    await checkOp('squeeze dim', [[1, 3, 1, 5]], (x) => x.squeeze(2), (x) => squeezeRef(x, 2), G);
    await checkOp('unsqueeze', [[3, 5]], (x) => os.unsqueeze(x, -1), (x) => unsqueezeRef(x, -1), G);
  });
  it('permute / transpose', async () => {
    await checkOp('permute', [[2, 3, 4]], (x) => os.permute(x, [2, 0, 1]), (x) => permuteRef(x, [2, 0, 1]), G);
    await checkOp('permute 4-d', [[2, 3, 2, 5]], (x) => x.permute([3, 1, 0, 2]), (x) => permuteRef(x, [3, 1, 0, 2]), G);
    await checkOp('transpose', [[3, 5, 4]], (x) => os.transpose(x, 0, 2), (x) => transposeRef(x, 0, 2), G);
  });
  it('expand (broadcast dims, new leading dims, -1)', async () => {
    for (const [s, t] of [[[3, 1], [3, 4]], [[1, 4], [2, 3, 4]], [[17], [3, 17]], [[], [2, 3]], [[3, 1, 5], [2, 3, 4, 5]], [[3, 1], [-1, 6]]] as [number[], number[]][]) {
      await checkOp(`expand [${s}] → [${t}]`, [s], (x) => os.expand(x, t), (x) => expandRef(x, t), G);
    }
  });
  it('expand to the same shape keeps the gradient', async () => {
    await checkOp('expand [3,4] → [3,4]', [[3, 4]], (x) => os.expand(x, [3, 4]), (x) => expandRef(x, [3, 4]), G);
  });
  it('cat / stack / split', async () => {
    await checkOp('cat dim 0', [[3, 5], [1, 5], [4, 5]], (a, c, d) => os.cat([a, c, d], 0), (a, c, d) => catRef([a, c, d], 0), G);
    await checkOp('cat dim 1 with a size-0 piece', [[2, 3, 4], [2, 5, 4], [2, 0, 4]], (a, c, d) => os.cat([a, c, d], 1), (a, c, d) => catRef([a, c, d], 1), G);
    await checkOp('cat the same tensor twice', [[3, 2]], (a) => os.cat([a, os.mul(a, 2), a], -1), (a) => catRef([a, mapRef((v) => 2 * v, a), a], -1), G);
    for (const d of [0, 1, -1]) {
      await checkOp(`stack dim ${d}`, [[3, 5], [3, 5], [3, 5]], (a, c, e) => os.stack([a, c, e], d), (a, c, e) => stackRef([a, c, e], d), G);
    }
    await checkOp('split list', [[5, 7]], (x) => os.split(x, [2, 0, 5], 1), (x) => splitRef(x, [2, 0, 5], 1), G);
    await checkOp('split size', [[17, 3]], (x) => x.split(5), (x) => splitRef(x, 5), G);
    await checkOp('split, one piece unused', [[6, 2]], (x) => os.split(x, 4)[0], (x) => splitRef(x, 4)[0], G);
  });
  it('slice with steps and negative indices', async () => {
    const cases: [number[], number[], number[], number[] | undefined][] = [
      [[17], [1], [17], [3]],
      [[5, 13], [1, -10], [5, 13], [2, 4]],
      [[3, 4, 5], [0, 1, 0], [3, 4, 5], [2, 2, 2]],
      [[6, 7], [2, 0], [4, 7], undefined],
      [[4, 6], [3, 0], [1, 6], undefined], // empty slice: zero gradient
    ];
    for (const [s, st, en, sp] of cases) await checkOp(`slice [${s}] ${st}:${en}:${sp}`, [s], (x) => os.slice(x, st, en, sp), (x) => sliceRef(x, st, en, sp), G);
  });
  it('pad', async () => {
    await checkOp('pad last dim', [[17]], (x) => os.pad(x, [2, 3], 1.5), (x) => padRef(x, [2, 3], 1.5), G);
    await checkOp('pad two dims', [[2, 3, 5]], (x) => x.pad([1, 0, 2, 1]), (x) => padRef(x, [1, 0, 2, 1]), G);
  });
});

describe('gradcheck: matmul and linear', () => {
  const mm = (o: { transA?: boolean; transB?: boolean } = {}) => (a: HostTensor, c: HostTensor) => matmulRef(a.data, a.shape, c.data, c.shape, o);
  it('2-D, batched, broadcast batch dims', async () => {
    const cases: [number[], number[]][] = [[[3, 5], [5, 4]], [[1, 7], [7, 1]], [[2, 3, 4], [2, 4, 3]], [[2, 1, 3, 4], [3, 4, 2]], [[3, 4], [2, 4, 5]], [[2, 3, 4], [4, 5]], [[2, 1, 2, 3], [1, 3, 3, 2]]];
    for (const [as, bs] of cases) await checkOp(`matmul [${as}] @ [${bs}]`, [as, bs], (a, c) => os.matmul(a, c), mm(), { ...G, atol: 1e-5 });
  });
  it('1-D operands', async () => {
    const cases: [number[], number[]][] = [[[5], [5, 3]], [[4, 5], [5]], [[5], [5]], [[2, 4, 5], [5]], [[5], [2, 5, 3]]];
    for (const [as, bs] of cases) await checkOp(`matmul [${as}] @ [${bs}]`, [as, bs], (a, c) => os.matmul(a, c), mm(), { ...G, atol: 1e-5 });
  });
  it('transA / transB options', async () => {
    for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]]) {
      const as = transA ? [2, 5, 3] : [2, 3, 5], bs = transB ? [4, 5] : [5, 4];
      await checkOp(`matmul transA=${transA} transB=${transB}`, [as, bs], (a, c) => os.matmul(a, c, { transA, transB }), mm({ transA, transB }), { ...G, atol: 1e-5 });
    }
  });
  it('linear with and without bias, 1-D / 2-D / 3-D input', async () => {
    const cases: [number[], number[]][] = [[[6], [3, 6]], [[4, 6], [3, 6]], [[2, 3, 4], [5, 4]]];
    for (const [xs, ws] of cases) {
      await checkOp(`linear [${xs}] [${ws}]`, [xs, ws], (x, w) => os.linear(x, w), (x, w) => linearRef(x, w), { ...G, atol: 1e-5 });
      await checkOp(`linear+bias [${xs}] [${ws}]`, [xs, ws, [ws[0]]], (x, w, c) => os.linear(x, w, c), (x, w, c) => linearRef(x, w, c), { ...G, atol: 1e-5 });
    }
  });
});

describe('gradcheck: losses, norms and composites', () => {
  for (const reduction of ['mean', 'sum', 'none'] as ReductionRef[]) {
    it(`mseLoss (${reduction})`, async () => {
      await checkOp(`mseLoss ${reduction}`, [[3, 5], [3, 5]], (a, c) => os.mseLoss(a, c, reduction), (a, c) => mseLossRef(a, c, reduction), { ...G, atol: 1e-5 });
    });
  }
  it('crossEntropy with class indices ([N, C] and [N, C, L])', async () => {
    const r = rng(8);
    const labels = Array.from({ length: 5 }, () => r.int(0, 7));
    for (const reduction of ['mean', 'sum', 'none'] as ReductionRef[]) {
      await checkOp(`crossEntropy [5,7] ${reduction}`, [[5, 7]], (l) => os.crossEntropy(l, labels, reduction), (l) => crossEntropyRef(l, { data: Float64Array.from(labels), shape: [5] }, reduction), { ...G, atol: 1e-5 });
    }
    const spatial = Array.from({ length: 6 }, () => r.int(0, 4));
    await checkOp('crossEntropy [2,4,3]', [[2, 4, 3]], (l) => os.crossEntropy(l, spatial), (l) => crossEntropyRef(l, { data: Float64Array.from(spatial), shape: [2, 3] }), { ...G, atol: 1e-5 });
    const asTensor = os.tensor(Float32Array.from(labels), [5]);
    await checkOp('crossEntropy tensor labels', [[5, 7]], (l) => os.crossEntropy(l, asTensor), (l) => crossEntropyRef(l, { data: Float64Array.from(labels), shape: [5] }), { ...G, atol: 1e-5 });
    asTensor.dispose();
  });
  it('crossEntropy with probability targets (grads to logits and targets)', async () => {
    const [raw] = makeInputs([[4, 6]], { seed: 3 });
    const probs = softmaxRef(raw, 1).data;
    await checkOp('crossEntropy probs', [[4, 6], [4, 6]], (l, p) => os.crossEntropy(l, p), (l, p) => crossEntropyRef(l, p), { ...G, values: [undefined, probs], atol: 1e-5 });
  });
  it('layerNorm with and without affine, over 1 and 2 trailing dims', async () => {
    await checkOp('layerNorm [3,8]', [[3, 8]], (x) => os.layerNorm(x, [8]), (x) => layerNormRef(x, [8]), { ...G, atol: 1e-5 });
    await checkOp('layerNorm affine [2,3,6]', [[2, 3, 6], [6], [6]], (x, w, c) => os.layerNorm(x, [6], w, c), (x, w, c) => layerNormRef(x, [6], w, c), { ...G, atol: 1e-5 });
    await checkOp('layerNorm affine 2 dims', [[2, 3, 5], [3, 5], [3, 5]], (x, w, c) => os.layerNorm(x, [3, 5], w, c), (x, w, c) => layerNormRef(x, [3, 5], w, c), { ...G, atol: 1e-5 });
    await checkOp('layerNorm weight only', [[4, 5], [5]], (x, w) => os.layerNorm(x, [5], w), (x, w) => layerNormRef(x, [5], w), { ...G, atol: 1e-5 });
  });
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
  it('checkOp catches a wrong backward (sanity check of the harness)', async () => {
    // forward x², backward x (detach hides one factor)
    await expect(checkOp('bad', [[5]], (x) => os.mul(x, x.detach()), (x) => mapRef((v) => v * v, x), G)).rejects.toThrow(/grad of input 0/);
    await expect(checkOp('bad fwd', [[5]], (x) => os.mul(x, 2.001), (x) => mapRef((v) => v * 2, x))).rejects.toThrow(/forward/);
  });
});
