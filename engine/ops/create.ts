// engine/ops/create.ts: tensors from host data, constants, ranges, random draws (a counter-based Philox RNG on the GPU:
// same seed, same numbers, on every adapter) and in-place copies. None of these has a gradient.
import { DTYPES, checkShape, device, shapeSize, type DType } from '../../runtime';
import { GradError, ShapeError, ValueError, fmtShape } from '../../runtime/errors';
import { castTo } from '../../kernels/cast/dispatch';
import { filled } from '../../kernels/layout/dispatch';
import { random, type Distribution } from '../../kernels/random/dispatch';
import { Tensor, tidy } from '../tensor';
import { add, clamp, floor, mul } from './elementwise';
import { dynamic } from '../compile/trace';
import { apply, type OpDef } from './op';
import { checkInputs, sameShape } from './validate';

type Nested = number | Nested[];

export interface CreateOptions {
  requiresGrad?: boolean;
  /** Element type (default f32); f16 tensors cannot require grad. */
  dtype?: DType;
}

export interface RandomAttrs {
  dist: Distribution;
  shape: readonly number[];
  seed: number;
  stream: number;
}

export const CREATE_OPS = {
  // every element = value
  // pointwise: a compiled step computes a constant tensor inside the chain that reads it (a backward pass's seed)
  full: { inputs: [], family: 'layout', shape: (_, a) => a.shape, forward: (_, a) => filled(a.shape, a.value), backward: null, pointwise: (a) => ({ args: [], expr: 'v', consts: { v: a.value } }) } satisfies OpDef<{ shape: readonly number[]; value: number }>,
  // Philox draws of (seed, stream): uniform in [0, 1) or standard normal (Box–Muller)
  random: { inputs: [], family: 'random', shape: (_, a) => a.shape, forward: (_, a) => random(a.dist, a.shape, a.seed, a.stream), backward: null } satisfies OpDef<RandomAttrs>,
};

/** Applies CreateOptions to a freshly made f32 tensor: the cast to f16, or the requiresGrad flag. */
function created(t: Tensor, op: string, opts: CreateOptions): Tensor {
  const dtype = opts.dtype ?? 'f32';
  if (!DTYPES.includes(dtype)) throw new ValueError(`${op}: unknown dtype ${JSON.stringify(dtype)}; use one of ${DTYPES.map((d) => `'${d}'`).join(', ')}`);
  if (dtype === 'f16') {
    if (opts.requiresGrad) {
      t.dispose();
      throw new GradError(`${op}: an f16 tensor cannot require grad (gradients are f32); make an f32 tensor that requires grad and cast it in the forward (w.half())`);
    }
    const h = Tensor.adopt(castTo(t, 'f16'));
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
  device();
  return created(apply('full', CREATE_OPS.full, [], { shape: [...shape], value }), 'full', opts);
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
function draw(dist: Distribution, shape: readonly number[], opts: RandomOptions): Tensor {
  checkShape(dist === 'normal' ? 'randn' : 'rand', shape);
  device();
  // the global stream advances per draw: host state, so a compiled step draws it again at every call (os.dynamic)
  const t =
    opts.seed !== undefined
      ? apply('random', CREATE_OPS.random, [], { dist, shape: [...shape], seed: Math.floor(Math.abs(opts.seed)), stream: 0 })
      : dynamic(() => apply('random', CREATE_OPS.random, [], { dist, shape: [...shape], seed: globalSeed, stream: ++globalStream }));
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}
/** Standard normal draws (Philox + Box–Muller). Same seed, same numbers, on every adapter. */
export const randn = (shape: readonly number[], opts: RandomOptions = {}) => draw('normal', shape, opts);
/** Uniform draws in [0, 1). */
export const rand = (shape: readonly number[], opts: RandomOptions = {}) => draw('uniform', shape, opts);
export const randnLike = (t: Tensor, opts: RandomOptions = {}) => randn(t.shape, opts);
/** Integers in [low, high) as floats: ⌊low + u·(high − low)⌋, clamped so u → 1⁻ never gives `high`. */
export function randint(low: number, high: number, shape: readonly number[], opts: RandomOptions = {}): Tensor {
  return tidy(() => clamp(floor(add(mul(rand(shape, opts), high - low), low)), low, high - 1));
}

/** Copies src's values into dst in place (same shape; no autograd): loading weights, EMA copy-back. assign(t, t) does nothing. */
export function assign(dst: Tensor, src: Tensor): Tensor {
  checkInputs('assign', dst, src);
  if (!sameShape(dst.shape, src.shape)) throw new ShapeError(`assign: source ${fmtShape(src.shape)} does not match destination ${fmtShape(dst.shape)}`);
  if (dst === src) return dst;
  dst.device.copy(src.buffer, 0, dst.buffer, 0, src.size * 4);
  return dst;
}
