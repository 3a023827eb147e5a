// kernels/norm/norm.wgsl.ts: WGSL for group norm (and layer norm, its G = 1, S = 1 case) forward and backward;
// matches torch.nn.functional.group_norm / layer_norm (biased variance), with an optional fused SiLU on the output.
//
// Layout: x is [rows, Cg, S] with rows = N·G; a row is one (sample, group), channel c of the row is global channel
// g·Cg + c (g = row % G), and γ, β are indexed by that channel — or, per sample (adaptive group norm: a UNet block's
// scale and shift from its conditioning), by n·C + channel (n = row / G). Inside a workgroup the WG lanes form a
// CT × ST grid (ST spatial lanes per channel, CT = WG / ST channels at a time), so a lane's channel is known without
// an integer division per element, and neighbouring lanes read neighbouring addresses. Elements move as vec4f where
// the shape allows (NormPack below).
//
//   forward:    mean, rstd = stats of the row (shifted sums, one workgroup reduction); y = act((x − mean)·rstd·γ + β)
//   backward 1: per row, dz = dy (· silu'(z) when fused), x̂ = (x − mean)·rstd; A = Σ γ·dz, B = Σ γ·dz·x̂ (one
//               reduction); dx = rstd·(γ·dz − (A + x̂·B)/M); each lane also writes its per-channel Σ dz, Σ dz·x̂
//   backward 2: per channel, dβ = Σ dz and dγ = Σ dz·x̂ over the lanes' partials of every sample

/**
 * 'wg64' / 'wg256': one workgroup of that many lanes per row (GPUs); 'wg8': 8 lanes per row, one SIMD vector of a CPU
 * driver, where every barrier costs a switch per 8 lanes; 'thread': one invocation per row, no barriers (tiny groups
 * on GPUs; most shapes on CPU drivers, whose SIMD lanes then hold 8 rows).
 */
export type NormVariant = 'wg64' | 'wg256' | 'wg8' | 'thread';
export const NORM_VARIANTS: readonly NormVariant[] = ['wg64', 'wg256', 'wg8', 'thread'];
/** Lanes per workgroup; for 'thread' each lane is its own row. */
export const NORM_WG: Record<NormVariant, number> = { wg64: 64, wg256: 256, wg8: 8, thread: 64 };

/**
 * How elements move: 'none' one f32 at a time; 'spatial' (S % 4 == 0) vec4f along the spatial dim, so a quad shares
 * one channel (S then counts quads); 'channel' (S == 1, Cg % 4 == 0: layer norm rows) vec4f across 4 channels, with
 * γ, β read as vec4f too (Cg then counts channel quads).
 */
export type NormPack = 'none' | 'spatial' | 'channel';

export interface NormConfig {
  variant: NormVariant;
  pack: NormPack;
  weight: boolean; // γ given
  bias: boolean; // β given
  silu: boolean; // y = silu(x̂·γ + β), fused
  perSample: boolean; // γ, β are [N, C] (one per sample and channel), not [C]
}

export interface NormBackwardConfig extends NormConfig {
  dx: boolean; // write grad x
  partials: boolean; // write per-(n, channel, lane) (Σ dz, Σ dz·x̂) for the grad-weight/bias kernel
}

/** Uniform words: rows, G, Cg, S (in units of the pack), ST, C = G·Cg channels, eps, 1/M (M = elements per row). */
export const NORM_UNIFORM = /* wgsl */ `
struct U { rows: u32, G: u32, Cg: u32, S: u32, ST: u32, C: u32, eps: f32, invM: f32 }
@group(0) @binding(0) var<uniform> u: U;`;

/** Type of an element group (x, y, dy, dx) and of a per-channel value (γ, β). */
const vt = (c: NormConfig) => (c.pack === 'none' ? 'f32' : 'vec4f');
const wt = (c: NormConfig) => (c.pack === 'channel' ? 'vec4f' : 'f32');
const hsum = (c: NormConfig, v: string) => (c.pack === 'none' ? v : `dot(${v}, vec4f(1.0))`);

/** Storage bindings from 1 in order; the dispatcher passes buffers in the same order. */
function bindings(list: [string, string, boolean][]): string {
  return list
    .map(([name, type, rw], i) => `@group(0) @binding(${i + 1}) var<storage, ${rw ? 'read_write' : 'read'}> ${name}: array<${type}>;`)
    .join('\n');
}

