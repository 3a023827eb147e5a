// test/kernels/elementwise.test.ts: every elementwise op (kernels/elementwise/) forward against the float64 reference
// (kernels/elementwise/reference.ts) on odd shapes, broadcasting corner cases, scalar operands and special values.
// Backward passes are gradchecked in test/engine/grad.test.ts.
import { describe, it, expect } from 'vitest';
import * as os from '../../engine';
import { binaryRef, mapRef, unaryRef, whereRef, type HostTensor } from '../../kernels/elementwise/reference';
import type { BinaryOp, UnaryOp } from '../../kernels/elementwise/ops';
import { checkOp, expectClose, expectThrows, toHost, type InitSpec, type Rng } from '../helpers';

const SHAPES: number[][] = [[], [1], [3], [17], [33], [65], [5, 13], [3, 1, 17], [2, 3, 5, 7], [65, 33], [0], [4, 0, 3]];
const POS: InitSpec = [0.05, 4];
/** Away from zero, either sign (divisors). */
const AWAY0: InitSpec = (r: Rng) => (r.next() < 0.5 ? -1 : 1) * r.uniform(0.5, 2);

type UnaryCase = [name: string, gpu: (x: os.Tensor) => os.Tensor, ref: (x: HostTensor) => HostTensor, init?: InitSpec, tol?: number];
const u = (op: UnaryOp, p0 = 0, p1 = 0) => (x: HostTensor) => unaryRef(op, x, p0, p1);

const UNARY_CASES: UnaryCase[] = [
  ['neg', os.neg, u('neg')],
  ['exp', os.exp, u('exp'), [-4, 4]],
  ['log', os.log, u('log'), POS],
  ['sqrt', os.sqrt, u('sqrt'), POS],
  ['rsqrt', os.rsqrt, u('rsqrt'), POS],
  ['abs', os.abs, u('abs')],
  ['sign', os.sign, u('sign')],
  ['square', os.square, u('square')],
  ['relu', os.relu, u('relu')],
  ['silu', os.silu, u('silu'), [-6, 6]],
  ['sigmoid', os.sigmoid, u('sigmoid'), [-8, 8]],
  ['softplus', os.softplus, u('softplus'), [-30, 30], 1e-5],
  ['tanh', os.tanh, u('tanh'), [-5, 5]],
  ['gelu', os.gelu, u('gelu'), [-5, 5], 1e-5],
  ['sin', os.sin, u('sin'), [-3, 3]],
  ['cos', os.cos, u('cos'), [-3, 3]],
  ['nanToNum', os.nanToNum, u('finiteOr0')],
  ['clamp(-0.5, 0.7)', (x) => os.clamp(x, -0.5, 0.7), u('clamp', -0.5, 0.7)],
  ['clamp(min 0.25)', (x) => os.clamp(x, 0.25), u('clamp', 0.25, Infinity)],
  ['clamp(max -0.25)', (x) => os.clamp(x, undefined, -0.25), u('clamp', -Infinity, -0.25)],
];

