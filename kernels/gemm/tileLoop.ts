// kernels/gemm/tileLoop.ts: the GEMM tile loop, C[m, n] = Σ_k A[m, k] · B[k, n], written once per layout; matmul
// (kernels/matmul) and the implicit-GEMM conv2d passes (kernels/conv) plug their reads and writes into it, as
// tfjs-backend-webgpu's conv2d supplies mm_readA / mm_readB / mm_write to makeMatMulPackedSource.
//
// Each invocation accumulates a TM×TN block of C in registers acc{i}_{j}. The layouts differ in who reads what:
// - registerGemm: every invocation reads its own TM values of A and TN of B per K step (no workgroup memory, which CPU
//   drivers emulate slowly). The kernel supplies the K loop nest around the step: matmul steps k (unrolled), conv runs
//   tap by tap with the channel loop innermost, so a tap's masks and offsets are computed once.
// - subgroupGemm: the TM rows are shared by the whole workgroup; for SG consecutive k each lane loads one A value per
//   row and the subgroup passes them round (subgroupBroadcast, unrolled, or subgroupShuffle, rolled), so A costs 1/SG
//   of a load per use; a plain-load run does the K tail and the whole K where subgroups are smaller than SG.
// - tiledGemm: per K step of KT the workgroup fills tiles As [KT][BM] and Bs [KT][BN] in workgroup memory, then every
//   invocation runs its TM×TN FMAs per k from them (for real GPUs).
// Hooks are WGSL text: statements (`setup`, `loads`, fills) or expressions (`value`, guards); `indent` strings only
// lay the text out.

export const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** The accumulator of block element (i, j). */
const acc = (i: number, j: number): string => `acc${i}_${j}`;

/** acc_ij = fma(a_i, b_j, acc_ij) along row i of the block: `a` is the row's A value, `b(j)` column j's B value. */
const fmaRow = (i: number, tn: number, a: string, b: (j: number) => string): string =>
  range(tn).map((j) => `${acc(i, j)} = fma(${a}, ${b(j)}, ${acc(i, j)});`).join(' ');

/** One K step's operands: statements that load them, then the value of row i (of A) or column j (of B). */
export interface StepOperand {
  loads: string[];
  value: (index: number) => string;
}

/**
 * Where the block goes: row i is stored when `rowOk(i)` (after `rowAt(i)`, statements that locate it, in a block of its
 * own), with `rowSetup(i)` inside the guard; element (i, j) is written by `write` when `colOk(j)` (after `colAt(j)`).
 */
export interface BlockStore {
  rowAt?: (i: number) => string;
  rowOk: (i: number) => string;
  rowSetup?: (i: number) => string;
  colAt?: (j: number) => string;
  colOk: (j: number) => string;
  write: (i: number, j: number, value: string) => string;
}

function storeBlock(tm: number, tn: number, s: BlockStore): string {
  const element = (i: number, j: number) => {
    const store = `if (${s.colOk(j)}) { ${s.write(i, j, acc(i, j))} }`;
    return s.colAt ? `{ ${s.colAt(j)} ${store} }` : store;
  };
  const row = (i: number, pad: string) =>
    `if (${s.rowOk(i)}) {${s.rowSetup ? `\n${pad}  ${s.rowSetup(i)}` : ''}\n${pad}  ${range(tn).map((j) => element(i, j)).join(`\n${pad}  `)}\n${pad}}`;
  return range(tm).map((i) => (s.rowAt ? `{\n    ${s.rowAt(i)}\n    ${row(i, '    ')}\n  }` : row(i, '  '))).join('\n  ');
}

/** What every layout takes: the declarations above the entry point, its parameters, and the code around the loop. */
interface Gemm {
  tm: number; // rows of C per invocation
  tn: number; // columns of C per invocation
  declarations: string; // enables, constants, the uniform block, bindings, helper functions
  params: string; // the entry point's builtins
  setup: string; // statements that place this invocation's block: its rows, columns and operand bases
  epilogue?: string; // statements after the K loop, before the stores (e.g. bias values)
  store: BlockStore;
}

/** The entry point around a layout's K loop; `preamble`: the layout's own statements before the kernel's setup. */
const entry = (g: Gemm, workgroupSize: string, loop: string, preamble = '') => /* wgsl */ `${g.declarations}
@compute @workgroup_size(${workgroupSize})
fn main(${g.params}) {${preamble}
  ${g.setup}
  ${range(g.tm).map((i) => range(g.tn).map((j) => `var ${acc(i, j)} = 0.0;`).join(' ')).join('\n  ')}
  ${loop}${g.epilogue ? `\n  ${g.epilogue}` : ''}
  ${storeBlock(g.tm, g.tn, g.store)}
}`;

// ---- register: each invocation reads its own operands ---------------------------------------------------------------

/** One K step: A's and B's loads, then TM·TN FMAs. `kk` is the step's offset in an unrolled loop, `k` its WGSL index. */
export type RegisterStep = (indent: string, kk?: number, k?: string) => string;

