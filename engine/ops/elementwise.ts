// engine/ops/elementwise.ts: elementwise ops with broadcasting (PyTorch semantics); a number beside a tensor becomes a
// kernel scalar, not a tensor. One table entry per function; the math of each lives in kernels/elementwise/ops.ts.
import { WHERE_EXPR, binary, broadcastShapes, unary, where as whereKernel } from '../../kernels/elementwise/dispatch';
import { BINARY, UNARY, type BinaryOp, type UnaryOp } from '../../kernels/elementwise/ops';
import { ValueError } from '../../runtime/errors';
import type { Grads } from '../autograd';
import { Tensor, tidy } from '../tensor';
import { full } from './create';
import { apply, type OpDef } from './op';
import { checkInputs } from './validate';

export type TensorLike = Tensor | number;

/** The scalar parameters of a unary kernel (clamp's bounds, addScalar's addend, …). */
export interface Scalars {
  p0: number;
  p1: number;
}

type Shapes = readonly (readonly number[])[];
const sameAsInput = ([x]: Shapes) => x;

/** d f(x): from the incoming gradient g, the input x, the output and the scalars. */
type UnaryRule = (g: Tensor, x: Tensor, out: Tensor, s: Scalars) => Tensor;

function unaryDef(kernel: UnaryOp, rule: UnaryRule | null): OpDef<Scalars> {
  return {
    inputs: ['x'],
    family: 'elementwise',
    shape: sameAsInput,
    forward: ([x], s) => unary(kernel, x, s.p0, s.p1),
    backward: rule && ((g, c) => [rule(g, c.inputs[0], c.out, c.attrs)]),
    pointwise: (s) => ({ args: ['x'], expr: UNARY[kernel].wgsl, consts: { p0: s.p0, p1: s.p1 } }),
  };
}

/** d f(a, b): only the gradients marked in `need`. */
type BinaryRule = (g: Tensor, a: Tensor, b: Tensor, out: Tensor, need: boolean[]) => Grads;

function binaryDef(kernel: BinaryOp, rule: BinaryRule | null): OpDef {
  return {
    inputs: ['a', 'b'],
    family: 'elementwise',
    shape: ([a, b]) => broadcastShapes(kernel, a, b),
    forward: ([a, b]) => binary(kernel, a, b),
    backward: rule && ((g, c) => rule(g, c.inputs[0], c.inputs[1], c.out, c.need)),
    pointwise: () => ({ args: ['a', 'b'], expr: BINARY[kernel].wgsl }),
  };
}

/** Elementwise max/min's weights: the winner gets the gradient, ties share it. */
function pickWeights(x: Tensor, y: TensorLike, cmp: 'gt' | 'lt'): Tensor {
  return tidy(() => add(compare(cmp, x, y), mul(compare('eq', x, y), 0.5)));
}

/** The unary entries: the closed list (the table below must hold exactly these). */
export type UnaryName =
  | 'neg' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'abs' | 'square' | 'relu' | 'silu' | 'softplus' | 'sigmoid' | 'tanh' | 'gelu'
  | 'sin' | 'cos' | 'sign' | 'nanToNum' | 'clamp' | 'addScalar' | 'mulScalar' | 'rsubScalar' | 'divScalar'
  | 'rdivScalar' | 'powScalar' | 'rpowScalar' | 'maxScalar' | 'minScalar' | 'floor' | 'isFinite' | 'inRange';

