// engine/ops.ts: every differentiable op, forward and backward side by side; PyTorch semantics and NCHW layout.
// A forward validates its inputs, calls kernels/<family>/dispatch.ts, and `record`s its backward rule, which is
// written with these same ops. The tape (engine/autograd.ts) sums gradients back to broadcast shapes.
import { autogradOps } from './autograd';
import { device } from './device';
import { GradError, OnestepError, ShapeError, ValueError, fmtShape } from './errors';
import { DTYPES, Tensor, checkShape, isGradEnabled, record, shapeSize, tidy, type DType } from './tensor';
import { castTo } from '../kernels/cast/dispatch';
import { binary, broadcastShapes, fusedElementwise, unary, where as whereKernel } from '../kernels/elementwise/dispatch';
import type { BinaryOp, UnaryOp } from '../kernels/elementwise/ops';
import { normAxes, reduce, softmaxAlong, type ReduceOp } from '../kernels/reduce/dispatch';
import { embed, filled, gather, scatterInto } from '../kernels/layout/dispatch';
import { stridesOf } from '../kernels/grid';
import { matmulKernel } from '../kernels/matmul/dispatch';
import { random } from '../kernels/random/dispatch';

export type Scalar = number;
export type TensorLike = Tensor | number;
type Nested = number | Nested[];

// ---- validation -------------------------------------------------------------------------------------------------

/** The ops that take f16 tensors (views, casts, and matmul / linear, which read halves and compute in f32); every other op computes in f32. */
const HALF_OPS = new Set(['cast', 'reshape', 'matmul', 'linear']);

/** Every input alive, f32 (unless the op takes f16) and on one device; returns that device. Every op calls it first. */
export function checkInputs(op: string, ...ts: Tensor[]) {
  const dev = ts[0].device;
  for (const t of ts) {
    if (!(t instanceof Tensor)) throw new ValueError(`${op}: expected a Tensor, got ${typeof t}`);
    t.storageOrThrow(op);
    if (t.dtype !== 'f32' && !HALF_OPS.has(op)) {
      throw new ValueError(`${op}: input ${fmtShape(t.shape)} is ${t.dtype}, and ${op} computes in f32; cast it first (x.float()). f16 tensors go through cast, reshape, matmul, linear, data() and safetensors`);
    }
    if (t.device !== dev) throw new OnestepError(`${op}: inputs live on different devices (#${dev.id} and #${t.device.id}); tensors from before a re-init cannot mix with new ones`);
  }
  return dev;
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

// ---- creation ---------------------------------------------------------------------------------------------------

export interface CreateOptions {
  requiresGrad?: boolean;
  /** Element type (default f32); f16 tensors cannot require grad. */
  dtype?: DType;
}

/** Applies CreateOptions to a freshly made f32 tensor: the cast to f16, or the requiresGrad flag. */
function created(t: Tensor, op: string, opts: CreateOptions): Tensor {
  const dtype = opts.dtype ?? 'f32';
  if (!DTYPES.includes(dtype)) throw new ValueError(`${op}: unknown dtype ${JSON.stringify(dtype)}; use one of ${DTYPES.map((d) => `'${d}'`).join(', ')}`);
  if (dtype === 'f16') {
    if (opts.requiresGrad) {
      t.dispose();
      throw new GradError(`${op}: an f16 tensor cannot require grad (gradients are f32); make an f32 tensor that requires grad and cast it in the forward (w.half())`);
    }
    const h = castTo(t, 'f16');
    t.dispose();
    return h;
  }
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}

function inferShape(data: Nested): number[] {
  const shape: number[] = [];
  let x: Nested = data;
  while (Array.isArray(x)) {
    shape.push(x.length);
    x = x[0];
  }
  return shape;
}

/** A tensor from host data: a number, nested arrays, or a flat array/Float32Array with a shape. */
export function tensor(data: Nested | Float32Array | Float64Array | ArrayLike<number>, shape?: readonly number[], opts: CreateOptions = {}): Tensor {
  let flat: Float32Array;
  let s: number[];
  if (typeof data === 'number') {
    flat = new Float32Array([data]);
    s = [];
  } else if (Array.isArray(data) && (data.length === 0 || Array.isArray(data[0]))) {
    s = inferShape(data as Nested);
    const out: number[] = [];
    const walk = (x: Nested, d: number): void => {
      if (d === s.length) {
        if (typeof x !== 'number') throw new ValueError(`tensor: ragged nested array (expected a number at depth ${d})`);
        out.push(x);
        return;
      }
      if (!Array.isArray(x) || x.length !== s[d]) throw new ValueError(`tensor: ragged nested array: dim ${d} should have ${s[d]} entries`);
      for (const v of x) walk(v, d + 1);
    };
    walk(data as Nested, 0);
    flat = new Float32Array(out);
  } else {
    if (Array.isArray(data)) {
      const bad = data.findIndex((v) => typeof v !== 'number');
      if (bad >= 0) throw new ValueError(`tensor: ragged or non-numeric array: element ${bad} is ${Array.isArray(data[bad]) ? 'an array' : typeof data[bad]} while element 0 is a number`);
    }
    flat = data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>);
    s = [flat.length];
  }
  if (shape) {
    checkShape('tensor', shape);
    if (shapeSize(shape) !== flat.length) throw new ShapeError(`tensor: ${flat.length} values do not fill shape ${fmtShape(shape)} (${shapeSize(shape)} elements)`);
    s = [...shape];
  }
  const t = Tensor.empty(s);
  if (flat.length) t.device.write(t.buffer, flat);
  return created(t, 'tensor', opts);
}

