// kernels/optim/dispatch.ts: fused in-place optimiser updates on the GPU, one dispatch per parameter tensor: Adam and
// AdamW (torch.optim.Adam / AdamW), SGD with momentum / Nesterov (torch.optim.SGD), the EMA lerp, and the two small
// kernels of gradient clipping by global norm (torch.nn.utils.clip_grad_norm_). Ground truth: ./reference.ts.
// These write straight into the tensors' buffers: no outputs are allocated and no autograd is recorded.
import { f32bits, type Device, type Kernel, ShapeError, fmtShape, type DeviceArray } from '../../runtime';
import { grid1d, main1d } from '../grid';

// ---- Adam / AdamW -------------------------------------------------------------------------------------------------

/** Per-step scalars of one Adam/AdamW update; the host computes the bias corrections (they depend on the step only). */
export interface AdamStepArgs {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** true: AdamW's decoupled decay p ← p·(1 − lr·wd); false: Adam's L2 term g ← g + wd·p. */
  decoupled: boolean;
  /** 1-based step count of this parameter (after the increment), for the bias corrections. */
  step: number;
}

const ADAM: Kernel = {
  label: 'optim adam',
  code: /* wgsl */ `
// decay = 1 − lr·wd (AdamW) or 1; l2 = wd (Adam) or 0; stepSize = lr / (1 − β1ᵗ); bc2Sqrt = sqrt(1 − β2ᵗ)
struct U { n: u32, oneMinusBeta1: f32, beta2: f32, oneMinusBeta2: f32,
  eps: f32, l2: f32, decay: f32, stepSize: f32, bc2Sqrt: f32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> expAvg: array<f32>;
@group(0) @binding(4) var<storage, read_write> expAvgSq: array<f32>;
${main1d()}
  if (i >= u.n) { return; }
  var p = param[i];
  let g = grad[i] + u.l2 * p;                          // Adam: grad + wd·p
  p = p * u.decay;                                     // AdamW: p·(1 − lr·wd), before the Adam step
  let m0 = expAvg[i];
  let m = m0 + u.oneMinusBeta1 * (g - m0);             // exp_avg.lerp_(grad, 1 − β1)
  let v = expAvgSq[i] * u.beta2 + u.oneMinusBeta2 * (g * g);
  let denom = sqrt(v) / u.bc2Sqrt + u.eps;             // eps after sqrt(v̂), as torch
  param[i] = p - u.stepSize * (m / denom);
  expAvg[i] = m;
  expAvgSq[i] = v;
}`,
};

function checkSame(op: string, p: DeviceArray, others: Record<string, DeviceArray>): Device {
  for (const [name, t] of Object.entries(others)) {
    if (t.size !== p.size) throw new ShapeError(`${op}: ${name} ${fmtShape(t.shape)} does not match parameter ${fmtShape(p.shape)}`);
    if (t.device !== p.device) throw new ShapeError(`${op}: ${name} lives on another device than its parameter ${fmtShape(p.shape)}`);
  }
  return p.device;
}

/** One fused Adam/AdamW step: reads p, g, m, v and writes p, m, v in place. One dispatch. */
export function adamStep(p: DeviceArray, g: DeviceArray, m: DeviceArray, v: DeviceArray, a: AdamStepArgs): void {
  const dev = checkSame('adam', p, { grad: g, exp_avg: m, exp_avg_sq: v });
  const n = p.size;
  if (n === 0) return;
  const bc1 = 1 - a.beta1 ** a.step;
  const bc2 = 1 - a.beta2 ** a.step;
  dev.dispatch(ADAM, {
    buffers: [p.buffer, g.buffer, m.buffer, v.buffer],
    uniforms: [
      n, f32bits(1 - a.beta1), f32bits(a.beta2), f32bits(1 - a.beta2),
      f32bits(a.eps), f32bits(a.decoupled ? 0 : a.weightDecay), f32bits(a.decoupled ? 1 - a.lr * a.weightDecay : 1),
      f32bits(a.lr / bc1), f32bits(Math.sqrt(bc2)), 0, 0, 0,
    ],
    workgroups: grid1d(dev, n),
  });
}

// ---- SGD ----------------------------------------------------------------------------------------------------------

export interface SgdStepArgs {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  /** This parameter's first momentum step: the buffer is set to d_p instead of blended (torch clones it). */
  first: boolean;
}

