// kernels/attention/attention.wgsl.ts: flash-style attention kernels (FlashAttention-2 forward and backward) as WGSL
// generators: softmax(q·kᵀ·scale)·v without an L×S matrix anywhere in memory.
//
// Every kernel has the same shape: each invocation OWNS a few rows (query rows in the forward and dQ kernels, key
// rows in the dK/dV kernel) whose vectors and accumulators live in private arrays, and all invocations of a workgroup
// STREAM the other side's rows in tiles. Per tile: score passes (one loop over the head dim per streamed tensor, so
// only own·sub dot products are in flight at a time) leave the tile's scores in registers; then one loop over the head
// dim folds the tile into each accumulator (one read-modify-write per element per tile). No workgroup memory and no
// barriers, which CPU Vulkan drivers emulate slowly. How a streamed tile reaches the lanes:
//  - subgroup (lanes 4 or 8): lane l of each group of `lanes` lanes loads row l of every `lanes` rows of the tile as
//    vec4s and subgroupBroadcast hands it to the others, so one load serves `lanes` lanes; private rows are vec4
//    arrays, read and updated a vec4 at a time. Needs the `subgroups` feature, a subgroup size ≥ lanes (lavapipe 8,
//    SwiftShader 4) and D % 4 = 0.
//  - plain (lanes 1): every lane loads every streamed element itself (uniform addresses), private rows are f32
//    arrays; any D, any adapter.
//  - shared (lanes 1, `shared`): the workgroup stages each tile of the streamed tensors in workgroup memory (its lanes
//    load it together, vec4s), a barrier, and every lane reads the rows from there; private rows are vec4 arrays. For
//    real GPUs (CPU drivers emulate barriers and workgroup memory slowly); D % 4 = 0.
// Measured on lavapipe (Mesa 25, per lane, in units of one FMA): a storage-buffer load ≈ 12, a subgroup broadcast
// ≈ 1.3, an indexed private read ≈ 4, an indexed private read-modify-write ≈ 25 per f32 but ≈ 13 per element of a
// vec4 (the driver gathers and scatters per lane even when the index is uniform). Hence broadcasts instead of loads,
// vec4 private rows, and tiles that amortise each accumulator update over many streamed rows.
// Scores live in the log2 domain: the owned q (or k) is pre-multiplied by scale·log2(e), so each exponential is one
// exp2; the saved LSE is in natural-log units (torch's logsumexp of the scaled scores).

