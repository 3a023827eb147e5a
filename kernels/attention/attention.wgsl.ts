// kernels/attention/attention.wgsl.ts: flash-style attention kernels (FlashAttention-2 forward and backward) as WGSL
// generators: softmax(q·kᵀ·scale)·v without an L×L matrix anywhere in memory.
// Lanes run over query rows (forward, dQ) or key rows (dK/dV); every lane of a workgroup walks the same K/V (or Q/dO)
// rows at the same time, so those loads are uniform (one load broadcast to all lanes on CPU drivers), while each lane's
// own rows and accumulators stay in private arrays (registers). No workgroup memory and no barriers: CPU Vulkan
// drivers (lavapipe, SwiftShader) emulate both slowly. Scores live in the log2 domain: q (or k) is pre-multiplied by
// scale·log2(e), so every exponential is one exp2; the saved LSE is in natural-log units (torch's logsumexp).

export interface AttentionForwardConfig {
  d: number; // head dim, baked in: it sizes the private row arrays
  rows: 1 | 2 | 4; // query rows per invocation (each K/V load feeds this many rows)
  keys: 4 | 8 | 16; // keys per tile: scores of a tile stay in registers; one rescale of the accumulator per tile
  wg: 32 | 64; // invocations per workgroup
  unroll: boolean; // emit the loops over d as straight-line code
}

export interface AttentionDqConfig {
  d: number;
  rows: 1 | 2 | 4; // query rows per invocation
  keys: 4 | 8 | 16; // keys per tile
  wg: 32 | 64;
  unroll: boolean;
}

