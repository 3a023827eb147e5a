// kernels/conv/conv2d.wgsl.ts: conv2d forward, backward-data and backward-weight as implicit GEMMs (no im2col buffer),
// matching torch.nn.functional.conv2d: NCHW, weight [O, C/G, kH, kW], stride / padding / dilation / groups.
//
// Register blocking as in kernels/matmul: each invocation owns a TM×TN block of results in registers, no workgroup
// memory (CPU Vulkan drivers emulate it slowly). The TM rows vary across the lanes of a workgroup (pixels; input
// channels in backward-weight); the TN columns (channels) come from the workgroup id, so every lane needs the same TN
// weight (or dy) values. lavapipe still loads such a value once per lane (it only scalarises addresses it can prove
// constant, and a loop counter is not), so with `share` the lanes of a subgroup split the TN loads and pass the values
// round with subgroupBroadcast: one gather per 8 columns instead of 8 (measured: 1.6× on the whole kernel).
// The K loop runs tap by tap (kh, kw) with the channel loop innermost: a tap's zero-padding mask and input offset are
// computed once per tap and pixel, and the innermost loop is loads and FMAs only.

import { main1d } from '../grid';
import { tileProduct } from '../matmul/matmul.wgsl';

export interface ConvTile {
  tm: 1 | 2 | 4 | 8; // GEMM rows per invocation: pixels (forward, backward-data) or input channels (backward-weight)
  tn: 4 | 8 | 16 | 32; // GEMM columns per invocation: channels, the same for the whole workgroup
  wg: 8 | 16 | 32 | 64; // invocations per workgroup (baked in: @workgroup_size)
  share?: boolean; // load the columns once per subgroup and broadcast them, where the adapter has subgroups
}
export type ConvKernelKind = 'forward' | 'backwardData' | 'backwardWeight' | 'backwardWeightRows';
export interface ConvConfig extends ConvTile {
  kind: ConvKernelKind;
  sg: 0 | 4 | 8; // with `share`: lanes that split the column loads (≤ the adapter's smallest subgroup); 0 = no sharing
}

/** The uniform block of every conv kernel; dispatch.ts `uniforms()` fills it in this order. */
const HEADER = /* wgsl */ `
struct U {
  N: u32, C: u32, H: u32, W: u32,     // x  [N, C, H, W]
  O: u32, OH: u32, OW: u32, G: u32,   // y  [N, O, OH, OW]; G groups: x channels g·C/G.., y channels g·O/G..
  kH: u32, kW: u32, sh: u32, sw: u32, // weight [O, C/G, kH, kW]; stride
  ph: i32, pw: i32, dh: u32, dw: u32, // padding before the first row / column (zeros); dilation
  hasBias: u32, flipTaps: u32, chunk: u32, pad2: u32, // flipTaps: the wT kernels read tap kH·kW − 1 − t; chunk: pixels per split-K slice
}
@group(0) @binding(0) var<uniform> u: U;`;

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
/** One line per element of `xs`, joined for a given indentation. */
const lines = (xs: number[], f: (i: number) => string, indent = '  ') => xs.map(f).join(`\n${indent}`);

/**
 * The TN column operands b0…b{TN−1} of one K step. Their address is the same in every lane; CPU drivers still load it
 * per lane (a gather of 8 equal addresses), so with `sg` each subgroup lane loads a different column once and
 * subgroupBroadcast hands it to the others: one gather instead of TN. `column(offset)` is the global column index of
 * tile column `offset`; `load(col)` reads operand B at that column for the current K step.
 */
function columnOperands(c: ConvConfig, column: (offset: string) => string, load: (col: string) => string): { before: string; inLoop: string[] } {
  const J = range(c.tn);
  if (!c.sg) return { before: lines(J, (j) => `let col${j} = ${column(`${j}u`)};`), inLoop: J.map((j) => `let b${j} = ${load(`col${j}`)};`) };
  const sg = c.sg, S = range(Math.ceil(c.tn / sg));
  return {
    before: lines(S, (s) => `let colL${s} = ${column(`${s * sg}u + sgLane % ${sg}u`)};`),
    inLoop: [...S.map((s) => `let bL${s} = ${load(`colL${s}`)};`), ...J.map((j) => `let b${j} = subgroupBroadcast(bL${Math.floor(j / sg)}, ${j % sg}u);`)],
  };
}

/** acc_i[j] += a_i · b_j for the whole TM×TN block, a line per row. */
const fmaBlock = (c: ConvTile): string[] => range(c.tm).map((i) => range(c.tn).map((j) => `acc${i}[${j}] = fma(a${i}, b${j}, acc${i}[${j}]);`).join(' '));