export interface AttentionTileConfig {
  d: number; // head dim, baked in: it sizes the private row arrays
  own: 1 | 2 | 4; // rows owned per invocation (each streamed element feeds this many rows)
  tile: 4 | 8 | 16 | 32; // streamed rows per tile (a multiple of lanes): one accumulator update per tile
  sub?: 4 | 8 | 16 | 32; // streamed rows per score pass (divides tile; default tile): own·sub dot products at once
  wg: 8 | 16 | 32 | 64; // invocations per workgroup (a multiple of lanes)
  lanes: 1 | 4 | 8; // lanes sharing each streamed load through subgroupBroadcast; 1: no subgroups (see above)
  shared?: boolean; // with lanes 1: stream tiles through workgroup memory (see above)
  unroll?: boolean; // unroll the head-dim loops (see headLoop): faster on SwiftShader, slower to compile everywhere
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Σ_c a_c·b_c + init as a chain of fma. */
const fmaChain = (terms: [string, string][], init: string): string => terms.reduce((acc, [a, b]) => `fma(${a}, ${b}, ${acc})`, init);

// L: query rows, S: key rows, BH: batch·heads, qscale = scale·log2(e), D4: trip count of the loops over the head dim
// (D/4 vec4 steps with subgroups, D scalar steps without); a uniform bound keeps the driver from unrolling them
const HEADER = (c: AttentionTileConfig) => /* wgsl */ `${c.lanes > 1 ? 'enable subgroups;\n' : ''}
const D = ${c.d}u;
const NEG = -3.0e38; // masked score; finite so that max and exp2 never meet inf − inf
const LN2 = 0.6931471805599453;
const LOG2E = 1.4426950408889634;
struct U { L: u32, S: u32, BH: u32, causal: u32, scale: f32, qscale: f32, D4: u32, pad0: u32 }
@group(0) @binding(0) var<uniform> u: U;`;

// workgroups [blocks of owned rows, BH split over y·z]; `bh` and `block0` are uniform per workgroup
const ENTRY = (c: AttentionTileConfig) => /* wgsl */ `
@compute @workgroup_size(${c.wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32${c.lanes > 1 ? ', @builtin(subgroup_invocation_id) sid: u32' : ''}) {
  let bh = wid.y + wid.z * nwg.y;
  if (bh >= u.BH) { return; }
  let block0 = wid.x * ${c.wg * c.own}u;${c.lanes > 1 ? `\n  let lane = sid % ${c.lanes}u; // which row of each ${c.lanes}-row group of a tile this invocation loads` : ''}`;

/** Whether a config reads the head dim as vec4s (subgroup and shared modes): D % 4 = 0, uniform D4 = D / 4. */
export const vec4Rows = (c: Pick<AttentionTileConfig, 'lanes' | 'shared'>): boolean => c.lanes > 1 || !!c.shared;

/** How the kernels touch rows: streamed tiles (shared by the lanes) and private owned rows, per mode. */
function rowsOf(c: AttentionTileConfig) {
  const n = c.lanes, T = range(c.tile), G = range(c.tile / n), sg = n > 1, sh = !sg && !!c.shared;
  const v4 = vec4Rows(c);
  const E = v4 ? 4 : 1;
  const groupOf = (t: number) => Math.floor(t / n);
  const groups = (rows: number[]) => [...new Set(rows.map(groupOf))];
  const steps = v4 ? c.d / 4 : c.d;
  const tileVec4s = (c.tile * c.d) / 4;
  return {
    /** Workgroup arrays for the streamed tiles of these bindings (shared mode). */
    tiles: (bufs: string[]) => (sh ? bufs.map((b) => `var<workgroup> tile${b}: array<vec4f, ${tileVec4s}>;`).join('\n') : ''),
    /** After a tile's last use: the barrier before the next tile overwrites it (shared mode). */
    tileEnd: sh ? 'workgroupBarrier();' : '',
    /** A loop over the head dim with `d4` its step (see headLoop). */
    loop: (body: string) => headLoop(c, steps, body),
    /** Head-dim elements per step of the d4 loop. */
    E: range(E),
    /** Element type of streamed bindings. */
    type: v4 ? 'vec4f' : 'f32',
    /** Offset of this bh's first row in a streamed binding. */
    base: (rows: string) => (v4 ? `bh * ${rows} * u.D4` : `bh * ${rows} * D`),
    /** Per tile: row offsets (first row `first`, `count` rows in all, clamped); shared mode stages `bufs` instead. */
    setup: (prefix: string, base: string, first: string, count: string, bufs: string[]) =>
      sh
        ? `${bufs.map((b) => `for (var i = lid; i < ${tileVec4s}u; i += ${c.wg}u) { tile${b}[i] = ${b}[${base} + min(${first} + i / u.D4, ${count} - 1u) * u.D4 + i % u.D4]; }`).join('\n    ')}
    workgroupBarrier();`
        : sg
          ? G.map((g) => `let ${prefix}${g} = ${base} + min(${first} + ${g * n}u + lane, ${count} - 1u) * u.D4;`).join(' ')
          : T.map((t) => `let ${prefix}${t} = ${base} + min(${first} + ${t}u, ${count} - 1u) * D;`).join(' '),
    /** Loads at the top of a d4 iteration for streamed rows `rows` (default: the whole tile). */
    step: (loads: [buf: string, prefix: string, v: string][], rows: number[] = T) =>
      sg ? loads.flatMap(([buf, prefix, v]) => groups(rows).map((g) => `let ${v}${g} = ${buf}[${prefix}${g} + d4];`)).join(' ') : '',
    /** Streamed row t at head-dim index d4·E + e. */
    at: (buf: string, prefix: string, v: string, t: number, e: number) =>
      sg ? `subgroupBroadcast(${v}${groupOf(t)}[${e}], ${t % n}u)` : sh ? `tile${buf}[${t}u * u.D4 + d4][${e}]` : `${buf}[${prefix}${t} + d4]`,
    /** A per-row scalar of the streamed rows (LSE, Δ): per-tile setup and the value for row t. */
    scalarSetup: (v: string, expr: (row: string) => string, first: string, count: string) =>
      sg
        ? G.map((g) => `let ${v}${g} = ${expr(`min(${first} + ${g * n}u + lane, ${count} - 1u)`)};`).join(' ')
        : T.map((t) => `let ${v}${t} = ${expr(`min(${first} + ${t}u, ${count} - 1u)`)};`).join(' '),
    scalarAt: (v: string, t: number) => (sg ? `subgroupBroadcast(${v}${groupOf(t)}, ${t % n}u)` : `${v}${t}`),
    /** Declares a private row (vec4 elements with subgroups). */
    decl: (name: string) => (v4 ? `var ${name}: array<vec4f, ${c.d / 4}>;` : `var ${name}: array<f32, D>;`),
    /** Element e of a private-row value read once per d4 step. */
    el: (v: string, e: number) => (v4 ? `${v}[${e}]` : v),
    /** A private-row value from its E per-element scalars. */
    pack: (xs: string[]) => (v4 ? `vec4f(${xs.join(', ')})` : xs[0]),
    /** An owned row's element(s) at step d4 of an f32 binding: a vec4 from four loads, or one value. */
    vecAt: (buf: string, off: string) => (v4 ? `vec4f(${range(4).map((e) => `${buf}[${off} + d4 * 4u + ${e}u]`).join(', ')})` : `${buf}[${off} + d4]`),
    /** Stores a private-row value at step d4 into an f32 binding. */
    store: (buf: string, off: string, v: string) => (v4 ? range(4).map((e) => `${buf}[${off} + d4 * 4u + ${e}u] = ${v}[${e}];`).join(' ') : `${buf}[${off} + d4] = ${v};`),
    /** Σ of an elementwise product of two private-row values. */
    dot: (a: string, b: string) => (v4 ? `dot(${a}, ${b})` : `${a} * ${b}`),
  };
}

/**
 * `body` once per head-dim step d4 < steps: a loop with a uniform bound (so that drivers keep it rolled), or with
 * `unroll` one block per step with d4 a constant, which makes every index into the private row arrays a constant:
 * SwiftShader then keeps the rows in registers instead of gathering and scattering them per lane (subgroup4-u4:
 * 1.26–1.32× on its attention passes), at the price of a body per step to compile.
 */
function headLoop(c: AttentionTileConfig, steps: number, body: string): string {
  if (!c.unroll) return `for (var d4 = 0u; d4 < u.D4; d4++) {\n      ${body}\n    }`;
  return range(steps).map((k) => `{ const d4 = ${k}u;\n      ${body}\n    }`).join(' ');
}

/** The streamed rows of a tile split into score passes of `sub` rows. */
const subTiles = (c: AttentionTileConfig): number[][] => {
  const sub = c.sub ?? c.tile;
  return range(c.tile / sub).map((p) => range(sub).map((t) => p * sub + t));
};

type Rows = ReturnType<typeof rowsOf>;

/**
 * A tile's score passes: for each stream [binding, tile view, owned private row, accumulator], per sub-tile one loop
 * over the head dim adds owned row o · streamed row t into the accumulator `name(acc, o, t)`.
 */
function scorePasses(c: AttentionTileConfig, x: Rows, streams: string[][], prefix: string, owned: number[], name: (acc: string, o: number, t: number) => string): string {
  return subTiles(c)
    .flatMap((Ts) =>
      streams.map(
        ([buf, v, own, acc]) => x.loop(`${x.step([[buf, prefix, v]], Ts)} ${owned.map((o) => `let o${o} = ${own}${o}[d4];`).join(' ')}
      ${x.E.map((e) => `{
        ${Ts.map((t) => `let st${t} = ${x.at(buf, prefix, v, t, e)};`).join(' ')}
        ${owned.map((o) => Ts.map((t) => `${name(acc, o, t)} = fma(${x.el(`o${o}`, e)}, st${t}, ${name(acc, o, t)});`).join(' ')).join('\n        ')}
      }`).join('\n      ')}`),
      ),
    )
    .join('\n    ');
}

/**
 * Folds a tile into the owned accumulator rows `dst`: dst_o = dst_o·scale(o) + Σ_t coef(o, t)·(streamed row t of
 * `buf`), one read-modify-write per element per tile.
 */
function accumulatePass(x: Rows, buf: string, prefix: string, v: string, dst: string, owned: number[], streamed: number[], coef: (o: number, t: number) => string, scale?: (o: number) => string): string {
  const init = (o: number, e: number) => (scale ? `${x.el(`${dst}o${o}`, e)} * ${scale(o)}` : x.el(`${dst}o${o}`, e));
  return x.loop(`${x.step([[buf, prefix, v]])} ${owned.map((o) => `let ${dst}o${o} = ${dst}${o}[d4];`).join(' ')}
      ${x.E.map((e) => `${streamed.map((t) => `let st${e}_${t} = ${x.at(buf, prefix, v, t, e)};`).join(' ')}
      ${owned.map((o) => `let ${dst}n${o}_${e} = ${fmaChain(streamed.map((t) => [coef(o, t), `st${e}_${t}`]), init(o, e))};`).join(' ')}`).join('\n      ')}
      ${owned.map((o) => `${dst}${o}[d4] = ${x.pack(x.E.map((e) => `${dst}n${o}_${e}`))};`).join(' ')}`);
}

/**
 * Forward. Each invocation owns `own` query rows: q (pre-scaled), the running max m, running sum l and the output
 * accumulator a. Per tile of `tile` keys: scores, one rescale of a by exp2(m_old − m_new), then a += p·v.
 * Writes O = a / l and LSE = (m + log2 l)·ln 2.
 */
export const attentionForwardWgsl = (c: AttentionTileConfig): string => {
  const R = range(c.own), C = range(c.tile), x = rowsOf(c);
  return /* wgsl */ `${HEADER(c)}
@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<${x.type}>;
@group(0) @binding(3) var<storage, read> V: array<${x.type}>;
@group(0) @binding(4) var<storage, read_write> O: array<f32>;
@group(0) @binding(5) var<storage, read_write> LSE: array<f32>;
${x.tiles(['K', 'V'])}
${ENTRY(c)}
  let qb = bh * u.L * D;
  let kb = ${x.base('u.S')};
  // owned rows; loads clamp to the last row and only real rows are stored (no early return: subgroup ops and
  // uniform loads need every lane)
  ${R.map((r) => `let i${r} = block0 + lid * ${c.own}u + ${r}u; let qo${r} = qb + min(i${r}, u.L - 1u) * D;`).join('\n  ')}
  ${R.map((r) => `${x.decl(`q${r}`)} ${x.decl(`a${r}`)} var m${r} = NEG; var l${r} = 0.0;`).join('\n  ')}
  ${x.loop(R.map((r) => `q${r}[d4] = ${x.vecAt('Q', `qo${r}`)} * u.qscale;`).join(' '))}
  // causal: keys up to the workgroup's last row (a uniform bound); later keys are masked per lane
  var kEnd = u.S;
  if (u.causal != 0u) { kEnd = min(u.S, min(block0 + ${c.wg * c.own}u, u.L)); }
  for (var j0 = 0u; j0 < kEnd; j0 += ${c.tile}u) {
    ${x.setup('kr', 'kb', 'j0', 'u.S', ['K', 'V'])}
    ${R.map((r) => C.map((k) => `var s${r}_${k} = 0.0;`).join(' ')).join(' ')}
    ${scorePasses(c, x, [['K', 'kv', 'q', 's']], 'kr', R, (acc, r, k) => `${acc}${r}_${k}`)}
    ${R.map(
      (r) => `${C.map((k) => `let ok${r}_${k} = j0 + ${k}u < u.S && (u.causal == 0u || j0 + ${k}u <= i${r});`).join(' ')}
    let mn${r} = max(m${r}, ${C.map((k) => `select(NEG, s${r}_${k}, ok${r}_${k})`).reduce((a, b) => `max(${a}, ${b})`)});
    let c${r} = exp2(m${r} - mn${r}); m${r} = mn${r};
    ${C.map((k) => `let p${r}_${k} = select(0.0, exp2(s${r}_${k} - mn${r}), ok${r}_${k});`).join(' ')}
    l${r} = fma(l${r}, c${r}, ${C.map((k) => `p${r}_${k}`).join(' + ')});`,
    ).join('\n    ')}
    ${accumulatePass(x, 'V', 'kr', 'vv', 'a', R, C, (r, k) => `p${r}_${k}`, (r) => `c${r}`)}
    ${x.tileEnd}
  }
  ${R.map(
    (r) => `if (i${r} < u.L) {
    let inv${r} = 1.0 / l${r};
    ${x.loop(`let ov = a${r}[d4] * inv${r}; ${x.store('O', `qo${r}`, 'ov')}`)}
    LSE[bh * u.L + i${r}] = (m${r} + log2(l${r})) * LN2;
  }`,
  ).join('\n  ')}
}`;
};

/**
 * Backward, query side. Each invocation owns `own` query rows: q (pre-scaled), dO, and Δ = rowsum(dO ∘ O), which it
 * also writes for the key-side kernel. Per key: p = exp2(s − lse), dp = dO·v, ds = p·(dp − Δ); dQ += ds·k; dQ·scale.
 */
export const attentionDqWgsl = (c: AttentionTileConfig): string => {
  const R = range(c.own), C = range(c.tile), x = rowsOf(c);
  return /* wgsl */ `${HEADER(c)}
@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<${x.type}>;
@group(0) @binding(3) var<storage, read> V: array<${x.type}>;
@group(0) @binding(4) var<storage, read> O: array<f32>;
@group(0) @binding(5) var<storage, read> dO: array<f32>;
@group(0) @binding(6) var<storage, read> LSE: array<f32>;
@group(0) @binding(7) var<storage, read_write> dQ: array<f32>;
@group(0) @binding(8) var<storage, read_write> DELTA: array<f32>;
${x.tiles(['K', 'V'])}
${ENTRY(c)}
  let qb = bh * u.L * D;
  let kb = ${x.base('u.S')};
  ${R.map((r) => `let i${r} = block0 + lid * ${c.own}u + ${r}u; let qo${r} = qb + min(i${r}, u.L - 1u) * D;`).join('\n  ')}
  ${R.map((r) => `${x.decl(`q${r}`)} ${x.decl(`g${r}`)} ${x.decl(`dq${r}`)} var dl${r} = 0.0;`).join('\n  ')}
  ${x.loop(R.map((r) => `q${r}[d4] = ${x.vecAt('Q', `qo${r}`)} * u.qscale; let go${r} = ${x.vecAt('dO', `qo${r}`)}; g${r}[d4] = go${r}; dl${r} += ${x.dot(`go${r}`, x.vecAt('O', `qo${r}`))};`).join('\n    '))}
  ${R.map((r) => `let lse${r} = LSE[bh * u.L + min(i${r}, u.L - 1u)] * LOG2E;`).join(' ')}
  var kEnd = u.S;
  if (u.causal != 0u) { kEnd = min(u.S, min(block0 + ${c.wg * c.own}u, u.L)); }
  for (var j0 = 0u; j0 < kEnd; j0 += ${c.tile}u) {
    ${x.setup('kr', 'kb', 'j0', 'u.S', ['K', 'V'])}
    ${R.map((r) => C.map((k) => `var s${r}_${k} = 0.0; var t${r}_${k} = 0.0;`).join(' ')).join(' ')}
    ${scorePasses(c, x, [['K', 'kv', 'q', 's'], ['V', 'vv', 'g', 't']], 'kr', R, (acc, r, k) => `${acc}${r}_${k}`)}
    ${R.map((r) => C.map((k) => `let ds${r}_${k} = select(0.0, exp2(s${r}_${k} - lse${r}) * (t${r}_${k} - dl${r}), j0 + ${k}u < u.S && (u.causal == 0u || j0 + ${k}u <= i${r}));`).join(' ')).join('\n    ')}
    ${accumulatePass(x, 'K', 'kr', 'kv', 'dq', R, C, (r, k) => `ds${r}_${k}`)}
    ${x.tileEnd}
  }
  ${R.map(
    (r) => `if (i${r} < u.L) {
    ${x.loop(`let dqv = dq${r}[d4] * u.scale; ${x.store('dQ', `qo${r}`, 'dqv')}`)}
    DELTA[bh * u.L + i${r}] = dl${r};
  }`,
  ).join('\n  ')}
}`;
};

/**
 * Backward, key side. Each invocation owns `own` key rows: k (pre-scaled), v, and the dK, dV accumulators. Per query
 * row i (Q, dO, LSE and the Δ written by the dQ kernel): p = exp2(s − lse_i), dV += p·dO_i, ds = p·(dO_i·v − Δ_i),
 * dK += ds·q_i; dK·scale.
 */
export const attentionDkvWgsl = (c: AttentionTileConfig): string => {
  const C = range(c.own), R = range(c.tile), x = rowsOf(c);
  return /* wgsl */ `${HEADER(c)}
@group(0) @binding(1) var<storage, read> Q: array<${x.type}>;
@group(0) @binding(2) var<storage, read> K: array<f32>;
@group(0) @binding(3) var<storage, read> V: array<f32>;
@group(0) @binding(4) var<storage, read> dO: array<${x.type}>;
@group(0) @binding(5) var<storage, read> LSE: array<f32>;
@group(0) @binding(6) var<storage, read> DELTA: array<f32>;
@group(0) @binding(7) var<storage, read_write> dK: array<f32>;
@group(0) @binding(8) var<storage, read_write> dV: array<f32>;
${x.tiles(['Q', 'dO'])}
${ENTRY(c)}
  let qb = ${x.base('u.L')};
  let kb = bh * u.S * D;
  ${C.map((k) => `let j${k} = block0 + lid * ${c.own}u + ${k}u; let ko${k} = kb + min(j${k}, u.S - 1u) * D;`).join('\n  ')}
  ${C.map((k) => `${x.decl(`k${k}`)} ${x.decl(`w${k}`)} ${x.decl(`dk${k}`)} ${x.decl(`dv${k}`)}`).join('\n  ')}
  ${x.loop(C.map((k) => `k${k}[d4] = ${x.vecAt('K', `ko${k}`)} * u.qscale; w${k}[d4] = ${x.vecAt('V', `ko${k}`)};`).join(' '))}
  // causal: queries from the workgroup's first key on (earlier queries see none of its keys)
  var iStart = 0u;
  if (u.causal != 0u) { iStart = block0; }
  for (var i0 = iStart; i0 < u.L; i0 += ${c.tile}u) {
    ${x.setup('qr', 'qb', 'i0', 'u.L', ['Q', 'dO'])}
    ${x.scalarSetup('lsel', (row) => `LSE[bh * u.L + ${row}] * LOG2E`, 'i0', 'u.L')}
    ${x.scalarSetup('dll', (row) => `DELTA[bh * u.L + ${row}]`, 'i0', 'u.L')}
    ${R.map((r) => `let lse${r} = ${x.scalarAt('lsel', r)}; let dl${r} = ${x.scalarAt('dll', r)};`).join(' ')}
    ${R.map((r) => C.map((k) => `var s${r}_${k} = 0.0; var t${r}_${k} = 0.0;`).join(' ')).join(' ')}
    ${scorePasses(c, x, [['Q', 'qv', 'k', 's'], ['dO', 'gv', 'w', 't']], 'qr', C, (acc, k, r) => `${acc}${r}_${k}`)}
    ${R.map((r) => C.map((k) => `let p${r}_${k} = select(0.0, exp2(s${r}_${k} - lse${r}), i0 + ${r}u < u.L && (u.causal == 0u || j${k} <= i0 + ${r}u)); let ds${r}_${k} = p${r}_${k} * (t${r}_${k} - dl${r});`).join(' ')).join('\n    ')}
    // one stream per loop (dO for dV, then Q for dK): half the values live at a time
    ${accumulatePass(x, 'dO', 'qr', 'gv', 'dv', C, R, (k, r) => `p${r}_${k}`)}
    ${accumulatePass(x, 'Q', 'qr', 'qv', 'dk', C, R, (k, r) => `ds${r}_${k}`)}
    ${x.tileEnd}
  }
  ${C.map(
    (k) => `if (j${k} < u.S) {
    ${x.loop(`let kv = dk${k}[d4] * u.scale; let vv = dv${k}[d4]; ${x.store('dK', `ko${k}`, 'kv')} ${x.store('dV', `ko${k}`, 'vv')}`)}
  }`,
  ).join('\n  ')}
}`;
};
