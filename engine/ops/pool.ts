// engine/ops/pool.ts: avgPool2d and upsampleNearest2d (torch.nn.functional.avg_pool2d with count_include_pad = True and
// ceil_mode = False; F.interpolate(mode='nearest', scale_factor=s) for integer s). Each is one kernel with a backward
// kernel (kernels/pool/). Inputs are [N, C, H, W] or [C, H, W].
import {
  avgPool2dBackward, avgPool2dForward, pooledSize, upsampleNearest2dBackward, upsampleNearest2dForward, type Pool2dGeometry,
} from '../../kernels/pool/dispatch';
import { ShapeError, ValueError, fmtShape } from '../../runtime/errors';
import { Tensor } from '../tensor';
import { apply, type OpDef } from './op';
import { checkInputs } from './validate';

const spatial = (x: readonly number[]) => x.slice(-2) as [number, number];

export const POOL_OPS = {
  // the mean of each kernel window (padded zeros count)
  avgPool2d: {
    inputs: ['x'], family: 'pool',
    shape: ([x], g) => [...x.slice(0, -2), ...spatial(x).map((n, d) => pooledSize(n, g.kernel[d], g.stride[d], g.padding[d]))],
    forward: ([x], g) => avgPool2dForward(x, g),
    backward: (gy, { inputs: [x], attrs }) => [avgPoolGrad(gy, { ...attrs, inHW: spatial(x.shape) })],
  } satisfies OpDef<Pool2dGeometry>,
  // each window's gradient spread evenly over the window
  avgPool2dGrad: {
    inputs: ['dy'], family: 'pool', backward: null,
    shape: ([dy], a) => [...dy.slice(0, -2), ...a.inHW],
    forward: ([dy], a) => avgPool2dBackward(dy, a.inHW, a),
  } satisfies OpDef<Pool2dGeometry & { inHW: [number, number] }>,
  // out[…, h, w] = x[…, ⌊h / sh⌋, ⌊w / sw⌋]
  upsampleNearest2d: {
    inputs: ['x'], family: 'pool',
    shape: ([x], a) => [...x.slice(0, -2), x.at(-2)! * a.scale[0], x.at(-1)! * a.scale[1]],
    forward: ([x], a) => upsampleNearest2dForward(x, a.scale),
    backward: (gy, { attrs }) => [upsampleGrad(gy, attrs)],
  } satisfies OpDef<{ scale: [number, number] }>,
  // Σ of each output block's gradient
  upsampleNearest2dGrad: {
    inputs: ['dy'], family: 'pool', backward: null,
    shape: ([dy], a) => [...dy.slice(0, -2), dy.at(-2)! / a.scale[0], dy.at(-1)! / a.scale[1]],
    forward: ([dy], a) => upsampleNearest2dBackward(dy, a.scale),
  } satisfies OpDef<{ scale: [number, number] }>,
};

const avgPoolGrad = (gy: Tensor, a: Pool2dGeometry & { inHW: [number, number] }): Tensor => apply('avgPool2dGrad', POOL_OPS.avgPool2dGrad, [gy], a);
const upsampleGrad = (gy: Tensor, a: { scale: [number, number] }): Tensor => apply('upsampleNearest2dGrad', POOL_OPS.upsampleNearest2dGrad, [gy], a);

type Pair = number | readonly [number, number];

function pairOf(op: string, name: string, v: Pair, min: number): [number, number] {
  const p: number[] = typeof v === 'number' ? [v, v] : [...v];
  if (p.length !== 2 || !p.every((d) => Number.isInteger(d) && d >= min)) {
    throw new ValueError(`${op}: ${name} must be an integer ≥ ${min} or a pair of them, got ${JSON.stringify(v)}`);
  }
  return [p[0], p[1]];
}

function checkImage(op: string, x: Tensor): void {
  if (x.ndim !== 3 && x.ndim !== 4) throw new ShapeError(`${op}: input ${fmtShape(x.shape)} must be [N, C, H, W] or [C, H, W]`);
}

/** Mean over kernelSize windows moved by stride over the zero-padded input; padded zeros count in the mean. */
export function avgPool2d(x: Tensor, kernelSize: Pair, stride?: Pair, padding: Pair = 0): Tensor {
  const op = 'avgPool2d';
  checkInputs(op, x);
  checkImage(op, x);
  const g: Pool2dGeometry = {
    kernel: pairOf(op, 'kernelSize', kernelSize, 1),
    stride: pairOf(op, 'stride', stride ?? kernelSize, 1),
    padding: pairOf(op, 'padding', padding, 0),
  };
  for (const d of [0, 1]) {
    if (g.padding[d] * 2 > g.kernel[d]) throw new ValueError(`${op}: padding ${g.padding[d]} is more than half the kernel size ${g.kernel[d]}; use padding ≤ ${Math.floor(g.kernel[d] / 2)}`);
  }
  const H = x.shape[x.ndim - 2], W = x.shape[x.ndim - 1];
  const Ho = pooledSize(H, g.kernel[0], g.stride[0], g.padding[0]), Wo = pooledSize(W, g.kernel[1], g.stride[1], g.padding[1]);
  if (Ho < 1 || Wo < 1) {
    throw new ShapeError(`${op}: input ${fmtShape(x.shape)} is smaller than the kernel [${g.kernel}] (padding [${g.padding}]), so the output would be empty; use a smaller kernel or more padding`);
  }
  return apply(op, POOL_OPS.avgPool2d, [x], g);
}

/** Nearest-neighbour upsampling by integer factors: out[..., h, w] = x[..., ⌊h / sh⌋, ⌊w / sw⌋]. */
export function upsampleNearest2d(x: Tensor, scale: Pair): Tensor {
  const op = 'upsampleNearest2d';
  checkInputs(op, x);
  checkImage(op, x);
  const s = pairOf(op, 'scale', scale, 1);
  return apply(op, POOL_OPS.upsampleNearest2d, [x], { scale: s });
}
