// engine/ops/losses.ts: mseLoss and crossEntropy (torch.nn.functional semantics) as table entries, and the
// composites beside them (oneHot, dropout).
import { binary, fusedElementwise } from '../../kernels/elementwise/dispatch';
import { reduce, type ReducePrologue } from '../../kernels/reduce/dispatch';
import { softmaxAlong } from '../../kernels/softmax/dispatch';
import { shapeSize } from '../../runtime';
import { ShapeError, ValueError, fmtShape } from '../../runtime/errors';
import { Tensor, tidy } from '../tensor';
import { arange, rand, tensor } from './create';
import { eq, exp, gt, mul, neg, sub } from './elementwise';
import { fused } from './fused';
import { apply, type OpDef } from './op';
import { sum } from './reduce';
import { reshape, unsqueeze } from './shape';
import { checkInputs, sameShape } from './validate';

export type Reduction = 'mean' | 'sum' | 'none';

/** The factor a 'mean' or 'sum' reduction of n elements applies. */
const scaleOf = (r: Reduction, n: number) => (r === 'mean' ? 1 / n : 1);

/** (a − b)² of the input and the target, which mseLoss's reduction reads through. */
const SQUARED_ERROR: ReducePrologue = { inputs: [null, null], steps: [{ fn: { args: ['a', 'b'], expr: '(a - b) * (a - b)' }, args: [{ input: 0 }, { input: 1 }] }], label: 'squared error' };

export const LOSS_OPS = {
  // mean((a − b)²) (or sum): one reduction reading a and b; none: one elementwise kernel
  mseLoss: {
    inputs: ['input', 'target'], family: 'elementwise',
    shape: ([a], r) => (r === 'none' ? a : []),
    forward: ([a, b], r) => {
      if (r === 'none') return fusedElementwise('mseLoss', SQUARED_ERROR.steps[0].fn.expr, [a, b]);
      return reduce('sum', a, a.shape.map((_, d) => d), false, scaleOf(r, a.size), undefined, { prologue: SQUARED_ERROR, inputs: [a, b] });
    },
    // d/da = 2(a − b)·g (÷ n for the mean) = −d/db
    backward: (g, { inputs: [a, b], attrs: r, need }) => {
      const k = mul(g, 2 * scaleOf(r, a.size));
      return [need[0] ? fused('mseLoss grad', '(a - b) * c', [a, b, k]) : null, need[1] ? fused('mseLoss grad', '(b - a) * c', [a, b, k]) : null];
    },
  } satisfies OpDef<Reduction>,
  // −Σ_c p_c·log softmax(logits)_c over dim 1, per sample (then mean or sum); saves the log-softmax
  crossEntropy: {
    inputs: ['logits', 'probs'], family: 'reduce',
    shape: ([l], r) => (r === 'none' ? [l[0], ...l.slice(2)] : []),
    forward: ([logits, probs], r) => {
      const ls = softmaxAlong('logSoftmax', logits, 1);
      const lp = binary('mul', ls, probs);
      const nll = reduce('sum', lp, [1], false, -1);
      lp.dispose();
      if (r === 'none') return { out: nll, saved: [ls] };
      const out = reduce('sum', nll, nll.shape.map((_, d) => d), false, scaleOf(r, nll.size));
      nll.dispose();
      return { out, saved: [ls] };
    },
    // d/dlogits = (softmax·Σ_c p_c − p)·g, d/dp = −log softmax·g (g per sample, ÷ n for the mean)
    backward: (g, { inputs: [logits, probs], saved: [ls], attrs: r, need }) => {
      const perSample = [logits.shape[0], 1, ...logits.shape.slice(2)];
      const gs = r === 'none' ? reshape(g, perSample) : mul(g, scaleOf(r, shapeSize(perSample)));
      return [
        need[0] ? mul(sub(mul(exp(ls), sum(probs, 1, true)), probs), gs) : null,
        need[1] ? neg(mul(ls, gs)) : null,
      ];
    },
  } satisfies OpDef<Reduction>,
};

/** mean((a − b)²) (torch.nn.functional.mse_loss). */
export function mseLoss(a: Tensor, b: Tensor, reduction: Reduction = 'mean'): Tensor {
  checkInputs('mseLoss', a, b);
  if (!sameShape(a.shape, b.shape)) throw new ShapeError(`mseLoss: input ${fmtShape(a.shape)} and target ${fmtShape(b.shape)} differ; they must have the same shape`);
  return apply('mseLoss', LOSS_OPS.mseLoss, [a, b], reduction);
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
    checkInputs('crossEntropy', logits, probs);
    return apply('crossEntropy', LOSS_OPS.crossEntropy, [logits, probs], reduction);
  });
}

/** One-hot along `axis` of class indices (floats holding integers). */
export function oneHot(labels: Tensor, numClasses: number, axis = -1): Tensor {
  return tidy(() => {
    const a = axis < 0 ? axis + labels.ndim + 1 : axis;
    const classes = reshape(arange(numClasses), [numClasses, ...new Array(labels.ndim - a).fill(1)]);
    return eq(unsqueeze(labels, a), classes);
  });
}

/** Dropout in training mode: zeroes with probability p, scales the rest by 1/(1−p). */
export function dropout(x: Tensor, p: number, training = true): Tensor {
  if (p < 0 || p >= 1) throw new ValueError(`dropout: p must be in [0, 1), got ${p}`);
  if (!training || p === 0) return x;
  return tidy(() => mul(x, mul(gt(rand(x.shape), p), 1 / (1 - p))));
}