/**
 * Every conv kernel is the same register-blocked GEMM skeleton: invocation row m_i = (wid.x·TM + i)·WG + lid, a TM×TN
 * accumulator block, and one K step — TM row operands a_i, TN column operands b_j, TM·TN FMAs — inside a loop nest
 * that differs per kernel. A kernel supplies its operands, its setup, the nest around the step and the store.
 */
interface ConvKernel {
  bindings: string[]; // the storage buffers from @binding(1) on, e.g. 'x: array<f32>' (the last one is written)
  helpers?: string; // WGSL functions the kernel calls
  setup: string; // after the shared sizes (cG, oG, HW, OHW, kHW): the workgroup's position in the problem
  columns: { index: (offset: string) => string; load: (col: string) => string }; // the TN column operands
  rows: (i: number) => string; // per row i, after m_i: what locates it (clamped to the last valid row)
  nest: (step: (indent: string) => string) => string; // the K loops, with the step at their innermost level
  readA: (i: number) => string; // row operand a_i at the current K step
  epilogue?: string; // after the K loops, before the stores (the bias values)
  store: (i: number) => string; // writes row i's block (guarded)
}

function convKernel(c: ConvConfig, k: ConvKernel): string {
  const I = range(c.tm);
  const cols = columnOperands(c, k.columns.index, k.columns.load);
  const step = (indent: string) =>
    [...I.map((i) => `let a${i} = ${k.readA(i)};`), ...cols.inLoop, ...fmaBlock(c)].join(`\n${indent}`);
  const storage = k.bindings.map((b, i) => `@group(0) @binding(${i + 1}) var<storage, ${i === k.bindings.length - 1 ? 'read_write' : 'read'}> ${b};`);
  return /* wgsl */ `${c.sg ? 'enable subgroups;\n' : ''}
// TM, TN size the register block and WG the workgroup: baked in
const TM = ${c.tm}u;
const TN = ${c.tn}u;
const WG = ${c.wg}u;
${HEADER}
${storage.join('\n')}
${k.helpers ?? ''}
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32${c.sg ? ', @builtin(subgroup_invocation_id) sgLane: u32' : ''}) {
  let cG = u.C / u.G;
  let oG = u.O / u.G;
  let HW = u.H * u.W;
  let OHW = u.OH * u.OW;
  let kHW = u.kH * u.kW;
  ${k.setup}
  ${cols.before}
  // TM rows per invocation, WG apart: neighbouring lanes own neighbouring rows
  ${lines(I, (i) => `let m${i} = (wid.x * TM + ${i}u) * WG + lid; ${k.rows(i)}`)}
  ${lines(I, (i) => `var acc${i}: array<f32, TN>;`)}
  ${k.nest(step)}
  ${k.epilogue ?? ''}
  ${lines(I, k.store)}
}`;
}

/** Lines of a kernel section, each row's or column's joined. */
const each = (n: number, f: (i: number) => string, indent = '  ') => lines(range(n), f, indent);

// ---- forward ------------------------------------------------------------------------------------------------------
// y[n, o, oh, ow] = b[o] + Σ_{c, kh, kw} x[n, g·C/G + c, oh·sh − ph + kh·dh, ow·sw − pw + kw·dw] · w[o, c, kh, kw]
// GEMM: rows = output pixels (n, oh, ow) across lanes, columns = the workgroup's TN output channels of group g.
const forwardWgsl = (c: ConvConfig): string =>
  convKernel(c, {
    bindings: ['x: array<f32>', 'w: array<f32>', 'bias: array<f32>', 'y: array<f32>'],
    helpers: 'fn inImage(p: vec2i) -> bool { return all(p >= vec2i(0)) && all(p < vec2i(i32(u.H), i32(u.W))); }',
    setup: `let g = wid.z;
  let M = u.N * OHW;
  // TN output channels per workgroup (clamped: extra ones are computed, never stored)
  let oBase = wid.y * TN;
  ${each(c.tn, (j) => `let o${j} = g * oG + min(oBase + ${j}u, oG - 1u);`)}`,
    columns: { index: (off) => `g * oG + min(oBase + ${off}, oG - 1u)`, load: (col) => `w[(${col} * cG + ci) * kHW + tap]` },
    rows: (i) => `let p${i} = min(m${i}, M - 1u);
  let n${i} = p${i} / OHW; let out${i} = vec2u((p${i} / u.OW) % u.OH, p${i} % u.OW); let xBase${i} = (n${i} * u.C + g * cG) * HW;`,
    nest: (step) => `for (var kh = 0u; kh < u.kH; kh++) {
    for (var kw = 0u; kw < u.kW; kw++) {
      let tap = kh * u.kW + kw;
      // the input pixel under this tap: (oh, ow)·stride − padding + (kh, kw)·dilation; outside the image reads 0
      let shift = vec2i(vec2u(kh * u.dh, kw * u.dw)) - vec2i(u.ph, u.pw);
      ${each(c.tm, (i) => `let in${i} = vec2i(out${i} * vec2u(u.sh, u.sw)) + shift; let ok${i} = inImage(in${i});`, '      ')}
      ${each(c.tm, (i) => `let xAt${i} = select(0u, xBase${i} + u32(in${i}.x) * u.W + u32(in${i}.y), ok${i});`, '      ')}
      for (var ci = 0u; ci < cG; ci++) {
        // a: x[n, g·cG + ci, ih, iw]; b: w[o, ci, kh, kw]
        ${step('        ')}
      }
    }
  }`,
    readA: (i) => `select(0.0, x[xAt${i} + ci * HW], ok${i})`,
    epilogue: each(c.tn, (j) => `let bias${j} = select(0.0, bias[o${j}], u.hasBias != 0u);`),
    store: (i) => `if (m${i} < M) {
    let yAt = n${i} * u.O * OHW + out${i}.x * u.OW + out${i}.y;
    ${each(c.tn, (j) => `if (oBase + ${j}u < oG) { y[yAt + o${j} * OHW] = acc${i}[${j}] + bias${j}; }`, '    ')}
  }`,
  });

