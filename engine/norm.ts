// engine/norm.ts: normalisation ops (layerNorm now; groupNorm with its fused kernels arrives with kernels/norm/).
import { ShapeError, fmtShape } from './errors';
import { add, mean, mul, rsqrt, square, sub } from './ops';
import { Tensor, tidy } from './tensor';

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/** layerNorm over the trailing `normalizedShape` dims (torch.nn.functional.layer_norm, biased variance). */
export function layerNorm(x: Tensor, normalizedShape: readonly number[], weight?: Tensor, bias?: Tensor, eps = 1e-5): Tensor {
  const k = normalizedShape.length;
  if (!sameShape(x.shape.slice(x.ndim - k), normalizedShape)) throw new ShapeError(`layerNorm: input ${fmtShape(x.shape)} does not end with normalizedShape ${fmtShape(normalizedShape)}`);
  if (weight && !sameShape(weight.shape, normalizedShape)) throw new ShapeError(`layerNorm: weight ${fmtShape(weight.shape)} must be ${fmtShape(normalizedShape)}`);
  if (bias && !sameShape(bias.shape, normalizedShape)) throw new ShapeError(`layerNorm: bias ${fmtShape(bias.shape)} must be ${fmtShape(normalizedShape)}`);
  return tidy(() => {
    const axes = normalizedShape.map((_, i) => x.ndim - k + i);
    const mu = mean(x, axes, true);
    const xc = sub(x, mu);
    const v = mean(square(xc), axes, true);
    let y = mul(xc, rsqrt(add(v, eps)));
    if (weight) y = mul(y, weight);
    if (bias) y = add(y, bias);
    return y;
  });
}

