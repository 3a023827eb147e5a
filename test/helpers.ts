// test/helpers.ts: shared test utilities: a seeded host RNG, `expectClose` (names the first bad index), and `checkOp`,
// which runs an op on the GPU against a float64 host reference, forward and (optionally) backward. Gradients come from
// the engine's autograd and are compared with central finite differences of the HOST reference in float64, so the
// check is exact to ~1e-9 and free of float32 GPU noise (STYLE §9).
import * as os from '../engine';
import type { HostTensor } from '../kernels/elementwise/reference';
import type { DeviceArray } from '../runtime';

export type { HostTensor } from '../kernels/elementwise/reference';

// ---- seeded RNG ---------------------------------------------------------------------------------------------------

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  uniform(lo: number, hi: number): number;
  /** Standard normal (Box–Muller). */
  normal(): number;
  /** Integer in [lo, hi). */
  int(lo: number, hi: number): number;
  /** n float32-exact values uniform in [lo, hi) (default [-1, 1)). */
  array(n: number, lo?: number, hi?: number): Float64Array;
}

/** mulberry32: small, fast, good enough for test data; same seed, same sequence. */
export function rng(seed: number): Rng {
  let s = seed >>> 0 || 0x9e3779b9;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const r: Rng = {
    next,
    uniform: (lo, hi) => lo + (hi - lo) * next(),
    normal: () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next()),
    int: (lo, hi) => lo + Math.floor((hi - lo) * next()),
    array: (n, lo = -1, hi = 1) => Float64Array.from({ length: n }, () => Math.fround(r.uniform(lo, hi))),
  };
  return r;
}

/** Values rounded to float32, kept as float64 (what the GPU actually sees). */
export const f32 = (xs: ArrayLike<number>): Float64Array => Float64Array.from(xs, (v) => Math.fround(v));

export const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** `i` as a multi-index of `shape`: "[1,0,2]". */
export function multiIndex(i: number, shape?: readonly number[]): string {
  if (!shape || shape.length === 0) return `${i}`;
  const idx: number[] = [];
  let rem = i;
  for (let d = shape.length - 1; d >= 0; d--) {
    idx.unshift(rem % shape[d]);
    rem = Math.floor(rem / shape[d]);
  }
  return `${i} [${idx}]`;
}

// ---- comparisons ---------------------------------------------------------------------------------------------------

export interface CloseOptions {
  atol?: number;
  rtol?: number;
  /** Shape of the arrays, to print multi-indices. */
  shape?: readonly number[];
  /** What is being compared (op, input). */
  label?: string;
}

/**
 * |actual − expected| ≤ atol + rtol·|expected| everywhere; NaN matches NaN and ±Inf matches itself. The failure
 * message names the first bad index, the worst one, and how many differ.
 */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, o: CloseOptions = {}): void {
  const atol = o.atol ?? 1e-5, rtol = o.rtol ?? 1e-5;
  const label = o.label ? `${o.label}: ` : '';
  if (actual.length !== expected.length) throw new Error(`${label}length ${actual.length} but expected ${expected.length}${o.shape ? ` (shape [${o.shape}])` : ''}`);
  let first = -1, worst = -1, worstExcess = 0, bad = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i], e = expected[i];
    if (Number.isNaN(e) || Number.isNaN(a)) {
      if (Number.isNaN(e) && Number.isNaN(a)) continue;
    } else if (!Number.isFinite(e) || !Number.isFinite(a)) {
      if (a === e) continue;
    } else {
      const excess = Math.abs(a - e) - (atol + rtol * Math.abs(e));
      if (excess <= 0) continue;
      if (excess > worstExcess) [worst, worstExcess] = [i, excess];
    }
    if (first < 0) first = i;
    if (worst < 0) worst = i;
    bad++;
  }
  if (bad === 0) return;
  const show = (i: number) => `element ${multiIndex(i, o.shape)}: got ${actual[i]}, expected ${expected[i]} (|diff| ${Math.abs(actual[i] - expected[i]).toExponential(3)})`;
  throw new Error(
    `${label}${bad} of ${actual.length} elements differ beyond atol ${atol} + rtol ${rtol}·|expected|; first bad ${show(first)}` +
      (worst !== first ? `; worst ${show(worst)}` : ''),
  );
}

