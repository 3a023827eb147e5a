// kernels/softmax/softmax.wgsl.ts: softmax and logSoftmax along one axis, forward and backward; one invocation per
// row (a row: the `len` values along the axis, `inner` apart). Matches torch.softmax / torch.log_softmax.
import { WGSL_MATH } from '../elementwise/ops';
import { main1d } from '../grid';

/** Which pass: the forward of softmax or logSoftmax, or its backward from the forward's output y and the gradient g. */
export type SoftmaxPass = 'softmax' | 'logSoftmax' | 'softmaxGrad' | 'logSoftmaxGrad';

/** Rows per workgroup. */
export const SOFTMAX_WG = 64;

// x[o] is the row's input (forward) or the forward's output y (backward); `base` is the row's first element
const BODY: Record<SoftmaxPass, string> = {
  // exp(x − max) / Σ exp(x − max)
  softmax: `
  var m = -inf_();
  for (var j = 0u; j < u.len; j++) { m = max(m, x[base + j * u.inner]); }
  var s = 0.0;
  for (var j = 0u; j < u.len; j++) { s += exp(x[base + j * u.inner] - m); }
  let inv = 1.0 / s;
  for (var j = 0u; j < u.len; j++) { let o = base + j * u.inner; out[o] = exp(x[o] - m) * inv; }`,
  // x − (max + log Σ exp(x − max))
  logSoftmax: `
  var m = -inf_();
  for (var j = 0u; j < u.len; j++) { m = max(m, x[base + j * u.inner]); }
  var s = 0.0;
  for (var j = 0u; j < u.len; j++) { s += exp(x[base + j * u.inner] - m); }
  let lse = m + log(s);
  for (var j = 0u; j < u.len; j++) { let o = base + j * u.inner; out[o] = x[o] - lse; }`,
  // dx = y·(g − Σ g·y)
  softmaxGrad: `
  var s = 0.0;
  for (var j = 0u; j < u.len; j++) { let o = base + j * u.inner; s += g[o] * x[o]; }
  for (var j = 0u; j < u.len; j++) { let o = base + j * u.inner; out[o] = x[o] * (g[o] - s); }`,
  // dx = g − exp(y)·Σ g
  logSoftmaxGrad: `
  var s = 0.0;
  for (var j = 0u; j < u.len; j++) { s += g[base + j * u.inner]; }
  for (var j = 0u; j < u.len; j++) { let o = base + j * u.inner; out[o] = g[o] - exp(x[o]) * s; }`,
};

export const softmaxWgsl = (pass: SoftmaxPass): string => {
  const backward = pass.endsWith('Grad');
  return /* wgsl */ `
struct U { rows: u32, len: u32, inner: u32, pad: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> x: array<f32>;
${backward ? '@group(0) @binding(2) var<storage, read> g: array<f32>;\n@group(0) @binding(3)' : '@group(0) @binding(2)'} var<storage, read_write> out: array<f32>;
${WGSL_MATH}
${main1d(SOFTMAX_WG)}
  if (i >= u.rows) { return; }
  let base = (i / u.inner) * u.len * u.inner + i % u.inner;${BODY[pass]}
}`;
};