export function full(shape: readonly number[], value: number, opts: CreateOptions = {}): Tensor {
  checkShape('full', shape);
  return created(filled(shape, value), 'full', opts);
}
export const zeros = (shape: readonly number[], opts: CreateOptions = {}) => full(shape, 0, opts);
export const ones = (shape: readonly number[], opts: CreateOptions = {}) => full(shape, 1, opts);
export const zerosLike = (t: Tensor) => zeros(t.shape);
export const onesLike = (t: Tensor) => ones(t.shape);

/** [start, end) by step; arange(n) = 0..n−1. */
export function arange(start: number, end?: number, step = 1): Tensor {
  if (end === undefined) [start, end] = [0, start];
  if (step === 0 || !Number.isFinite(step)) throw new ValueError(`arange: step must be a non-zero finite number, got ${step}`);
  const n = Math.max(0, Math.ceil((end - start) / step));
  return tensor(Float32Array.from({ length: n }, (_, i) => start + i * step), [n]);
}

// counter-based RNG: a global seed and a stream counter that advances per draw
let globalSeed = 0;
let globalStream = 0;
export function manualSeed(seed: number): void {
  if (!Number.isFinite(seed)) throw new ValueError(`manualSeed: seed must be a finite number, got ${seed}`);
  globalSeed = Math.floor(Math.abs(seed));
  globalStream = 0;
}
/** Where the global RNG stands (for checkpoints); restore with setRngState. */
export const getRngState = () => ({ seed: globalSeed, stream: globalStream });
export function setRngState(s: { seed: number; stream: number }): void {
  globalSeed = s.seed;
  globalStream = s.stream;
}

export interface RandomOptions extends CreateOptions {
  /** Use this seed (stream 0) instead of the global generator. */
  seed?: number;
}
function draw(dist: 'uniform' | 'normal', shape: readonly number[], opts: RandomOptions): Tensor {
  checkShape(dist === 'normal' ? 'randn' : 'rand', shape);
  device();
  const t = opts.seed !== undefined ? random(dist, shape, Math.floor(Math.abs(opts.seed)), 0) : random(dist, shape, globalSeed, ++globalStream);
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}
/** Standard normal draws (Philox + Box–Muller). Same seed, same numbers, on every adapter. */
export const randn = (shape: readonly number[], opts: RandomOptions = {}) => draw('normal', shape, opts);
/** Uniform draws in [0, 1). */
export const rand = (shape: readonly number[], opts: RandomOptions = {}) => draw('uniform', shape, opts);
export const randnLike = (t: Tensor, opts: RandomOptions = {}) => randn(t.shape, opts);
/** Integers in [low, high) as floats. */
export function randint(low: number, high: number, shape: readonly number[], opts: RandomOptions = {}): Tensor {
  return tidy(() => floorScalarRange(rand(shape, opts), low, high));
}
function floorScalarRange(u: Tensor, low: number, high: number): Tensor {
  // floor(low + u·(high−low)), clamped so u → 1⁻ never gives `high`
  return unary('clamp', unary('floor', unary('addScalar', unary('mulScalar', u, high - low), low)), low, high - 1);
}

// ---- elementwise ------------------------------------------------------------------------------------------------

const asTensor = (x: TensorLike): Tensor => (typeof x === 'number' ? filled([], x) : x);

function unaryOp(name: UnaryOp, x: Tensor, backward: ((g: Tensor, out: Tensor) => Tensor) | null, p0 = 0, p1 = 0): Tensor {
  checkInputs(name, x);
  const out = unary(name, x, p0, p1);
  if (backward) record(name, out, [x], (g) => [backward(g, out)]);
  return out;
}