/** The entry point: defines `r` (the row), `lid`, and the lane grid `cl`, `sl`, `CT`; returns early past the rows. */
function entry(c: NormConfig): string {
  const wg = NORM_WG[c.variant];
  if (c.variant === 'thread') {
    return /* wgsl */ `
@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = gid.x + gid.y * nwg.x * ${wg}u;
  if (r >= u.rows) { return; }
  let cl = 0u; let sl = 0u; let CT = 1u; // u.ST == 1`;
  }
  return /* wgsl */ `
const WG = ${wg}u;
var<workgroup> red: array<vec2f, WG>;
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = wid.x + wid.y * nwg.x; // uniform across the workgroup, so the early return keeps barriers uniform
  if (r >= u.rows) { return; }
  let cl = lid / u.ST; let sl = lid % u.ST; let CT = WG / u.ST; // u.ST: a power of two ≤ WG`;
}

/** Sums the vec2f `v` over the workgroup into `name` (every lane gets it); a no-op for one lane per row. */
function reduceAll(c: NormConfig, v: string, name: string): string {
  if (c.variant === 'thread') return `let ${name} = ${v};`;
  return /* wgsl */ `red[lid] = ${v};
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) { red[lid] += red[lid + k]; }
    workgroupBarrier();
  }
  let ${name} = red[0];`;
}

/** Loop over this lane's elements of the row: channel c (cb = its offset), spatial s. */
const forChannels = (body: string) => /* wgsl */ `
  for (var c = cl; c < u.Cg; c += CT) {
    let ch = g * u.Cg + c;
    let cb = base + c * u.S;${body}
  }`;
const forSpatial = (body: string) => /* wgsl */ `
    for (var s = sl; s < u.S; s += u.ST) {${body}
    }`;

const affineAt = (c: NormConfig) => (c.perSample ? 'n * u.C + ch' : 'ch');
const gammaOf = (c: NormConfig) => (c.weight ? `w[${affineAt(c)}]` : `${wt(c)}(1.0)`);
const betaOf = (c: NormConfig) => (c.bias ? `b[${affineAt(c)}]` : `${wt(c)}(0.0)`);

export function normForwardWgsl(c: NormConfig): string {
  const V = vt(c);
  const list: [string, string, boolean][] = [['x', V, false]];
  if (c.weight) list.push(['w', wt(c), false]);
  if (c.bias) list.push(['b', wt(c), false]);
  list.push(['y', V, true], ['stats', 'f32', true]);
  const out = c.silu ? 'z / (1.0 + exp(-z))' : 'z';
  return /* wgsl */ `// norm forward ${JSON.stringify(c)}
${NORM_UNIFORM}
${bindings(list)}
${entry(c)}
  let g = r % u.G;
  let n = r / u.G;
  let base = r * u.Cg * u.S;
  // shifted sums: with K one of the row's own values, Σ(x − K)² does not cancel catastrophically for |mean| ≫ std
  let K = x[base]${c.pack === 'none' ? '' : '.x'};
  var s1 = ${V}(0.0);
  var s2 = ${V}(0.0);${forChannels(forSpatial(`
      let d = x[cb + s] - K;
      s1 += d;
      s2 += d * d;`))}
  ${reduceAll(c, `vec2f(${hsum(c, 's1')}, ${hsum(c, 's2')})`, 'tot')}
  let m1 = tot.x * u.invM;
  let mean = K + m1;
  let rstd = inverseSqrt(max(tot.y * u.invM - m1 * m1, 0.0) + u.eps);
  ${c.variant === 'thread' ? '' : 'if (lid == 0u) '}{ stats[2u * r] = mean; stats[2u * r + 1u] = rstd; }${forChannels(`
    let a = rstd * ${gammaOf(c)};
    let bb = ${betaOf(c)};${forSpatial(`
      let z = (x[cb + s] - mean) * a + bb;
      y[cb + s] = ${out};`)}`)}
}`;
}

/** Per-channel sums of this lane (sdz, sdzx) → the partials buffer and the row sums A, B (weighted by γ). */
function partialSums(c: NormBackwardConfig): string {
  if (c.pack !== 'channel') {
    return `
    let pz = ${hsum(c, 'sdz')};
    let pzx = ${hsum(c, 'sdzx')};${c.partials ? '\n    P[(n * u.C + ch) * u.ST + sl] = vec2f(pz, pzx);' : ''}
    accA += wc * pz;
    accB += wc * pzx;`;
  }
  // a channel quad: its four channels' sums stay apart (u.ST == 1: one lane per channel quad)
  const write = c.partials ? '\n    for (var k = 0u; k < 4u; k++) { P[n * u.C + 4u * ch + k] = vec2f(sdz[k], sdzx[k]); }' : '';
  return `${write}
    accA += dot(wc, sdz);
    accB += dot(wc, sdzx);`;
}

