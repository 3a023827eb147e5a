// kernels/reduce/reference.ts: plain-TS float64 references for reductions over axes (torch.sum/amax/amin/var with
// dim and keepdim), softmax / logSoftmax along one axis, and the composites built from them (layerNorm, mseLoss,
// crossEntropy). Ground truth for test/kernels/reduce.test.ts and test/engine/grad.test.ts.
import { BINARY } from '../elementwise/ops';
import { asHost, mapRef, sizeOf, type HostLike, type HostTensor } from '../elementwise/reference';
import { logSoftmaxRef } from '../softmax/reference';
import { stridesOf } from '../grid';

export type ReduceRefOp = 'sum' | 'mean' | 'max' | 'min' | 'sumSquares';

/** Sorted, deduplicated, non-negative axes; undefined means all. */
export function normAxesRef(ndim: number, axes?: number | readonly number[]): number[] {
  if (axes === undefined) return Array.from({ length: ndim }, (_, i) => i);
  const list = typeof axes === 'number' ? [axes] : [...axes];
  const out = [...new Set(list.map((a) => (a < 0 ? a + ndim : a)))].sort((a, b) => a - b);
  for (const a of out) if (a < 0 || a >= Math.max(1, ndim)) throw new Error(`normAxesRef: axis ${a} out of range for ${ndim} dims`);
  return ndim === 0 ? [] : out;
}

const INIT: Record<ReduceRefOp, number> = { sum: 0, mean: 0, sumSquares: 0, max: -Infinity, min: Infinity };
const COMBINE: Record<ReduceRefOp, (acc: number, v: number) => number> = {
  sum: (a, v) => a + v,
  mean: (a, v) => a + v,
  sumSquares: (a, v) => a + v * v,
  max: BINARY.maximum.ref,
  min: BINARY.minimum.ref,
};

/** For each flat input index, the flat output index of the reduction that absorbs it. */
function outIndex(shape: readonly number[], axes: readonly number[]): { outShapeKept: number[]; idx: Int32Array } {
  const kept = shape.map((n, d) => (axes.includes(d) ? 1 : n));
  const ks = stridesOf(kept);
  const n = sizeOf(shape);
  const idx = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let rem = i, o = 0;
    for (let d = shape.length - 1; d >= 0; d--) {
      const k = rem % shape[d];
      rem = Math.floor(rem / shape[d]);
      if (!axes.includes(d)) o += k * ks[d];
    }
    idx[i] = o;
  }
  return { outShapeKept: kept, idx };
}

/** op over `axes` of x (all by default); keepdim keeps reduced dims as 1; `scale` multiplies the result. */
export function reduceRef(op: ReduceRefOp, x: HostLike, axes?: number | readonly number[], keepdim = false, scale = 1): HostTensor {
  const t = asHost(x);
  const ax = normAxesRef(t.shape.length, axes);
  const { outShapeKept, idx } = outIndex(t.shape, ax);
  const out = new Float64Array(sizeOf(outShapeKept)).fill(INIT[op]);
  const f = COMBINE[op];
  for (let i = 0; i < t.data.length; i++) out[idx[i]] = f(out[idx[i]], t.data[i]);
  const nRed = ax.reduce((p, d) => p * t.shape[d], 1);
  const s = op === 'mean' ? scale / nRed : scale;
  if (s !== 1) for (let i = 0; i < out.length; i++) out[i] *= s;
  return { data: out, shape: keepdim ? outShapeKept : t.shape.filter((_, d) => !ax.includes(d)) };
}

export const sumRef = (x: HostLike, axes?: number | readonly number[], keepdim = false) => reduceRef('sum', x, axes, keepdim);
export const meanRef = (x: HostLike, axes?: number | readonly number[], keepdim = false) => reduceRef('mean', x, axes, keepdim);
export const maxRef = (x: HostLike, axes?: number | readonly number[], keepdim = false) => reduceRef('max', x, axes, keepdim);
export const minRef = (x: HostLike, axes?: number | readonly number[], keepdim = false) => reduceRef('min', x, axes, keepdim);