export const neg = (x: Tensor): Tensor => unaryOp('neg', x, (g) => neg(g));
export const exp = (x: Tensor): Tensor => unaryOp('exp', x, (g, out) => mul(g, out));
export const log = (x: Tensor): Tensor => unaryOp('log', x, (g) => div(g, x));
export const sqrt = (x: Tensor): Tensor => unaryOp('sqrt', x, (g, out) => div(mul(g, 0.5), out));
export const rsqrt = (x: Tensor): Tensor => unaryOp('rsqrt', x, (g, out) => mul(mul(g, -0.5), pow(out, 3)));
export const abs = (x: Tensor): Tensor => unaryOp('abs', x, (g) => binary('absGrad', x, g));
export const square = (x: Tensor): Tensor => unaryOp('square', x, (g) => mul(g, mul(x, 2)));
export const relu = (x: Tensor): Tensor => unaryOp('relu', x, (g) => binary('reluGrad', x, g));
/** silu(x) = x·sigmoid(x). */
export const silu = (x: Tensor): Tensor => unaryOp('silu', x, (g) => binary('siluGrad', x, g));
export const sigmoid = (x: Tensor): Tensor => unaryOp('sigmoid', x, (g, out) => binary('sigmoidGradFromOut', out, g));
export const tanh = (x: Tensor): Tensor => unaryOp('tanh', x, (g, out) => binary('tanhGradFromOut', out, g));
/** gelu(x) = x·Φ(x) with the exact erf (torch's default, approximate='none'). */
export const gelu = (x: Tensor): Tensor => unaryOp('gelu', x, (g) => binary('geluGrad', x, g));
export const sin = (x: Tensor): Tensor => unaryOp('sin', x, (g) => mul(g, cos(x)));
export const cos = (x: Tensor): Tensor => unaryOp('cos', x, (g) => neg(mul(g, sin(x))));
export const sign = (x: Tensor): Tensor => unaryOp('sign', x, (g) => mul(g, 0));
/** NaN and ±Inf → 0 (DMD's nan_to_num guard); gradient passes where finite. */
export const nanToNum = (x: Tensor): Tensor => unaryOp('finiteOr0', x, (g) => mul(g, unary('isFinite', x)));

export function clamp(x: Tensor, min = -Infinity, max = Infinity): Tensor {
  if (min > max) throw new ValueError(`clamp: min ${min} > max ${max}`);
  return unaryOp('clamp', x, (g) => mul(g, unary('inRange', x, min, max)), min, max);
}

/** Broadcasting binary op with its backward; numbers on either side become uniforms, not tensors. */
function binaryOp(
  name: BinaryOp,
  a: TensorLike,
  b: TensorLike,
  scalarB: ((x: Tensor, s: number) => Tensor) | null,
  scalarA: ((s: number, x: Tensor) => Tensor) | null,
  backward: (g: Tensor, a: Tensor, b: Tensor, out: Tensor) => [Tensor | null, Tensor | null],
): Tensor {
  if (typeof b === 'number' && a instanceof Tensor && scalarB) return scalarB(a, b);
  if (typeof a === 'number' && b instanceof Tensor && scalarA) return scalarA(a, b);
  if (typeof a === 'number' && typeof b === 'number') return full([], BINARY_REF(name, a, b));
  const ta = asTensor(a), tb = asTensor(b);
  checkInputs(name, ta, tb);
  const out = binary(name, ta, tb);
  record(name, out, [ta, tb], (g) => backward(g, ta, tb, out));
  if (ta !== a) ta.dispose();
  if (tb !== b) tb.dispose();
  return out;
}
const BINARY_REF = (name: BinaryOp, a: number, b: number): number =>
  ({ add: a + b, sub: a - b, mul: a * b, div: a / b, pow: a ** b, maximum: Math.max(a, b), minimum: Math.min(a, b) })[name as 'add'] ?? NaN;

const scalarOp = (name: UnaryOp, x: Tensor, p0: number, backward: (g: Tensor) => Tensor) => unaryOp(name, x, backward, p0);

export const add = (a: TensorLike, b: TensorLike): Tensor =>
  binaryOp('add', a, b, (x, s) => scalarOp('addScalar', x, s, (g) => g), (s, x) => add(x, s), (g) => [g, g]);
export const sub = (a: TensorLike, b: TensorLike): Tensor =>
  binaryOp('sub', a, b, (x, s) => scalarOp('addScalar', x, -s, (g) => g), (s, x) => scalarOp('rsubScalar', x, s, (g) => neg(g)), (g) => [g, neg(g)]);
export const mul = (a: TensorLike, b: TensorLike): Tensor =>
  binaryOp('mul', a, b, (x, s) => scalarOp('mulScalar', x, s, (g) => mul(g, s)), (s, x) => mul(x, s), (g, x, y) => [mul(g, y), mul(g, x)]);
export const div = (a: TensorLike, b: TensorLike): Tensor =>
  binaryOp(
    'div', a, b,
    (x, s) => scalarOp('divScalar', x, s, (g) => div(g, s)),
    (s, x) => scalarOp('rdivScalar', x, s, (g) => neg(div(mul(g, s), square(x)))),
    (g, x, y, out) => [div(g, y), neg(div(mul(g, out), y))],
  );
export const pow = (a: TensorLike, b: TensorLike): Tensor =>
  binaryOp(
    'pow', a, b,
    (x, p) => scalarOp('powScalar', x, p, (g) => (p === 0 ? mul(g, 0) : mul(g, mul(unary('powScalar', x, p - 1), p)))),
    (s, x) => scalarOp('rpowScalar', x, s, (g) => mul(mul(g, unary('rpowScalar', x, s)), Math.log(s))),
    (g, x, y, out) => [mul(g, binary('powGradBase', x, y)), mul(g, mul(out, log(x)))],
  );
/** Elementwise max with NaN propagation; ties send the gradient to both halves. */
export const maximum = (a: TensorLike, b: TensorLike): Tensor =>
  binaryOp('maximum', a, b, (x, s) => scalarOp('maxScalar', x, s, (g) => minMaxGrad(g, x, filled([], s), 'gt')[0]), (s, x) => maximum(x, s),
    (g, x, y) => minMaxGrad(g, x, y, 'gt'));
