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
// computed once per tap and pixel, and the innermost loop is loads and FMAs only. Each pass below is its index math
// (readA, the column loads, the store) plugged into registerGemm (kernels/gemm/tileLoop.ts), matmul's register loop.
// The other conv layouts: pixelsShared.wgsl.ts (p16x8) and tiled.wgsl.ts (t64x64).

import { main1d } from '../grid';
import { range, registerGemm, type BlockStore } from '../gemm/tileLoop';
import { CONV_UNIFORMS, IN_IMAGE } from './uniforms';

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

/**
 * A conv pass in the register layout: invocation row m_i = (wid.x·TM + i)·WG + lid, TN columns per workgroup, and per K
 * step TM row operands a_i and TN column operands b_j inside a loop nest that differs per pass. A pass supplies its
 * operands, its setup, the nest around the step and the store.
 */
interface ConvPass {
  bindings: string[]; // the storage buffers from @binding(1) on, e.g. 'x: array<f32>' (the last one is written)
  helpers?: string; // WGSL functions the kernel calls
  setup: string; // after the shared sizes (cG, oG, HW, OHW, kHW): the workgroup's position in the problem
  columns: { index: (offset: string) => string; load: (col: string) => string }; // the TN column operands
  rows: (i: number) => string; // per row i, after m_i: what locates it (clamped to the last valid row)
  nest: (step: (indent: string) => string) => string; // the K loops, with the step at their innermost level
  readA: (i: number) => string; // row operand a_i at the current K step
  epilogue?: string; // after the K loops, before the stores (the bias values)
  store: BlockStore; // rows m_i, columns of the workgroup
}

function convKernel(c: ConvConfig, k: ConvPass): string {
  const I = range(c.tm);
  const cols = columnOperands(c, k.columns.index, k.columns.load);
  const storage = k.bindings.map((b, i) => `@group(0) @binding(${i + 1}) var<storage, ${i === k.bindings.length - 1 ? 'read_write' : 'read'}> ${b};`);
  return registerGemm({
    tm: c.tm,
    tn: c.tn,
    declarations: /* wgsl */ `${c.sg ? 'enable subgroups;\n' : ''}
// TM, TN size the register block and WG the workgroup: baked in
const TM = ${c.tm}u;
const TN = ${c.tn}u;
const WG = ${c.wg}u;
${CONV_UNIFORMS}
${storage.join('\n')}
${k.helpers ?? ''}`,
    workgroupSize: 'WG',
    params: `@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32${c.sg ? ', @builtin(subgroup_invocation_id) sgLane: u32' : ''}`,
    setup: `let cG = u.C / u.G;
  let oG = u.O / u.G;
  let HW = u.H * u.W;
  let OHW = u.OH * u.OW;
  let kHW = u.kH * u.kW;
  ${k.setup}
  ${cols.before}
  // TM rows per invocation, WG apart: neighbouring lanes own neighbouring rows
  ${lines(I, (i) => `let m${i} = (wid.x * TM + ${i}u) * WG + lid; ${k.rows(i)}`)}`,
    loop: k.nest,
    readA: () => ({ loads: I.map((i) => `let a${i} = ${k.readA(i)};`), value: (i) => `a${i}` }),
    readB: () => ({ loads: cols.inLoop, value: (j) => `b${j}` }),
    epilogue: k.epilogue,
    store: k.store,
  });
}

/** Lines of a kernel section, each row's or column's joined. */
const each = (n: number, f: (i: number) => string, indent = '  ') => lines(range(n), f, indent);

// ---- forward ------------------------------------------------------------------------------------------------------
// y[n, o, oh, ow] = b[o] + Σ_{c, kh, kw} x[n, g·C/G + c, oh·sh − ph + kh·dh, ow·sw − pw + kw·dw] · w[o, c, kh, kw]
// GEMM: rows = output pixels (n, oh, ow) across lanes, columns = the workgroup's TN output channels of group g.
const forwardWgsl = (c: ConvConfig): string =>
  convKernel(c, {
    bindings: ['x: array<f32>', 'w: array<f32>', 'bias: array<f32>', 'y: array<f32>'],
    helpers: IN_IMAGE,
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
    store: {
      rowOk: (i) => `m${i} < M`,
      rowSetup: (i) => `let yAt = n${i} * u.O * OHW + out${i}.x * u.OW + out${i}.y;`,
      colOk: (j) => `oBase + ${j}u < oG`,
      write: (_i, j, v) => `y[yAt + o${j} * OHW] = ${v} + bias${j};`,
    },
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
    store: {
      rowOk: (i) => `m${i} < M`,
      rowSetup: (i) => `let pix = r + stride * q${i};\n    let dxAt = (n${i} * u.C + g * cG) * HW + pix.x * u.W + pix.y;`,
      colOk: (j) => `cBase + ${j}u < cG`,
      write: (_i, j, v) => `dx[dxAt + c${j} * HW] = ${v} + bias${j};`,
    },
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
    store: { rowOk: (i) => `m${i} < cG`, colOk: (j) => `oBase + ${j}u < oG`, write: (i, j, v) => `dw[(o${j} * cG + m${i}) * kHW + tap] = ${v};` },
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
    store: { rowOk: (i) => `m${i} < R`, colOk: (j) => `oBase + ${j}u < oG`, write: (i, j, v) => `dw[o${j} * R + m${i}] = ${v};` },
  });

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

