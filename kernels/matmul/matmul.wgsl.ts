// kernels/matmul/matmul.wgsl.ts: C[b] = op(A[b]) · op(B[b]) (+ bias) with op = identity or transpose, read in place;
// three kernel kinds, each a function from a typed config to WGSL (STYLE §5):
// - register: each invocation owns a TM×TN block of C in registers, no workgroup memory (CPU drivers emulate it
//   slowly); optional vec4 loads and a K loop unrolled by 4.
// - subgroup: every invocation of a workgroup shares its TM rows; each lane loads one A value per row for SG
//   consecutive k and the subgroup passes them around (subgroupBroadcast, unrolled, or subgroupShuffle, rolled), so A
//   costs 1/SG of a load per use. On lavapipe a load is a per-lane loop of ~10 instructions while a shuffle is one
//   vpermd: the measured winner there. A uniform guard falls back to plain loads when the subgroup is smaller than SG.
// - tiled: workgroup-memory tiles of A and B (BM×KT, KT×BN) shared by the workgroup, for real GPUs.
// Edge tiles clamp their loads (or zero-fill tiles) and guard their stores, so any shape works. Either operand may be
// f16 (OperandType): every read goes through `ld`, which converts halves (native f16, or pairs packed in u32 words)
// to f32; accumulation and C stay f32.

/** How an operand is read. `strided`: scalar loads through runtime strides (one pipeline serves both transposes).
 * `vecK`: vec4 along K (A stored [M,K] or B stored [N,K]; K % 4 = 0, needs kUnroll 4). `vecMN`: vec4 along M or N
 * (A stored [K,M] with M % 4 = 0, or B stored [K,N] with N % 4 = 0; needs TM or TN % 4 = 0). */
export type OperandMode = 'strided' | 'vecK' | 'vecMN';

/** How an operand's elements are stored: f32; f16 with the shader-f16 feature; f16 as pairs in u32 words (any adapter). */
export type OperandType = 'f32' | 'f16' | 'f16packed';

export interface RegisterConfig {
  kind: 'register';
  tm: 1 | 2 | 4 | 8; // rows of C per invocation
  tn: 4 | 8 | 16; // columns of C per invocation
  wgX: 8 | 16; // invocations per workgroup along N
  wgY: 1 | 4 | 8 | 16; // … along M
  vec4: boolean; // vec4 loads where the layout allows (else scalar)
  kUnroll: 1 | 4; // k steps per loop iteration; 4 lets K-contiguous operands load vec4
}

export interface SubgroupConfig {
  kind: 'subgroup';
  share: 'broadcast' | 'shuffle'; // broadcast: SG k steps unrolled (constant lane ids); shuffle: a rolled loop
  tm: 8 | 16 | 32; // rows of C per invocation, shared by the whole workgroup
  tn: 4 | 8; // columns of C per invocation
  wgX: 8 | 16 | 32 | 64; // invocations per workgroup, all along N
  sg: 4 | 8; // k steps per shared A load; needs subgroup_size ≥ sg (else the plain path runs)
  vec4: boolean; // vec4 loads of B where the layout allows
}

export interface TiledConfig {
  kind: 'tiled';
  tm: 2 | 4 | 8; // rows of C per invocation (strided by wgY inside the tile)
  tn: 2 | 4 | 8; // columns of C per invocation (strided by wgX)
  wgX: 8 | 16;
  wgY: 8 | 16;
  kt: 8 | 16 | 32; // k per tile: sets the size of the workgroup arrays
}

export type MatmulConfig = RegisterConfig | SubgroupConfig | TiledConfig;

/** What the generator needs beyond the config, derived from the shapes by the dispatcher. */
export interface MatmulLayout {
  aMode: OperandMode;
  bMode: OperandMode;
  transA: boolean; // only read by tiled kernels (fill order) and vec modes; strided reads use runtime strides
  transB: boolean;
  aType: OperandType; // f16 operands are read as halves and accumulated in f32 (the output is always f32)
  bType: OperandType;
}

/** Bit 0 of `u.flags`: take the plain (non-subgroup) path in subgroup kernels (tests cover it on every adapter). */
export const FLAG_NO_SUBGROUP_PATH = 1;

