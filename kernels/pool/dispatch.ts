// kernels/pool/dispatch.ts: avg_pool2d and nearest upsampling on the GPU, forward and backward; matches
// torch.nn.functional.avg_pool2d (count_include_pad = True, ceil_mode = False) and F.interpolate(mode='nearest')
// with integer scale factors. Shapes are checked by engine/pool.ts; these take validated geometry.
import { f32bits, type Kernel, DeviceArray } from '../../runtime';
import { grid1d } from '../grid';
import { poolWgsl, type PoolKernel } from './pool.wgsl';

/** Window geometry along H and W. */
export interface Pool2dGeometry {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
}

const kernels = new Map<PoolKernel, Kernel>();
function kernel(k: PoolKernel): Kernel {
  let kk = kernels.get(k);
  if (!kk) kernels.set(k, (kk = { code: poolWgsl(k), label: k }));
  return kk;
}

/** Output size of a window sweep (floor mode). */
export const pooledSize = (n: number, k: number, s: number, p: number): number => Math.floor((n + 2 * p - k) / s) + 1;

function run(k: PoolKernel, src: DeviceArray, outShape: number[], hw: [number, number], ohw: [number, number], win: [number, number, number, number, number, number], invArea: number): DeviceArray {
  const dev = src.device;
  const out = DeviceArray.alloc(outShape, dev);
  if (out.size === 0) return out;
  dev.dispatch(kernel(k), {
    buffers: [src.buffer, out.buffer],
    uniforms: [out.size, hw[0], hw[1], ohw[0], ohw[1], ...win, f32bits(invArea)],
    workgroups: grid1d(dev, out.size),
  });
  return out;
}

const lead = (x: DeviceArray) => x.shape.slice(0, -2);
const hwOf = (x: DeviceArray): [number, number] => [x.shape[x.ndim - 2], x.shape[x.ndim - 1]];
const winWords = (g: Pool2dGeometry): [number, number, number, number, number, number] => [g.kernel[0], g.kernel[1], g.stride[0], g.stride[1], g.padding[0], g.padding[1]];
const area = (g: Pool2dGeometry) => 1 / (g.kernel[0] * g.kernel[1]);

/** avg_pool2d over the last two dims of x ([..., H, W] → [..., Ho, Wo]). */
export function avgPool2dForward(x: DeviceArray, g: Pool2dGeometry): DeviceArray {
  const [H, W] = hwOf(x);
  const o: [number, number] = [pooledSize(H, g.kernel[0], g.stride[0], g.padding[0]), pooledSize(W, g.kernel[1], g.stride[1], g.padding[1])];
  return run('avgPool', x, [...lead(x), ...o], [H, W], o, winWords(g), area(g));
}

/** Gradient of avg_pool2d: dy [..., Ho, Wo] → dx [..., H, W]. */
export function avgPool2dBackward(dy: DeviceArray, inHW: [number, number], g: Pool2dGeometry): DeviceArray {
  return run('avgPoolGrad', dy, [...lead(dy), ...inHW], inHW, hwOf(dy), winWords(g), area(g));
}

/** Nearest upsampling by integer factors (sh, sw): [..., H, W] → [..., H·sh, W·sw]. */
export function upsampleNearest2dForward(x: DeviceArray, scale: [number, number]): DeviceArray {
  const [H, W] = hwOf(x);
  const o: [number, number] = [H * scale[0], W * scale[1]];
  return run('upsample', x, [...lead(x), ...o], [H, W], o, [1, 1, scale[0], scale[1], 0, 0], 1);
}

/** Gradient of nearest upsampling: the sum over each sh×sw block. */
export function upsampleNearest2dBackward(dy: DeviceArray, scale: [number, number]): DeviceArray {
  const [Ho, Wo] = hwOf(dy);
  const i: [number, number] = [Ho / scale[0], Wo / scale[1]];
  return run('upsampleGrad', dy, [...lead(dy), ...i], i, [Ho, Wo], [1, 1, scale[0], scale[1], 0, 0], 1);
}
