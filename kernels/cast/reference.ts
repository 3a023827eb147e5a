// kernels/cast/reference.ts: the plain-TS reference of a cast: the value an f16 tensor holds for each f32 input
// (torch's x.half().float(): round to nearest, ties to even; ±inf past 65504; NaN stays NaN).
import { floatToHalf, halfToFloat } from '../../runtime/half';

export const roundToHalf = (x: ArrayLike<number>): Float32Array => Float32Array.from(x, (v) => halfToFloat(floatToHalf(v)));