export interface RegisterGemm extends Gemm {
  workgroupSize: string;
  loop: (step: RegisterStep) => string; // the K loop nest, with `step` at its innermost level
  readA: (kk: number, k: string) => StepOperand; // the TM row values a_i of A at this step
  readB: (kk: number, k: string) => StepOperand; // the TN column values b_j of B
}

export function registerGemm(g: RegisterGemm): string {
  const step: RegisterStep = (indent, kk = 0, k = '') => {
    const a = g.readA(kk, k), b = g.readB(kk, k);
    return [...a.loads, ...b.loads, ...range(g.tm).map((i) => fmaRow(i, g.tn, a.value(i), b.value))].join(`\n${indent}`);
  };
  return entry(g, g.workgroupSize, g.loop(step));
}

// ---- subgroup: the workgroup shares its rows, a subgroup shares its loads of A --------------------------------------

/** A run over k in [0, end) (a loop variable of the kernel's choosing) in subgroupGemm: where A and B are read. */
export interface SubgroupRun {
  k: string; // the run's loop variable, declared by the run
  end: string; // exclusive bound of k
  guard?: string; // besides subgroups of ≥ SG lanes, when the shared path may run (e.g. a test flag)
  readA: (i: number, k: string) => string; // A at row i and index k (a WGSL expression safe to multiply), as f32
  readB: (k: string) => StepOperand; // the TN values of B at index k
  /**
   * B as vec4s along k (optional): the loads at k (a multiple of 4), then column j's value at k + r. The shared run then
   * loads B once per 4 steps of k; readB still serves the plain run.
   */
  readB4?: (k: string) => { loads: string[]; value: (j: number, r: number) => string };
}

export interface SubgroupGemm extends Gemm {
  locate: string; // after `setup` and this lane's slot s: statements that locate the block's rows and columns
  sg: number; // lanes that share their loads of A (≤ the subgroup size, else the plain run does all of K)
  share: 'broadcast' | 'shuffle'; // broadcast: SG steps unrolled (constant lane ids); shuffle: a rolled loop
  workgroupSize: string;
  run: SubgroupRun;
  loop: (run: (indent: string) => string) => string; // the loop nest around the run (none in matmul; taps in conv)
}

export function subgroupGemm(g: SubgroupGemm): string {
  const { k, end, readA, readB } = g.run, SG = g.sg;
  const fmas = (a: (i: number) => string, b: (j: number) => string, pad: string) =>
    range(g.tm).map((i) => `{ let a = ${a(i)}; ${fmaRow(i, g.tn, 'a', b)} }`).join(`\n${pad}`);
  // row i's A value at step `lane` of the run, from the lane that loaded it
  const share = (i: number, lane: string) => (g.share === 'broadcast' ? `subgroupBroadcast(as${i}, ${lane})` : `subgroupShuffle(as${i}, ${lane})`);
  const step = (kAt: string, lane: string, pad: string) => {
    const b = readB(kAt);
    return `${b.loads.join(' ')}\n${pad}${fmas((i) => share(i, lane), b.value, pad)}`;
  };
  // B in vec4s along k: four steps per load, k + 4h … k + 4h + 3 (h unrolled where lane ids must be constants)
  const quad = (h: number | 'h', pad: string) => {
    const b = g.run.readB4!(h === 'h' ? `${k} + 4u * h` : `${k} + ${4 * h}u`);
    const lane = (r: number) => (h === 'h' ? `4u * h + ${r}u` : `${4 * h + r}u`);
    return `${b.loads.join(' ')}\n${pad}${range(4).map((r) => fmas((i) => share(i, lane(r)), (j) => b.value(j, r), pad)).join(`\n${pad}`)}`;
  };
  const shared = (pad: string) => {
    if (g.run.readB4) {
      return g.share === 'broadcast'
        ? range(SG / 4).map((h) => `{\n${pad}  ${quad(h, `${pad}  `)}\n${pad}}`).join(`\n${pad}`)
        : `for (var h = 0u; h < ${SG / 4}u; h++) {\n${pad}  ${quad('h', `${pad}  `)}\n${pad}}`;
    }
    return g.share === 'broadcast'
      ? range(SG).map((kk) => `{\n${pad}  ${step(`${k} + ${kk}u`, `${kk}u`, `${pad}  `)}\n${pad}}`).join(`\n${pad}`)
      : `for (var kk = 0u; kk < ${SG}u; kk++) {\n${pad}  ${step(`${k} + kk`, 'kk', `${pad}  `)}\n${pad}}`;
  };
  const run = (pad: string) => {
    const tail = readB(k);
    return `var ${k} = 0u;
${pad}if (sgSize >= ${SG}u${g.run.guard ? ` && ${g.run.guard}` : ''}) {
${pad}  for (; ${k} + ${SG}u <= ${end}; ${k} += ${SG}u) {
${pad}    // lane s holds A at (m_i, k + s) for each row i
${pad}    ${range(g.tm).map((i) => `let as${i} = ${readA(i, `(${k} + s)`)};`).join(' ')}
${pad}    ${shared(`${pad}    `)}
${pad}  }
${pad}}
${pad}// the K tail, and the whole K where subgroups are smaller than SG: plain loads
${pad}for (; ${k} < ${end}; ${k}++) {
${pad}  ${tail.loads.join(' ')}
${pad}  ${fmas((i) => readA(i, k), tail.value, `${pad}  `)}
${pad}}`;
  };
  const withLanes = {
    ...g,
    params: `${g.params},\n        @builtin(subgroup_invocation_id) sgLane: u32, @builtin(subgroup_size) sgSize: u32`,
    setup: `${g.setup}\n  let s = sgLane % ${SG}u; // this lane's slot in each run of SG k\n  ${g.locate}`,
  };
  return entry(withLanes, g.workgroupSize, g.loop(run));
}