const sgdKernels = new Map<boolean, Kernel>();
/** `withMomentum` is baked in: it decides whether the momentum buffer is bound at all. */
function sgdKernel(withMomentum: boolean): Kernel {
  let k = sgdKernels.get(withMomentum);
  if (k) return k;
  const code = /* wgsl */ `
struct U { n: u32, lr: f32, wd: f32, momentum: f32, oneMinusDampening: f32, nesterov: u32, first: u32, pad: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
${withMomentum ? '@group(0) @binding(3) var<storage, read_write> buf: array<f32>;' : ''}
${main1d()}
  if (i >= u.n) { return; }
  let p = param[i];
  var d = grad[i] + u.wd * p;                          // d_p = grad + wd·p
${
  withMomentum
    ? `  var b = d;                                           // first step: buf = clone(d_p)
  if (u.first == 0u) { b = buf[i] * u.momentum + u.oneMinusDampening * d; }
  buf[i] = b;
  if (u.nesterov != 0u) { d = d + u.momentum * b; } else { d = b; }`
    : ''
}
  param[i] = p - u.lr * d;
}`;
  k = { code, label: `optim sgd${withMomentum ? ' (momentum)' : ''}` };
  sgdKernels.set(withMomentum, k);
  return k;
}

/** One fused SGD step in place; `buf` is the momentum buffer (null when momentum = 0). One dispatch. */
export function sgdStep(p: DeviceArray, g: DeviceArray, buf: DeviceArray | null, a: SgdStepArgs): void {
  const dev = checkSame('sgd', p, buf ? { grad: g, momentum_buffer: buf } : { grad: g });
  const n = p.size;
  if (n === 0) return;
  dev.dispatch(sgdKernel(!!buf), {
    buffers: buf ? [p.buffer, g.buffer, buf.buffer] : [p.buffer, g.buffer],
    uniforms: [n, f32bits(a.lr), f32bits(a.weightDecay), f32bits(a.momentum), f32bits(1 - a.dampening), a.nesterov ? 1 : 0, a.first ? 1 : 0, 0],
    workgroups: grid1d(dev, n),
  });
}

// ---- EMA ----------------------------------------------------------------------------------------------------------

const EMA: Kernel = {
  label: 'optim ema',
  code: /* wgsl */ `
struct U { n: u32, decay: f32, oneMinusDecay: f32, pad: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read_write> ema: array<f32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
${main1d()}
  if (i >= u.n) { return; }
  ema[i] = u.decay * ema[i] + u.oneMinusDecay * src[i];
}`,
};

/** ema ← decay·ema + (1 − decay)·src, in place. One dispatch. */
export function emaUpdate(ema: DeviceArray, src: DeviceArray, decay: number): void {
  const dev = checkSame('ema', ema, { param: src });
  const n = ema.size;
  if (n === 0) return;
  dev.dispatch(EMA, { buffers: [ema.buffer, src.buffer], uniforms: [n, f32bits(decay), f32bits(1 - decay), 0], workgroups: grid1d(dev, n) });
}

// ---- gradient clipping by global L2 norm --------------------------------------------------------------------------

const NORM: Kernel = {
  label: 'optim clip norm',
  code: /* wgsl */ `
struct U { count: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> norm: array<f32>;
@compute @workgroup_size(1)
fn main() {
  var s = 0.0;
  for (var k = 0u; k < u.count; k++) { s += partials[k]; }
  norm[0] = sqrt(s);
}`,
};

/** norm[0] = sqrt(Σ partials[0..count)): the global norm from the per-gradient sums of squares. One dispatch. */
export function normFromPartials(partials: DeviceArray, count: number, norm: DeviceArray): void {
  partials.device.dispatch(NORM, { buffers: [partials.buffer, norm.buffer], uniforms: [count, 0, 0, 0], workgroups: [1] });
}

const CLIP_SCALE: Kernel = {
  label: 'optim clip scale',
  code: /* wgsl */ `
struct U { n: u32, maxNorm: f32, eps: f32, pad: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> norm: array<f32>;
@group(0) @binding(2) var<storage, read_write> grad: array<f32>;
${main1d()}
  if (i >= u.n) { return; }
  let coef = min(1.0, u.maxNorm / (norm[0] + u.eps));  // torch: clamp(max_norm / (total_norm + 1e-6), max=1)
  grad[i] = grad[i] * coef;
}`,
};

/** g ← g · min(1, maxNorm / (norm + eps)), reading the norm from its buffer (no readback). One dispatch. */
export function clipScale(g: DeviceArray, norm: DeviceArray, maxNorm: number, eps: number): void {
  const n = g.size;
  if (n === 0) return;
  g.device.dispatch(CLIP_SCALE, { buffers: [norm.buffer, g.buffer], uniforms: [n, f32bits(maxNorm), f32bits(eps), 0], workgroups: grid1d(g.device, n) });
}
