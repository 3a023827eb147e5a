// kernels/matmul/matmul.wgsl.ts: C[b] = op(A[b]) · op(B[b]) (+ bias) with op = identity or transpose, read in place;
// three kernel kinds, each a function from a typed config to WGSL (STYLE §5) that supplies the reads and writes of one
// of the GEMM tile loops in kernels/gemm/tileLoop.ts:
// - register (registerGemm): each invocation owns a TM×TN block of C, no workgroup memory (CPU drivers emulate it
//   slowly); optional vec4 loads and a K loop unrolled by 4.
// - subgroup (subgroupGemm): the workgroup shares its TM rows and the subgroup passes A values round, so A costs 1/SG
//   of a load per use. On lavapipe a load is a per-lane loop of ~10 instructions while a shuffle is one vpermd: the
//   measured winner there. A uniform guard falls back to plain loads when the subgroup is smaller than SG.
// - tiled (tiledGemm): workgroup-memory tiles of A and B (BM×KT, KT×BN) shared by the workgroup, for real GPUs.
// Edge tiles clamp their loads (or zero-fill tiles) and guard their stores, so any shape works. Either operand may be
// f16 (OperandType): every read goes through `ld`, which converts halves (native f16, or pairs packed in u32 words)
// to f32; accumulation and C stay f32.
import { range, registerGemm, subgroupGemm, tiledGemm, tileGeometry, type BlockStore, type StepOperand } from '../gemm/tileLoop';
import { constSlot, evaluate, stepFunctions, type FusedKernelSpec } from '../elementwise/fused.wgsl';
import { WGSL_MATH } from '../elementwise/ops';

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

/**
 * Elementwise work on C fused into the store (a compiled step's matmul followed by elementwise ops, engine/compile):
 * each element c = acc (+ bias) goes through `spec`'s steps, in which input `self` is c and every other input is read
 * at the element's offset (its strides over C's shape; a batched C reads them at C's own offsets, strides null). The
 * result is stored in C's place, or, with `keepC` (other ops read C), in an output of its own after C is stored.
 */
