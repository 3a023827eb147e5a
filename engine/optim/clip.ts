// engine/optim/clip.ts: gradient clipping by global L2 norm (torch.nn.utils.clip_grad_norm_), entirely on the GPU:
// no readback, so a training step never waits for it.
import { clipGradNorm as clipKernel } from '../../kernels/optim/dispatch';
import { ValueError } from '../errors';
import { Tensor } from '../tensor';
import { zeros } from '../ops';
import { checkForeach, foreachEnabled } from './optimizer';

/**
 * Scales every gradient in place by min(1, maxNorm / (‖g‖ + eps)), ‖g‖ the L2 norm of all gradients together, and
 * returns ‖g‖ as a 0-d tensor (`await norm.item()` to log it). Parameters without a gradient are skipped.
 * Dispatches (foreach, the default): 2 for up to 14 gradients on an adapter with 16 storage bindings per stage (a
 * sum-of-squares pass writing per-workgroup partials, then a scale pass whose workgroups add the partials up
 * themselves), 2 more per further 14. With `foreach: false` (or setForeach(false)): the same passes, one gradient each.
 */
export function clipGradNorm(params: Iterable<Tensor> | Tensor[], maxNorm: number, eps = 1e-6, opts: { foreach?: boolean } = {}): Tensor {
  if (typeof maxNorm !== 'number' || Number.isNaN(maxNorm)) throw new ValueError(`clipGradNorm: maxNorm must be a number, got ${maxNorm}`);
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps < 0) throw new ValueError(`clipGradNorm: eps must be a finite number ≥ 0, got ${eps}`);
  const foreach = checkForeach('clipGradNorm', opts?.foreach) ?? foreachEnabled();
  const grads: Tensor[] = [];
  for (const p of params) if (p.grad) grads.push(p.grad);
  if (grads.length === 0) return zeros([]);
  const dev = grads[0].device;
  for (const g of grads) {
    g.storageOrThrow('clipGradNorm');
    if (g.device !== dev) throw new ValueError('clipGradNorm: gradients live on different devices');
  }
  const norm = Tensor.empty([], dev);
  clipKernel(grads, maxNorm, eps, norm, { perTensor: !foreach });
  return norm;
}