export const UNARY_OPS = {
  neg: unaryDef('neg', (g) => neg(g)),
  exp: unaryDef('exp', (g, _x, out) => mul(g, out)), // d eˣ = eˣ: reuse the output
  log: unaryDef('log', (g, x) => div(g, x)),
  sqrt: unaryDef('sqrt', (g, _x, out) => div(mul(g, 0.5), out)),
  rsqrt: unaryDef('rsqrt', (g, _x, out) => mul(mul(g, -0.5), pow(out, 3))),
  abs: unaryDef('abs', (g, x) => binaryOf('absGrad', x, g)),
  square: unaryDef('square', (g, x) => mul(g, mul(x, 2))),
  relu: unaryDef('relu', (g, x) => binaryOf('reluGrad', x, g)),
  silu: unaryDef('silu', (g, x) => binaryOf('siluGrad', x, g)), // silu(x) = x·sigmoid(x)
  softplus: unaryDef('softplus', (g, x) => mul(g, sigmoid(x))), // d/dx log(1 + eˣ) = sigmoid(x)
  sigmoid: unaryDef('sigmoid', (g, _x, out) => binaryOf('sigmoidGradFromOut', out, g)),
  tanh: unaryDef('tanh', (g, _x, out) => binaryOf('tanhGradFromOut', out, g)),
  gelu: unaryDef('gelu', (g, x) => binaryOf('geluGrad', x, g)), // x·Φ(x), exact erf
  sin: unaryDef('sin', (g, x) => mul(g, cos(x))),
  cos: unaryDef('cos', (g, x) => neg(mul(g, sin(x)))),
  sign: unaryDef('sign', (g) => mul(g, 0)),
  nanToNum: unaryDef('finiteOr0', (g, x) => mul(g, unaryOf('isFinite', x))), // the gradient passes where x is finite
  clamp: unaryDef('clamp', (g, x, _o, s) => mul(g, unaryOf('inRange', x, s.p0, s.p1))),
  addScalar: unaryDef('addScalar', (g) => g),
  mulScalar: unaryDef('mulScalar', (g, _x, _o, s) => mul(g, s.p0)),
  rsubScalar: unaryDef('rsubScalar', (g) => neg(g)), // s − x
  divScalar: unaryDef('divScalar', (g, _x, _o, s) => div(g, s.p0)),
  rdivScalar: unaryDef('rdivScalar', (g, x, _o, s) => neg(div(mul(g, s.p0), square(x)))), // s / x
  powScalar: unaryDef('powScalar', (g, x, _o, s) => (s.p0 === 0 ? mul(g, 0) : mul(g, mul(unaryOf('powScalar', x, s.p0 - 1), s.p0)))),
  rpowScalar: unaryDef('rpowScalar', (g, _x, out, s) => mul(mul(g, out), Math.log(s.p0))), // sˣ
  maxScalar: unaryDef('maxScalar', (g, x, _o, s) => mul(g, pickWeights(x, s.p0, 'gt'))),
  minScalar: unaryDef('minScalar', (g, x, _o, s) => mul(g, pickWeights(x, s.p0, 'lt'))),
  // no gradient: masks and roundings that backward rules and randint use
  floor: unaryDef('floor', null),
  isFinite: unaryDef('isFinite', null),
  inRange: unaryDef('inRange', null),
} satisfies Record<UnaryName, OpDef<Scalars>>;

/** The binary entries. */
export type BinaryName =
  | 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum' | 'gt' | 'lt' | 'ge' | 'le' | 'eq' | 'powGradBase'
  | 'reluGrad' | 'siluGrad' | 'sigmoidGradFromOut' | 'tanhGradFromOut' | 'geluGrad' | 'absGrad';

export const BINARY_OPS = {
  add: binaryDef('add', (g, _a, _b, _o, n) => [n[0] ? g : null, n[1] ? g : null]),
  sub: binaryDef('sub', (g, _a, _b, _o, n) => [n[0] ? g : null, n[1] ? neg(g) : null]),
  mul: binaryDef('mul', (g, a, b, _o, n) => [n[0] ? mul(g, b) : null, n[1] ? mul(g, a) : null]),
  div: binaryDef('div', (g, _a, b, out, n) => [n[0] ? div(g, b) : null, n[1] ? neg(div(mul(g, out), b)) : null]),
  pow: binaryDef('pow', (g, a, b, out, n) => [n[0] ? mul(g, binaryOf('powGradBase', a, b)) : null, n[1] ? mul(g, mul(out, log(a))) : null]),
  maximum: binaryDef('maximum', (g, a, b, _o, n) => minMaxGrads(g, a, b, 'gt', n)),
  minimum: binaryDef('minimum', (g, a, b, _o, n) => minMaxGrads(g, a, b, 'lt', n)),
  // no gradient: comparisons (1 or 0) and the fused backward rules (a = forward input or output, b = incoming gradient)
  gt: binaryDef('gt', null),
  lt: binaryDef('lt', null),
  ge: binaryDef('ge', null),
  le: binaryDef('le', null),
  eq: binaryDef('eq', null),
  powGradBase: binaryDef('powGradBase', null),
  reluGrad: binaryDef('reluGrad', null),
  siluGrad: binaryDef('siluGrad', null),
  sigmoidGradFromOut: binaryDef('sigmoidGradFromOut', null),
  tanhGradFromOut: binaryDef('tanhGradFromOut', null),
  geluGrad: binaryDef('geluGrad', null),
  absGrad: binaryDef('absGrad', null),
} satisfies Record<BinaryName, OpDef>;

