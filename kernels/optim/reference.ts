// kernels/optim/reference.ts: float64 plain-TS updates with the exact rules of torch.optim.Adam / AdamW / SGD, the EMA
// lerp and torch.nn.utils.clip_grad_norm_; the ground truth for test/kernels/optim.test.ts. Each mutates its arrays
// in place, like the kernels in ./dispatch.ts, and takes the same arguments (./args.ts).
import type { AdamArgs, SgdArgs, Step } from './args';

/**
 * torch.optim.Adam(W) single-tensor step:
 *   Adam:  g ← g + wd·p          AdamW: p ← p·(1 − lr·wd)
 *   m ← m + (1 − β1)(g − m)      v ← β2·v + (1 − β2)·g²
 *   p ← p − lr/(1 − β1ᵗ) · m / (sqrt(v)/sqrt(1 − β2ᵗ) + eps)
 */
export function adamRef(p: Float64Array, g: ArrayLike<number>, m: Float64Array, v: Float64Array, a: AdamArgs, step: Step): void {
  const bc1 = 1 - a.beta1 ** step, bc2 = 1 - a.beta2 ** step;
  const stepSize = a.lr / bc1, bc2Sqrt = Math.sqrt(bc2);
  for (let i = 0; i < p.length; i++) {
    let pi = p[i];
    const gi = a.decoupled ? g[i] : g[i] + a.weightDecay * pi;
    if (a.decoupled) pi *= 1 - a.lr * a.weightDecay;
    m[i] += (1 - a.beta1) * (gi - m[i]);
    v[i] = a.beta2 * v[i] + (1 - a.beta2) * gi * gi;
    p[i] = pi - (stepSize * m[i]) / (Math.sqrt(v[i]) / bc2Sqrt + a.eps);
  }
}

/**
 * torch.optim.SGD step: d = g + wd·p; with momentum: buf ← d (first step) or μ·buf + (1 − dampening)·d,
 * then d ← d + μ·buf (Nesterov) or d ← buf; finally p ← p − lr·d.
 */
export function sgdRef(p: Float64Array, g: ArrayLike<number>, buf: Float64Array | null, a: SgdArgs, step: Step): void {
  for (let i = 0; i < p.length; i++) {
    let d = g[i] + a.weightDecay * p[i];
    if (buf && a.momentum !== 0) {
      buf[i] = step === 1 ? d : a.momentum * buf[i] + (1 - a.dampening) * d;
      d = a.nesterov ? d + a.momentum * buf[i] : buf[i];
    }
    p[i] -= a.lr * d;
  }
}

/** ema ← decay·ema + (1 − decay)·p. */
export function emaRef(ema: Float64Array, p: ArrayLike<number>, decay: number): void {
  for (let i = 0; i < ema.length; i++) ema[i] = decay * ema[i] + (1 - decay) * p[i];
}

/** torch.nn.utils.clip_grad_norm_ (L2): returns the total norm and scales every grad by min(1, max/(norm + eps)). */
export function clipGradNormRef(grads: Float64Array[], maxNorm: number, eps = 1e-6): number {
  let s = 0;
  for (const g of grads) for (const x of g) s += x * x;
  const norm = Math.sqrt(s);
  const coef = Math.min(1, maxNorm / (norm + eps));
  for (const g of grads) for (let i = 0; i < g.length; i++) g[i] *= coef;
  return norm;
}