export interface MatmulEpilogue {
  spec: FusedKernelSpec;
  self: number;
  keepC: boolean;
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

/** The uniform block every matmul kernel reads (12 words, then an epilogue's constants). Strides: op(A)[m,k] = A[aBase + m·sAm + k·sAk]. */
const HEADER = (L: MatmulLayout, ext = '', e?: MatmulEpilogue) => {
  const consts = e && constSlot(e.spec, OWN_WORDS);
  const binding = (op: 'A' | 'B', t: OperandType, vec: boolean) => {
    const decl = `@group(0) @binding(${op === 'A' ? 1 : 2}) var<storage, read> ${op}: array<${ELEMENT[t][vec ? 1 : 0]}>;`;
    if (t !== 'f16packed') return decl;
    // halves in pairs: element i is half i % 2 of word i / 2; a vec4 is one vec2<u32>
    return vec
      ? `${decl}\nfn ld${op}4(i: u32) -> vec4f { let w = ${op}[i]; return vec4f(unpack2x16float(w.x), unpack2x16float(w.y)); }`
      : `${decl}\nfn ld${op}(i: u32) -> f32 { return unpack2x16float(${op}[i / 2u])[i % 2u]; }`;
  };
  return /* wgsl */ `${L.aType === 'f16' || L.bType === 'f16' ? 'enable f16;\n' : ''}${ext}
struct U { M: u32, N: u32, K: u32, hasBias: u32, aBatch: u32, bBatch: u32, sAm: u32, sAk: u32, sBk: u32, sBn: u32, flags: u32, pad: u32${consts?.fits ? `, cs: ${consts.type}` : ''} }
@group(0) @binding(0) var<uniform> u: U;
${binding('A', L.aType, isVec(L.aMode))}
${binding('B', L.bType, isVec(L.bMode))}
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> C: array<f32>;${e ? epilogueDeclarations(e) : ''}`;
};

/** The uniform block's own 12 words; an epilogue's constants follow them (constSlot). */
const OWN_WORDS = 12;

/** The uniform words of a matmul's dispatch with epilogue `e`: the matmul's own, then the epilogue's constants. */
export const epilogueWords = (words: ArrayLike<number>, e: MatmulEpilogue): Uint32Array => constSlot(e.spec, OWN_WORDS).words(words);

/** The epilogue's extra inputs E<k> from binding 5, its output O after them (with keepC), its step functions. */
function epilogueDeclarations(e: MatmulEpilogue): string {
  const extra = epilogueInputs(e);
  const lines = extra.map((k, i) => `@group(0) @binding(${5 + i}) var<storage, read> E${k}: array<f32>;`);
  if (e.keepC) lines.push(`@group(0) @binding(${5 + extra.length}) var<storage, read_write> O: array<f32>;`);
  return `\n${lines.join('\n')}\n${WGSL_MATH}\n${stepFunctions(e.spec, constSlot(e.spec, OWN_WORDS).at('u.cs'))}`;
}

/** The epilogue's inputs other than C, in binding order. */
export const epilogueInputs = (e: MatmulEpilogue): number[] => e.spec.inputs.flatMap((_, k) => (k === e.self ? [] : [k]));

const isVec = (m: OperandMode) => m !== 'strided';

/**
 * C[b][m, n] = acc (+ bias[n]) for rows `row(i)` < M and columns `col(j)` < N, through the epilogue if any; `nc(j)`:
 * column j clamped. Each column's bias is read once, before the stores (`epilogue`): read per element inside the
 * guards, lavapipe took 5.7–7.0 s instead of 2.4 s to compile an s16x8s8 kernel, for the same arithmetic.
 */
const storeC = (tn: number, row: (i: number) => string, col: (j: number) => string, nc: (j: number) => string, e?: MatmulEpilogue): { epilogue: string; store: BlockStore } => ({
  epilogue: range(tn).map((j) => `let bias${j} = select(0.0, bias[${nc(j)}], u.hasBias != 0u);`).join(' '),
  store: {
    rowOk: (i) => `${row(i)} < u.M`,
    colOk: (j) => `${col(j)} < u.N`,
    write: (i, j, value) => {
      const at = `cBase + (${row(i)}) * u.N + ${col(j)}`, c = `${value} + bias${j}`;
      if (!e) return `C[${at}] = ${c};`;
      // an input broadcast over a 2-D C is read at m·s0 + n·s1; one of C's shape at C's own offset
      const offset = (k: number) => {
        const s = e.spec.inputs[k];
        if (!s) return 'ci';
        const terms = [s[0] === 0 ? '' : `(${row(i)}) * ${s[0]}u`, s[1] === 0 ? '' : `(${col(j)}) * ${s[1]}u`].filter(Boolean);
        return terms.length ? terms.join(' + ') : '0u';
      };
      const steps = evaluate(e.spec, (k) => (k === e.self ? 'c' : `E${k}[${offset(k)}]`));
      return `{ let ci = ${at}; let c = ${c};${e.keepC ? ' C[ci] = c;' : ''} ${steps} ${e.keepC ? 'O' : 'C'}[ci] = t${e.spec.steps.length - 1}; }`;
    },
  },
});

/** Clamped row and column indices of a block at (row0, col0): loads stay in bounds, out-of-range results are never stored. */
const clamped = (rows: number[], cols: number[], vecRows: number, vecCols: number) => `${rows.map((i) => `let m${i} = min(row0 + ${i}u, u.M - 1u);`).join(' ')}
  ${cols.map((j) => `let n${j} = min(col0 + ${j}u, u.N - 1u);`).join(' ')}
  ${range(vecRows).map((q) => `let mq${q} = min(row0 + ${4 * q}u, u.M - 4u);`).join(' ')}
  ${range(vecCols).map((q) => `let nq${q} = min(col0 + ${4 * q}u, u.N - 4u);`).join(' ')}`;

/** Row i of A (stored [M, K]) or column i of B (stored [N, K]) as a vec4 along K from index k (K % 4 = 0). */
const alongK = (op: 'A' | 'B', L: MatmulLayout, i: number, k: string): string =>
  ld(op, L, `(${op === 'A' ? 'aBase' : 'bBase'} + ${op === 'A' ? 'm' : 'n'}${i} * u.K + ${k}) / 4u`);

/**
 * Register reads of op(A)'s rows m_0…m_{n−1} (op 'A') or op(B)'s columns n_0…n_{n−1} ('B') at K index `k`, per read
 * mode; `kk` is the step's offset in a loop unrolled by 4 (names its values; vecK loads at kk = 0 and reads lane kk).
 */
function operand(op: 'A' | 'B', n: number, L: MatmulLayout, k: string, kk?: number): StepOperand {
  const isA = op === 'A', v = isA ? 'a' : 'b', idx = isA ? 'm' : 'n', base = `${v}Base`, tag = kk === undefined ? '' : `_${kk}`;
  switch (isA ? L.aMode : L.bMode) {
    case 'strided': // scalars through the runtime strides: op(A)[m, k] = A[aBase + m·sAm + k·sAk], op(B)[k, n] = B[bBase + k·sBk + n·sBn]
      return {
        loads: range(n).map((i) => `let ${v}${i}${tag} = ${ld(op, L, isA ? `aBase + m${i} * u.sAm + (${k}) * u.sAk` : `bBase + (${k}) * u.sBk + n${i} * u.sBn`)};`),
        value: (i) => `${v}${i}${tag}`,
      };
    case 'vecK': // one vec4 along K per row (column), loaded at the first of 4 unrolled steps
      return { loads: kk === 0 ? range(n).map((i) => `let ${v}v${i} = ${alongK(op, L, i, 'k')};`) : [], value: (i) => `${v}v${i}[${kk}]` };
    case 'vecMN': // vec4s along M (N): four rows (columns) per load, clamped indices mq / nq
      return {
        loads: range(n / 4).map((q) => `let ${v}v${q}${tag} = ${ld(op, L, `(${base} + (${k}) * u.${isA ? 'M' : 'N'} + ${idx}q${q}) / 4u`)};`),
        value: (i) => `${v}v${i >> 2}${tag}[${i & 3}]`,
      };
  }
}

// ---- register ------------------------------------------------------------------------------------------------------

export function registerWgsl(c: RegisterConfig, L: MatmulLayout, e?: MatmulEpilogue): string {
  const U = c.kUnroll, rows = range(c.tm), cols = range(c.tn);
  if ((L.aMode === 'vecK' || L.bMode === 'vecK') && U !== 4) throw new Error('internal: matmul vecK reads need kUnroll 4');
  if (L.aMode === 'vecMN' && c.tm % 4 !== 0) throw new Error('internal: matmul vecMN A reads need tm % 4 = 0');
  if (L.bMode === 'vecMN' && c.tn % 4 !== 0) throw new Error('internal: matmul vecMN B reads need tn % 4 = 0');
  // a K tail exists only when the main loop steps by 4 and no operand needs K % 4 = 0
  const tail = U > 1 && L.aMode !== 'vecK' && L.bMode !== 'vecK';
  return registerGemm({
    tm: c.tm,
    tn: c.tn,
    declarations: `${HEADER(L, '', e)}\n\n// TM, TN, the unroll and the read modes are baked in: they set the register count and the load code`,
    workgroupSize: `${c.wgX}, ${c.wgY}, 1`,
    params: '@builtin(global_invocation_id) gid: vec3u',
    setup: `let row0 = gid.y * ${c.tm}u;
  let col0 = gid.x * ${c.tn}u;
  if (row0 >= u.M || col0 >= u.N) { return; }
  let aBase = gid.z * u.aBatch;
  let bBase = gid.z * u.bBatch;
  let cBase = gid.z * u.M * u.N;
  // clamped indices: loads stay in bounds, out-of-range results are never stored
  ${clamped(rows, cols, L.aMode === 'vecMN' ? c.tm / 4 : 0, L.bMode === 'vecMN' ? c.tn / 4 : 0)}`,
    loop: (step) => `var k = 0u;
  for (; k + ${U}u <= u.K; k += ${U}u) {
    ${range(U).map((kk) => step('    ', kk, `k + ${kk}u`)).join('\n    ')}
  }
  ${tail ? `for (; k < u.K; k++) {\n    ${step('    ', 0, 'k')}\n  }` : ''}`,
    readA: (kk, k) => operand('A', c.tm, L, k, kk),
    readB: (kk, k) => operand('B', c.tn, L, k, kk),
    ...storeC(c.tn, (i) => `row0 + ${i}u`, (j) => `col0 + ${j}u`, (j) => `n${j}`, e),
  });
}

// ---- subgroup ------------------------------------------------------------------------------------------------------

export function subgroupWgsl(c: SubgroupConfig, L: MatmulLayout, e?: MatmulEpilogue): string {
  if (L.aMode !== 'strided') throw new Error(`internal: subgroup matmul reads A strided, got ${L.aMode}`);
  if (L.bMode === 'vecK' && c.sg % 4 !== 0) throw new Error(`internal: subgroup matmul reads B in vec4s along K only when SG % 4 = 0, got SG ${c.sg}`);
  const rows = range(c.tm), cols = range(c.tn), bVec = L.bMode === 'vecMN';
  return subgroupGemm({
    tm: c.tm,
    tn: c.tn,
    sg: c.sg,
    share: c.share,
    declarations: `${HEADER(L, 'enable subgroups;', e)}\n\n// TM, TN, SG and the sharing mode are baked in: they set the register count and the unrolling`,
    workgroupSize: `${c.wgX}, 1, 1`,
    params: '@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u',
    setup: `// no early return: every lane takes part in the subgroup operations; out-of-range lanes load clamped indices
  let row0 = wid.y * ${c.tm}u;
  let col0 = (wid.x * ${c.wgX}u + lid.x) * ${c.tn}u;
  let aBase = wid.z * u.aBatch;
  let bBase = wid.z * u.bBatch;
  let cBase = wid.z * u.M * u.N;`,
    locate: clamped(rows, cols, 0, bVec ? c.tn / 4 : 0),
    run: {
      k: 'k',
      end: 'u.K',
      guard: `(u.flags & ${FLAG_NO_SUBGROUP_PATH}u) == 0u`,
      readA: (i, k) => ld('A', L, `aBase + m${i} * u.sAm + ${k} * u.sAk`),
      // vecK: B in vec4s along K, four steps of k per load; the plain run takes one element of each
      readB: (k) => (L.bMode === 'vecK' ? { loads: cols.map((j) => `let b${j} = ${alongK('B', L, j, k)}[(${k}) % 4u];`), value: (j) => `b${j}` } : operand('B', c.tn, L, k)),
      readB4: L.bMode === 'vecK' ? (k) => ({ loads: cols.map((j) => `let bv${j} = ${alongK('B', L, j, k)};`), value: (j, r) => `bv${j}[${r}]` }) : undefined,
    },
    loop: (run) => run('  '),
    ...storeC(c.tn, (i) => `row0 + ${i}u`, (j) => `col0 + ${j}u`, (j) => `n${j}`, e),
  });
}

// ---- tiled (workgroup memory) --------------------------------------------------------------------------------------

export function tiledWgsl(c: TiledConfig, L: MatmulLayout, e?: MatmulEpilogue): string {
  const tile = tileGeometry(c, 'y'), { BM, BN, KT, WG } = tile;
  if ((BM * KT) % WG !== 0 || (BN * KT) % WG !== 0) throw new Error(`internal: tiled matmul ${JSON.stringify(c)} does not split its tiles evenly`);
  // fill order follows the contiguous dim of each operand so that neighbouring invocations read neighbouring words;
  // rolled loops (GPU compilers unroll them; SwiftShader runs out of memory compiling 16+ unrolled fills)
  const [akk, am] = L.transA ? [`i / ${BM}u`, `i % ${BM}u`] : [`i % ${KT}u`, `i / ${KT}u`];
  const [bkk, bn] = L.transB ? [`i % ${KT}u`, `i / ${KT}u`] : [`i / ${BN}u`, `i % ${BN}u`];
  return tiledGemm({
    tile,
    declarations: HEADER(L, '', e),
    setup: `let row0 = wid.y * ${BM}u;
  let col0 = wid.x * ${BN}u;
  let aBase = wid.z * u.aBatch;
  let bBase = wid.z * u.bBatch;
  let cBase = wid.z * u.M * u.N;
  let tid = lid.y * ${c.wgX}u + lid.x;`,
    kRange: ['0u', 'u.K'],
    fill: `for (var e = 0u; e < ${(BM * KT) / WG}u; e++) {
      let i = tid + e * ${WG}u; let kk = ${akk}; let m = ${am}; let gm = row0 + m; let gk = t + kk;
      As[kk * ${BM}u + m] = select(0.0, ${ld('A', L, `aBase + min(gm, u.M - 1u) * u.sAm + min(gk, u.K - 1u) * u.sAk`)}, gm < u.M && gk < u.K);
    }
    for (var e = 0u; e < ${(BN * KT) / WG}u; e++) {
      let i = tid + e * ${WG}u; let kk = ${bkk}; let n = ${bn}; let gn = col0 + n; let gk = t + kk;
      Bs[kk * ${BN}u + n] = select(0.0, ${ld('B', L, `bBase + min(gk, u.K - 1u) * u.sBk + min(gn, u.N - 1u) * u.sBn`)}, gn < u.N && gk < u.K);
    }`,
    ...storeC(c.tn, (i) => `row0 + ${tile.row(i)}`, (j) => `col0 + ${tile.col(j)}`, (j) => `min(col0 + ${tile.col(j)}, u.N - 1u)`, e),
  });
}

export function matmulWgsl(c: MatmulConfig, L: MatmulLayout, e?: MatmulEpilogue): string {
  switch (c.kind) {
    case 'register':
      return registerWgsl(c, L, e);
    case 'subgroup':
      return subgroupWgsl(c, L, e);
    case 'tiled':
      return tiledWgsl(c, L, e);
  }
}