// ---- tiled: workgroup-memory tiles ----------------------------------------------------------------------------------

/** What a tiled kernel's config fixes: TM×TN per invocation, wgX×wgY invocations, KT k per tile. */
export interface TileShape {
  tm: number;
  tn: number;
  wgX: number;
  wgY: number;
  kt: number;
}

/**
 * A tile's geometry: BM×BN outputs per workgroup, KT k per step, WG invocations. With `rowsAlong` 'y' invocation
 * (x, y) owns rows y + i·wgY and columns x + j·wgX of the tile ('x': the other way round); a kernel puts the dimension
 * along which C is contiguous on lid.x, so that neighbouring invocations store neighbouring words.
 */
export interface TileGeometry extends Omit<TileShape, 'kt'> {
  BM: number;
  BN: number;
  KT: number;
  WG: number;
  row: (i: number) => string; // row i of this invocation inside the tile
  col: (j: number) => string;
}

export function tileGeometry(c: TileShape, rowsAlong: 'x' | 'y'): TileGeometry {
  const [rowLane, rowStride, colLane, colStride] = rowsAlong === 'y' ? ['lid.y', c.wgY, 'lid.x', c.wgX] : ['lid.x', c.wgX, 'lid.y', c.wgY];
  return {
    tm: c.tm,
    tn: c.tn,
    wgX: c.wgX,
    wgY: c.wgY,
    BM: rowStride * c.tm,
    BN: colStride * c.tn,
    KT: c.kt,
    WG: c.wgX * c.wgY,
    row: (i) => `${rowLane} + ${i * rowStride}u`,
    col: (j) => `${colLane} + ${j * colStride}u`,
  };
}

export interface TiledGemm extends Omit<Gemm, 'params' | 'tm' | 'tn'> {
  tile: TileGeometry;
  numWorkgroups?: boolean; // the entry point takes nwg (num_workgroups)
  tiles?: [a: string, b: string]; // what As and Bs hold, for their comments
  kRange: [from: string, to: string]; // the K loop: for t in [from, to) by KT
  fill: string; // statements that fill As[kk·BM + m] and Bs[kk·BN + n] for k = t + kk (setup may define tid for them)
}

export function tiledGemm(g: TiledGemm): string {
  const { tm, tn, wgX, wgY, BM, BN, KT } = g.tile;
  const note = (what?: string) => (what ? ` // ${what}` : '');
  const declarations = `${g.declarations}
// BM, BN, KT are baked in: they size the workgroup arrays
var<workgroup> As: array<f32, ${BM * KT}>;${note(g.tiles?.[0])}
var<workgroup> Bs: array<f32, ${BN * KT}>;${note(g.tiles?.[1])}`;
  const params = `@builtin(workgroup_id) wid: vec3u,${g.numWorkgroups ? ' @builtin(num_workgroups) nwg: vec3u,' : ''} @builtin(local_invocation_id) lid: vec3u`;
  // a barrier after the fill, KT rows of TM·TN FMAs from the tiles, a barrier before the next fill
  const loop = `for (var t = ${g.kRange[0]}; t < ${g.kRange[1]}; t += ${KT}u) {
    ${g.fill}
    workgroupBarrier();
    for (var kk = 0u; kk < ${KT}u; kk++) {
      ${range(tm).map((i) => `let a${i} = As[kk * ${BM}u + ${g.tile.row(i)}];`).join(' ')}
      ${range(tn).map((j) => `let b${j} = Bs[kk * ${BN}u + ${g.tile.col(j)}];`).join(' ')}
      ${range(tm).map((i) => fmaRow(i, tn, `a${i}`, (j) => `b${j}`)).join('\n      ')}
    }
    workgroupBarrier();
  }`;
  const preamble = '\n  // no early return: every invocation helps fill the tiles and meets the barriers';
  return entry({ ...g, tm, tn, declarations, params }, `${wgX}, ${wgY}, 1`, loop, preamble);
}
