// kernels/elementwise/reference.ts: plain-TS float64 references for the elementwise kernels, with NumPy/PyTorch
// broadcasting. The math of each function lives once, in ./ops.ts (UNARY[op].ref, BINARY[op].ref); this file only
// walks shapes. Tests compare the GPU against these (test/kernels/elementwise.test.ts).
import { broadcastShapes, stridesOf } from '../grid';
import { BINARY, UNARY, type BinaryOp, type UnaryOp } from './ops';

/** A host array with a row-major shape: what every reference takes and returns. */
export interface HostTensor {
  data: Float64Array;
  shape: number[];
}

/** A number on either side of a binary op is a 0-d tensor. */
export type HostLike = HostTensor | number;

export const host = (data: ArrayLike<number>, shape: readonly number[]): HostTensor => {
  if (sizeOf(shape) !== data.length) throw new Error(`host: ${data.length} values for shape [${shape}]`);
  return { data: Float64Array.from(data), shape: [...shape] };
};
export const asHost = (x: HostLike): HostTensor => (typeof x === 'number' ? { data: Float64Array.of(x), shape: [] } : x);

export const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** For each flat index of `outShape`, the flat index into `shape` that broadcasting reads. */
export function broadcastIndex(shape: readonly number[], outShape: readonly number[]): Int32Array {
  const n = sizeOf(outShape);
  const idx = new Int32Array(n);
  const s = stridesOf(shape);
  const off = outShape.length - shape.length;
  const bs = outShape.map((_, d) => (d < off || shape[d - off] === 1 ? 0 : s[d - off]));
  for (let i = 0; i < n; i++) {
    let rem = i, o = 0;
    for (let d = outShape.length - 1; d >= 0; d--) {
      const k = rem % outShape[d];
      rem = Math.floor(rem / outShape[d]);
      o += k * bs[d];
    }
    idx[i] = o;
  }
  return idx;
}

/** Materialises x broadcast to `outShape` (torch.expand followed by a copy). */
export function broadcastRef(x: HostLike, outShape: readonly number[]): HostTensor {
  const t = asHost(x);
  const full = broadcastShapes('reference', t.shape, outShape);
  if (full.join(',') !== outShape.join(',')) throw new Error(`broadcastRef: [${t.shape}] cannot broadcast to [${outShape}]`);
  const idx = broadcastIndex(t.shape, outShape);
  return { data: Float64Array.from(idx, (j) => t.data[j]), shape: [...outShape] };
}

/** out[i] = fn(inputs broadcast to one shape at i). */
export function mapRef(fn: (...v: number[]) => number, ...inputs: HostLike[]): HostTensor {
  const ts = inputs.map(asHost);
  const shape = broadcastShapes('reference', ...ts.map((t) => t.shape));
  const n = sizeOf(shape);
  const idx = ts.map((t) => broadcastIndex(t.shape, shape));
  const data = new Float64Array(n);
  const args = new Array<number>(ts.length);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < ts.length; k++) args[k] = ts[k].data[idx[k][i]];
    data[i] = fn(...args);
  }
  return { data, shape };
}

/** UNARY[op] elementwise (same shape out). */
export function unaryRef(op: UnaryOp, x: HostLike, p0 = 0, p1 = 0): HostTensor {
  const t = asHost(x);
  const f = UNARY[op].ref as (x: number, p0: number, p1: number) => number;
  return { data: t.data.map((v) => f(v, p0, p1)), shape: [...t.shape] };
}

/** BINARY[op] with broadcasting; numbers are 0-d operands. */
export function binaryRef(op: BinaryOp, a: HostLike, b: HostLike): HostTensor {
  return mapRef(BINARY[op].ref as (a: number, b: number) => number, a, b);
}

/** cond ≠ 0 ? a : b, broadcasting all three. */
export function whereRef(cond: HostLike, a: HostLike, b: HostLike): HostTensor {
  return mapRef((c, x, y) => (c !== 0 ? x : y), cond, a, b);
}

/** clamp(x, min, max) with torch semantics (NaN stays NaN). */
export const clampRef = (x: HostLike, min = -Infinity, max = Infinity): HostTensor => unaryRef('clamp', x, min, max);
