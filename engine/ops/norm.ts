// engine/ops/norm.ts: groupNorm and layerNorm (torch.nn.functional.group_norm / layer_norm, biased variance) as fused
// kernels: one forward dispatch (stats, normalise, affine, optional SiLU) that saves mean and rstd per row, and a
// backward of one dispatch for grad x plus one for grad weight/bias (kernels/norm/).
import { normBackward, normForward, type NormDims, type NormVariant } from '../../kernels/norm/dispatch';
import { ShapeError, ValueError, fmtShape } from '../../runtime/errors';
import { Tensor } from '../tensor';
import { apply, type OpDef } from './op';
import { checkInputs, sameShape } from './validate';

export interface NormOpOptions {
  /** y = silu(norm(x)·γ + β) in the same kernel (the GroupNorm → SiLU of a ResBlock); the backward includes it. */
  silu?: boolean;
  /** Force a kernel variant (tests, bench); default: the tuner's winner for the shape class when known, else chosen from the shape. */
  variant?: NormVariant;
}

const sizeOf = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

function checkEps(op: string, eps: number): void {
  if (!Number.isFinite(eps) || eps < 0) throw new ValueError(`${op}: eps must be a finite number ≥ 0, got ${eps}`);
}

/** x viewed as rows of `dims` (γ, β one value per channel, flat G·Cg, or per sample and channel), which of γ and β are given, and the options. */
export interface NormAttrs {
  dims: NormDims;
  eps: number;
  weight: boolean;
  bias: boolean;
  silu: boolean;
  /** γ, β are [N, C]: one value per sample and channel (adaptive group norm). */
  perSample: boolean;
  variant?: NormVariant;
}

export const NORM_OPS = {
  // y = act((x − mean)·rstd·γ + β) per row; saves (mean, rstd) per row for the backward
  norm: {
    inputs: ['x', 'weight?', 'bias?'], family: 'norm',
    shape: ([x]) => x,
    forward: ([x, ...affine], a) => {
      const [w, b] = [a.weight ? affine[0] : undefined, a.bias ? affine[a.weight ? 1 : 0] : undefined];
      const { y, stats } = normForward(x, a.dims, w, b, a.eps, a);
      return { out: y, saved: [stats] };
    },
    // one dispatch for dx, one for the γ/β sums, each only when needed
    backward: (g, { inputs: [x, ...affine], saved: [stats], attrs: a, need }) => {
      const [w, b] = [a.weight ? affine[0] : undefined, a.bias ? affine[a.weight ? 1 : 0] : undefined];
      const needW = a.weight && need[1], needB = a.bias && need[a.weight ? 2 : 1];
      const { dx, dw, db } = normBackward(g, x, stats, a.dims, w, b, { ...a, needX: need[0], needWeight: needW, needBias: needB });
      const grads: (Tensor | null)[] = [dx && Tensor.adopt(dx)];
      if (w) grads.push(dw && Tensor.adopt(dw.viewAs(w.shape)));
      if (b) grads.push(db && Tensor.adopt(db.viewAs(b.shape)));
      dw?.dispose();
      db?.dispose();
      return grads;
    },
  } satisfies OpDef<NormAttrs>,
};

/** The fused op on x viewed as rows of `dims`. */
function fusedNorm(op: string, x: Tensor, dims: NormDims, weight: Tensor | undefined, bias: Tensor | undefined, eps: number, o: NormOpOptions, perSample = false): Tensor {
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  return apply('norm', NORM_OPS.norm, inputs, { dims, eps, weight: !!weight, bias: !!bias, silu: !!o.silu, perSample, variant: o.variant });
}

/**
 * Group normalisation of x [N, C, ...] (any trailing spatial dims): C splits into numGroups groups, each (sample,
 * group) is normalised by its own mean and biased variance, then y = x̂·weight[c] + bias[c] (weight, bias [C]); with
 * weight, bias [N, C], y = x̂·weight[n, c] + bias[n, c] (adaptive group norm: a UNet block's scale and shift, one
 * kernel). `opts.silu` fuses y = silu(y).
 */
export function groupNorm(x: Tensor, numGroups: number, weight?: Tensor, bias?: Tensor, eps = 1e-5, opts: NormOpOptions = {}): Tensor {
  const op = 'groupNorm';
  checkInputs(op, x, ...(weight ? [weight] : []), ...(bias ? [bias] : []));
  if (x.ndim < 2) throw new ShapeError(`${op}: input ${fmtShape(x.shape)} needs at least 2 dims [N, C, ...]; add a batch dim (x.unsqueeze(0)) or a channel dim`);
  const [N, C] = x.shape;
  if (!Number.isInteger(numGroups) || numGroups < 1) throw new ValueError(`${op}: numGroups must be a positive integer, got ${numGroups}`);
  if (C % numGroups !== 0) {
    const divisors = Array.from({ length: C }, (_, i) => i + 1).filter((d) => C % d === 0);
    throw new ShapeError(`${op}: ${C} channels (input ${fmtShape(x.shape)}) do not split into ${numGroups} groups; numGroups must divide the channel count (one of ${divisors.join(', ')})`);
  }
  const perSample = (weight ?? bias)?.ndim === 2;
  for (const [name, t] of [['weight', weight], ['bias', bias]] as const) {
    if (t && !sameShape(t.shape, perSample ? [N, C] : [C])) {
      throw new ShapeError(`${op}: ${name} ${fmtShape(t.shape)} must be [${C}] (one value per channel) or [${N}, ${C}] (one per sample and channel) for input ${fmtShape(x.shape)}, and weight and bias the same one of the two`);
    }
  }
  checkEps(op, eps);
  return fusedNorm(op, x, { N, G: numGroups, Cg: C / numGroups, S: sizeOf(x.shape.slice(2)) }, weight, bias, eps, opts, perSample);
}

/** Layer normalisation over the trailing `normalizedShape` dims (torch.nn.functional.layer_norm, biased variance). */
export function layerNorm(x: Tensor, normalizedShape: readonly number[], weight?: Tensor, bias?: Tensor, eps = 1e-5, opts: NormOpOptions = {}): Tensor {
  const op = 'layerNorm';
  checkInputs(op, x, ...(weight ? [weight] : []), ...(bias ? [bias] : []));
  const k = normalizedShape.length;
  if (k === 0 || k > x.ndim || !sameShape(x.shape.slice(x.ndim - k), normalizedShape)) {
    throw new ShapeError(`layerNorm: input ${fmtShape(x.shape)} does not end with normalizedShape ${fmtShape(normalizedShape)}; pass the trailing dims to normalise over (e.g. [${x.shape[x.ndim - 1] ?? ''}])`);
  }
  if (weight && !sameShape(weight.shape, normalizedShape)) throw new ShapeError(`layerNorm: weight ${fmtShape(weight.shape)} must be ${fmtShape(normalizedShape)} (the normalizedShape)`);
  if (bias && !sameShape(bias.shape, normalizedShape)) throw new ShapeError(`layerNorm: bias ${fmtShape(bias.shape)} must be ${fmtShape(normalizedShape)} (the normalizedShape)`);
  checkEps(op, eps);
  const L = sizeOf(normalizedShape);
  // a row of L elements is one group of L channels with one spatial position each: γ, β index the element
  return fusedNorm(op, x, { N: L === 0 ? 0 : x.size / L, G: 1, Cg: L, S: 1 }, weight, bias, eps, opts);
}