export const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

export function expectShape(actual: readonly number[], expected: readonly number[], label = ''): void {
  if (!sameShape(actual, expected)) throw new Error(`${label ? `${label}: ` : ''}shape [${actual}] but expected [${expected}]`);
}

/** The tensor's values as float64. */
export async function toHost(t: DeviceArray): Promise<Float64Array> {
  return Float64Array.from(await t.data());
}

/** A GPU tensor from host values (float32). */
export const fromHost = (x: HostTensor, requiresGrad = false): os.Tensor => os.tensor(Float32Array.from(x.data), x.shape, { requiresGrad });

/** Compares a GPU tensor with a host reference: shape and values. */
export async function expectTensor(t: DeviceArray, ref: HostTensor, o: CloseOptions = {}): Promise<void> {
  expectShape(t.shape, ref.shape, o.label);
  expectClose(await toHost(t), ref.data, { ...o, shape: ref.shape });
}

// ---- checkOp / gradcheck --------------------------------------------------------------------------------------------

/** How to fill one input: a range [lo, hi) or a per-element generator. */
export type InitSpec = readonly [number, number] | ((r: Rng, i: number) => number);

export interface CheckOpOptions {
  /** Forward tolerance (default 1e-5 / 1e-5). */
  atol?: number;
  rtol?: number;
  /** Check gradients against finite differences: all inputs, or those flagged. Default: forward only. */
  grads?: boolean | 'finite-differences' | readonly boolean[];
  /** Gradient tolerance (default 1e-3 / 1e-3). */
  gradAtol?: number;
  gradRtol?: number;
  /** Central-difference step, in float64 on the host (default 1e-6). */
  eps?: number;
  /** Input data: one spec for all inputs or one per input (default [-2, 2)). */
  init?: InitSpec | readonly (InitSpec | undefined)[];
  /** Explicit values for some inputs (rounded to float32). */
  values?: readonly (ArrayLike<number> | undefined)[];
  seed?: number;
}

/** What the function under test returns: engine tensors, or arrays straight from a kernel. */
type Outs = DeviceArray | DeviceArray[];
type RefOuts = HostTensor | HostTensor[];
export type GpuFn = (...xs: os.Tensor[]) => Outs;
export type RefFn = (...xs: HostTensor[]) => RefOuts;

const isSpec = (x: unknown): x is InitSpec => typeof x === 'function' || (Array.isArray(x) && x.length === 2 && typeof x[0] === 'number');

/** Builds float32-exact host inputs for `shapes`. */
export function makeInputs(shapes: readonly (readonly number[])[], o: Pick<CheckOpOptions, 'init' | 'values' | 'seed'> = {}): HostTensor[] {
  const r = rng(o.seed ?? 1234);
  return shapes.map((shape, k) => {
    const n = sizeOf(shape);
    const given = o.values?.[k];
    if (given) {
      if (given.length !== n) throw new Error(`makeInputs: ${given.length} values for input ${k} of shape [${shape}]`);
      return { data: f32(given), shape: [...shape] };
    }
    const spec: InitSpec = (isSpec(o.init) ? o.init : (o.init as readonly (InitSpec | undefined)[] | undefined)?.[k]) ?? [-2, 2];
    const data = typeof spec === 'function' ? Float64Array.from({ length: n }, (_, i) => Math.fround(spec(r, i))) : r.array(n, spec[0], spec[1]);
    return { data, shape: [...shape] };
  });
}

const asList = <T>(x: T | T[]): T[] => (Array.isArray(x) ? x : [x]);

/**
 * Runs `gpuFn` on GPU leaves built from `shapes` and compares its output(s) with `refFn` on the same (float32-exact)
 * values in float64. With `grads`, reduces the outputs with a fixed random weighting Σ out·w (so every output element
 * matters), backpropagates, and compares each leaf's .grad with central finite differences of the same weighted sum
 * computed through `refFn` on the host.
 */
export async function checkOp(name: string, shapes: readonly (readonly number[])[], gpuFn: GpuFn, refFn: RefFn, o: CheckOpOptions = {}): Promise<void> {
  const inputs = makeInputs(shapes, o);
  const need = o.grads === undefined || o.grads === false ? inputs.map(() => false) : Array.isArray(o.grads) ? inputs.map((_, i) => !!(o.grads as boolean[])[i]) : inputs.map(() => true);
  await runCheck(name, inputs, gpuFn, refFn, need, o);
}