export const minimum = (a: TensorLike, b: TensorLike): Tensor =>
  binaryOp('minimum', a, b, (x, s) => scalarOp('minScalar', x, s, (g) => minMaxGrad(g, x, filled([], s), 'lt')[0]), (s, x) => minimum(x, s),
    (g, x, y) => minMaxGrad(g, x, y, 'lt'));
function minMaxGrad(g: Tensor, x: Tensor, y: Tensor, cmp: 'gt' | 'lt'): [Tensor, Tensor] {
  const wins = binary(cmp, x, y), ties = binary('eq', x, y);
  const wx = add(wins, mul(ties, 0.5));
  return [mul(g, wx), mul(g, sub(1, wx))];
}

// comparisons: no gradient
export const gt = (a: Tensor, b: TensorLike) => compare('gt', a, b);
export const lt = (a: Tensor, b: TensorLike) => compare('lt', a, b);
export const ge = (a: Tensor, b: TensorLike) => compare('ge', a, b);
export const le = (a: Tensor, b: TensorLike) => compare('le', a, b);
export const eq = (a: Tensor, b: TensorLike) => compare('eq', a, b);
function compare(op: BinaryOp, a: Tensor, b: TensorLike): Tensor {
  const tb = asTensor(b);
  checkInputs(op, a, tb);
  const out = binary(op, a, tb);
  if (tb !== b) tb.dispose();
  return out;
}

/** cond ≠ 0 ? a : b, broadcasting all three; gradients flow to a and b only. */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  const ta = asTensor(a), tb = asTensor(b);
  checkInputs('where', cond, ta, tb);
  const out = whereKernel(cond, ta, tb);
  record('where', out, [cond, ta, tb], (g) => [null, whereKernel(cond, g, zeroLikeScalar(g)), whereKernel(cond, zeroLikeScalar(g), g)]);
  if (ta !== a) ta.dispose();
  if (tb !== b) tb.dispose();
  return out;
}
const zeroLikeScalar = (_g: Tensor) => filled([], 0);

// ---- reductions -------------------------------------------------------------------------------------------------

export type Axes = number | readonly number[];

function axesFor(op: string, x: Tensor, axes: Axes | undefined): number[] {
  const list = normAxes(x.ndim, axes);
  for (const a of list) {
    if (!Number.isInteger(a) || a < 0 || a >= Math.max(1, x.ndim)) {
      throw new ValueError(`${op}: axis ${typeof axes === 'number' ? axes : JSON.stringify(axes)} is out of range for shape ${fmtShape(x.shape)} (valid: ${-x.ndim}..${x.ndim - 1})`);
    }
  }
  return x.ndim === 0 ? [] : list;
}

/** Shape of a reduction's output with keepdim, for broadcasting gradients back. */
const keptShape = (shape: readonly number[], axes: number[]) => shape.map((n, d) => (axes.includes(d) ? 1 : n));

/** Sum over axes (all by default). */
export function sum(x: Tensor, axes?: Axes, keepdim = false): Tensor {
  checkInputs('sum', x);
  const ax = axesFor('sum', x, axes);
  const out = reduce('sum', x, ax, keepdim);
  record('sum', out, [x], (g) => [expandTo(g.viewAs(keptShape(x.shape, ax)), x.shape)]);
  return out;
}

export function mean(x: Tensor, axes?: Axes, keepdim = false): Tensor {
  checkInputs('mean', x);
  const ax = axesFor('mean', x, axes);
  const n = ax.reduce((p, d) => p * x.shape[d], 1);
  if (n === 0) throw new ValueError(`mean: reducing ${fmtShape(x.shape)} over axes [${ax}] averages 0 elements`);
  const out = reduce('sum', x, ax, keepdim, 1 / n);
  record('mean', out, [x], (g) => [expandTo(unary('mulScalar', g, 1 / n).viewAs(keptShape(x.shape, ax)), x.shape)]);
  return out;
}

function extremum(op: 'max' | 'min', x: Tensor, axes?: Axes, keepdim = false): Tensor {
  checkInputs(op, x);
  const ax = axesFor(op, x, axes);
  if (x.size === 0) throw new ValueError(`${op}: tensor ${fmtShape(x.shape)} is empty; ${op} of no elements is undefined`);
  const out = reduce(op as ReduceOp, x, ax, keepdim);
  record(op, out, [x], (g) => {
    // ties share the gradient equally (torch.amax semantics)
    const ks = keptShape(x.shape, ax);
    const mask = binary('eq', x, out.viewAs(ks));
    const count = reduce('sum', mask, ax, true);
    return [mul(mask, div(g.viewAs(ks), count))];
  });
  return out;
}
export const max = (x: Tensor, axes?: Axes, keepdim = false) => extremum('max', x, axes, keepdim);
export const min = (x: Tensor, axes?: Axes, keepdim = false) => extremum('min', x, axes, keepdim);

/** Variance with Bessel's correction by default (torch.var: correction = 1). */
export function variance(x: Tensor, axes?: Axes, keepdim = false, correction = 1): Tensor {
  return tidy(() => {
    const ax = axesFor('var', x, axes);
    const n = ax.reduce((p, d) => p * x.shape[d], 1);
    const centered = sub(x, mean(x, ax, true));
    return div(sum(square(centered), ax, keepdim), Math.max(0, n - correction));
  });
}