// ---- backward-data (also convTranspose2d forward) -----------------------------------------------------------------
// dx[n, g·C/G + c, ih, iw] = b[g·C/G + c] + Σ_{o, kh, kw} dy[n, g·O/G + o, oh, ow] · w[g·O/G + o, c, kh, kw]
//   over the taps where ih = oh·sh − ph + kh·dh (and likewise iw), i.e. oh = (ih + ph − kh·dh) / sh when that divides.
// GEMM: rows = input pixels across lanes, columns = the workgroup's TN input channels, K = (o, kh, kw).
// A workgroup covers one stride phase (ih mod sh, iw mod sw): a tap then lands on output pixels for every lane or for
// none, so strided convolutions skip the dead taps with a uniform branch instead of masking 3 lanes in 4.
const backwardDataWgsl = (c: ConvConfig): string =>
  convKernel(c, {
    bindings: ['dy: array<f32>', 'w: array<f32>', 'bias: array<f32>', 'dx: array<f32>'],
    helpers: 'fn inOutput(p: vec2i) -> bool { return all(p >= vec2i(0)) && all(p < vec2i(i32(u.OH), i32(u.OW))); }',
    setup: `let stride = vec2u(u.sh, u.sw);
  let phases = u.sh * u.sw;
  let g = wid.z / phases;
  // this workgroup's phase: every pixel it owns has (ih, iw) = r + stride·q
  let r = vec2u((wid.z % phases) / u.sw, wid.z % u.sw);
  let size = (vec2u(u.H, u.W) + stride - 1u - r) / stride; // rows and columns of this phase (0 if the image is smaller)
  let M = u.N * size.x * size.y;
  if (M == 0u) { return; }
  let cBase = wid.y * TN;
  ${each(c.tn, (j) => `let c${j} = min(cBase + ${j}u, cG - 1u);`)}`,
    columns: { index: (off) => `min(cBase + ${off}, cG - 1u)`, load: (col) => `w[((g * oG + o) * cG + ${col}) * kHW + tap]` },
    rows: (i) => `let p${i} = min(m${i}, M - 1u);
  let n${i} = p${i} / (size.x * size.y); let q${i} = vec2u((p${i} / size.y) % size.x, p${i} % size.y); let dyBase${i} = (n${i} * u.O + g * oG) * OHW;`,
    nest: (step) => `for (var kh = 0u; kh < u.kH; kh++) {
    // oh·sh = ih + ph − kh·dh = r.x + ph − kh·dh + q.x·sh: a whole output row for this phase, or none
    let th = i32(r.x) + u.ph - i32(kh * u.dh);
    if (th % i32(u.sh) != 0) { continue; }
    for (var kw = 0u; kw < u.kW; kw++) {
      let tw = i32(r.y) + u.pw - i32(kw * u.dw);
      if (tw % i32(u.sw) != 0) { continue; }
      let tap = kh * u.kW + kw;
      let shift = vec2i(th / i32(u.sh), tw / i32(u.sw));
      ${each(c.tm, (i) => `let out${i} = vec2i(q${i}) + shift; let ok${i} = inOutput(out${i});`, '      ')}
      ${each(c.tm, (i) => `let dyAt${i} = select(0u, dyBase${i} + u32(out${i}.x) * u.OW + u32(out${i}.y), ok${i});`, '      ')}
      for (var o = 0u; o < oG; o++) {
        // a: dy[n, g·oG + o, oh, ow]; b: w[g·oG + o, c, kh, kw]
        ${step('        ')}
      }
    }
  }`,
    readA: (i) => `select(0.0, dy[dyAt${i} + o * OHW], ok${i})`,
    epilogue: each(c.tn, (j) => `let bias${j} = select(0.0, bias[g * cG + c${j}], u.hasBias != 0u);`),
    store: (i) => `if (m${i} < M) {
    let pix = r + stride * q${i};
    let dxAt = (n${i} * u.C + g * cG) * HW + pix.x * u.W + pix.y;
    ${each(c.tn, (j) => `if (cBase + ${j}u < cG) { dx[dxAt + c${j} * HW] = acc${i}[${j}] + bias${j}; }`, '    ')}
  }`,
  });

