// engine/ops/reduce.ts: reductions over axes with keepdim (sum, mean, max, min, var), softmax and logSoftmax along an
// axis, and sumTo (the inverse of broadcasting, which the tape uses). torch semantics: var uses Bessel's correction.
import { reduce } from '../../kernels/reduce/dispatch';
import { softmaxAlong } from '../../kernels/softmax/dispatch';
import { ShapeError, ValueError, fmtShape } from '../../runtime/errors';
import { Tensor, tidy } from '../tensor';
import { div, eq, mul, square, sub } from './elementwise';
import { apply, type OpDef } from './op';
import { expandTo, reshape } from './shape';
import { axesFor, axisFor, checkInputs, sameShape, type Axes } from './validate';

export interface ReduceAttrs {
  axes: number[];
  keepdim: boolean;
}

/** The output shape of a reduction; with keepdim the reduced dims stay as 1s. */
const reducedShape = (shape: readonly number[], { axes, keepdim }: ReduceAttrs) =>
  keepdim ? shape.map((n, d) => (axes.includes(d) ? 1 : n)) : shape.filter((_, d) => !axes.includes(d));
/** The reduction's output viewed with keepdim, for broadcasting gradients back. */
const keptShape = (shape: readonly number[], axes: number[]) => shape.map((n, d) => (axes.includes(d) ? 1 : n));
const count = (shape: readonly number[], axes: number[]) => axes.reduce((p, d) => p * shape[d], 1);

/** d max(x): ties share the gradient equally (torch.amax semantics). */
function extremumGrad(g: Tensor, x: Tensor, out: Tensor, axes: number[]): Tensor {
  const ks = keptShape(x.shape, axes);
  const mask = eq(x, reshape(out, ks));
  return mul(mask, div(reshape(g, ks), sum(mask, axes, true)));
}

export const REDUCE_OPS = {
  sum: {
    inputs: ['x'], family: 'reduce', shape: ([x], a) => reducedShape(x, a),
    forward: ([x], a) => reduce('sum', x, a.axes, a.keepdim),
    backward: (g, { inputs: [x], attrs }) => [expandTo(reshape(g, keptShape(x.shape, attrs.axes)), x.shape)],
  } satisfies OpDef<ReduceAttrs>,
  mean: {
    inputs: ['x'], family: 'reduce', shape: ([x], a) => reducedShape(x, a),
    forward: ([x], a) => reduce('sum', x, a.axes, a.keepdim, 1 / count(x.shape, a.axes)),
    backward: (g, { inputs: [x], attrs }) => [expandTo(mul(reshape(g, keptShape(x.shape, attrs.axes)), 1 / count(x.shape, attrs.axes)), x.shape)],
  } satisfies OpDef<ReduceAttrs>,
  max: {
    inputs: ['x'], family: 'reduce', shape: ([x], a) => reducedShape(x, a),
    forward: ([x], a) => reduce('max', x, a.axes, a.keepdim),
    backward: (g, { inputs: [x], out, attrs }) => [extremumGrad(g, x, out, attrs.axes)],
  } satisfies OpDef<ReduceAttrs>,
  min: {
    inputs: ['x'], family: 'reduce', shape: ([x], a) => reducedShape(x, a),
    forward: ([x], a) => reduce('min', x, a.axes, a.keepdim),
    backward: (g, { inputs: [x], out, attrs }) => [extremumGrad(g, x, out, attrs.axes)],
  } satisfies OpDef<ReduceAttrs>,
  // Σ of g down to `shape` (the inverse of broadcasting)
  sumTo: {
    inputs: ['g'], family: 'reduce', shape: (_, a) => a.shape,
    forward: ([g], a) => {
      const s = reduce('sum', g, broadcastAxes(g.shape, a.shape), true);
      const out = s.viewAs(a.shape);
      s.dispose();
      return out;
    },
    backward: (gg, { inputs: [g] }) => [expandTo(gg, g.shape)],
  } satisfies OpDef<{ shape: readonly number[] }>,
  // softmax(x)_i = exp(x_i − max) / Σ exp(x_j − max) along one axis
  softmax: {
    inputs: ['x'], family: 'reduce', shape: ([x]) => x,
    forward: ([x], a) => softmaxAlong('softmax', x, a.axis),
    backward: (g, { out, attrs }) => [apply('softmaxGrad', GRAD_OPS.softmaxGrad, [out, g], attrs)],
  } satisfies OpDef<{ axis: number }>,
  logSoftmax: {
    inputs: ['x'], family: 'reduce', shape: ([x]) => x,
    forward: ([x], a) => softmaxAlong('logSoftmax', x, a.axis),
    backward: (g, { out, attrs }) => [apply('logSoftmaxGrad', GRAD_OPS.logSoftmaxGrad, [out, g], attrs)],
  } satisfies OpDef<{ axis: number }>,
};

