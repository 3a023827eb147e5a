// kernels/softmax/reference.ts: plain-TS float64 softmax and logSoftmax along an axis (stable: max subtracted).
import { asHost, type HostLike, type HostTensor } from '../elementwise/reference';
import { alongAxis, normAxis } from '../reduce/reference';

/** log Σ exp along axis, stable. */
function lseRow(get: (j: number) => number, len: number): number {
  let m = -Infinity;
  for (let j = 0; j < len; j++) m = Math.max(m, get(j));
  if (m === -Infinity) return -Infinity;
  let s = 0;
  for (let j = 0; j < len; j++) s += Math.exp(get(j) - m);
  return m + Math.log(s);
}

/** Each row along `axis` mapped by `f(value, lse)`, lse the row's log Σ exp. */
function perRow(x: HostLike, axis: number, f: (v: number, lse: number) => number): HostTensor {
  const t = asHost(x);
  const a = normAxis(t.shape.length, axis), len = t.shape[a];
  const out = new Float64Array(t.data.length);
  alongAxis(t.shape, a, (get, set) => {
    const lse = lseRow(get, len);
    for (let j = 0; j < len; j++) set(j, f(get(j), lse));
  }, t.data, out);
  return { data: out, shape: [...t.shape] };
}

/** exp(x − lse) along the axis. */
export const softmaxRef = (x: HostLike, axis = -1): HostTensor => perRow(x, axis, (v, lse) => Math.exp(v - lse));
/** x − lse along the axis. */
export const logSoftmaxRef = (x: HostLike, axis = -1): HostTensor => perRow(x, axis, (v, lse) => v - lse);