// ---- backward-weight ----------------------------------------------------------------------------------------------
// dw[g·O/G + o, c, kh, kw] = Σ_{n, oh, ow} dy[n, g·O/G + o, oh, ow] · x[n, g·C/G + c, oh·sh − ph + kh·dh, ow·sw − pw + kw·dw]
// GEMM: rows = input channels c across lanes, columns = the workgroup's TN output channels, K = (n, oh, ow).
// A workgroup owns one tap (kh, kw), so the output rows and columns whose input lies inside the image form one
// rectangle for all its lanes: the K loop runs over that rectangle with no masks at all.
const dyColumns = { index: (off: string) => `g * oG + min(oBase + ${off}, oG - 1u)`, load: (col: string) => `dy[dyRow + ${col} * OHW + ow]` };
const backwardWeightWgsl = (c: ConvConfig): string =>
  convKernel(c, {
    bindings: ['x: array<f32>', 'dy: array<f32>', 'dw: array<f32>'],
    helpers: `// outputs o (along one axis) whose input o·s − p + k·d lies in [0, size): o in [lo, hi)
fn inside(size: u32, outSize: u32, s: u32, p: i32, kd: u32) -> vec2u {
  let a = p - i32(kd); // o·s ≥ a
  let b = i32(size) - 1 + a; // o·s ≤ b
  let lo = select(0, (a + i32(s) - 1) / i32(s), a > 0);
  let hi = select(0, min(b / i32(s) + 1, i32(outSize)), b >= 0);
  return vec2u(u32(lo), u32(max(lo, hi)));
}`,
    setup: `let g = wid.z / kHW;
  let tap = wid.z % kHW;
  let kh = tap / u.kW;
  let kw = tap % u.kW;
  let rowsIn = inside(u.H, u.OH, u.sh, u.ph, kh * u.dh);
  let colsIn = inside(u.W, u.OW, u.sw, u.pw, kw * u.dw);
  let shift = vec2i(vec2u(kh * u.dh, kw * u.dw)) - vec2i(u.ph, u.pw);
  let oBase = wid.y * TN;
  ${each(c.tn, (j) => `let o${j} = g * oG + min(oBase + ${j}u, oG - 1u);`)}`,
    columns: dyColumns,
    rows: (i) => `let c${i} = g * cG + min(m${i}, cG - 1u);`,
    nest: (step) => `for (var n = 0u; n < u.N; n++) {
    for (var oh = rowsIn.x; oh < rowsIn.y; oh++) {
      let ih = u32(i32(oh * u.sh) + shift.x);
      ${each(c.tm, (i) => `let xRow${i} = ((n * u.C + c${i}) * u.H + ih) * u.W;`, '      ')}
      let dyRow = (n * u.O * u.OH + oh) * u.OW; // dy[n, o, oh, ·] = dy[dyRow + o·OH·OW + ·]
      for (var ow = colsIn.x; ow < colsIn.y; ow++) {
        let iw = u32(i32(ow * u.sw) + shift.y);
        // a: x[n, c, ih, iw]; b: dy[n, o, oh, ow]
        ${step('        ')}
      }
    }
  }`,
    readA: (i) => `x[xRow${i} + iw]`,
    store: (i) => `if (m${i} < cG) {
    ${each(c.tn, (j) => `if (oBase + ${j}u < oG) { dw[(o${j} * cG + m${i}) * kHW + tap] = acc${i}[${j}]; }`, '    ')}
  }`,
  });