export function softmax(x: Tensor, axis = -1): Tensor {
  checkInputs('softmax', x);
  const a = axisFor('softmax', x, axis);
  const out = softmaxAlong('softmax', x, a);
  record('softmax', out, [x], (g) => [softmaxAlong('softmaxGrad', out, a, g)]);
  return out;
}

export function logSoftmax(x: Tensor, axis = -1): Tensor {
  checkInputs('logSoftmax', x);
  const a = axisFor('logSoftmax', x, axis);
  const out = softmaxAlong('logSoftmax', x, a);
  record('logSoftmax', out, [x], (g) => [softmaxAlong('logSoftmaxGrad', out, a, g)]);
  return out;
}

function axisFor(op: string, x: Tensor, axis: number): number {
  const a = axis < 0 ? axis + x.ndim : axis;
  if (!Number.isInteger(a) || a < 0 || a >= x.ndim) throw new ValueError(`${op}: axis ${axis} is out of range for shape ${fmtShape(x.shape)}`);
  return a;
}

/** Sums g down to `shape` (the inverse of broadcasting). */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  checkInputs('sumTo', g);
  if (sameShape(g.shape, shape)) return reshape(g, shape);
  const lead = g.ndim - shape.length;
  if (lead < 0) throw new ShapeError(`sumTo: cannot sum ${fmtShape(g.shape)} to the larger ${fmtShape(shape)}`);
  const axes: number[] = [];
  g.shape.forEach((n, d) => {
    if (d < lead || (shape[d - lead] === 1 && n !== 1)) axes.push(d);
  });
  const s = reduce('sum', g, axes, true);
  const out = s.viewAs(shape);
  s.dispose();
  record('sumTo', out, [g], (gg) => [expandTo(gg, g.shape)]);
  return out;
}

// ---- shape ------------------------------------------------------------------------------------------------------

function resolveShape(op: string, x: Tensor, shape: readonly number[]): number[] {
  const s = [...shape];
  const inferred = s.indexOf(-1);
  if (s.filter((d) => d === -1).length > 1) throw new ShapeError(`${op}: at most one -1 in ${fmtShape(shape)}`);
  if (inferred >= 0) {
    const known = s.reduce((p, d) => (d === -1 ? p : p * d), 1);
    if (known === 0 || x.size % known !== 0) throw new ShapeError(`${op}: cannot infer -1 in ${fmtShape(shape)} for ${x.size} elements ${fmtShape(x.shape)}`);
    s[inferred] = x.size / known;
  }
  checkShape(op, s);
  if (shapeSize(s) !== x.size) throw new ShapeError(`${op}: cannot view ${fmtShape(x.shape)} (${x.size} elements) as ${fmtShape(shape)} (${shapeSize(s)} elements)`);
  return s;
}

/** Same values, new shape (shares the buffer; -1 infers one dim). */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  checkInputs('reshape', x);
  const s = resolveShape('reshape', x, shape);
  const out = x.viewAs(s);
  record('reshape', out, [x], (g) => [g.viewAs(x.shape)]);
  return out;
}
export const view = reshape;
export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  if (x.ndim === 0) return reshape(x, [1]);
  const s = axisFor('flatten', x, startDim), e = axisFor('flatten', x, endDim);
  if (s > e) throw new ValueError(`flatten: startDim ${startDim} comes after endDim ${endDim} for shape ${fmtShape(x.shape)}`);
  return reshape(x, [...x.shape.slice(0, s), shapeSize(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)]);
}
export function unsqueeze(x: Tensor, dim: number): Tensor {
  const d = dim < 0 ? dim + x.ndim + 1 : dim;
  if (!Number.isInteger(d) || d < 0 || d > x.ndim) throw new ValueError(`unsqueeze: dim ${dim} is out of range for shape ${fmtShape(x.shape)} (valid: ${-x.ndim - 1}..${x.ndim})`);
  return reshape(x, [...x.shape.slice(0, d), 1, ...x.shape.slice(d)]);
}
export function squeeze(x: Tensor, dim?: number): Tensor {
  if (dim === undefined) return reshape(x, x.shape.filter((n) => n !== 1));
  const d = axisFor('squeeze', x, dim);
  return x.shape[d] === 1 ? reshape(x, [...x.shape.slice(0, d), ...x.shape.slice(d + 1)]) : reshape(x, x.shape);
}

/** Reorders dims (a copy: tensors are always contiguous here). */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  checkInputs('permute', x);
  const nd = dims.map((d) => (d < 0 ? d + x.ndim : d));
  if (nd.length !== x.ndim || new Set(nd).size !== x.ndim || nd.some((d) => !Number.isInteger(d) || d < 0 || d >= x.ndim)) {
    throw new ShapeError(`permute: dims ${JSON.stringify(dims)} are not a permutation of 0..${x.ndim - 1} for shape ${fmtShape(x.shape)}`);
  }
  const s = stridesOf(x.shape);
  const out = gather(x, nd.map((d) => x.shape[d]), nd.map((d) => s[d]));
  const inverse = nd.map((_, i) => nd.indexOf(i));
  record('permute', out, [x], (g) => [permute(g, inverse)]);
  return out;
}
export function transpose(x: Tensor, d0 = -2, d1 = -1): Tensor {
  const dims = x.shape.map((_, i) => i);
  const a = axisFor('transpose', x, d0), b = axisFor('transpose', x, d1);
  [dims[a], dims[b]] = [dims[b], dims[a]];
  return permute(x, dims);
}