const ELEMENT: Record<OperandType, [scalar: string, vec4: string]> = { f32: ['f32', 'vec4<f32>'], f16: ['f16', 'vec4<f16>'], f16packed: ['u32', 'vec2<u32>'] };

/** An f32 (or vec4f) read of operand `op` at element (or vec4) index `i`, whatever its storage. */
function ld(op: 'A' | 'B', L: MatmulLayout, i: string): string {
  const t = op === 'A' ? L.aType : L.bType, vec = (op === 'A' ? L.aMode : L.bMode) !== 'strided';
  if (t === 'f32') return `${op}[${i}]`;
  if (t === 'f16') return vec ? `vec4f(${op}[${i}])` : `f32(${op}[${i}])`;
  return vec ? `ld${op}4(${i})` : `ld${op}(${i})`;
}

/** The uniform block every matmul kernel reads (12 words). Strides: op(A)[m,k] = A[aBase + m·sAm + k·sAk]. */
const HEADER = (L: MatmulLayout, ext = '') => {
  const operand = (op: 'A' | 'B', t: OperandType, vec: boolean) => {
    const decl = `@group(0) @binding(${op === 'A' ? 1 : 2}) var<storage, read> ${op}: array<${ELEMENT[t][vec ? 1 : 0]}>;`;
    if (t !== 'f16packed') return decl;
    // halves in pairs: element i is half i % 2 of word i / 2; a vec4 is one vec2<u32>
    return vec
      ? `${decl}\nfn ld${op}4(i: u32) -> vec4f { let w = ${op}[i]; return vec4f(unpack2x16float(w.x), unpack2x16float(w.y)); }`
      : `${decl}\nfn ld${op}(i: u32) -> f32 { return unpack2x16float(${op}[i / 2u])[i % 2u]; }`;
  };
  return /* wgsl */ `${L.aType === 'f16' || L.bType === 'f16' ? 'enable f16;\n' : ''}${ext}
struct U { M: u32, N: u32, K: u32, hasBias: u32, aBatch: u32, bBatch: u32, sAm: u32, sAk: u32, sBk: u32, sBn: u32, flags: u32, pad: u32 }
@group(0) @binding(0) var<uniform> u: U;
${operand('A', L.aType, isVec(L.aMode))}
${operand('B', L.bType, isVec(L.bMode))}
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> C: array<f32>;`;
};

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const isVec = (m: OperandMode) => m !== 'strided';

/** Stores of one invocation's block, guarded; `row(i)`, `col(j)` are WGSL u32 expressions, `nc(j)` the clamped column. */
function storeBlock(tm: number, tn: number, row: (i: number) => string, col: (j: number) => string, nc: (j: number) => string, acc: (i: number, j: number) => string): string {
  return range(tm)
    .map((i) => `if (${row(i)} < u.M) {\n    ${range(tn).map((j) => `if (${col(j)} < u.N) { C[cBase + (${row(i)}) * u.N + ${col(j)}] = ${acc(i, j)} + select(0.0, bias[${nc(j)}], u.hasBias != 0u); }`).join('\n    ')}\n  }`)
    .join('\n  ');
}

// ---- register ------------------------------------------------------------------------------------------------------