// ---- backward-weight, taps across lanes ---------------------------------------------------------------------------
// The same sum for layers with few input channels per group (an RGB or grey input): lanes run over the GEMM rows
// r = (c, kh, kw) of w's [C/G·kH·kW] axis, so 3 channels × 9 taps still fill 27 lanes where one tap per workgroup
// would leave 5 lanes in 8 idle. The price is a zero-padding mask per lane and pixel.
const backwardWeightRowsWgsl = (c: ConvConfig): string =>
  convKernel(c, {
    bindings: ['x: array<f32>', 'dy: array<f32>', 'dw: array<f32>'],
    setup: `let R = cG * kHW; // rows of dw per output channel: (c, kh, kw)
  let g = wid.z;
  let oBase = wid.y * TN;
  ${each(c.tn, (j) => `let o${j} = g * oG + min(oBase + ${j}u, oG - 1u);`)}`,
    columns: dyColumns,
    // row r = (c, kh, kw) reads x at (oh, ow)·stride − padding + (kh, kw)·dilation
    rows: (i) => `let r${i} = min(m${i}, R - 1u);
  let shift${i} = vec2i(vec2u((r${i} % kHW) / u.kW * u.dh, r${i} % u.kW * u.dw)) - vec2i(u.ph, u.pw); let xPlane${i} = (g * cG + r${i} / kHW) * HW;`,
    nest: (step) => `for (var n = 0u; n < u.N; n++) {
    for (var oh = 0u; oh < u.OH; oh++) {
      ${each(c.tm, (i) => `let ih${i} = i32(oh * u.sh) + shift${i}.x; let rowOk${i} = ih${i} >= 0 && ih${i} < i32(u.H);`, '      ')}
      ${each(c.tm, (i) => `let xRow${i} = n * u.C * HW + xPlane${i} + select(0u, u32(ih${i}) * u.W, rowOk${i});`, '      ')}
      let dyRow = (n * u.O * u.OH + oh) * u.OW; // dy[n, o, oh, ·] = dy[dyRow + o·OH·OW + ·]
      for (var ow = 0u; ow < u.OW; ow++) {
        // a: x[n, c, ih, iw] (0 in the padding); b: dy[n, o, oh, ow]
        ${each(c.tm, (i) => `let iw${i} = i32(ow * u.sw) + shift${i}.y; let ok${i} = rowOk${i} && iw${i} >= 0 && iw${i} < i32(u.W);`, '        ')}
        ${step('        ')}
      }
    }
  }`,
    readA: (i) => `select(0.0, x[xRow${i} + select(0u, u32(iw${i}), ok${i})], ok${i})`,
    store: (i) => `if (m${i} < R) {
    ${each(c.tn, (j) => `if (oBase + ${j}u < oG) { dw[o${j} * R + m${i}] = acc${i}[${j}]; }`, '    ')}
  }`,
  });