/** Materialised broadcast (torch.expand semantics for sizes; -1 keeps a dim). */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  checkInputs('expand', x);
  const target = shape.map((n, i) => (n === -1 ? x.shape[i - (shape.length - x.ndim)] : n));
  const bs = broadcastShapes('expand', x.shape, target);
  if (!sameShape(bs, target)) throw new ShapeError(`expand: ${fmtShape(x.shape)} cannot expand to ${fmtShape(shape)}`);
  return expandTo(x, target);
}
function expandTo(x: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(x.shape, shape)) return reshape(x, shape);
  const s = stridesOf(x.shape);
  const off = shape.length - x.ndim;
  const strides = shape.map((_, d) => (d < off || x.shape[d - off] === 1 ? 0 : s[d - off]));
  const out = gather(x, shape, strides);
  record('expand', out, [x], (g) => [sumTo(g, x.shape)]);
  return out;
}

/** x[starts[d] : ends[d] : steps[d]] per dim (missing dims: whole). Negative indices count from the end. */
export function slice(x: Tensor, starts: readonly number[], ends?: readonly number[], steps?: readonly number[]): Tensor {
  checkInputs('slice', x);
  const st = x.shape.map((n, d) => clampIndex(starts[d] ?? 0, n));
  const en = x.shape.map((n, d) => clampIndex(ends?.[d] ?? n, n));
  const sp = x.shape.map((_, d) => steps?.[d] ?? 1);
  if (sp.some((v) => !Number.isInteger(v) || v < 1)) throw new ValueError(`slice: steps ${JSON.stringify(steps)} must be positive integers`);
  const shape = x.shape.map((_, d) => Math.max(0, Math.ceil((en[d] - st[d]) / sp[d])));
  const s = stridesOf(x.shape);
  const offset = st.reduce((p, v, d) => p + v * s[d], 0);
  const strides = s.map((v, d) => v * sp[d]);
  const out = gather(x, shape, strides, offset);
  record('slice', out, [x], (g) => [embed(g, x.shape, st, sp, 0)]);
  return out;
}
const clampIndex = (i: number, n: number) => Math.min(n, Math.max(0, i < 0 ? i + n : i));

/** Joins tensors along an existing dim. */
export function cat(xs: readonly Tensor[], dim = 0): Tensor {
  if (xs.length === 0) throw new ValueError('cat: needs at least one tensor');
  checkInputs('cat', ...xs);
  const d = axisFor('cat', xs[0], dim);
  for (const t of xs) {
    if (t.ndim !== xs[0].ndim || t.shape.some((n, i) => i !== d && n !== xs[0].shape[i])) {
      throw new ShapeError(`cat: shapes ${xs.map((x) => fmtShape(x.shape)).join(', ')} differ outside dim ${d}`);
    }
  }
  const shape = [...xs[0].shape];
  shape[d] = xs.reduce((p, t) => p + t.shape[d], 0);
  const out = Tensor.empty(shape, xs[0].device);
  const os = stridesOf(shape);
  const offsets: number[] = [];
  let at = 0;
  for (const t of xs) {
    offsets.push(at);
    scatterInto(out, t, os, at * os[d]);
    at += t.shape[d];
  }
  record('cat', out, [...xs], (g) =>
    xs.map((t, i) => gather(g, t.shape, os, offsets[i] * os[d])),
  );
  return out;
}

/** Joins tensors along a new dim. */
export function stack(xs: readonly Tensor[], dim = 0): Tensor {
  if (xs.length === 0) throw new ValueError('stack: needs at least one tensor');
  return tidy(() => cat(xs.map((t) => unsqueeze(t, dim < 0 ? dim + t.ndim + 1 : dim)), dim < 0 ? dim + xs[0].ndim + 1 : dim));
}

/** Splits along dim into pieces of `size` (last may be smaller) or of the listed sizes. */
export function split(x: Tensor, sizes: number | readonly number[], dim = 0): Tensor[] {
  const d = axisFor('split', x, dim);
  const n = x.shape[d];
  if (typeof sizes === 'number' ? !Number.isInteger(sizes) || sizes <= 0 : sizes.some((v) => !Number.isInteger(v) || v < 0)) {
    throw new ValueError(`split: sizes ${JSON.stringify(sizes)} must be positive integers (a list may hold zeros)`);
  }
  const list = typeof sizes === 'number' ? Array.from({ length: Math.ceil(n / sizes) }, (_, i) => Math.min(sizes, n - i * sizes)) : [...sizes];
  if (list.reduce((a, b) => a + b, 0) !== n) throw new ShapeError(`split: sizes ${JSON.stringify(sizes)} do not add up to dim ${d} of ${fmtShape(x.shape)} (${n})`);
  let at = 0;
  return list.map((len) => {
    const starts = x.shape.map(() => 0), ends = [...x.shape];
    starts[d] = at;
    ends[d] = at + len;
    at += len;
    return slice(x, starts, ends);
  });
}