export function registerWgsl(c: RegisterConfig, L: MatmulLayout): string {
  const U = c.kUnroll, rows = range(c.tm), cols = range(c.tn);
  if ((L.aMode === 'vecK' || L.bMode === 'vecK') && U !== 4) throw new Error('internal: matmul vecK reads need kUnroll 4');
  if (L.aMode === 'vecMN' && c.tm % 4 !== 0) throw new Error('internal: matmul vecMN A reads need tm % 4 = 0');
  if (L.bMode === 'vecMN' && c.tn % 4 !== 0) throw new Error('internal: matmul vecMN B reads need tn % 4 = 0');
  // one k step (offset kk inside the unrolled iteration): declare what it loads, name each A and B value
  const loadsAt = (kk: number, mode: 'main' | 'tail'): string[] => {
    const k = mode === 'tail' ? 'k' : `k + ${kk}u`;
    const out: string[] = [];
    if (L.aMode === 'strided') rows.forEach((i) => out.push(`let a${i}_${kk} = ${ld('A', L, `aBase + m${i} * u.sAm + (${k}) * u.sAk`)};`));
    else if (L.aMode === 'vecK') { if (kk === 0) rows.forEach((i) => out.push(`let av${i} = ${ld('A', L, `(aBase + m${i} * u.K + k) / 4u`)};`)); }
    else range(c.tm / 4).forEach((q) => out.push(`let av${q}_${kk} = ${ld('A', L, `(aBase + (${k}) * u.M + mq${q}) / 4u`)};`));
    if (L.bMode === 'strided') cols.forEach((j) => out.push(`let b${j}_${kk} = ${ld('B', L, `bBase + (${k}) * u.sBk + n${j} * u.sBn`)};`));
    else if (L.bMode === 'vecK') { if (kk === 0) cols.forEach((j) => out.push(`let bv${j} = ${ld('B', L, `(bBase + n${j} * u.K + k) / 4u`)};`)); }
    else range(c.tn / 4).forEach((q) => out.push(`let bv${q}_${kk} = ${ld('B', L, `(bBase + (${k}) * u.N + nq${q}) / 4u`)};`));
    return out;
  };
  const aVal = (i: number, kk: number) => (L.aMode === 'strided' ? `a${i}_${kk}` : L.aMode === 'vecK' ? `av${i}[${kk}]` : `av${i >> 2}_${kk}[${i & 3}]`);
  const bVal = (j: number, kk: number) => (L.bMode === 'strided' ? `b${j}_${kk}` : L.bMode === 'vecK' ? `bv${j}[${kk}]` : `bv${j >> 2}_${kk}[${j & 3}]`);
  const step = (kk: number, mode: 'main' | 'tail') =>
    [...loadsAt(kk, mode), ...rows.map((i) => cols.map((j) => `acc${i}_${j} = fma(${aVal(i, kk)}, ${bVal(j, kk)}, acc${i}_${j});`).join(' '))].join('\n    ');
  // a K tail exists only when the main loop steps by 4 and no operand needs K % 4 = 0
  const tail = U > 1 && L.aMode !== 'vecK' && L.bMode !== 'vecK';
  return /* wgsl */ `${HEADER(L)}

// TM, TN, the unroll and the read modes are baked in: they set the register count and the load code
@compute @workgroup_size(${c.wgX}, ${c.wgY}, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let row0 = gid.y * ${c.tm}u;
  let col0 = gid.x * ${c.tn}u;
  if (row0 >= u.M || col0 >= u.N) { return; }
  let aBase = gid.z * u.aBatch;
  let bBase = gid.z * u.bBatch;
  let cBase = gid.z * u.M * u.N;
  // clamped indices: loads stay in bounds, out-of-range results are never stored
  ${rows.map((i) => `let m${i} = min(row0 + ${i}u, u.M - 1u);`).join(' ')}
  ${cols.map((j) => `let n${j} = min(col0 + ${j}u, u.N - 1u);`).join(' ')}
  ${L.aMode === 'vecMN' ? range(c.tm / 4).map((q) => `let mq${q} = min(row0 + ${4 * q}u, u.M - 4u);`).join(' ') : ''}
  ${L.bMode === 'vecMN' ? range(c.tn / 4).map((q) => `let nq${q} = min(col0 + ${4 * q}u, u.N - 4u);`).join(' ') : ''}
  ${rows.map((i) => cols.map((j) => `var acc${i}_${j} = 0.0;`).join(' ')).join('\n  ')}
  var k = 0u;
  for (; k + ${U}u <= u.K; k += ${U}u) {
    ${range(U).map((kk) => step(kk, 'main')).join('\n    ')}
  }
  ${tail ? `for (; k < u.K; k++) {\n    ${step(0, 'tail')}\n  }` : ''}
  ${storeBlock(c.tm, c.tn, (i) => `row0 + ${i}u`, (j) => `col0 + ${j}u`, (j) => `n${j}`, (i, j) => `acc${i}_${j}`)}
}`;
}

// ---- subgroup ------------------------------------------------------------------------------------------------------