/** The backward kernels of softmax and logSoftmax, from the forward's output y and the incoming gradient g. */
export const GRAD_OPS = {
  // y·(g − Σ g·y)
  softmaxGrad: {
    inputs: ['y', 'g'], family: 'reduce', shape: ([y]) => y, backward: null,
    forward: ([y, g], a) => softmaxAlong('softmaxGrad', y, a.axis, g),
  } satisfies OpDef<{ axis: number }>,
  // g − exp(y)·Σ g
  logSoftmaxGrad: {
    inputs: ['y', 'g'], family: 'reduce', shape: ([y]) => y, backward: null,
    forward: ([y, g], a) => softmaxAlong('logSoftmaxGrad', y, a.axis, g),
  } satisfies OpDef<{ axis: number }>,
};

/** The dims of `from` that broadcasting `shape` up to it created or stretched. */
function broadcastAxes(from: readonly number[], shape: readonly number[]): number[] {
  const lead = from.length - shape.length;
  const axes: number[] = [];
  from.forEach((n, d) => {
    if (d < lead || (shape[d - lead] === 1 && n !== 1)) axes.push(d);
  });
  return axes;
}

/** Sum over axes (all by default). */
export function sum(x: Tensor, axes?: Axes, keepdim = false): Tensor {
  checkInputs('sum', x);
  return apply('sum', REDUCE_OPS.sum, [x], { axes: axesFor('sum', x, axes), keepdim });
}

export function mean(x: Tensor, axes?: Axes, keepdim = false): Tensor {
  checkInputs('mean', x);
  const ax = axesFor('mean', x, axes);
  if (count(x.shape, ax) === 0) throw new ValueError(`mean: reducing ${fmtShape(x.shape)} over axes [${ax}] averages 0 elements`);
  return apply('mean', REDUCE_OPS.mean, [x], { axes: ax, keepdim });
}

function extremum(op: 'max' | 'min', x: Tensor, axes?: Axes, keepdim = false): Tensor {
  checkInputs(op, x);
  const ax = axesFor(op, x, axes);
  if (x.size === 0) throw new ValueError(`${op}: tensor ${fmtShape(x.shape)} is empty; ${op} of no elements is undefined`);
  return apply(op, REDUCE_OPS[op], [x], { axes: ax, keepdim });
}
export const max = (x: Tensor, axes?: Axes, keepdim = false) => extremum('max', x, axes, keepdim);
export const min = (x: Tensor, axes?: Axes, keepdim = false) => extremum('min', x, axes, keepdim);

/** Variance with Bessel's correction by default (torch.var: correction = 1). */
export function variance(x: Tensor, axes?: Axes, keepdim = false, correction = 1): Tensor {
  return tidy(() => {
    const ax = axesFor('var', x, axes);
    const n = count(x.shape, ax);
    const centered = sub(x, mean(x, ax, true));
    return div(sum(square(centered), ax, keepdim), Math.max(0, n - correction));
  });
}

export function softmax(x: Tensor, axis = -1): Tensor {
  checkInputs('softmax', x);
  return apply('softmax', REDUCE_OPS.softmax, [x], { axis: axisFor('softmax', x, axis) });
}

export function logSoftmax(x: Tensor, axis = -1): Tensor {
  checkInputs('logSoftmax', x);
  return apply('logSoftmax', REDUCE_OPS.logSoftmax, [x], { axis: axisFor('logSoftmax', x, axis) });
}

/** Sums g down to `shape` (the inverse of broadcasting). */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  checkInputs('sumTo', g);
  if (sameShape(g.shape, shape)) return reshape(g, shape);
  if (g.ndim < shape.length) throw new ShapeError(`sumTo: cannot sum ${fmtShape(g.shape)} to the larger ${fmtShape(shape)}`);
  return apply('sumTo', REDUCE_OPS.sumTo, [g], { shape: [...shape] });
}
