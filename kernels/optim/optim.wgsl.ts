// kernels/optim/optim.wgsl.ts: the optimiser update rules as multi-tensor kernel specs (./segments.ts generates the
// kernels): Adam/AdamW (per-segment bias corrections, so parameters with different step counts share a dispatch), SGD
// (a per-segment "first momentum step" flag), the EMA lerp, and gradient clipping by global norm in two passes: a sum
// of squares per workgroup into a partials buffer, then a scale kernel whose workgroups each add up the partials (no
// finishing dispatch), scale their part by min(1, maxNorm / (‖g‖ + eps)) and write ‖g‖. Workgroup sums use two
// barriers (16 partial sums of 16, then one of 16): CPU drivers emulate barriers slowly, GPUs dislike long serial
// loops. Ground truth: ./reference.ts (torch's rules; the clipping norm is summed in its own order).
import type { MultiSpec } from './segments';

// ---- Adam / AdamW: m ← m + (1 − β1)(g − m); v ← β2·v + (1 − β2)·g²; p ← p − lr/(1 − β1ᵗ) · m / (√v/√(1 − β2ᵗ) + eps)

export const ADAM: MultiSpec = {
  label: 'optim adam (multi)',
  // decay = 1 − lr·wd (AdamW) or 1; l2 = wd (Adam) or 0; per segment x = stepSize = lr / (1 − β1ᵗ), y = sqrt(1 − β2ᵗ)
  header: 'ept: u32, oneMinusBeta1: f32, beta2: f32, oneMinusBeta2: f32, eps: f32, l2: f32, decay: f32, pad0: u32',
  shared: [],
  seg: [
    { name: 'param', write: true },
    { name: 'grad', write: false },
    { name: 'expAvg', write: true },
    { name: 'expAvgSq', write: true },
  ],
  locals: '  let stepSize = bitcast<f32>(sx);\n  let bc2Sqrt = bitcast<f32>(sy);',
  body: (b) => `
        let p0 = ${b('param')}[i];
        let g = ${b('grad')}[i] + u.l2 * p0;
        let p = p0 * u.decay;
        let m0 = ${b('expAvg')}[i];
        let m = m0 + u.oneMinusBeta1 * (g - m0);
        let v0 = ${b('expAvgSq')}[i];
        let v = v0 * u.beta2 + u.oneMinusBeta2 * (g * g);
        let denom = sqrt(v) / bc2Sqrt + u.eps;
        ${b('param')}[i] = select(p0, p - stepSize * (m / denom), mask);
        ${b('expAvg')}[i] = select(m0, m, mask);
        ${b('expAvgSq')}[i] = select(v0, v, mask);`,
};

// ---- SGD: d = g + wd·p; buf ← d (first step) or μ·buf + (1 − dampening)·d; d ← Nesterov ? d + μ·buf : buf; p ← p − lr·d

const sgdSpecs = new Map<boolean, MultiSpec>();
export function sgdSpec(withMomentum: boolean): MultiSpec {
  let s = sgdSpecs.get(withMomentum);
  if (s) return s;
  s = {
    label: `optim sgd${withMomentum ? ' (momentum)' : ''} (multi)`,
    // per segment x = 1 on the segment's first momentum step (buf ← d_p)
    header: 'ept: u32, lr: f32, wd: f32, momentum: f32, oneMinusDampening: f32, nesterov: u32, pad0: u32, pad1: u32',
    shared: [],
    seg: [{ name: 'param', write: true }, { name: 'grad', write: false }, ...(withMomentum ? [{ name: 'buf', write: true }] : [])],
    body: (b) => `
        let p = ${b('param')}[i];
        var d = ${b('grad')}[i] + u.wd * p;
${
  withMomentum
    ? `        let b0 = ${b('buf')}[i];
        var mb = d;
        if (sx == 0u) { mb = b0 * u.momentum + u.oneMinusDampening * d; }
        ${b('buf')}[i] = select(b0, mb, mask);
        if (u.nesterov != 0u) { d = d + u.momentum * mb; } else { d = mb; }`
    : ''
}
        ${b('param')}[i] = select(p, p - u.lr * d, mask);`,
  };
  sgdSpecs.set(withMomentum, s);
  return s;
}

// ---- EMA: ema ← decay·ema + (1 − decay)·p

export const EMA: MultiSpec = {
  label: 'optim ema (multi)',
  header: 'ept: u32, decay: f32, oneMinusDecay: f32, pad0: u32, pad1: u32, pad2: u32, pad3: u32, pad4: u32',
  shared: [],
  seg: [{ name: 'ema', write: true }, { name: 'src', write: false }],
  body: (b) => `        let e0 = ${b('ema')}[i];
        ${b('ema')}[i] = select(e0, u.decay * e0 + u.oneMinusDecay * ${b('src')}[i], mask);`,
};

// ---- gradient clipping by global L2 norm (torch.nn.utils.clip_grad_norm_)

/** Workgroup sum of every invocation's `v` in a fixed order (the same bits in every workgroup); all must call it. WG: the kernel's workgroup size (a multiple of 16). */
const WG_SUM = /* wgsl */ `
var<workgroup> wsum: array<f32, WG>;
var<workgroup> wsum16: array<f32, 16>;
fn wgSum(v: f32, lid: u32) -> f32 {
  wsum[lid] = v;
  workgroupBarrier();
  if (lid < 16u) {
    var t = 0.0;
    for (var j = 0u; j < WG / 16u; j++) { t += wsum[lid * (WG / 16u) + j]; }
    wsum16[lid] = t;
  }
  workgroupBarrier();
  var t = 0.0;
  for (var j = 0u; j < 16u; j++) { t += wsum16[j]; }
  return t;
}`;

export const SUMSQ: MultiSpec = {
  label: 'optim clip sumsq (multi)',
  header: 'ept: u32, partialBase: u32, pad0: u32, pad1: u32, pad2: u32, pad3: u32, pad4: u32, pad5: u32',
  shared: [{ name: 'partials', write: true }],
  seg: [{ name: 'grad', write: false }],
  decls: WG_SUM,
  locals: '  var acc = 0.0;',
  body: (b) => `        let g = select(vec4f(0.0), ${b('grad')}[i], mask);
        acc += dot(g, g);`,
  epilogue: `  let t = wgSum(acc, lid);
  if (lid == 0u) { partials[u.partialBase + wg] = t; }`,
};

export const CLIP_SCALE: MultiSpec = {
  label: 'optim clip scale (multi)',
  // count: partials to add up; writeNorm: this dispatch's workgroup 0 stores ‖g‖
  header: 'ept: u32, count: u32, maxNorm: f32, eps: f32, writeNorm: u32, pad0: u32, pad1: u32, pad2: u32',
  shared: [{ name: 'partials', write: false }, { name: 'normOut', write: true }],
  seg: [{ name: 'grad', write: true }],
  decls: WG_SUM,
  prologue: `  var s = 0.0;
  for (var j = lid; j < u.count; j += WG) { s += partials[j]; }
  let norm = sqrt(wgSum(s, lid));
  if (u.writeNorm != 0u && wg == 0u && lid == 0u) { normOut[0] = norm; }
  let coef = min(1.0, u.maxNorm / (norm + u.eps));  // torch: clamp(max_norm / (total_norm + 1e-6), max=1)`,
  body: (b) => `        let g = ${b('grad')}[i];
        ${b('grad')}[i] = select(g, g * coef, mask);`,
};