/** Constant padding, torch.nn.functional.pad order: [left, right] of the last dim, then the one before, … */
export function pad(x: Tensor, padding: readonly number[], value = 0): Tensor {
  checkInputs('pad', x);
  if (padding.length % 2 !== 0 || padding.length / 2 > x.ndim) throw new ShapeError(`pad: padding ${JSON.stringify(padding)} needs pairs for at most ${x.ndim} dims`);
  const before = x.shape.map(() => 0), after = x.shape.map(() => 0);
  for (let i = 0; i < padding.length / 2; i++) {
    before[x.ndim - 1 - i] = padding[2 * i];
    after[x.ndim - 1 - i] = padding[2 * i + 1];
  }
  if ([...before, ...after].some((p) => !Number.isInteger(p) || p < 0)) throw new ValueError(`pad: padding ${JSON.stringify(padding)} must be non-negative integers (use slice to crop)`);
  const shape = x.shape.map((n, d) => n + before[d] + after[d]);
  const out = embed(x, shape, before, shape.map(() => 1), value);
  const os = stridesOf(shape);
  const offset = before.reduce((p, v, d) => p + v * os[d], 0);
  record('pad', out, [x], (g) => [gather(g, x.shape, os, offset)]);
  return out;
}

// ---- linear algebra ---------------------------------------------------------------------------------------------

export interface MatmulOpts {
  transA?: boolean;
  transB?: boolean;
}

/** torch.matmul: 1-D operands are promoted and the added dim removed; batch dims broadcast. */
export function matmul(a: Tensor, b: Tensor, o: MatmulOpts = {}): Tensor {
  checkInputs('matmul', a, b);
  if (a.ndim === 0 || b.ndim === 0) throw new ShapeError(`matmul: scalars are not matrices (${fmtShape(a.shape)} @ ${fmtShape(b.shape)}); use mul`);
  if (a.ndim === 1 || b.ndim === 1) {
    return tidy(() => {
      const A = a.ndim === 1 ? reshape(a, [1, a.shape[0]]) : a;
      const B = b.ndim === 1 ? reshape(b, [b.shape[0], 1]) : b;
      const out = matmul(A, B, o);
      const s = [...out.shape];
      if (b.ndim === 1) s.splice(s.length - 1, 1);
      if (a.ndim === 1) s.splice(s.length - (b.ndim === 1 ? 1 : 2), 1);
      return reshape(out, s);
    });
  }
  return matmulWithBias(a, b, undefined, o);
}

function matmulWithBias(a: Tensor, b: Tensor, bias: Tensor | undefined, o: MatmulOpts): Tensor {
  const transA = !!o.transA, transB = !!o.transB;
  const out = matmulKernel(a, b, { transA, transB, bias });
  const inputs = bias ? [a, b, bias] : [a, b];
  record('matmul', out, inputs, (g) => {
    // C = op(A)·op(B): dA = g·op(B)ᵀ (or its transpose), dB = op(A)ᵀ·g (or its transpose); no copies
    const ga = transA ? matmulKernel(b, g, { transA: transB, transB: true }) : matmulKernel(g, b, { transB: !transB });
    const gb = transB ? matmulKernel(g, a, { transA: true, transB: transA }) : matmulKernel(a, g, { transA: !transA });
    const gbias = bias ? reduce('sum', g, g.shape.slice(0, -1).map((_, i) => i), false) : null;
    return bias ? [ga, gb, gbias] : [ga, gb];
  });
  return out;
}

/** y = x·wᵀ + b with w [out, in] (torch.nn.functional.linear); wᵀ is read in place, the bias is fused. */
export function linear(x: Tensor, w: Tensor, b?: Tensor): Tensor {
  checkInputs('linear', ...(b ? [x, w, b] : [x, w]));
  if (w.ndim !== 2) throw new ShapeError(`linear: weight must be [out, in], got ${fmtShape(w.shape)}`);
  if (x.shape.at(-1) !== w.shape[1]) throw new ShapeError(`linear: input ${fmtShape(x.shape)} has ${x.shape.at(-1)} features but weight ${fmtShape(w.shape)} expects ${w.shape[1]}`);
  if (b && (b.ndim !== 1 || b.shape[0] !== w.shape[0])) throw new ShapeError(`linear: bias ${fmtShape(b.shape)} must be [${w.shape[0]}] for weight ${fmtShape(w.shape)}`);
  if (b && b.dtype !== 'f32') throw new ValueError(`linear: bias ${fmtShape(b.shape)} is ${b.dtype}; the bias is added in f32, pass b.float() (x and w may be f16)`);
  if (x.ndim === 1) return tidy(() => reshape(linear(reshape(x, [1, x.shape[0]]), w, b), [w.shape[0]]));
  if (x.ndim > 2) {
    // fold batch dims into rows so the weight is shared without broadcasting
    return tidy(() => reshape(linear(reshape(x, [-1, x.shape.at(-1)!]), w, b), [...x.shape.slice(0, -1), w.shape[0]]));
  }
  return matmulWithBias(x, w, b, { transB: true });
}

