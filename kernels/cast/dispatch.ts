// kernels/cast/dispatch.ts: converts a tensor between f32 and f16. An f16 buffer has the same bytes whichever kernel
// wrote it (./cast.wgsl.ts): native f16 loads and stores where the adapter has shader-f16, packed pairs elsewhere.
import { hasShaderF16, type Kernel, ValueError, internal, DeviceArray, type DType } from '../../runtime';
import { grid1d } from '../grid';
import { castWgsl, type CastDirection } from './cast.wgsl';

export interface CastOptions {
  /** Use the shader-f16 kernels (default: where the adapter has shader-f16). false forces the packed kernels. */
  nativeF16?: boolean;
}

const kernels = new Map<string, Kernel>();
function kernelFor(direction: CastDirection, native: boolean): Kernel {
  const key = `${direction} ${native ? 'native' : 'packed'}`;
  let k = kernels.get(key);
  if (!k) kernels.set(key, (k = { code: castWgsl(direction, native), label: `cast ${key}` }));
  return k;
}

export { hasShaderF16 } from '../../runtime';

/** A new tensor holding x's values as `dtype` (which differs from x's). */
export function castTo(x: DeviceArray, dtype: DType, o: CastOptions = {}): DeviceArray {
  const dev = x.device;
  const native = o.nativeF16 ?? hasShaderF16(dev);
  if (x.dtype === dtype) throw internal(`cast: x is already ${dtype}`);
  if (native && !hasShaderF16(dev)) throw new ValueError(`cast: nativeF16 needs the shader-f16 feature, which ${dev.adapterLabel} lacks; leave nativeF16 unset to take the packed kernels`);
  const out = DeviceArray.alloc(x.shape, dev, dtype);
  if (x.size === 0) return out;
  const src = x.rawBuffer('cast'), dst = out.rawBuffer('cast');
  const direction: CastDirection = dtype === 'f16' ? 'toHalf' : 'toFloat';
  // the packed f32 → f16 kernel writes one word (two elements) per invocation
  const invocations = direction === 'toHalf' && !native ? Math.ceil(x.size / 2) : x.size;
  dev.dispatch(kernelFor(direction, native), { buffers: [src, dst], uniforms: [x.size, 0, 0, 0], workgroups: grid1d(dev, invocations) });
  return out;
}