export const WHERE_OPS = {
  // cond ≠ 0 ? a : b, broadcasting all three; the gradient flows to a and b only
  where: {
    inputs: ['cond', 'a', 'b'],
    family: 'elementwise',
    shape: ([c, a, b]) => broadcastShapes('where', c, a, b),
    forward: ([c, a, b]) => whereKernel(c, a, b),
    backward: (g, { inputs: [cond], need }) => [null, need[1] ? where(cond, g, 0) : null, need[2] ? where(cond, 0, g) : null],
    pointwise: () => ({ args: ['c', 'a', 'b'], expr: WHERE_EXPR }),
  } satisfies OpDef,
};

/** Applies a unary entry (internal: the public functions below validate first). */
function unaryOf(name: UnaryName, x: Tensor, p0 = 0, p1 = 0): Tensor {
  checkInputs(name, x);
  return apply(name, UNARY_OPS[name], [x], { p0, p1 });
}
function binaryOf(name: BinaryName, a: Tensor, b: Tensor): Tensor {
  checkInputs(name, a, b);
  return apply(name, BINARY_OPS[name], [a, b], undefined);
}

/** A number as a 0-d tensor (where a tensor operand is required). */
const asTensor = (x: TensorLike): Tensor => (typeof x === 'number' ? full([], x) : x);

/** A binary op on tensors or numbers: two numbers fold on the host, one number uses the scalar kernel. */
function binaryOp(name: BinaryName, a: TensorLike, b: TensorLike, withScalar?: { right: (x: Tensor, s: number) => Tensor; left: (s: number, x: Tensor) => Tensor }): Tensor {
  if (typeof a === 'number' && typeof b === 'number') return full([], BINARY[name as BinaryOp].ref(a, b));
  if (withScalar && typeof b === 'number') return withScalar.right(a as Tensor, b);
  if (withScalar && typeof a === 'number') return withScalar.left(a, b as Tensor);
  const ta = asTensor(a), tb = asTensor(b);
  try {
    return binaryOf(name, ta, tb);
  } finally {
    if (ta !== a) ta.dispose();
    if (tb !== b) tb.dispose();
  }
}

export const neg = (x: Tensor): Tensor => unaryOf('neg', x);
export const exp = (x: Tensor): Tensor => unaryOf('exp', x);
export const log = (x: Tensor): Tensor => unaryOf('log', x);
export const sqrt = (x: Tensor): Tensor => unaryOf('sqrt', x);
export const rsqrt = (x: Tensor): Tensor => unaryOf('rsqrt', x);
export const abs = (x: Tensor): Tensor => unaryOf('abs', x);
export const square = (x: Tensor): Tensor => unaryOf('square', x);
export const relu = (x: Tensor): Tensor => unaryOf('relu', x);
/** silu(x) = x·sigmoid(x). */
export const silu = (x: Tensor): Tensor => unaryOf('silu', x);
export const sigmoid = (x: Tensor): Tensor => unaryOf('sigmoid', x);
/** softplus(x) = log(1 + eˣ), computed without overflow; its gradient is sigmoid(x). */
export const softplus = (x: Tensor): Tensor => unaryOf('softplus', x);
export const tanh = (x: Tensor): Tensor => unaryOf('tanh', x);
/** gelu(x) = x·Φ(x) with the exact erf (torch's default, approximate='none'). */
export const gelu = (x: Tensor): Tensor => unaryOf('gelu', x);
export const sin = (x: Tensor): Tensor => unaryOf('sin', x);
export const cos = (x: Tensor): Tensor => unaryOf('cos', x);
export const sign = (x: Tensor): Tensor => unaryOf('sign', x);
/** NaN and ±Inf → 0 (DMD's nan_to_num guard); gradient passes where finite. */
export const nanToNum = (x: Tensor): Tensor => unaryOf('nanToNum', x);
/** ⌊x⌋ (no gradient). */
export const floor = (x: Tensor): Tensor => unaryOf('floor', x);

