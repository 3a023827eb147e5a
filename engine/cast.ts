// engine/cast.ts: dtype conversion (torch's x.to(dtype); x.half() and x.float() in engine/methods.ts), differentiable: gradients are
// always f32, so the backward of a cast hands the incoming f32 gradient straight back.
import { ValueError } from './errors';
import { checkInputs } from './ops';
import { DTYPES, Tensor, record, type DType } from './tensor';
import { castTo, type CastOptions } from '../kernels/cast/dispatch';

/** x as `dtype`: a new tensor when the dtype changes, else a view of x. f16 rounds to nearest (±inf past 65504). */
export function cast(x: Tensor, dtype: DType, o: CastOptions = {}): Tensor {
  checkInputs('cast', x);
  if (!DTYPES.includes(dtype)) throw new ValueError(`cast: unknown dtype ${JSON.stringify(dtype)}; use one of ${DTYPES.map((d) => `'${d}'`).join(', ')}`);
  const out = x.dtype === dtype ? x.viewAs(x.shape) : castTo(x, dtype, o);
  return record('cast', out, [x], (g) => [g]);
}
