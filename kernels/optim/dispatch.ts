// kernels/optim/dispatch.ts: fused in-place optimiser updates on the GPU: Adam / AdamW and SGD (torch.optim's rules),
// the EMA lerp, and gradient clipping by global norm (torch.nn.utils.clip_grad_norm_). Every function takes a list of
// tensors and updates them in a few multi-tensor dispatches (./segments.ts, rules in ./optim.wgsl.ts); `perTensor`
// runs the same kernel with one tensor per dispatch (torch's foreach=False). Nothing is allocated for the results and
// nothing is read back. Ground truth: ./reference.ts, with the same argument types (./args.ts).
import { DeviceArray, f32bits, internal } from '../../runtime';
import type { AdamArgs, SgdArgs, Step } from './args';
import { ADAM, CLIP_SCALE, EMA, SUMSQ, sgdSpec } from './optim.wgsl';
import { TARGET_PARTIALS, checkSegments, dispatchGroup, dispatchSegments, eptFor, groupsOf, maxSegments, planGroups, vec4s, workgroupSize, type Segment } from './segments';

export type { AdamArgs, SgdArgs } from './args';

export interface UpdateOptions {
  /** One tensor per dispatch (torch's foreach=False), for comparison and debugging; the updates are bit-identical. */
  perTensor?: boolean;
}
const maxK = (o: UpdateOptions) => (o.perTensor ? 1 : Infinity);

/** One tensor of an Adam step. */
export interface AdamItem {
  param: DeviceArray;
  grad: DeviceArray;
  expAvg: DeviceArray;
  expAvgSq: DeviceArray;
  step: Step;
}

/** Adam/AdamW on every item; ⌈items / K⌉ dispatches (K = 4 on 16 storage bindings). Returns the dispatches made. */
export function adamStep(items: readonly AdamItem[], a: AdamArgs, o: UpdateOptions = {}): number {
  if (items.length === 0) return 0;
  const dev = items[0].param.device;
  const check = () => checkSegments('adam', dev, items.map((it) => [it.param, it.grad, it.expAvg, it.expAvgSq]));
  const segs: Segment[] = items.map((it) => ({
    buffers: [it.param.buffer, it.grad.buffer, it.expAvg.buffer, it.expAvgSq.buffer],
    n: it.param.size,
    x: f32bits(a.lr / (1 - a.beta1 ** it.step)), // stepSize
    y: f32bits(Math.sqrt(1 - a.beta2 ** it.step)), // bc2Sqrt
  }));
  const header = [0, f32bits(1 - a.beta1), f32bits(a.beta2), f32bits(1 - a.beta2), f32bits(a.eps), f32bits(a.decoupled ? 0 : a.weightDecay), f32bits(a.decoupled ? 1 - a.lr * a.weightDecay : 1), 0];
  return dispatchSegments(dev, ADAM, segs, header, maxK(o), check);
}

/** One tensor of an SGD step; `buf` is its momentum buffer (null when momentum = 0: then every item has none). */
export interface SgdItem {
  param: DeviceArray;
  grad: DeviceArray;
  buf: DeviceArray | null;
  step: Step;
}

/** SGD on every item; ⌈items / K⌉ dispatches. */
export function sgdStep(items: readonly SgdItem[], a: SgdArgs, o: UpdateOptions = {}): number {
  if (items.length === 0) return 0;
  const dev = items[0].param.device;
  const withMomentum = items[0].buf !== null;
  if (items.some((it) => (it.buf !== null) !== withMomentum)) throw internal('sgd: every item needs a momentum buffer, or none');
  const check = () => checkSegments('sgd', dev, items.map((it) => (it.buf ? [it.param, it.grad, it.buf] : [it.param, it.grad])));
  const segs: Segment[] = items.map((it) => ({
    buffers: it.buf ? [it.param.buffer, it.grad.buffer, it.buf.buffer] : [it.param.buffer, it.grad.buffer],
    n: it.param.size,
    x: it.step === 1 ? 1 : 0, // the first momentum step sets buf ← d_p
  }));
  const header = [0, f32bits(a.lr), f32bits(a.weightDecay), f32bits(a.momentum), f32bits(1 - a.dampening), a.nesterov ? 1 : 0, 0, 0];
  return dispatchSegments(dev, sgdSpec(withMomentum), segs, header, maxK(o), check);
}

/** ema_i ← decay·ema_i + (1 − decay)·src_i for every pair; ⌈pairs / K⌉ dispatches. */
export function emaUpdate(pairs: readonly [ema: DeviceArray, src: DeviceArray][], decay: number, o: UpdateOptions = {}): number {
  if (pairs.length === 0) return 0;
  const dev = pairs[0][0].device;
  const check = () => checkSegments('ema', dev, pairs.map(([e, s]) => [e, s]));
  const segs: Segment[] = pairs.map(([e, s]) => ({ buffers: [e.buffer, s.buffer], n: e.size }));
  return dispatchSegments(dev, EMA, segs, [0, f32bits(decay), f32bits(1 - decay), 0, 0, 0, 0, 0], maxK(o), check);
}

/**
 * Gradient clipping by global norm over all of `grads`: scales each in place by min(1, maxNorm / (‖g‖ + eps)) and
 * writes ‖g‖ (the L2 norm of all of them together) into `norm` (a 1-element array). No readback. Dispatches: one
 * sum-of-squares pass and one scale pass per group of K gradients (2 for up to 14 tensors on 16 storage bindings).
 */
export function clipGradNorm(grads: readonly DeviceArray[], maxNorm: number, eps: number, norm: DeviceArray, o: UpdateOptions = {}): number {
  const live = grads.filter((g) => g.size > 0);
  const dev = norm.device;
  checkSegments('clipGradNorm', dev, live.map((g) => [g]));
  if (live.length === 0) {
    dev.write(norm.buffer, new Float32Array([0]));
    return 0;
  }
  const segs = live.map((g) => ({ buffers: [g.buffer], n: g.size }));
  // vec4s per invocation of the reduction: enough that the partials stay few (≥ 1 per tensor in any case)
  const total = segs.reduce((s, x) => s + vec4s(x.n), 0);
  const wg = workgroupSize(dev);
  const ept = Math.max(eptFor(dev, segs), Math.ceil(total / (wg * TARGET_PARTIALS)));
  const count = segs.reduce((s, x) => s + groupsOf(x.n, ept, wg), 0);
  const partials = DeviceArray.alloc([count], dev);
  let dispatches = 0;
  let base = 0;
  for (const g of planGroups(segs, Math.min(maxK(o), maxSegments(dev, 1, 1)), [partials.buffer])) {
    base += dispatchGroup(dev, SUMSQ, g, [partials.buffer], [0, base, 0, 0, 0, 0, 0, 0], ept);
    dispatches++;
  }
  if (base !== count) throw internal(`clipGradNorm: ${base} partials written, ${count} planned`);
  planGroups(segs, Math.min(maxK(o), maxSegments(dev, 1, 2)), [partials.buffer, norm.buffer]).forEach((g, j) => {
    dispatchGroup(dev, CLIP_SCALE, g, [partials.buffer, norm.buffer], [0, count, f32bits(maxNorm), f32bits(eps), j === 0 ? 1 : 0, 0, 0, 0], eptFor(dev, g));
    dispatches++;
  });
  partials.dispose();
  return dispatches;
}