export function clamp(x: Tensor, min = -Infinity, max = Infinity): Tensor {
  if (min > max) throw new ValueError(`clamp: min ${min} > max ${max}`);
  return unaryOf('clamp', x, min, max);
}

export const add = (a: TensorLike, b: TensorLike): Tensor =>
  binaryOp('add', a, b, { right: (x, s) => unaryOf('addScalar', x, s), left: (s, x) => unaryOf('addScalar', x, s) });
export const sub = (a: TensorLike, b: TensorLike): Tensor =>
  binaryOp('sub', a, b, { right: (x, s) => unaryOf('addScalar', x, -s), left: (s, x) => unaryOf('rsubScalar', x, s) });
export const mul = (a: TensorLike, b: TensorLike): Tensor =>
  binaryOp('mul', a, b, { right: (x, s) => unaryOf('mulScalar', x, s), left: (s, x) => unaryOf('mulScalar', x, s) });
export const div = (a: TensorLike, b: TensorLike): Tensor =>
  binaryOp('div', a, b, { right: (x, s) => unaryOf('divScalar', x, s), left: (s, x) => unaryOf('rdivScalar', x, s) });
export const pow = (a: TensorLike, b: TensorLike): Tensor =>
  binaryOp('pow', a, b, { right: (x, p) => unaryOf('powScalar', x, p), left: (s, x) => unaryOf('rpowScalar', x, s) });
/** Elementwise max with NaN propagation; ties send half the gradient to each side. */
export const maximum = (a: TensorLike, b: TensorLike): Tensor =>
  binaryOp('maximum', a, b, { right: (x, s) => unaryOf('maxScalar', x, s), left: (s, x) => unaryOf('maxScalar', x, s) });
export const minimum = (a: TensorLike, b: TensorLike): Tensor =>
  binaryOp('minimum', a, b, { right: (x, s) => unaryOf('minScalar', x, s), left: (s, x) => unaryOf('minScalar', x, s) });

function minMaxGrads(g: Tensor, x: Tensor, y: Tensor, cmp: 'gt' | 'lt', need: boolean[]): Grads {
  const wx = pickWeights(x, y, cmp);
  return [need[0] ? mul(g, wx) : null, need[1] ? mul(g, sub(1, wx)) : null];
}

// comparisons: 1 or 0, no gradient
export const gt = (a: Tensor, b: TensorLike) => compare('gt', a, b);
export const lt = (a: Tensor, b: TensorLike) => compare('lt', a, b);
export const ge = (a: Tensor, b: TensorLike) => compare('ge', a, b);
export const le = (a: Tensor, b: TensorLike) => compare('le', a, b);
export const eq = (a: Tensor, b: TensorLike) => compare('eq', a, b);
function compare(op: 'gt' | 'lt' | 'ge' | 'le' | 'eq', a: Tensor, b: TensorLike): Tensor {
  return binaryOp(op, a, b);
}

/** cond ≠ 0 ? a : b, broadcasting all three; gradients flow to a and b only. */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  const ta = asTensor(a), tb = asTensor(b);
  try {
    checkInputs('where', cond, ta, tb);
    return apply('where', WHERE_OPS.where, [cond, ta, tb], undefined);
  } finally {
    if (ta !== a) ta.dispose();
    if (tb !== b) tb.dispose();
  }
}