/** gradcheck on given host inputs (all differentiable unless `need` says otherwise); forward is checked too. */
export async function gradcheck(name: string, inputs: HostTensor[], gpuFn: GpuFn, refFn: RefFn, o: CheckOpOptions & { need?: boolean[] } = {}): Promise<void> {
  await runCheck(name, inputs, gpuFn, refFn, o.need ?? inputs.map(() => true), o);
}

async function runCheck(name: string, inputs: HostTensor[], gpuFn: GpuFn, refFn: RefFn, need: boolean[], o: CheckOpOptions): Promise<void> {
  const leaves = inputs.map((x, i) => fromHost(x, need[i]));
  const disposeLater: DeviceArray[] = [...leaves];
  try {
    const outs = asList(os.tidy(() => gpuFn(...leaves)));
    disposeLater.push(...outs);
    const refs = asList(refFn(...inputs.map((x) => ({ data: x.data.slice(), shape: [...x.shape] }))));
    if (outs.length !== refs.length) throw new Error(`${name}: gpu gives ${outs.length} outputs, reference ${refs.length}`);
    for (let k = 0; k < outs.length; k++) {
      await expectTensor(outs[k], refs[k], { atol: o.atol ?? 1e-5, rtol: o.rtol ?? 1e-5, label: `${name} forward${outs.length > 1 ? ` output ${k}` : ''} (inputs ${inputs.map((x) => `[${x.shape}]`).join(', ')})` });
    }
    if (!need.some(Boolean)) return;

    // fixed random weighting of every output element
    const wr = rng((o.seed ?? 1234) + 77);
    const weights = refs.map((r) => wr.array(r.data.length, -1, 1));
    const wT = weights.map((w, k) => os.tensor(Float32Array.from(w), refs[k].shape));
    disposeLater.push(...wT);
    const live = outs.map((t, k) => [t as os.Tensor, k] as const).filter(([t]) => t.size > 0 && t.requiresGrad);
    if (live.length > 0) {
      const loss = os.tidy(() => live.map(([t, k]) => os.sum(os.mul(t, wT[k]))).reduce((a, b) => os.add(a, b)));
      disposeLater.push(loss);
      loss.backward();
    }
    const f = (xs: HostTensor[]): number => {
      const rs = asList(refFn(...xs));
      let s = 0;
      rs.forEach((r, k) => r.data.forEach((v, j) => (s += v * weights[k][j])));
      return s;
    };
    const eps = o.eps ?? 1e-6;
    for (let i = 0; i < inputs.length; i++) {
      if (!need[i]) continue;
      const xs = inputs.map((x) => ({ data: x.data.slice(), shape: [...x.shape] }));
      const fd = new Float64Array(inputs[i].data.length);
      for (let j = 0; j < fd.length; j++) {
        const v = xs[i].data[j];
        xs[i].data[j] = v + eps;
        const fp = f(xs);
        xs[i].data[j] = v - eps;
        const fm = f(xs);
        xs[i].data[j] = v;
        fd[j] = (fp - fm) / (2 * eps);
      }
      const g = leaves[i].grad;
      const label = `${name} grad of input ${i} [${inputs[i].shape}]`;
      if (g) expectShape(g.shape, inputs[i].shape, label);
      const got = g ? await toHost(g) : new Float64Array(fd.length); // no gradient = zero gradient
      expectClose(got, fd, { atol: o.gradAtol ?? 1e-3, rtol: o.gradRtol ?? 1e-3, shape: inputs[i].shape, label });
    }
  } finally {
    for (const t of disposeLater) t.dispose();
  }
}

/** Expects fn to throw an instance of `cls` whose message mentions every string in `mentions`. */
export function expectThrows(fn: () => unknown, cls: new (...args: never[]) => Error, ...mentions: string[]): void {
  let err: unknown = null;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  if (!(err instanceof cls)) throw new Error(`expected ${cls.name}, got ${err === null ? 'no error' : String(err)}`);
  for (const m of mentions) if (!err.message.includes(m)) throw new Error(`${cls.name} message "${err.message}" does not mention "${m}"`);
}