// ---- losses and composites ----------------------------------------------------------------------------------------

export type Reduction = 'mean' | 'sum' | 'none';

/** mean((a − b)²) (torch.nn.functional.mse_loss). */
export function mseLoss(a: Tensor, b: Tensor, reduction: Reduction = 'mean'): Tensor {
  if (!sameShape(a.shape, b.shape)) throw new ShapeError(`mseLoss: input ${fmtShape(a.shape)} and target ${fmtShape(b.shape)} differ; they must have the same shape`);
  return tidy(() => {
    const se = square(sub(a, b));
    return reduction === 'none' ? se : reduction === 'sum' ? sum(se) : mean(se);
  });
}

/**
 * Cross entropy of logits [N, C] (or [N, C, …]) against class indices (number[] / Int32Array / Tensor of [N, …]) or
 * class probabilities (a Tensor shaped like the logits); torch.nn.functional.cross_entropy semantics.
 */
export function crossEntropy(logits: Tensor, target: Tensor | readonly number[] | Int32Array, reduction: Reduction = 'mean'): Tensor {
  checkInputs('crossEntropy', logits);
  if (logits.ndim < 2) throw new ShapeError(`crossEntropy: logits must be [N, C, …], got ${fmtShape(logits.shape)}`);
  const C = logits.shape[1];
  return tidy(() => {
    let probs: Tensor;
    if (target instanceof Tensor && sameShape(target.shape, logits.shape)) probs = target;
    else {
      const labels = target instanceof Tensor ? null : Array.from(target);
      const want = [logits.shape[0], ...logits.shape.slice(2)];
      if (labels) {
        if (labels.length !== shapeSize(want)) throw new ShapeError(`crossEntropy: ${labels.length} labels for logits ${fmtShape(logits.shape)} (expected ${shapeSize(want)})`);
        const bad = labels.find((l) => !Number.isInteger(l) || l < 0 || l >= C);
        if (bad !== undefined) throw new ValueError(`crossEntropy: label ${bad} is not a class index in 0..${C - 1}`);
      }
      const t = labels ? tensor(Float32Array.from(labels), want) : (target as Tensor);
      if (!sameShape(t.shape, want)) throw new ShapeError(`crossEntropy: target ${fmtShape(t.shape)} does not match logits ${fmtShape(logits.shape)} (want ${fmtShape(want)} of class indices)`);
      probs = oneHot(t, C, 1);
    }
    const nll = neg(sum(mul(logSoftmax(logits, 1), probs), 1));
    return reduction === 'none' ? nll : reduction === 'sum' ? sum(nll) : mean(nll);
  });
}

/** One-hot along `axis` of class indices (floats holding integers). */
export function oneHot(labels: Tensor, numClasses: number, axis = -1): Tensor {
  return tidy(() => {
    const a = axis < 0 ? axis + labels.ndim + 1 : axis;
    const classes = reshape(arange(numClasses), [numClasses, ...new Array(labels.ndim - a).fill(1)]);
    return binary('eq', unsqueeze(labels, a), classes);
  });
}

/** Dropout in training mode: zeroes with probability p, scales the rest by 1/(1−p). */
export function dropout(x: Tensor, p: number, training = true): Tensor {
  if (p < 0 || p >= 1) throw new ValueError(`dropout: p must be in [0, 1), got ${p}`);
  if (!training || p === 0) return x;
  return tidy(() => mul(x, mul(gt(rand(x.shape), p), 1 / (1 - p))));
}

// the tape needs these
autogradOps.sumTo = sumTo;
autogradOps.add = (a, b) => binary('add', a, b);
autogradOps.ones = (shape) => filled(shape, 1);

/** Copies src's values into dst in place (same shape; no autograd): loading weights, EMA copy-back. */
export function assign(dst: Tensor, src: Tensor): Tensor {
  checkInputs('assign', dst, src);
  if (!sameShape(dst.shape, src.shape)) throw new ShapeError(`assign: source ${fmtShape(src.shape)} does not match destination ${fmtShape(dst.shape)}`);
  dst.device.copy(src.buffer, 0, dst.buffer, 0, src.size * 4);
  return dst;
}

/**
 * One kernel for an elementwise WGSL expression over broadcast inputs named a, b, c, d (e.g. `a * inverseSqrt(b * b
 * + 0.25)`), with a backward rule written in ops. For hot composites (EDM preconditioning, residual SiLU) where
 * the dispatch count, not the arithmetic, is the cost.
 */
export function fused(
  label: string,
  expr: string,
  inputs: Tensor[],
  backward?: (g: Tensor, inputs: Tensor[], out: Tensor) => (Tensor | null)[],
): Tensor {
  checkInputs(label, ...inputs);
  const out = fusedElementwise(label, expr, inputs);
  if (backward) record(label, out, inputs, (g) => backward(g, inputs, out));
  else if (isGradEnabled() && inputs.some((t) => t.requiresGrad)) {
    throw new GradError(`${label}: this fused op has no backward rule but an input requires grad; detach the input or give a backward`);
  }
  return out;
}