export interface AttentionDkvConfig {
  d: number;
  cols: 1 | 2 | 4; // key rows per invocation (each Q/dO load feeds this many keys)
  rows: 4 | 8 | 16; // query rows per tile
  wg: 32 | 64;
  unroll: boolean;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** A loop over the head dim: `for` over d, or the body repeated with constant indices (arrays then become registers). */
function dLoop(unroll: boolean, d: number, body: (i: string) => string): string {
  if (!unroll) return `for (var d = 0u; d < D; d++) {\n      ${body('d')}\n    }`;
  return range(d).map((i) => `{ ${body(`${i}u`)} }`).join('\n    ');
}

/** Σ_c a_c·b_c + init as a chain of fma. */
const fmaChain = (terms: [string, string][], init: string): string => terms.reduce((acc, [a, b]) => `fma(${a}, ${b}, ${acc})`, init);

const HEADER = (d: number) => /* wgsl */ `
const D = ${d}u;
const NEG = -3.0e38; // masked score; finite so that max/exp2 never meet inf − inf
const LN2 = 0.6931471805599453;
const LOG2E = 1.4426950408889634;
// L: query rows, S: key rows, BH: batch·heads, qscale = scale·log2(e)
struct U { L: u32, S: u32, BH: u32, causal: u32, scale: f32, qscale: f32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> u: U;`;

// every kernel: workgroups [row or key blocks, BH split over y·z]; `bh` is uniform per workgroup
const ENTRY = (wg: number) => /* wgsl */ `
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let bh = wid.y + wid.z * nwg.y;
  if (bh >= u.BH) { return; }
  let qb = bh * u.L * D;
  let kb = bh * u.S * D;`;

/**
 * Forward. Each invocation owns `rows` query rows: q pre-scaled in registers, running max m, running sum l and the
 * output accumulator a. Per tile of `keys` keys: scores, one rescale of a by exp2(m_old − m_new), then a += p·v.
 * Writes O = a / l and LSE = (m + log2 l)·ln 2.
 */
export const attentionForwardWgsl = (c: AttentionForwardConfig): string => {
  const R = range(c.rows), C = range(c.keys);
  const loop = (body: (i: string) => string) => dLoop(c.unroll, c.d, body);
  return /* wgsl */ `${HEADER(c.d)}
@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<f32>;
@group(0) @binding(3) var<storage, read> V: array<f32>;
@group(0) @binding(4) var<storage, read_write> O: array<f32>;
@group(0) @binding(5) var<storage, read_write> LSE: array<f32>;
${ENTRY(c.wg)}
  let block0 = wid.x * ${c.wg * c.rows}u;
  // this invocation's rows; loads clamp to the last row, only real rows are stored (no early return: loads stay uniform)
  ${R.map((r) => `let i${r} = block0 + lid * ${c.rows}u + ${r}u; let qo${r} = qb + min(i${r}, u.L - 1u) * D;`).join('\n  ')}
  ${R.map((r) => `var q${r}: array<f32, D>; var a${r}: array<f32, D>; var m${r} = NEG; var l${r} = 0.0;`).join('\n  ')}
  ${dLoop(c.unroll, c.d, (d) => R.map((r) => `q${r}[${d}] = Q[qo${r} + ${d}] * u.qscale;`).join(' '))}
  // causal: keys up to the workgroup's last row (uniform bound); later keys are masked per lane
  var kEnd = u.S;
  if (u.causal != 0u) { kEnd = min(u.S, min(block0 + ${c.wg * c.rows}u, u.L)); }
  for (var j0 = 0u; j0 < kEnd; j0 += ${c.keys}u) {
    ${C.map((k) => `let ko${k} = kb + min(j0 + ${k}u, u.S - 1u) * D;`).join(' ')}
    ${R.map((r) => C.map((k) => `var s${r}_${k} = 0.0;`).join(' ')).join(' ')}
    ${loop((d) => `${C.map((k) => `let k${k} = K[ko${k} + ${d}];`).join(' ')}
      ${R.map((r) => `let x${r} = q${r}[${d}]; ${C.map((k) => `s${r}_${k} = fma(x${r}, k${k}, s${r}_${k});`).join(' ')}`).join('\n      ')}`)}
    ${R.map(
      (r) => `${C.map((k) => `let ok${r}_${k} = j0 + ${k}u < u.S && (u.causal == 0u || j0 + ${k}u <= i${r});`).join(' ')}
    let mn${r} = max(m${r}, ${C.map((k) => `select(NEG, s${r}_${k}, ok${r}_${k})`).reduce((a, b) => `max(${a}, ${b})`)});
    let c${r} = exp2(m${r} - mn${r}); m${r} = mn${r};
    ${C.map((k) => `let p${r}_${k} = select(0.0, exp2(s${r}_${k} - mn${r}), ok${r}_${k});`).join(' ')}
    l${r} = fma(l${r}, c${r}, ${C.map((k) => `p${r}_${k}`).join(' + ')});`,
    ).join('\n    ')}
    ${loop((d) => `${C.map((k) => `let w${k} = V[ko${k} + ${d}];`).join(' ')}
      ${R.map((r) => `a${r}[${d}] = ${fmaChain(C.map((k) => [`p${r}_${k}`, `w${k}`]), `a${r}[${d}] * c${r}`)};`).join('\n      ')}`)}
  }
  ${R.map(
    (r) => `if (i${r} < u.L) {
    let inv${r} = 1.0 / l${r};
    ${dLoop(c.unroll, c.d, (d) => `O[qo${r} + ${d}] = a${r}[${d}] * inv${r};`)}
    LSE[bh * u.L + i${r}] = (m${r} + log2(l${r})) * LN2;
  }`,
  ).join('\n  ')}
}`;
};

/**
 * Backward, query side. Each invocation owns `rows` query rows: q (pre-scaled), dO, and Δ = rowsum(dO ∘ O), which it
 * also writes for the key-side kernel. Per key: p = exp2(s − lse), dp = dO·v, ds = p·(dp − Δ); dQ += ds·k; dQ·scale.
 */
export const attentionDqWgsl = (c: AttentionDqConfig): string => {
  const R = range(c.rows), C = range(c.keys);
  const loop = (body: (i: string) => string) => dLoop(c.unroll, c.d, body);
  return /* wgsl */ `${HEADER(c.d)}
@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<f32>;
@group(0) @binding(3) var<storage, read> V: array<f32>;
@group(0) @binding(4) var<storage, read> O: array<f32>;
@group(0) @binding(5) var<storage, read> dO: array<f32>;
@group(0) @binding(6) var<storage, read> LSE: array<f32>;
@group(0) @binding(7) var<storage, read_write> dQ: array<f32>;
@group(0) @binding(8) var<storage, read_write> DELTA: array<f32>;
${ENTRY(c.wg)}
  let block0 = wid.x * ${c.wg * c.rows}u;
  ${R.map((r) => `let i${r} = block0 + lid * ${c.rows}u + ${r}u; let qo${r} = qb + min(i${r}, u.L - 1u) * D;`).join('\n  ')}
  ${R.map((r) => `var q${r}: array<f32, D>; var g${r}: array<f32, D>; var dq${r}: array<f32, D>; var dl${r} = 0.0;`).join('\n  ')}
  ${dLoop(c.unroll, c.d, (d) => R.map((r) => `q${r}[${d}] = Q[qo${r} + ${d}] * u.qscale; g${r}[${d}] = dO[qo${r} + ${d}]; dl${r} = fma(g${r}[${d}], O[qo${r} + ${d}], dl${r});`).join(' '))}
  ${R.map((r) => `let lse${r} = LSE[bh * u.L + min(i${r}, u.L - 1u)] * LOG2E;`).join(' ')}
  var kEnd = u.S;
  if (u.causal != 0u) { kEnd = min(u.S, min(block0 + ${c.wg * c.rows}u, u.L)); }
  for (var j0 = 0u; j0 < kEnd; j0 += ${c.keys}u) {
    ${C.map((k) => `let ko${k} = kb + min(j0 + ${k}u, u.S - 1u) * D;`).join(' ')}
    ${R.map((r) => C.map((k) => `var s${r}_${k} = 0.0; var t${r}_${k} = 0.0;`).join(' ')).join(' ')}
    ${loop((d) => `${C.map((k) => `let k${k} = K[ko${k} + ${d}]; let w${k} = V[ko${k} + ${d}];`).join(' ')}
      ${R.map((r) => `let x${r} = q${r}[${d}]; let y${r} = g${r}[${d}]; ${C.map((k) => `s${r}_${k} = fma(x${r}, k${k}, s${r}_${k}); t${r}_${k} = fma(y${r}, w${k}, t${r}_${k});`).join(' ')}`).join('\n      ')}`)}
    ${R.map((r) => C.map((k) => `let ds${r}_${k} = select(0.0, exp2(s${r}_${k} - lse${r}) * (t${r}_${k} - dl${r}), j0 + ${k}u < u.S && (u.causal == 0u || j0 + ${k}u <= i${r}));`).join(' ')).join('\n    ')}
    ${loop((d) => `${C.map((k) => `let k${k} = K[ko${k} + ${d}];`).join(' ')}
      ${R.map((r) => `dq${r}[${d}] = ${fmaChain(C.map((k) => [`ds${r}_${k}`, `k${k}`]), `dq${r}[${d}]`)};`).join('\n      ')}`)}
  }
  ${R.map(
    (r) => `if (i${r} < u.L) {
    ${dLoop(c.unroll, c.d, (d) => `dQ[qo${r} + ${d}] = dq${r}[${d}] * u.scale;`)}
    DELTA[bh * u.L + i${r}] = dl${r};
  }`,
  ).join('\n  ')}
}`;
};

/**
 * Backward, key side. Each invocation owns `cols` key rows: k (pre-scaled), v, and the dK, dV accumulators. Per
 * query row i (from Q, dO, LSE and the Δ written by the dQ kernel): p = exp2(s − lse_i), dV += p·dO_i,
 * ds = p·(dO_i·v − Δ_i), dK += ds·q_i; dK·scale.
 */
export const attentionDkvWgsl = (c: AttentionDkvConfig): string => {
  const C = range(c.cols), R = range(c.rows);
  const loop = (body: (i: string) => string) => dLoop(c.unroll, c.d, body);
  return /* wgsl */ `${HEADER(c.d)}
@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<f32>;
@group(0) @binding(3) var<storage, read> V: array<f32>;
@group(0) @binding(4) var<storage, read> dO: array<f32>;
@group(0) @binding(5) var<storage, read> LSE: array<f32>;
@group(0) @binding(6) var<storage, read> DELTA: array<f32>;
@group(0) @binding(7) var<storage, read_write> dK: array<f32>;
@group(0) @binding(8) var<storage, read_write> dV: array<f32>;
${ENTRY(c.wg)}
  let block0 = wid.x * ${c.wg * c.cols}u;
  ${C.map((k) => `let j${k} = block0 + lid * ${c.cols}u + ${k}u; let ko${k} = kb + min(j${k}, u.S - 1u) * D;`).join('\n  ')}
  ${C.map((k) => `var k${k}: array<f32, D>; var w${k}: array<f32, D>; var dk${k}: array<f32, D>; var dv${k}: array<f32, D>;`).join('\n  ')}
  ${dLoop(c.unroll, c.d, (d) => C.map((k) => `k${k}[${d}] = K[ko${k} + ${d}] * u.qscale; w${k}[${d}] = V[ko${k} + ${d}];`).join(' '))}
  // causal: queries from the workgroup's first key on (earlier queries see none of its keys)
  var iStart = 0u;
  if (u.causal != 0u) { iStart = block0; }
  for (var i0 = iStart; i0 < u.L; i0 += ${c.rows}u) {
    ${R.map((r) => `let qo${r} = qb + min(i0 + ${r}u, u.L - 1u) * D; let lse${r} = LSE[bh * u.L + min(i0 + ${r}u, u.L - 1u)] * LOG2E; let dl${r} = DELTA[bh * u.L + min(i0 + ${r}u, u.L - 1u)];`).join('\n    ')}
    ${R.map((r) => C.map((k) => `var s${r}_${k} = 0.0; var t${r}_${k} = 0.0;`).join(' ')).join(' ')}
    ${loop((d) => `${R.map((r) => `let x${r} = Q[qo${r} + ${d}]; let y${r} = dO[qo${r} + ${d}];`).join(' ')}
      ${C.map((k) => `let kk${k} = k${k}[${d}]; let ww${k} = w${k}[${d}]; ${R.map((r) => `s${r}_${k} = fma(x${r}, kk${k}, s${r}_${k}); t${r}_${k} = fma(y${r}, ww${k}, t${r}_${k});`).join(' ')}`).join('\n      ')}`)}
    ${R.map((r) => C.map((k) => `let p${r}_${k} = select(0.0, exp2(s${r}_${k} - lse${r}), i0 + ${r}u < u.L && (u.causal == 0u || j${k} <= i0 + ${r}u)); let ds${r}_${k} = p${r}_${k} * (t${r}_${k} - dl${r});`).join(' ')).join('\n    ')}
    ${loop((d) => `${R.map((r) => `let x${r} = Q[qo${r} + ${d}]; let y${r} = dO[qo${r} + ${d}];`).join(' ')}
      ${C.map((k) => `dv${k}[${d}] = ${fmaChain(R.map((r) => [`p${r}_${k}`, `y${r}`]), `dv${k}[${d}]`)}; dk${k}[${d}] = ${fmaChain(R.map((r) => [`ds${r}_${k}`, `x${r}`]), `dk${k}[${d}]`)};`).join('\n      ')}`)}
  }
  ${C.map(
    (k) => `if (j${k} < u.S) {
    ${dLoop(c.unroll, c.d, (d) => `dK[ko${k} + ${d}] = dk${k}[${d}] * u.scale; dV[ko${k} + ${d}] = dv${k}[${d}];`)}
  }`,
  ).join('\n  ')}
}`;
};
