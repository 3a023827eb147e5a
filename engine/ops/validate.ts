// engine/ops/validate.ts: the checks every op's public function makes before it applies a table entry: live inputs
// of the right dtype on one device, axes in range. Messages name the op, the shapes and the fix.
import { OnestepError, ShapeError, ValueError, fmtShape } from '../../runtime/errors';
import { Tensor } from '../tensor';

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

export const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/** One axis of x, negative counting from the end. */
export function axisFor(op: string, x: Tensor, axis: number): number {
  const a = axis < 0 ? axis + x.ndim : axis;
  if (!Number.isInteger(a) || a < 0 || a >= x.ndim) throw new ValueError(`${op}: axis ${axis} is out of range for shape ${fmtShape(x.shape)}`);
  return a;
}

export type Axes = number | readonly number[];

/** Sorted, non-negative axes (all when undefined). */
export function normAxes(ndim: number, axes: Axes | undefined): number[] {
  if (axes === undefined) return Array.from({ length: ndim }, (_, i) => i);
  const list = (typeof axes === 'number' ? [axes] : [...axes]).map((a) => (a < 0 ? a + ndim : a));
  return [...new Set(list)].sort((a, b) => a - b);
}

/** The axes of a reduction over x, checked. */
export function axesFor(op: string, x: Tensor, axes: Axes | undefined): number[] {
  const list = normAxes(x.ndim, axes);
  for (const a of list) {
    if (!Number.isInteger(a) || a < 0 || a >= Math.max(1, x.ndim)) {
      throw new ValueError(`${op}: axis ${typeof axes === 'number' ? axes : JSON.stringify(axes)} is out of range for shape ${fmtShape(x.shape)} (valid: ${-x.ndim}..${x.ndim - 1})`);
    }
  }
  return x.ndim === 0 ? [] : list;
}

/** Throws a ShapeError unless a and b have the same shape. */
export function checkSameShape(op: string, what: string, a: readonly number[], b: readonly number[]): void {
  if (!sameShape(a, b)) throw new ShapeError(`${op}: ${what} ${fmtShape(a)} and ${fmtShape(b)} differ; they must have the same shape`);
}