/** torch.var(x, dim, correction, keepdim): Σ(x − mean)² / (n − correction), two-pass in float64. */
export function varRef(x: HostLike, axes?: number | readonly number[], keepdim = false, correction = 1): HostTensor {
  const t = asHost(x);
  const ax = normAxesRef(t.shape.length, axes);
  const mu = reduceRef('mean', t, ax, true);
  const centered = mapRef((v, m) => v - m, t, mu);
  const n = ax.reduce((p, d) => p * t.shape[d], 1);
  return reduceRef('sumSquares', centered, ax, keepdim, 1 / Math.max(0, n - correction));
}

/** Calls fn(row) on each 1-D line of x along `axis` (a strided view: read with row.get/row.set). */
export function alongAxis(shape: readonly number[], axis: number, fn: (get: (j: number) => number, set: (j: number, v: number) => void) => void, src: Float64Array, dst: Float64Array): void {
  const len = shape[axis];
  const inner = sizeOf(shape.slice(axis + 1));
  const outer = sizeOf(shape.slice(0, axis));
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * len * inner + i;
      fn(
        (j) => src[base + j * inner],
        (j, v) => (dst[base + j * inner] = v),
      );
    }
  }
}

export const normAxis = (ndim: number, axis: number) => {
  const a = axis < 0 ? axis + ndim : axis;
  if (a < 0 || a >= ndim) throw new Error(`axis ${axis} out of range for ${ndim} dims`);
  return a;
};

// ---- composites --------------------------------------------------------------------------------------------------

export type ReductionRef = 'mean' | 'sum' | 'none';
const applyReduction = (x: HostTensor, r: ReductionRef): HostTensor => (r === 'none' ? x : reduceRef(r, x));

/** torch.nn.functional.mse_loss. */
export function mseLossRef(a: HostTensor, b: HostTensor, reduction: ReductionRef = 'mean'): HostTensor {
  return applyReduction(mapRef((x, y) => (x - y) * (x - y), a, b), reduction);
}

/**
 * torch.nn.functional.cross_entropy of logits [N, C, …] against class indices (`target` of shape [N, …], integer
 * values) or class probabilities (`target` shaped like the logits).
 */
export function crossEntropyRef(logits: HostTensor, target: HostTensor, reduction: ReductionRef = 'mean'): HostTensor {
  const [N, C] = logits.shape;
  const rest = logits.shape.slice(2);
  const inner = sizeOf(rest);
  const lsm = logSoftmaxRef(logits, 1);
  const probs = target.shape.length === logits.shape.length;
  const nll = new Float64Array(N * inner);
  for (let n = 0; n < N; n++) {
    for (let i = 0; i < inner; i++) {
      let s = 0;
      for (let c = 0; c < C; c++) {
        const at = (n * C + c) * inner + i;
        const p = probs ? target.data[at] : target.data[n * inner + i] === c ? 1 : 0;
        s += p * lsm.data[at];
      }
      nll[n * inner + i] = -s;
    }
  }
  return applyReduction({ data: nll, shape: [N, ...rest] }, reduction);
}

/** torch.nn.functional.layer_norm over the trailing `normalizedShape` dims (biased variance). */
export function layerNormRef(x: HostTensor, normalizedShape: readonly number[], weight?: HostTensor, bias?: HostTensor, eps = 1e-5): HostTensor {
  const k = normalizedShape.length;
  const axes = normalizedShape.map((_, i) => x.shape.length - k + i);
  const mu = reduceRef('mean', x, axes, true);
  const xc = mapRef((v, m) => v - m, x, mu);
  const v = reduceRef('sumSquares', xc, axes, true, 1 / sizeOf(normalizedShape));
  let y = mapRef((c, s) => c / Math.sqrt(s + eps), xc, v);
  if (weight) y = mapRef((a, w) => a * w, y, weight);
  if (bias) y = mapRef((a, b) => a + b, y, bias);
  return y;
}
