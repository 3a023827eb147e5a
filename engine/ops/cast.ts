// engine/ops/cast.ts: dtype conversion (torch's x.to(dtype); x.half() and x.float() in engine/methods.ts), differentiable:
// gradients are always f32, so the backward of a cast hands the incoming f32 gradient straight back.
import { castTo, type CastOptions } from '../../kernels/cast/dispatch';
import { DTYPES, type DType } from '../../runtime';
import { ValueError } from '../../runtime/errors';
import { Tensor } from '../tensor';
import { apply, type OpDef } from './op';
import { checkInputs } from './validate';

export const CAST_OPS = {
  // x's values as `dtype` (a view when it already is); f16 rounds to nearest as torch's .half()
  cast: {
    inputs: ['x'], family: 'cast', shape: ([x]) => x, dtype: (_, a) => a.dtype,
    forward: ([x], a) => (x.dtype === a.dtype ? x.viewAs(x.shape) : castTo(x, a.dtype, a)),
    backward: (g) => [g],
  } satisfies OpDef<CastOptions & { dtype: DType }>,
};

/** x as `dtype`: a new tensor when the dtype changes, else a view of x. f16 rounds to nearest (±inf past 65504). */
export function cast(x: Tensor, dtype: DType, o: CastOptions = {}): Tensor {
  checkInputs('cast', x);
  if (!DTYPES.includes(dtype)) throw new ValueError(`cast: unknown dtype ${JSON.stringify(dtype)}; use one of ${DTYPES.map((d) => `'${d}'`).join(', ')}`);
  return apply('cast', CAST_OPS.cast, [x], { ...o, dtype });
}