// ---- forward, pixels shared (the matmul subgroup kernel's layout) --------------------------------------------------
// The same sum as forwardWgsl with the roles of lanes swapped: a workgroup's TM output pixels are shared by all its
// lanes and each lane owns TN output channels, so the weights are the per-lane operand and stream as vec4s from a
// transposed copy wT [kH, kW, C, O] (K = (tap, c) rows of O contiguous channels), while each input value is loaded by
// one lane of SG and handed round with subgroupBroadcast. The pixel offsets and padding masks of a tap are the same in
// every lane. One group only (groups = 1). On SwiftShader, where per-lane gathers of x dominate forwardWgsl, this is
// the layout that runs at matmul speed. With `flipTaps` the weights are read tap-reversed: a stride-1 backward-data is
// this forward over dy with the kernel flipped (dispatch.ts, conv2dBackwardData).
export interface ConvSharedConfig {
  tm: 8 | 16; // output pixels per workgroup, shared by its lanes
  tn: 4 | 8; // output channels per lane (vec4 weight loads)
  wg: 4 | 8 | 16; // lanes per workgroup: channels per workgroup = wg · tn
  sg: 4 | 8; // lanes that split the input loads (≤ the adapter's smallest subgroup)
}
export const forwardSharedWgsl = (c: ConvSharedConfig): string => {
  const I = range(c.tm), J = range(c.tn), Q = range(c.tn / 4), K = range(c.sg);
  const fmas = (a: (i: number) => string) => I.map((i) => `{ let a = ${a(i)}; ${J.map((j) => `acc${i}_${j} = fma(a, bv${j >> 2}[${j & 3}], acc${i}_${j});`).join(' ')} }`).join('\n          ');
  const loadB = (k: string) => Q.map((q) => `let bv${q} = wT[((${k}) * u.O + oq${q}) / 4u];`).join(' ');
  return /* wgsl */ `enable subgroups;
${HEADER}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> wT: array<vec4f>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
fn inImage(p: vec2i) -> bool { return all(p >= vec2i(0)) && all(p < vec2i(i32(u.H), i32(u.W))); }
@compute @workgroup_size(${c.wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32,
        @builtin(subgroup_invocation_id) sgLane: u32, @builtin(subgroup_size) sgSize: u32) {
  let HW = u.H * u.W;
  let OHW = u.OH * u.OW;
  let M = u.N * OHW;
  // pixel blocks run over y and z (more than 65,535 of them fit); the exit is uniform per workgroup
  let row0 = (wid.y + wid.z * nwg.y) * ${c.tm}u;
  if (row0 >= M) { return; }
  let col0 = (wid.x * ${c.wg}u + lid) * ${c.tn}u;
  let s = sgLane % ${c.sg}u;
  ${I.map((i) => `let p${i} = min(row0 + ${i}u, M - 1u); let n${i} = p${i} / OHW; let out${i} = vec2u((p${i} / u.OW) % u.OH, p${i} % u.OW);`).join('\n  ')}
  ${Q.map((q) => `let oq${q} = min(col0 + ${4 * q}u, u.O - 4u);`).join(' ')}
  ${I.map((i) => J.map((j) => `var acc${i}_${j} = 0.0;`).join(' ')).join('\n  ')}
  for (var kh = 0u; kh < u.kH; kh++) {
    for (var kw = 0u; kw < u.kW; kw++) {
      let tap = kh * u.kW + kw;
      let shift = vec2i(vec2u(kh * u.dh, kw * u.dw)) - vec2i(u.ph, u.pw);
      ${I.map((i) => `let in${i} = vec2i(out${i} * vec2u(u.sh, u.sw)) + shift; let ok${i} = inImage(in${i}); let xAt${i} = select(0u, n${i} * u.C * HW + u32(in${i}.x) * u.W + u32(in${i}.y), ok${i});`).join('\n      ')}
      let k0 = select(tap, u.kH * u.kW - 1u - tap, u.flipTaps != 0u) * u.C; // wT row of (tap, channel 0)
      var ci = 0u;
      if (sgSize >= ${c.sg}u) {
        for (; ci + ${c.sg}u <= u.C; ci += ${c.sg}u) {
          // lane s holds x[n, ci + s, pixel] for each pixel of the block
          ${I.map((i) => `let as${i} = select(0.0, x[xAt${i} + (ci + s) * HW], ok${i});`).join(' ')}
          ${K.map((kk) => `{
          ${loadB(`k0 + ci + ${kk}u`)}
          ${fmas((i) => `subgroupBroadcast(as${i}, ${kk}u)`)}
          }`).join('\n          ')}
        }
      }
      // the channel tail, and every channel where subgroups are smaller than SG: plain loads
      for (; ci < u.C; ci++) {
        ${loadB('k0 + ci')}
        ${fmas((i) => `select(0.0, x[xAt${i} + ci * HW], ok${i})`)}
      }
    }
  }
  ${J.map((j) => `let o${j} = col0 + ${j}u; let bias${j} = select(0.0, bias[min(o${j}, u.O - 1u)], u.hasBias != 0u);`).join('\n  ')}
  ${I.map((i) => `if (row0 + ${i}u < M) {
    let yAt = n${i} * u.O * OHW + out${i}.x * u.OW + out${i}.y;
    ${J.map((j) => `if (o${j} < u.O) { y[yAt + o${j} * OHW] = acc${i}_${j} + bias${j}; }`).join(' ')}
  }`).join('\n  ')}
}`;
};

export const convWgsl = (c: ConvConfig): string =>
  c.kind === 'forward' ? forwardWgsl(c) : c.kind === 'backwardData' ? backwardDataWgsl(c) : c.kind === 'backwardWeight' ? backwardWeightWgsl(c) : backwardWeightRowsWgsl(c);

/** y[n, c, …] += bias[c] in place, for outputs that matmul made (the 1×1 path). */
export const biasAddWgsl = (): string => /* wgsl */ `
struct U { n: u32, C: u32, HW: u32, pad0: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
${main1d()}
  if (i >= u.n) { return; }
  y[i] += bias[(i / u.HW) % u.C];
}`;

