// engine/ops/fused.ts: one kernel for an elementwise WGSL expression over broadcast inputs named a, b, c, d, with a
// backward rule written in ops. An escape hatch for hot composites where the dispatch count, not the arithmetic, is
// the cost; compiled steps (engine/compile) fuse plain ops into such kernels without it.
import { fusedElementwise, broadcastShapes } from '../../kernels/elementwise/dispatch';
import { GradError } from '../../runtime/errors';
import type { Grads } from '../autograd';
import { isGradEnabled } from '../autograd';
import { Tensor } from '../tensor';
import { apply, type OpDef } from './op';
import { checkInputs } from './validate';

/** A user's backward rule for os.fused: the gradient of every input (null where there is none). */
export type FusedRule = (g: Tensor, inputs: Tensor[], out: Tensor) => Grads;

export interface FusedAttrs {
  label: string;
  /** WGSL over f32 reading the inputs as a, b, c, d (may call kernels/elementwise/ops.ts's WGSL_MATH helpers). */
  expr: string;
  rule?: FusedRule;
}

export const FUSED_OPS = {
  fused: {
    inputs: ['xs...'], family: 'elementwise',
    shape: (xs, a) => broadcastShapes(a.label, ...xs),
    forward: (xs, a) => fusedElementwise(a.label, a.expr, xs),
    pointwise: (a, n) => ({ args: ['a', 'b', 'c', 'd'].slice(0, n), expr: a.expr }),
    // the user's rule computes what it computes; gradients nobody needs are dropped here
    backward: (g, { inputs, out, attrs, need }) => {
      if (!attrs.rule) throw new GradError(`${attrs.label}: this fused op has no backward rule`);
      return attrs.rule(g, inputs, out).map((gi, i) => {
        if (gi && !need[i]) {
          if (gi !== g) gi.dispose();
          return null;
        }
        return gi;
      });
    },
  } satisfies OpDef<FusedAttrs>,
};

/**
 * One kernel for an elementwise WGSL expression over broadcast inputs named a, b, c, d (e.g. `a * inverseSqrt(b * b
 * + 0.25)`), with a backward rule written in ops. For hot composites (EDM preconditioning, residual SiLU) where
 * the dispatch count, not the arithmetic, is the cost.
 */
export function fused(label: string, expr: string, inputs: Tensor[], backward?: FusedRule): Tensor {
  checkInputs(label, ...inputs);
  if (!backward && isGradEnabled() && inputs.some((t) => t.requiresGrad)) {
    throw new GradError(`${label}: this fused op has no backward rule but an input requires grad; detach the input or give a backward`);
  }
  return apply('fused', FUSED_OPS.fused, inputs, { label, expr, rule: backward });
}