describe('unary ops forward', () => {
  for (const [name, gpu, ref, init, tol] of UNARY_CASES) {
    it(`${name} on odd shapes, 0-d and size-0`, async () => {
      for (const s of SHAPES) await checkOp(name, [s], gpu, ref, { init, atol: tol ?? 2e-6, rtol: 2e-6 });
    });
  }

  it('method forms match the functions', async () => {
    const x = os.tensor([0.5, 1.5, 2.5]);
    const y = x.exp().log().sqrt().square().neg().abs().relu().sigmoid().tanh().silu().gelu().sin().cos().clamp(0, 1).nanToNum().sign();
    expectClose(await toHost(y), [1, 1, 1]);
    x.dispose();
    y.dispose();
  });

  it('special values: NaN, ±Inf, saturation', async () => {
    const vals = [NaN, Infinity, -Infinity, 0, -0, 1.5, -100, 100, 88, -88];
    const x = os.tensor(vals);
    const cases: [string, os.Tensor, number[]][] = [
      ['nanToNum', os.nanToNum(x), vals.map((v) => (Number.isFinite(v) ? v : 0))],
      ['clamp keeps NaN', os.clamp(x, -1, 1), vals.map((v) => (Number.isNaN(v) ? NaN : Math.min(1, Math.max(-1, v))))],
      ['maximum propagates NaN', os.maximum(x, 0), vals.map((v) => (Number.isNaN(v) ? NaN : Math.max(v, 0)))],
      ['minimum propagates NaN', os.minimum(x, 0), vals.map((v) => (Number.isNaN(v) ? NaN : Math.min(v, 0)))],
    ];
    for (const [name, t, want] of cases) {
      expectClose(await toHost(t), want, { label: name });
      t.dispose();
    }
    // saturating functions on finite extremes: no NaN/Inf leaks
    const big = os.tensor([-100, -30, 30, 100]);
    const sat: [string, os.Tensor, number[]][] = [
      ['sigmoid', os.sigmoid(big), [0, 9.357622968839299e-14, 1, 1]],
      ['tanh', os.tanh(big), [-1, -1, 1, 1]],
      ['silu', os.silu(big), [-0, -2.807286890651789e-12, 30, 100]],
      ['gelu', os.gelu(big), [-0, -0, 30, 100]],
      ['exp', os.exp(os.neg(big)), [Math.exp(100), Math.exp(30), Math.exp(-30), Math.exp(-100)].map(Math.fround)],
    ];
    for (const [name, t, want] of sat) {
      expectClose(await toHost(t), want, { label: name, atol: 1e-6, rtol: 1e-5 });
      t.dispose();
    }
    x.dispose();
    big.dispose();
  });

  it('clamp rejects min > max', () => {
    const x = os.zeros([2]);
    expectThrows(() => os.clamp(x, 1, 0), os.ValueError, 'clamp');
    x.dispose();
  });

  it('pow handles negative bases, zero and fractional exponents like torch', async () => {
    const base = [-2, -2, -2, 0, 0, 0, 3, -0.5];
    const expo = [3, 2, 0.5, -1, 0, 2, -2, 0];
    const a = os.tensor(base), b = os.tensor(expo);
    const t = os.pow(a, b);
    expectClose(await toHost(t), base.map((v, i) => v ** expo[i]), { rtol: 1e-6 });
    const s = os.pow(a, 3);
    expectClose(await toHost(s), base.map((v) => v ** 3), { rtol: 1e-6 });
    for (const x of [a, b, t, s]) x.dispose();
  });
});

// ---- binary ---------------------------------------------------------------------------------------------------------

const BROADCAST_PAIRS: [number[], number[]][] = [
  [[3, 1], [1, 4]],
  [[17], [5, 17]],
  [[5, 17], [17]],
  [[5, 17], [5, 1]],
  [[2, 1, 3], [4, 1]],
  [[], [3, 4]],
  [[3, 4], []],
  [[], []],
  [[1], [33]],
  [[65, 33], [65, 33]],
  [[2, 3, 4, 5], [3, 1, 5]],
  [[3, 1, 5, 1, 2], [1, 4, 1, 3, 1]],
  [[0, 3], [1, 3]],
  [[4, 0], [4, 1]],
  [[1, 0], [3, 1]],
];

type BinCase = [op: BinaryOp, gpu: (a: os.Tensor | number, b: os.Tensor | number) => os.Tensor, initA?: InitSpec, initB?: InitSpec];
const BIN_CASES: BinCase[] = [
  ['add', os.add],
  ['sub', os.sub],
  ['mul', os.mul],
  ['div', os.div, undefined, AWAY0],
  ['pow', os.pow, [0.2, 3], [-2, 2]],
  ['maximum', os.maximum],
  ['minimum', os.minimum],
];
/** Small integers, so comparisons see ties. */
const INTS: InitSpec = (r) => r.int(-2, 3);
const CMP_CASES: [BinaryOp, (a: os.Tensor, b: os.Tensor | number) => os.Tensor][] = [
  ['gt', os.gt], ['lt', os.lt], ['ge', os.ge], ['le', os.le], ['eq', os.eq],
];