// ---- forward, workgroup-memory tiles (for real GPUs) ---------------------------------------------------------------
// forwardSharedWgsl's GEMM (K = (tap, c) rows of wT [kH, kW, C, O], the same flipTaps) with the matmul tiled kernel's
// schedule: per K step of KT, the workgroup gathers a BM×KT block of input values (BM output pixels; each (tap, c)
// with its padding mask) and a KT×BN block of weights into workgroup memory, then every invocation runs TM×TN FMAs
// per k from it. A GPU then reads each input value once per BN output channels instead of once per lane, which
// is what it needs; CPU drivers emulate the barriers and workgroup memory slowly, so there it is only a tuner
// candidate on nothing (the dispatcher offers it on real GPUs only). One group only.
export interface ConvTiledConfig {
  tm: 2 | 4; // output pixels per invocation, wgX apart: neighbouring lanes store neighbouring pixels
  tn: 2 | 4; // output channels per invocation, wgY apart
  wgX: 16;
  wgY: 8 | 16;
  kt: 8 | 16; // (tap, channel) rows per K step: sets the size of the workgroup arrays
}
export const forwardTiledWgsl = (c: ConvTiledConfig): string => {
  const BM = c.wgX * c.tm, BN = c.wgY * c.tn, KT = c.kt, WG = c.wgX * c.wgY;
  // each invocation fills the same pixel (BM | WG) or channel (BN | WG) of every K step: decode it once
  if (WG % BM !== 0 || WG % BN !== 0 || (BM * KT) % WG !== 0 || (BN * KT) % WG !== 0) throw new Error(`internal: tiled conv ${JSON.stringify(c)} does not split its tiles evenly`);
  const I = range(c.tm), J = range(c.tn);
  return /* wgsl */ `${HEADER}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> wT: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
// BM, BN, KT are baked in: they size the workgroup arrays
var<workgroup> As: array<f32, ${BM * KT}>; // [KT][BM]: input values of (tap, c) at the block's pixels
var<workgroup> Bs: array<f32, ${BN * KT}>; // [KT][BN]: wT rows of the block's channels
@compute @workgroup_size(${c.wgX}, ${c.wgY}, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let HW = u.H * u.W;
  let OHW = u.OH * u.OW;
  let M = u.N * OHW;
  let K = u.kH * u.kW * u.C;
  // pixel blocks run over x and z (more than 65,535 of them fit); no early return: every invocation meets the barriers
  let row0 = (wid.x + wid.z * nwg.x) * ${BM}u;
  let col0 = wid.y * ${BN}u;
  let tid = lid.y * ${c.wgX}u + lid.x;
  // the pixel this invocation fills As for: its image, its top-left input position and whether it exists
  let fm = tid % ${BM}u; let fp = min(row0 + fm, M - 1u); let fN = fp / OHW;
  let fOrigin = vec2i(vec2u((fp / u.OW) % u.OH, fp % u.OW) * vec2u(u.sh, u.sw)) - vec2i(u.ph, u.pw);
  let fReal = row0 + fm < M; let fImage = fN * u.C * HW;
  // the channel this invocation fills Bs for
  let fo = tid % ${BN}u; let fCol = min(col0 + fo, u.O - 1u); let fColReal = col0 + fo < u.O;
  ${I.map((i) => J.map((j) => `var acc${i}_${j} = 0.0;`).join(' ')).join('\n  ')}
  for (var t = 0u; t < K; t += ${KT}u) {
    for (var e = 0u; e < ${(BM * KT) / WG}u; e++) {
      let kk = tid / ${BM}u + e * ${WG / BM}u; let k = t + kk;
      let tap = k / u.C; let ci = k % u.C;
      let at = fOrigin + vec2i(vec2u(tap / u.kW * u.dh, tap % u.kW * u.dw));
      let ok = fReal && k < K && all(at >= vec2i(0)) && all(at < vec2i(i32(u.H), i32(u.W)));
      As[kk * ${BM}u + fm] = select(0.0, x[select(0u, fImage + ci * HW + u32(at.x) * u.W + u32(at.y), ok)], ok);
    }
    for (var e = 0u; e < ${(BN * KT) / WG}u; e++) {
      let kk = tid / ${BN}u + e * ${WG / BN}u; let k = t + kk;
      let tap = k / u.C; let row = select(tap, u.kH * u.kW - 1u - tap, u.flipTaps != 0u) * u.C + k % u.C;
      let ok = fColReal && k < K;
      Bs[kk * ${BN}u + fo] = select(0.0, wT[select(0u, row * u.O + fCol, ok)], ok);
    }
    ${tileProduct(KT, I.map((i) => `kk * ${BM}u + lid.x + ${i * c.wgX}u`), J.map((j) => `kk * ${BN}u + lid.y + ${j * c.wgY}u`))}
  }
  ${J.map((j) => `let o${j} = col0 + lid.y + ${j * c.wgY}u; let bias${j} = select(0.0, bias[min(o${j}, u.O - 1u)], u.hasBias != 0u);`).join('\n  ')}
  ${I.map((i) => `{
    let p = row0 + lid.x + ${i * c.wgX}u;
    if (p < M) {
      let yAt = p / OHW * u.O * OHW + p % OHW;
      ${J.map((j) => `if (o${j} < u.O) { y[yAt + o${j} * OHW] = acc${i}_${j} + bias${j}; }`).join(' ')}
    }
  }`).join('\n  ')}
}`;
};