export function normBackwardWgsl(c: NormBackwardConfig): string {
  const V = vt(c);
  const list: [string, string, boolean][] = [['x', V, false], ['dy', V, false], ['stats', 'f32', false]];
  if (c.weight) list.push(['w', wt(c), false]);
  if (c.bias) list.push(['b', wt(c), false]);
  if (c.dx) list.push(['dx', V, true]);
  if (c.partials) list.push(['P', 'vec2f', true]);
  // dz: the gradient at z = x̂·γ + β (through the fused SiLU: silu'(z) = σ(z)·(1 + z·(1 − σ(z))))
  const dz = c.silu
    ? `let z = xh * wc + bc;
      let sg = 1.0 / (1.0 + exp(-z));
      let dz = dy[cb + s] * sg * (1.0 + z * (1.0 - sg));`
    : 'let dz = dy[cb + s];';
  const perChannel = `
    let wc = ${gammaOf(c)};
    let bc = ${betaOf(c)};`;
  const secondPass = c.dx
    ? `
  ${reduceAll(c, 'vec2f(accA, accB)', 'tot')}
  let A = tot.x * u.invM;
  let B = tot.y * u.invM;${forChannels(`${perChannel}${forSpatial(`
      let xh = (x[cb + s] - mean) * rstd;
      ${dz}
      dx[cb + s] = rstd * (wc * dz - A - xh * B);`)}`)}`
    : '';
  return /* wgsl */ `// norm backward ${JSON.stringify(c)}
${NORM_UNIFORM}
${bindings(list)}
${entry(c)}
  let g = r % u.G;
  let n = r / u.G;
  let base = r * u.Cg * u.S;
  let mean = stats[2u * r];
  let rstd = stats[2u * r + 1u];
  var accA = 0.0;
  var accB = 0.0;${forChannels(`${perChannel}
    var sdz = ${V}(0.0);
    var sdzx = ${V}(0.0);${forSpatial(`
      let xh = (x[cb + s] - mean) * rstd;
      ${dz}
      sdz += dz;
      sdzx += dz * xh;`)}
${partialSums(c)}`)}${secondPass}
}`;
}

/**
 * dβ[ch] = Σ_{n, lane} P.x, dγ[ch] = Σ P.y. `lanes` 1: one invocation per channel (CPU drivers, where barriers are
 * dear). 64: a workgroup per channel that strides over the N·ST partials and sums them in workgroup memory — on a GPU
 * one invocation per channel leaves all but C threads idle, and at N 512, ST 64 each summed 32,768 pairs: 3.4 ms of a
 * 4 ms group-norm backward on an H100 (bench/unet-step.ts --tune).
 */
export const normWeightGradWgsl = (lanes: 1 | 64): string => {
  const head = /* wgsl */ `// norm grad weight/bias (${lanes} lane${lanes > 1 ? 's' : ''} per channel)
struct U { C: u32, N: u32, ST: u32, pad: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> P: array<vec2f>;
@group(0) @binding(2) var<storage, read_write> dw: array<f32>;
@group(0) @binding(3) var<storage, read_write> db: array<f32>;`;
  if (lanes === 1) {
    return /* wgsl */ `${head}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let ch = gid.x + gid.y * nwg.x * 64u;
  if (ch >= u.C) { return; }
  var acc = vec2f(0.0);
  for (var n = 0u; n < u.N; n++) {
    let o = (n * u.C + ch) * u.ST;
    for (var l = 0u; l < u.ST; l++) { acc += P[o + l]; }
  }
  db[ch] = acc.x;
  dw[ch] = acc.y;
}`;
  }
  return /* wgsl */ `${head}
var<workgroup> part: array<vec2f, ${lanes}>;
@compute @workgroup_size(${lanes})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let ch = wid.x + wid.y * nwg.x; // uniform per workgroup: every lane reaches the barriers
  var acc = vec2f(0.0);
  if (ch < u.C) {
    for (var k = lid; k < u.N * u.ST; k += ${lanes}u) { acc += P[((k / u.ST) * u.C + ch) * u.ST + k % u.ST]; }
  }
  part[lid] = acc;
  workgroupBarrier();
  for (var s = ${lanes / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { part[lid] += part[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u && ch < u.C) {
    db[ch] = part[0].x;
    dw[ch] = part[0].y;
  }
}`;
};
