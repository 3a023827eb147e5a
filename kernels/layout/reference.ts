// kernels/layout/reference.ts: plain-TS references for the ops that move values without arithmetic (torch semantics):
// strided gather, permute/transpose, expand, slice with steps, cat/stack/split, constant pad, reshape-family shapes.
import { asHost, broadcastRef, sizeOf, type HostLike, type HostTensor } from '../elementwise/reference';
import { stridesOf } from '../grid';

/** out[i…] = x[offset + Σ i_d·strides_d]: the reference of kernels/layout/dispatch.ts `gather`. */
export function gatherRef(x: Float64Array, outShape: readonly number[], strides: readonly number[], offset = 0): HostTensor {
  const n = sizeOf(outShape);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let rem = i, o = offset;
    for (let d = outShape.length - 1; d >= 0; d--) {
      o += (rem % outShape[d]) * strides[d];
      rem = Math.floor(rem / outShape[d]);
    }
    data[i] = x[o];
  }
  return { data, shape: [...outShape] };
}

/** dst[offset + Σ i_d·strides_d] = src[i…], in place: the reference of `scatterInto`. */
export function scatterRef(dst: Float64Array, src: HostTensor, strides: readonly number[], offset = 0): void {
  const shape = src.shape;
  for (let i = 0; i < src.data.length; i++) {
    let rem = i, o = offset;
    for (let d = shape.length - 1; d >= 0; d--) {
      o += (rem % shape[d]) * strides[d];
      rem = Math.floor(rem / shape[d]);
    }
    dst[o] = src.data[i];
  }
}

/** A tensor of `shape` holding v, except src at coordinates start_d + i_d·step_d: the reference of `embed`. */
export function embedRef(src: HostTensor, shape: readonly number[], start: readonly number[], step: readonly number[], v: number): HostTensor {
  const data = new Float64Array(sizeOf(shape)).fill(v);
  const strides = stridesOf(shape);
  scatterRef(data, src, strides.map((s, d) => s * step[d]), start.reduce((o, s, d) => o + s * strides[d], 0));
  return { data, shape: [...shape] };
}

const normDim = (d: number, ndim: number) => (d < 0 ? d + ndim : d);

/** torch.Tensor.reshape (one -1 is inferred). */
export function reshapeRef(x: HostLike, shape: readonly number[]): HostTensor {
  const t = asHost(x);
  const s = [...shape];
  const i = s.indexOf(-1);
  if (i >= 0) s[i] = t.data.length / sizeOf(s.filter((d) => d !== -1));
  if (sizeOf(s) !== t.data.length) throw new Error(`reshapeRef: [${t.shape}] cannot become [${shape}]`);
  return { data: t.data.slice(), shape: s };
}
export function flattenRef(x: HostLike, start = 0, end = -1): HostTensor {
  const t = asHost(x);
  if (t.shape.length === 0) return reshapeRef(t, [1]);
  const s = normDim(start, t.shape.length), e = normDim(end, t.shape.length);
  return reshapeRef(t, [...t.shape.slice(0, s), sizeOf(t.shape.slice(s, e + 1)), ...t.shape.slice(e + 1)]);
}
export function unsqueezeRef(x: HostLike, dim: number): HostTensor {
  const t = asHost(x);
  const d = dim < 0 ? dim + t.shape.length + 1 : dim;
  return reshapeRef(t, [...t.shape.slice(0, d), 1, ...t.shape.slice(d)]);
}
export function squeezeRef(x: HostLike, dim?: number): HostTensor {
  const t = asHost(x);
  if (dim === undefined) return reshapeRef(t, t.shape.filter((n) => n !== 1));
  const d = normDim(dim, t.shape.length);
  return reshapeRef(t, t.shape[d] === 1 ? t.shape.filter((_, i) => i !== d) : t.shape);
}