// ---- backward-weight, workgroup-memory tiles with split K (for real GPUs) ------------------------------------------
// dw[o, r] = Σ_p dy[n, o, p] · x[n, c, p·stride − padding + (kh, kw)·dilation] with r = (c, kh, kw) and p the output
// pixels of every image: a GEMM of O × C·kH·kW outputs with K = N·OH·OW, far too few outputs to fill a GPU. So K is
// split: workgroup z sums pixels [z·chunk, (z + 1)·chunk) and writes its partial block at out[z, o, r]; the dispatcher
// sums the slices (no float atomics in WGSL). Per K step of KT pixels the workgroup gathers dy [KT, BM channels] and
// the input patches [KT, BN columns] into workgroup memory, as forwardTiledWgsl does. One group only.
export const backwardWeightTiledWgsl = (c: ConvTiledConfig): string => {
  const BM = c.wgY * c.tm, BN = c.wgX * c.tn, KT = c.kt, WG = c.wgX * c.wgY;
  // each invocation fills the same pixel row fk of every K step (KT | WG): decode that pixel once per step
  if (WG % KT !== 0 || (BM * KT) % WG !== 0 || (BN * KT) % WG !== 0) throw new Error(`internal: tiled conv ${JSON.stringify(c)} does not split its tiles evenly`);
  const I = range(c.tm), J = range(c.tn), EA = range((BM * KT) / WG), EB = range((BN * KT) / WG);
  return /* wgsl */ `${HEADER}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // [splits, O, C·kH·kW]
var<workgroup> As: array<f32, ${BM * KT}>; // [KT][BM]: dy of the block's channels at KT pixels
var<workgroup> Bs: array<f32, ${BN * KT}>; // [KT][BN]: input values under the block's (c, kh, kw) at KT pixels
@compute @workgroup_size(${c.wgX}, ${c.wgY}, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let HW = u.H * u.W;
  let OHW = u.OH * u.OW;
  let kHW = u.kH * u.kW;
  let R = u.C * kHW;
  let P = u.N * OHW;
  let col0 = wid.x * ${BN}u;
  let row0 = wid.y * ${BM}u;
  let p0 = wid.z * u.chunk;
  let pEnd = min(p0 + u.chunk, P);
  let tid = lid.y * ${c.wgX}u + lid.x;
  let fk = tid % ${KT}u; // the pixel row of every K step this invocation fills
  // the channels (dy rows) and the (c, kh, kw) columns it fills: fixed for the whole K loop
  ${EA.map((e) => `let fo${e} = row0 + tid / ${KT}u + ${(e * WG) / KT}u; let foOk${e} = fo${e} < u.O;`).join('\n  ')}
  ${EB.map((e) => `let fr${e} = min(col0 + tid / ${KT}u + ${(e * WG) / KT}u, R - 1u); let frOk${e} = col0 + tid / ${KT}u + ${(e * WG) / KT}u < R;
  let fPlane${e} = fr${e} / kHW * HW; let fShift${e} = vec2i(vec2u(fr${e} % kHW / u.kW * u.dh, fr${e} % u.kW * u.dw)) - vec2i(u.ph, u.pw);`).join('\n  ')}
  ${I.map((i) => J.map((j) => `var acc${i}_${j} = 0.0;`).join(' ')).join('\n  ')}
  for (var t = p0; t < pEnd; t += ${KT}u) {
    let p = t + fk; let pOk = p < pEnd; let pc = min(p, P - 1u);
    let n = pc / OHW; let q = pc % OHW;
    let origin = vec2i(vec2u(q / u.OW, q % u.OW) * vec2u(u.sh, u.sw));
    let dyAt = n * u.O * OHW + q; let xImage = n * u.C * HW;
    ${EA.map((e) => `As[fk * ${BM}u + tid / ${KT}u + ${(e * WG) / KT}u] = select(0.0, dy[select(0u, dyAt + fo${e} * OHW, pOk && foOk${e})], pOk && foOk${e});`).join('\n    ')}
    ${EB.map((e) => `{
      let at = origin + fShift${e};
      let ok = pOk && frOk${e} && all(at >= vec2i(0)) && all(at < vec2i(i32(u.H), i32(u.W)));
      Bs[fk * ${BN}u + tid / ${KT}u + ${(e * WG) / KT}u] = select(0.0, x[select(0u, xImage + fPlane${e} + u32(at.x) * u.W + u32(at.y), ok)], ok);
    }`).join('\n    ')}
    ${tileProduct(KT, I.map((i) => `kk * ${BM}u + lid.y + ${i * c.wgY}u`), J.map((j) => `kk * ${BN}u + lid.x + ${j * c.wgX}u`))}
  }
  let slice = wid.z * u.O * R;
  ${I.map((i) => `{
    let o = row0 + lid.y + ${i * c.wgY}u;
    if (o < u.O) {
      ${J.map((j) => `{ let r = col0 + lid.x + ${j * c.wgX}u; if (r < R) { out[slice + o * R + r] = acc${i}_${j}; } }`).join(' ')}
    }
  }`).join('\n  ')}
}`;
};