export function subgroupWgsl(c: SubgroupConfig, L: MatmulLayout): string {
  if (L.aMode !== 'strided' || L.bMode === 'vecK') throw new Error(`internal: subgroup matmul reads A strided and B strided or vecMN, got ${L.aMode}/${L.bMode}`);
  const rows = range(c.tm), cols = range(c.tn), SG = c.sg, bVec = L.bMode === 'vecMN';
  const loadB = (k: string) => (bVec ? range(c.tn / 4).map((q) => `let bv${q} = ${ld('B', L, `(bBase + (${k}) * u.N + nq${q}) / 4u`)};`) : cols.map((j) => `let b${j} = ${ld('B', L, `bBase + (${k}) * u.sBk + n${j} * u.sBn`)};`)).join(' ');
  const bVal = (j: number) => (bVec ? `bv${j >> 2}[${j & 3}]` : `b${j}`);
  const fmas = (a: (i: number) => string) => rows.map((i) => `{ let a = ${a(i)}; ${cols.map((j) => `acc${i}_${j} = fma(a, ${bVal(j)}, acc${i}_${j});`).join(' ')} }`).join('\n        ');
  const shared =
    c.share === 'broadcast'
      ? range(SG).map((kk) => `{\n        ${loadB(`k + ${kk}u`)}\n        ${fmas((i) => `subgroupBroadcast(as${i}, ${kk}u)`)}\n      }`).join('\n      ')
      : `for (var kk = 0u; kk < ${SG}u; kk++) {\n        ${loadB('k + kk')}\n        ${fmas((i) => `subgroupShuffle(as${i}, kk)`)}\n      }`;
  return /* wgsl */ `${HEADER(L, 'enable subgroups;')}

// TM, TN, SG and the sharing mode are baked in: they set the register count and the unrolling
@compute @workgroup_size(${c.wgX}, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(subgroup_invocation_id) sgId: u32, @builtin(subgroup_size) sgSize: u32) {
  // no early return: every lane takes part in the subgroup operations; out-of-range lanes load clamped indices
  let row0 = wid.y * ${c.tm}u;
  let col0 = (wid.x * ${c.wgX}u + lid.x) * ${c.tn}u;
  let aBase = wid.z * u.aBatch;
  let bBase = wid.z * u.bBatch;
  let cBase = wid.z * u.M * u.N;
  let s = sgId % ${SG}u;
  ${rows.map((i) => `let m${i} = min(row0 + ${i}u, u.M - 1u);`).join(' ')}
  ${cols.map((j) => `let n${j} = min(col0 + ${j}u, u.N - 1u);`).join(' ')}
  ${bVec ? range(c.tn / 4).map((q) => `let nq${q} = min(col0 + ${4 * q}u, u.N - 4u);`).join(' ') : ''}
  ${rows.map((i) => cols.map((j) => `var acc${i}_${j} = 0.0;`).join(' ')).join('\n  ')}
  var k = 0u;
  if (sgSize >= ${SG}u && (u.flags & ${FLAG_NO_SUBGROUP_PATH}u) == 0u) {
    for (; k + ${SG}u <= u.K; k += ${SG}u) {
      // lane s holds A[m, k + s] for each row m
      ${rows.map((i) => `let as${i} = ${ld('A', L, `aBase + m${i} * u.sAm + (k + s) * u.sAk`)};`).join(' ')}
      ${shared}
    }
  }
  // the K tail, and the whole K when subgroups are too small: plain loads
  for (; k < u.K; k++) {
    ${loadB('k')}
    ${rows.map((i) => `{ let a = ${ld('A', L, `aBase + m${i} * u.sAm + k * u.sAk`)}; ${cols.map((j) => `acc${i}_${j} = fma(a, ${bVal(j)}, acc${i}_${j});`).join(' ')} }`).join('\n    ')}
  }
  ${storeBlock(c.tm, c.tn, (i) => `row0 + ${i}u`, (j) => `col0 + ${j}u`, (j) => `n${j}`, (i, j) => `acc${i}_${j}`)}
}`;
}

// ---- tiled (workgroup memory) --------------------------------------------------------------------------------------

/**
 * The inner step of every workgroup-memory tiled kernel (this file's and conv2d's): a barrier after the tiles As, Bs
 * were filled, then for each of the KT rows `kk` of the tiles acc_i_j += As[aAt(i)] · Bs[bAt(j)] over the invocation's
 * block, then a barrier before the next fill. `aAt` / `bAt` are index expressions in `kk`.
 */
