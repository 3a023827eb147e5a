// kernels/softmax/dispatch.ts: softmax / logSoftmax along an axis and their backward (./softmax.wgsl.ts), one dispatch
// each; the reference is ./reference.ts.
import { DeviceArray, type Kernel } from '../../runtime';
import { grid1d } from '../grid';
import { SOFTMAX_WG, softmaxWgsl, type SoftmaxPass } from './softmax.wgsl';

export type { SoftmaxPass } from './softmax.wgsl';

const kernels = new Map<SoftmaxPass, Kernel>();
const kernelFor = (pass: SoftmaxPass): Kernel => {
  let k = kernels.get(pass);
  if (!k) kernels.set(pass, (k = { code: softmaxWgsl(pass), label: pass }));
  return k;
};

/** A forward pass over x along `axis`, or a backward pass from the forward's output y (as x) and the gradient g. */
export function softmaxAlong(pass: SoftmaxPass, x: DeviceArray, axis: number, g?: DeviceArray): DeviceArray {
  const out = DeviceArray.alloc(x.shape, x.device);
  if (x.size === 0) return out;
  const len = x.shape[axis];
  const inner = x.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const rows = x.size / len;
  x.device.dispatch(kernelFor(pass), {
    buffers: g ? [x.buffer, g.buffer, out.buffer] : [x.buffer, out.buffer],
    uniforms: [rows, len, inner, 0],
    workgroups: grid1d(x.device, rows, SOFTMAX_WG),
  });
  return out;
}