describe('binary ops forward with broadcasting', () => {
  for (const [op, gpu, initA, initB] of BIN_CASES) {
    it(`${op} on broadcast pairs (incl. 0-d and size-0)`, async () => {
      for (const [sa, sb] of BROADCAST_PAIRS) {
        await checkOp(`${op} [${sa}]·[${sb}]`, [sa, sb], (a, b) => gpu(a, b), (a, b) => binaryRef(op, a, b), { init: [initA, initB], atol: 1e-6, rtol: 2e-6 });
      }
    });
  }
  for (const [op, gpu] of CMP_CASES) {
    it(`${op} (comparison, with ties)`, async () => {
      for (const [sa, sb] of BROADCAST_PAIRS.slice(0, 8)) {
        await checkOp(`${op} [${sa}]·[${sb}]`, [sa, sb], (a, b) => gpu(a, b), (a, b) => binaryRef(op, a, b), { init: INTS });
      }
      await checkOp(`${op} scalar`, [[17]], (a) => gpu(a, 0), (a) => binaryRef(op, a, 0), { init: INTS });
    });
  }

  it('same-shape operands over many workgroups: every invocation covers several vec4s a grid apart, odd tail', async () => {
    // 70·1031 = 72,170 elements: 18,043 vec4s (the last one partial) over 18 workgroups
    for (const [op, gpu, initA, initB] of BIN_CASES.filter(([op]) => op === 'add' || op === 'div')) {
      await checkOp(`${op} [70,1031]`, [[70, 1031], [70, 1031]], (a, b) => gpu(a, b), (a, b) => binaryRef(op, a, b), { init: [initA, initB], atol: 1e-6, rtol: 2e-6 });
    }
    await checkOp('silu [70,1031]', [[70, 1031]], os.silu, u('silu'), { init: [-6, 6], atol: 2e-6, rtol: 2e-6 });
  });

  it('method forms broadcast the same way', async () => {
    const a = os.tensor([[1], [2], [3]]), b = os.tensor([[10, 20, 30, 40]]);
    const y = a.add(b).mul(2).sub(a).div(b).pow(2).maximum(0.01).minimum(100);
    const ref = mapRef((x, z) => Math.min(100, Math.max(0.01, ((2 * (x + z) - x) / z) ** 2)), { data: Float64Array.of(1, 2, 3), shape: [3, 1] }, { data: Float64Array.of(10, 20, 30, 40), shape: [1, 4] });
    expect(y.shape).toEqual([3, 4]);
    expectClose(await toHost(y), ref.data, { rtol: 1e-6 });
    for (const t of [a, b, y]) t.dispose();
  });

  it('incompatible shapes throw ShapeError naming both shapes', () => {
    const a = os.zeros([3, 2]), b = os.zeros([4]);
    expectThrows(() => os.add(a, b), os.ShapeError, '[3,2]', '[4]');
    expectThrows(() => os.mul(a, os.zeros([2, 3])), os.ShapeError);
    a.dispose();
    b.dispose();
  });
});

describe('scalar operands on either side', () => {
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
      for (const s of [[], [17], [3, 5], [0, 2]]) await checkOp(name, [s], gpu, ref, { init, atol: 1e-6, rtol: 2e-6 });
    });
  }

  it('number ∘ number gives a 0-d tensor', async () => {
    const t = os.add(2, 3);
    expect(t.shape).toEqual([]);
    expect(await t.item()).toBe(5);
    t.dispose();
  });
});

describe('where', () => {
  const COND: InitSpec = (r) => (r.next() < 0.5 ? 0 : 1);
  const cases: [number[], number[], number[]][] = [
    [[3, 1], [1, 4], [3, 4]],
    [[17], [5, 17], []],
    [[5, 17], [17], [5, 1]],
    [[2, 3, 4], [2, 3, 4], [2, 3, 4]],
    [[], [3], [3]],
    [[0, 3], [1, 3], [3]],
  ];
  it('broadcasts all three operands', async () => {
    for (const [c, a, b] of cases) {
      await checkOp(`where [${c}] [${a}] [${b}]`, [c, a, b], os.where, whereRef, { init: [COND, undefined, undefined] });
    }
  });
  it('accepts numbers for either branch', async () => {
    await checkOp('where(c, 0.5, x)', [[5, 17], [17]], (c, x) => os.where(c, 0.5, x), (c, x) => whereRef(c, 0.5, x), { init: [COND, undefined] });
    await checkOp('where(c, x, -1)', [[5, 1], [5, 17]], (c, x) => os.where(c, x, -1), (c, x) => whereRef(c, x, -1), { init: [COND, undefined] });
  });
  it('treats any non-zero as true', async () => {
    await checkOp('where nonzero', [[33], [33], [33]], os.where, whereRef, { init: [(r) => r.int(-2, 3), undefined, undefined] });
  });
});