export function tileProduct(KT: number, aAt: string[], bAt: string[]): string {
  return `workgroupBarrier();
    for (var kk = 0u; kk < ${KT}u; kk++) {
      ${aAt.map((at, i) => `let a${i} = As[${at}];`).join(' ')}
      ${bAt.map((at, j) => `let b${j} = Bs[${at}];`).join(' ')}
      ${aAt.map((_, i) => bAt.map((_, j) => `acc${i}_${j} = fma(a${i}, b${j}, acc${i}_${j});`).join(' ')).join('\n      ')}
    }
    workgroupBarrier();`;
}

export function tiledWgsl(c: TiledConfig, L: MatmulLayout): string {
  const BM = c.wgY * c.tm, BN = c.wgX * c.tn, KT = c.kt, WG = c.wgX * c.wgY;
  if ((BM * KT) % WG !== 0 || (BN * KT) % WG !== 0) throw new Error(`internal: tiled matmul ${JSON.stringify(c)} does not split its tiles evenly`);
  const rows = range(c.tm), cols = range(c.tn);
  // fill order follows the contiguous dim of each operand so that neighbouring invocations read neighbouring words;
  // rolled loops (GPU compilers unroll them; SwiftShader runs out of memory compiling 16+ unrolled fills)
  const [akk, am] = L.transA ? [`i / ${BM}u`, `i % ${BM}u`] : [`i % ${KT}u`, `i / ${KT}u`];
  const [bkk, bn] = L.transB ? [`i % ${KT}u`, `i / ${KT}u`] : [`i / ${BN}u`, `i % ${BN}u`];
  const fillA = `for (var e = 0u; e < ${(BM * KT) / WG}u; e++) {
      let i = tid + e * ${WG}u; let kk = ${akk}; let m = ${am}; let gm = row0 + m; let gk = t + kk;
      As[kk * ${BM}u + m] = select(0.0, ${ld('A', L, `aBase + min(gm, u.M - 1u) * u.sAm + min(gk, u.K - 1u) * u.sAk`)}, gm < u.M && gk < u.K);
    }`;
  const fillB = `for (var e = 0u; e < ${(BN * KT) / WG}u; e++) {
      let i = tid + e * ${WG}u; let kk = ${bkk}; let n = ${bn}; let gn = col0 + n; let gk = t + kk;
      Bs[kk * ${BN}u + n] = select(0.0, ${ld('B', L, `bBase + min(gk, u.K - 1u) * u.sBk + min(gn, u.N - 1u) * u.sBn`)}, gn < u.N && gk < u.K);
    }`;
  return /* wgsl */ `${HEADER(L)}

// BM, BN, KT are baked in: they size the workgroup arrays
var<workgroup> As: array<f32, ${BM * KT}>;
var<workgroup> Bs: array<f32, ${BN * KT}>;

@compute @workgroup_size(${c.wgX}, ${c.wgY}, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  // no early return: every invocation helps fill the tiles and meets the barriers
  let row0 = wid.y * ${BM}u;
  let col0 = wid.x * ${BN}u;
  let aBase = wid.z * u.aBatch;
  let bBase = wid.z * u.bBatch;
  let cBase = wid.z * u.M * u.N;
  let tid = lid.y * ${c.wgX}u + lid.x;
  // invocation (x, y) owns rows y + i·wgY and columns x + j·wgX of the tile: neighbours read neighbouring words
  ${rows.map((i) => cols.map((j) => `var acc${i}_${j} = 0.0;`).join(' ')).join('\n  ')}
  for (var t = 0u; t < u.K; t += ${KT}u) {
    ${fillA}
    ${fillB}
    ${tileProduct(KT, rows.map((i) => `kk * ${BM}u + lid.y + ${i * c.wgY}u`), cols.map((j) => `kk * ${BN}u + lid.x + ${j * c.wgX}u`))}
  }
  ${storeBlock(c.tm, c.tn, (i) => `row0 + lid.y + ${i * c.wgY}u`, (j) => `col0 + lid.x + ${j * c.wgX}u`, (j) => `min(col0 + lid.x + ${j * c.wgX}u, u.N - 1u)`, (i, j) => `acc${i}_${j}`)}
}`;
}

export function matmulWgsl(c: MatmulConfig, L: MatmulLayout): string {
  switch (c.kind) {
    case 'register':
      return registerWgsl(c, L);
    case 'subgroup':
      return subgroupWgsl(c, L);
    case 'tiled':
      return tiledWgsl(c, L);
  }
}