/** torch.permute (materialised). */
export function permuteRef(x: HostLike, dims: readonly number[]): HostTensor {
  const t = asHost(x);
  const nd = dims.map((d) => normDim(d, t.shape.length));
  const s = stridesOf(t.shape);
  return gatherRef(t.data, nd.map((d) => t.shape[d]), nd.map((d) => s[d]));
}
export function transposeRef(x: HostLike, d0 = -2, d1 = -1): HostTensor {
  const t = asHost(x);
  const dims = t.shape.map((_, i) => i);
  const a = normDim(d0, t.shape.length), b = normDim(d1, t.shape.length);
  [dims[a], dims[b]] = [dims[b], dims[a]];
  return permuteRef(t, dims);
}

/** torch.expand (materialised; -1 keeps a dim). */
export function expandRef(x: HostLike, shape: readonly number[]): HostTensor {
  const t = asHost(x);
  const off = shape.length - t.shape.length;
  return broadcastRef(t, shape.map((n, i) => (n === -1 ? t.shape[i - off] : n)));
}

/** x[starts[d] : ends[d] : steps[d]] per dim, Python slice semantics for positive steps (clamped, negatives from the end). */
export function sliceRef(x: HostLike, starts: readonly number[], ends?: readonly number[], steps?: readonly number[]): HostTensor {
  const t = asHost(x);
  const clampIdx = (i: number, n: number) => Math.min(n, Math.max(0, i < 0 ? i + n : i));
  const st = t.shape.map((n, d) => clampIdx(starts[d] ?? 0, n));
  const en = t.shape.map((n, d) => clampIdx(ends?.[d] ?? n, n));
  const sp = t.shape.map((_, d) => steps?.[d] ?? 1);
  const shape = t.shape.map((_, d) => Math.max(0, Math.ceil((en[d] - st[d]) / sp[d])));
  const s = stridesOf(t.shape);
  return gatherRef(t.data, shape, s.map((v, d) => v * sp[d]), st.reduce((p, v, d) => p + v * s[d], 0));
}

/** torch.cat along an existing dim. */
export function catRef(xs: readonly HostTensor[], dim = 0): HostTensor {
  const d = normDim(dim, xs[0].shape.length);
  const shape = [...xs[0].shape];
  shape[d] = xs.reduce((p, t) => p + t.shape[d], 0);
  const out = new Float64Array(sizeOf(shape));
  const os = stridesOf(shape);
  let at = 0;
  for (const t of xs) {
    scatterRef(out, t, os, at * os[d]);
    at += t.shape[d];
  }
  return { data: out, shape };
}

/** torch.stack along a new dim. */
export function stackRef(xs: readonly HostTensor[], dim = 0): HostTensor {
  const nd = xs[0].shape.length + 1;
  const d = dim < 0 ? dim + nd : dim;
  return catRef(xs.map((t) => unsqueezeRef(t, d)), d);
}

/** torch.split into chunks of `sizes` (last may be smaller) or the listed sizes. */
export function splitRef(x: HostLike, sizes: number | readonly number[], dim = 0): HostTensor[] {
  const t = asHost(x);
  const d = normDim(dim, t.shape.length);
  const n = t.shape[d];
  const list = typeof sizes === 'number' ? Array.from({ length: Math.ceil(n / sizes) }, (_, i) => Math.min(sizes, n - i * sizes)) : [...sizes];
  let at = 0;
  return list.map((len) => {
    const starts = t.shape.map(() => 0), ends = [...t.shape];
    starts[d] = at;
    ends[d] = at + len;
    at += len;
    return sliceRef(t, starts, ends);
  });
}

/** torch.nn.functional.pad, mode 'constant': [left, right] of the last dim, then of the one before, … */
export function padRef(x: HostLike, padding: readonly number[], value = 0): HostTensor {
  const t = asHost(x);
  const nd = t.shape.length;
  const before = t.shape.map(() => 0), after = t.shape.map(() => 0);
  for (let i = 0; i < padding.length / 2; i++) {
    before[nd - 1 - i] = padding[2 * i];
    after[nd - 1 - i] = padding[2 * i + 1];
  }
  const shape = t.shape.map((n, d) => n + before[d] + after[d]);
  const out = new Float64Array(sizeOf(shape)).fill(value);
  const os = stridesOf(shape);
  scatterRef(out, t, os, before.reduce((p, v, d) => p + v * os[d], 0));
  return { data: out, shape };
}
