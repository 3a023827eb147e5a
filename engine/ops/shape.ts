// engine/ops/shape.ts: shape ops. reshape is a view (same buffer); permute, expand and slice gather into a new
// contiguous tensor; pad (and slice's backward) embed a tensor in a constant one; cat scatters its inputs into one.
import { broadcastShapes, broadcastStrides } from '../../kernels/elementwise/dispatch';
import { stridesOf } from '../../kernels/grid';
import { embed, gather, scatterInto } from '../../kernels/layout/dispatch';
import { DeviceArray, checkShape, shapeSize } from '../../runtime';
import { ShapeError, ValueError, fmtShape } from '../../runtime/errors';
import { Tensor, tidy } from '../tensor';
import { apply, type OpDef } from './op';
import { sumTo } from './reduce';
import { axisFor, checkInputs, sameShape } from './validate';

/** A strided window of x: out[i…] = x[offset + Σ i_d·strides_d] (slice: starts, ends, steps per dim). */
export interface SliceAttrs {
  starts: number[];
  steps: number[];
  shape: number[];
}
/** x placed at starts (with steps) inside a tensor of `shape` filled with `value` (pad; slice's backward). */
export interface EmbedAttrs {
  shape: number[];
  starts: number[];
  steps: number[];
  value: number;
}

/** The windows of x that permute, expand and slice copy out: out[c] = x[offset + Σ c_d·strides_d]. */
export interface Window {
  strides: number[];
  offset: number;
}
function permuteView(x: readonly number[], a: { dims: number[] }): Window {
  const s = stridesOf(x);
  return { strides: a.dims.map((d) => s[d]), offset: 0 };
}
function expandView(x: readonly number[], a: { shape: number[] }): Window {
  return { strides: broadcastStrides(x, a.shape), offset: 0 };
}
function sliceView(x: readonly number[], a: SliceAttrs): Window {
  const s = stridesOf(x);
  return { strides: s.map((v, d) => v * a.steps[d]), offset: a.starts.reduce((p, v, d) => p + v * s[d], 0) };
}

export const SHAPE_OPS = {
  // same values, new shape: a view of the same buffer
  reshape: {
    inputs: ['x'], family: 'view', shape: (_, a) => a.shape, dtype: ([d]) => d,
    forward: ([x], a) => x.viewAs(a.shape),
    backward: (g, { inputs: [x] }) => [reshape(g, x.shape)],
  } satisfies OpDef<{ shape: number[] }>,
  // out dim i = x dim dims[i] (a copy: tensors are always contiguous)
  permute: {
    inputs: ['x'], family: 'layout', shape: ([x], a) => a.dims.map((d) => x[d]),
    forward: ([x], a) => {
      const v = permuteView(x.shape, a);
      return gather(x, a.dims.map((d) => x.shape[d]), v.strides, v.offset);
    },
    view: (x, a) => permuteView(x, a),
    backward: (g, { attrs }) => [permute(g, attrs.dims.map((_, i) => attrs.dims.indexOf(i)))],
  } satisfies OpDef<{ dims: number[] }>,
  // materialised broadcast to `shape`
  expand: {
    inputs: ['x'], family: 'layout', shape: (_, a) => a.shape,
    forward: ([x], a) => {
      const v = expandView(x.shape, a);
      return gather(x, a.shape, v.strides, v.offset);
    },
    view: (x, a) => expandView(x, a),
    backward: (g, { inputs: [x] }) => [sumTo(g, x.shape)],
  } satisfies OpDef<{ shape: number[] }>,
  slice: {
    inputs: ['x'], family: 'layout', shape: (_, a) => a.shape,
    forward: ([x], a) => {
      const v = sliceView(x.shape, a);
      return gather(x, a.shape, v.strides, v.offset);
    },
    view: (x, a) => sliceView(x, a),
    backward: (g, { inputs: [x], attrs }) => [embedOf(g, { shape: [...x.shape], starts: attrs.starts, steps: attrs.steps, value: 0 })],
    gradWindow: (a) => (a.steps.every((s) => s === 1) ? a.starts : null),
  } satisfies OpDef<SliceAttrs>,
  embed: {
    inputs: ['x'], family: 'layout', shape: (_, a) => a.shape,
    forward: ([x], a) => embed(x, a.shape, a.starts, a.steps, a.value),
    backward: (g, { inputs: [x], attrs }) => [sliceOf(g, { starts: attrs.starts, steps: attrs.steps, shape: [...x.shape] })],
  } satisfies OpDef<EmbedAttrs>,
  // inputs joined along `dim`
  cat: {
    inputs: ['xs...'], family: 'layout',
    shape: (xs, a) => xs[0].map((n, d) => (d === a.dim ? xs.reduce((p, s) => p + s[d], 0) : n)),
    forward: (xs, a) => {
      const shape = [...xs[0].shape];
      shape[a.dim] = xs.reduce((p, t) => p + t.shape[a.dim], 0);
      const out = DeviceArray.alloc(shape, xs[0].device);
      const os = stridesOf(shape);
      let at = 0;
      for (const t of xs) {
        scatterInto(out, t, os, at * os[a.dim]);
        at += t.shape[a.dim];
      }
      return out;
    },
    backward: (g, { inputs, attrs, need }) => {
      let at = 0;
      return inputs.map((t, i) => {
        const starts = g.shape.map((_, d) => (d === attrs.dim ? at : 0));
        at += t.shape[attrs.dim];
        return need[i] ? sliceOf(g, { starts, steps: g.shape.map(() => 1), shape: [...t.shape] }) : null;
      });
    },
  } satisfies OpDef<{ dim: number }>,
};

function embedOf(x: Tensor, a: EmbedAttrs): Tensor {
  return apply('embed', SHAPE_OPS.embed, [x], a);
}
function sliceOf(x: Tensor, a: SliceAttrs): Tensor {
  return apply('slice', SHAPE_OPS.slice, [x], a);
}

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
  return apply('reshape', SHAPE_OPS.reshape, [x], { shape: resolveShape('reshape', x, shape) });
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
  return apply('permute', SHAPE_OPS.permute, [x], { dims: nd });
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
/** x broadcast to `shape` (a view when nothing grows). */
export function expandTo(x: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(x.shape, shape)) return reshape(x, shape);
  return apply('expand', SHAPE_OPS.expand, [x], { shape: [...shape] });
}

/** x[starts[d] : ends[d] : steps[d]] per dim (missing dims: whole). Negative indices count from the end. */
export function slice(x: Tensor, starts: readonly number[], ends?: readonly number[], steps?: readonly number[]): Tensor {
  checkInputs('slice', x);
  const st = x.shape.map((n, d) => clampIndex(starts[d] ?? 0, n));
  const en = x.shape.map((n, d) => clampIndex(ends?.[d] ?? n, n));
  const sp = x.shape.map((_, d) => steps?.[d] ?? 1);
  if (sp.some((v) => !Number.isInteger(v) || v < 1)) throw new ValueError(`slice: steps ${JSON.stringify(steps)} must be positive integers`);
  const shape = x.shape.map((_, d) => Math.max(0, Math.ceil((en[d] - st[d]) / sp[d])));
  return sliceOf(x, { starts: st, steps: sp, shape });
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
  return apply('cat', SHAPE_OPS.cat, [...xs], { dim: d });
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
  return embedOf(x, { shape: x.shape.map((n, d) => n + before[d] + after[d]), starts: before, steps: x.shape.map(() => 1), value });
}
