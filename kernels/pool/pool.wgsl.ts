// kernels/pool/pool.wgsl.ts: WGSL for avg_pool2d (count_include_pad = true, ceil_mode = false) and nearest
// upsampling by integer factors (F.interpolate(mode='nearest', scale_factor=s)), forward and backward, on the
// trailing [H, W] of contiguous planes (N·C of them). One invocation per output element; every backward is a gather
// (one invocation per input element summing the outputs that read it), so no atomics and no zero-fill pass.
import { main1d } from '../grid';

export type PoolKernel = 'avgPool' | 'avgPoolGrad' | 'upsample' | 'upsampleGrad';
export const POOL_KERNELS: readonly PoolKernel[] = ['avgPool', 'avgPoolGrad', 'upsample', 'upsampleGrad'];

/**
 * Uniform words: n (invocations), H, W (input), Ho, Wo (output), kh, kw, sh, sw (stride or scale), ph, pw, invArea.
 * Every shape is a uniform so one pipeline per kernel serves every size.
 */
const HEADER = /* wgsl */ `
struct U { n: u32, H: u32, W: u32, Ho: u32, Wo: u32, kh: u32, kw: u32, sh: u32, sw: u32, ph: u32, pw: u32, invArea: f32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;`;

const BODY: Record<PoolKernel, string> = {
  // dst [planes, Ho, Wo] = mean over the kh×kw window at (oh·sh − ph, ow·sw − pw); padding counts as zeros
  avgPool: /* wgsl */ `
  let ow = i % u.Wo; let oh = (i / u.Wo) % u.Ho; let plane = i / (u.Wo * u.Ho);
  let h0 = i32(oh * u.sh) - i32(u.ph); let w0 = i32(ow * u.sw) - i32(u.pw);
  let hs = u32(max(h0, 0)); let he = u32(min(h0 + i32(u.kh), i32(u.H)));
  let ws = u32(max(w0, 0)); let we = u32(min(w0 + i32(u.kw), i32(u.W)));
  var acc = 0.0;
  for (var h = hs; h < he; h++) {
    let row = (plane * u.H + h) * u.W;
    for (var w = ws; w < we; w++) { acc += src[row + w]; }
  }
  dst[i] = acc * u.invArea;`,
  // src = grad out [planes, Ho, Wo], dst = grad in [planes, H, W]: every window covering (ih, iw) adds g/area.
  // oh covers ih when oh·sh − ph ≤ ih ≤ oh·sh − ph + kh − 1
  avgPoolGrad: /* wgsl */ `
  let iw = i % u.W; let ih = (i / u.W) % u.H; let plane = i / (u.W * u.H);
  let hn = i32(ih + u.ph) - i32(u.kh) + 1; let wn = i32(iw + u.pw) - i32(u.kw) + 1;
  let ohs = select(0u, (u32(hn) + u.sh - 1u) / u.sh, hn > 0); let ohe = min((ih + u.ph) / u.sh + 1u, u.Ho);
  let ows = select(0u, (u32(wn) + u.sw - 1u) / u.sw, wn > 0); let owe = min((iw + u.pw) / u.sw + 1u, u.Wo);
  var acc = 0.0;
  for (var oh = ohs; oh < ohe; oh++) {
    let row = (plane * u.Ho + oh) * u.Wo;
    for (var ow = ows; ow < owe; ow++) { acc += src[row + ow]; }
  }
  dst[i] = acc * u.invArea;`,
  // dst [planes, H·sh, W·sw]: out[oh, ow] = in[oh / sh, ow / sw]
  upsample: /* wgsl */ `
  let ow = i % u.Wo; let oh = (i / u.Wo) % u.Ho; let plane = i / (u.Wo * u.Ho);
  dst[i] = src[(plane * u.H + oh / u.sh) * u.W + ow / u.sw];`,
  // src = grad out, dst = grad in: the sum of the sh×sw block each input element was copied to
  upsampleGrad: /* wgsl */ `
  let iw = i % u.W; let ih = (i / u.W) % u.H; let plane = i / (u.W * u.H);
  var acc = 0.0;
  for (var a = 0u; a < u.sh; a++) {
    let row = (plane * u.Ho + ih * u.sh + a) * u.Wo + iw * u.sw;
    for (var b = 0u; b < u.sw; b++) { acc += src[row + b]; }
  }
  dst[i] = acc;`,
};

export const poolWgsl = (k: PoolKernel): string => /* wgsl */ `// ${k}
${HEADER}
${main1d()}
  if (i >= u.n) { return; }${BODY[k]}
}`;
