// kernels/reduce/dispatch.ts: sum / max / min / sum of squares over any set of axes (torch.sum(dim, keepdim)), of an
// array or of an elementwise function of several same-shape arrays (a prologue: mean((a − b)²) reads a and b, and a
// compiled step runs the elementwise chain that made a reduction's input inside it, engine/compile/fuse.ts).
import { f32bits, type Kernel, DeviceArray } from '../../runtime';
import { MAX_DIMS, decodeDims, grid1d, main1d, padDims, stridesOf, uniformAt } from '../grid';
import { WGSL_MATH } from '../elementwise/ops';
import { constSlot, evaluate, stepFunctions, type FusedKernelSpec } from '../elementwise/fused.wgsl';

export type ReduceOp = 'sum' | 'max' | 'min' | 'sumSquares';
/**
 * 'thread': one invocation per output (many outputs); 'workgroup': 64 invocations share one output (few, long);
 * 'split': two passes without barriers — invocations reduce chunks of each output into partials, a second pass sums
 * them (few, long outputs on CPU drivers, where barriers are slow: bias gradients, per-channel statistics).
 */
export type ReduceVariant = 'thread' | 'workgroup' | 'split';
export const REDUCE_VARIANTS: readonly ReduceVariant[] = ['thread', 'workgroup', 'split'];

const INIT: Record<ReduceOp, string> = { sum: '0.0', sumSquares: '0.0', max: '-inf_()', min: 'inf_()' };
const COMBINE: Record<ReduceOp, (acc: string, v: string) => string> = {
  sum: (a, v) => `${a} + ${v}`,
  sumSquares: (a, v) => `${a} + ${v} * ${v}`,
  max: (a, v) => `max_(${a}, ${v})`,
  min: (a, v) => `min_(${a}, ${v})`,
};
// combining two partial results (sumSquares partials are already squared)
const MERGE: Record<ReduceOp, (a: string, b: string) => string> = { ...COMBINE, sumSquares: COMBINE.sum };

const WG_REDUCE = 64;

/**
 * 'thread4' is 'thread' reading vec4s: for reductions whose innermost reduced dim is contiguous (stride 1) with a
 * length (and chunk) divisible by 4, every run starts on a multiple of 4. CPU drivers run each storage access as a
 * per-lane loop, so a quarter of the accesses is most of the time (lavapipe, 4096×4096 last-axis sum: 0.81× jax-js in
 * a quiet run before, 1.34× after at load average 6; bench/RESULTS.md).
 */
type KernelVariant = 'thread' | 'thread4' | 'cols4' | 'workgroup';

/**
 * 'cols4' is 'thread' over four neighbouring outputs: for sums whose innermost kept dim is contiguous (a bias
 * gradient: [B, N] summed over B), each invocation reads vec4s of four columns, a quarter of the loads and invocations.
 */
const COLS4_OPS: readonly ReduceOp[] = ['sum', 'sumSquares'];

/** WGSL: the offset of linear index i over `dims` dims of u.<shape> and u.<strides> (constant indices, grid.ts). */
const offsetFn = (name: string, shape: string, strides: string, dims: number): string =>
  `fn ${name}(i: u32) -> u32 {\n  var rem = i; var off = 0u;\n  ${decodeDims(dims, shape, (d) => `off += c * ${uniformAt(strides, d)};`)}\n  return off;\n}`;

/**
 * What a reduction reads: element e is f(in0[e], in1[e], …), the steps of an elementwise chain over inputs that all
 * have the reduced array's shape and layout (every `inputs` entry null, no offsets; `shape` is unused). The identity
 * (one input, no steps) reads the array itself.
 */
export type ReducePrologue = Pick<FusedKernelSpec, 'inputs' | 'steps' | 'label'>;

const IDENTITY: ReducePrologue = { inputs: [null], steps: [], label: '' };

/** The uniform block's own words (header, four dim arrays); a prologue's constants follow them (constSlot). */
const OWN_WORDS = 8 + 4 * MAX_DIMS;

/**
 * The uniform words of a reduction's dispatch reading through `prologue`: the reduction's own (from `words`, the
 * dispatch's words through whatever prologue it had), then the prologue's constants.
 */
export const prologueWords = (words: ArrayLike<number>, prologue: ReducePrologue): Uint32Array => constSlot(prologue, OWN_WORDS).words(words);

/** The reduced value at an offset: value(off) for f32 reads, value4(off4) for vec4 reads (four elements per lane). */
function valueFn(p: ReducePrologue, vec4: boolean): string {
  const spec = { ...p, shape: [] };
  const last = `t${p.steps.length - 1}`;
  if (!vec4) {
    if (!p.steps.length) return 'fn value(off: u32) -> f32 { return in0[off]; }';
    return `fn value(off: u32) -> f32 { ${evaluate(spec, (k) => `in${k}[off]`)} return ${last}; }`;
  }
  if (!p.steps.length) return 'fn value4(off4: u32) -> vec4f { return in0[off4]; }';
  const lanes = ['x', 'y', 'z', 'w'].map((l) => `{ ${evaluate(spec, (k) => `v${k}.${l}`)} r.${l} = ${last}; }`);
  return `fn value4(off4: u32) -> vec4f { ${p.inputs.map((_, k) => `let v${k} = in${k}[off4];`).join(' ')} var r: vec4f; ${lanes.join(' ')} return r; }`;
}

/** How a reduce kernel was made: what reducePrologueOf and withPrologue rebuild it from. */
const generatedFrom = new WeakMap<Kernel, { op: ReduceOp; variant: KernelVariant; nKept: number; nRed: number; prologue: ReducePrologue }>();
/** Kernels by prologue (the identity's are the plain reductions), then by op, variant and dims. */
const kernelsByPrologue = new WeakMap<ReducePrologue, Map<string, Kernel>>();

/**
 * The kernel for `nKept` kept and `nRed` (≥ 1) reduced dims (after plan() merged them): both baked in. Its buffers:
 * the prologue's inputs, then the output.
 */
function reduceKernel(op: ReduceOp, variant: KernelVariant, nKept: number, nRed: number, prologue: ReducePrologue = IDENTITY): Kernel {
  const plain = prologue === IDENTITY;
  const key = `${op}:${variant}:${nKept}:${nRed}`;
  let kernels = kernelsByPrologue.get(prologue);
  if (!kernels) kernelsByPrologue.set(prologue, (kernels = new Map()));
  let k = kernels.get(key);
  if (k) return k;
  const vecs = MAX_DIMS / 4;
  const vec4 = variant === 'thread4' || variant === 'cols4';
  const elem = vec4 ? 'vec4f' : 'f32';
  const n = prologue.inputs.length;
  const consts = constSlot(prologue, OWN_WORDS); // read from the uniform block (see ConstAt) where they fit
  const header = /* wgsl */ `
struct U { nOut: u32, nRed: u32, scale: f32, p0: u32, p1: u32, parts: u32, chunk: u32, p2: u32,
  keptShape: array<vec4u, ${vecs}>, keptStrides: array<vec4u, ${vecs}>, redShape: array<vec4u, ${vecs}>, redStrides: array<vec4u, ${vecs}>${consts.fits ? `, cs: ${consts.type}` : ''} }
@group(0) @binding(0) var<uniform> u: U;
${prologue.inputs.map((_, i) => `@group(0) @binding(${i + 1}) var<storage, read> in${i}: array<${elem}>;`).join('\n')}
@group(0) @binding(${n + 1}) var<storage, read_write> out: array<${variant === 'cols4' ? 'vec4f' : 'f32'}>;
${WGSL_MATH}
${stepFunctions(prologue, consts.at('u.cs'))}
${valueFn(prologue, vec4)}
${offsetFn('keptOffset', 'keptShape', 'keptStrides', nKept)}
${offsetFn('redOffset', 'redShape', 'redStrides', nRed)}`;
  const lanes = ['x', 'y', 'z', 'w'];
  // both thread kernels: invocation i reduces chunk i % parts of output i / parts (parts = 1: all of it), from r to r1
  const chunkOf = /* wgsl */ `
${main1d()}
  if (i >= u.nOut * u.parts) { return; }
  let o = i / u.parts;
  let r1 = min((i % u.parts + 1u) * u.chunk, u.nRed);
  let base = keptOffset(o);
  let innerN = ${uniformAt('redShape', nRed - 1)};
  var r = (i % u.parts) * u.chunk;`;
  const code =
    variant === 'thread'
      ? /* wgsl */ `${header}
${chunkOf}
  let innerS = ${uniformAt('redStrides', nRed - 1)};
  var acc: f32 = ${INIT[op]};
  while (r < r1) {
    // one contiguous run of the innermost reduced dim: the offset steps by its stride
    var off = base + redOffset(r);
    let end = min(r1, r - r % innerN + innerN);
    for (; r < end; r++) { let v = value(off); acc = ${COMBINE[op]('acc', 'v')}; off += innerS; }
  }
  out[i] = acc * u.scale;
}`
      : variant === 'cols4'
      ? /* wgsl */ `${header}
${main1d()}
  if (i >= u.nOut / 4u) { return; }
  // outputs 4i … 4i + 3 are neighbours in memory at every reduced index: one vec4 per step
  let base = keptOffset(4u * i);
  let innerN = ${uniformAt('redShape', nRed - 1)};
  let innerS = ${uniformAt('redStrides', nRed - 1)};
  var acc = vec4f(${INIT[op]});
  var r = 0u;
  while (r < u.nRed) {
    var off = base + redOffset(r);
    let end = min(u.nRed, r - r % innerN + innerN);
    for (; r < end; r++) { let v = value4(off / 4u); acc = ${COMBINE[op]('acc', 'v')}; off += innerS; }
  }
  out[i] = acc * u.scale;
}`
      : variant === 'thread4'
      ? /* wgsl */ `${header}
${chunkOf}
  // four values per load: runs of the innermost reduced dim (stride 1, length % 4 = 0) start on a vec4
  ${lanes.map((c) => `var acc${c}: f32 = ${INIT[op]};`).join(' ')}
  while (r < r1) {
    var off4 = (base + redOffset(r)) / 4u;
    let end = min(r1, r - r % innerN + innerN);
    for (; r < end; r += 4u) {
      let v = value4(off4);
      ${lanes.map((c) => `acc${c} = ${COMBINE[op](`acc${c}`, `v.${c}`)};`).join(' ')}
      off4++;
    }
  }
  out[i] = (${MERGE[op](`(${MERGE[op]('accx', 'accy')})`, `(${MERGE[op]('accz', 'accw')})`)}) * u.scale;
}`
      : /* wgsl */ `${header}
var<workgroup> partial: array<f32, ${WG_REDUCE}>;
@compute @workgroup_size(${WG_REDUCE})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let o = wid.x + wid.y * nwg.x;
  let valid = o < u.nOut;
  var acc: f32 = ${INIT[op]};
  if (valid) {
    let base = keptOffset(o);
    for (var r = lid; r < u.nRed; r += ${WG_REDUCE}u) { let v = value(base + redOffset(r)); acc = ${COMBINE[op]('acc', 'v')}; }
  }
  partial[lid] = acc;
  workgroupBarrier();
  for (var s = ${WG_REDUCE / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { partial[lid] = ${MERGE[op]('partial[lid]', 'partial[lid + s]')}; }
    workgroupBarrier();
  }
  if (valid && lid == 0u) { out[o] = partial[0] * u.scale; }
}`;
  k = { code, label: plain ? `reduce ${op} (${variant})` : `${prologue.label} → reduce ${op} (${variant})` };
  kernels.set(key, k);
  generatedFrom.set(k, { op, variant, nKept, nRed, prologue });
  return k;
}

/** The prologue a reduce kernel reads through (the identity for a plain reduction); null for other kernels. */
export function reducePrologueOf(k: Kernel): ReducePrologue | null {
  return generatedFrom.get(k)?.prologue ?? null;
}

/** Reduce kernel k reading through `prologue` instead (same dims, variant and uniforms); null for other kernels. */
export function withPrologue(k: Kernel, prologue: ReducePrologue): Kernel | null {
  const from = generatedFrom.get(k);
  return from ? reduceKernel(from.op, from.variant, from.nKept, from.nRed, prologue) : null;
}

/** Splits dims into kept and reduced runs, merging neighbours that are contiguous. */
function plan(shape: readonly number[], axes: readonly number[]) {
  const strides = stridesOf(shape);
  const kept: [number, number][] = [];
  const red: [number, number][] = [];
  let prevKind: 'k' | 'r' | null = null;
  shape.forEach((n, d) => {
    if (n === 1) return;
    const kind = axes.includes(d) ? 'r' : 'k';
    const list = kind === 'r' ? red : kept;
    const last = list[list.length - 1];
    if (prevKind === kind && last && last[1] === strides[d] * n) {
      last[0] *= n;
      last[1] = strides[d];
    } else list.push([n, strides[d]]);
    prevKind = kind;
  });
  return { kept, red };
}

/** CPU drivers emulate workgroup barriers slowly: there, few long reductions are split into barrier-free partials. */
export function pickReduceVariant(nOut: number, nRed: number, isCpu = false): ReduceVariant {
  if (isCpu) return nOut < 256 && nRed >= 2048 ? 'split' : 'thread';
  return nOut < 512 && nRed >= 256 ? 'workgroup' : 'thread';
}

/** Partials per output for 'split': chunks of ≥ 512 values, about 512 invocations in all. */
function splitParts(nOut: number, nRed: number): number {
  return Math.max(2, Math.min(Math.ceil(nRed / 512), Math.ceil(512 / nOut)));
}

/** Element e of the array reduced is prologue(inputs[0][e], inputs[1][e], …): the inputs share one shape. */
export interface ReduceThrough {
  prologue: ReducePrologue;
  inputs: readonly DeviceArray[];
}

/**
 * Reduces `x` over `axes`; the output has the kept dims (keepdim adds back 1s). `scale` multiplies the result.
 * With `through`, what is reduced is its prologue of its inputs, all of x's shape (x is then one of them).
 */
export function reduce(op: ReduceOp, x: DeviceArray, axes: readonly number[], keepdim: boolean, scale = 1, variant?: ReduceVariant, through?: ReduceThrough): DeviceArray {
  const outShape = keepdim ? x.shape.map((n, d) => (axes.includes(d) ? 1 : n)) : x.shape.filter((_, d) => !axes.includes(d));
  const nOut = outShape.reduce((p, d) => p * d, 1);
  if (nOut === 0) return DeviceArray.alloc(outShape, x.device);
  const nRed = axes.reduce((p, d) => p * x.shape[d], 1);
  const v = variant ?? pickReduceVariant(nOut, nRed, x.device.isCpu);
  if (v === 'split' && nRed > 1) {
    const parts = splitParts(nOut, nRed);
    const partial = DeviceArray.alloc([nOut, parts], x.device);
    dispatchReduce(op, 'thread', x, axes, partial, 1, parts, Math.ceil(nRed / parts), through);
    const merged = reduce(MERGE_OP[op], partial, [1], false, scale, 'thread'); // [nOut]
    partial.dispose();
    const out = merged.viewAs(outShape);
    merged.dispose();
    return out;
  }
  const out = DeviceArray.alloc(outShape, x.device);
  dispatchReduce(op, v === 'split' ? 'thread' : v, x, axes, out, scale, 1, nRed, through);
  return out;
}

const MERGE_OP: Record<ReduceOp, ReduceOp> = { sum: 'sum', sumSquares: 'sum', max: 'max', min: 'min' };

function dispatchReduce(op: ReduceOp, v: 'thread' | 'workgroup', x: DeviceArray, axes: readonly number[], out: DeviceArray, scale: number, parts: number, chunk: number, through?: ReduceThrough): void {
  const nOut = out.size / parts;
  const nRed = axes.reduce((p, d) => p * x.shape[d], 1);
  const { kept, red: runs } = plan(x.shape, axes);
  if (runs.length === 0 && nRed !== 1) throw new Error('internal: reduce plan lost its reduced dims');
  const red = runs.length ? runs : [[1, 0]]; // nothing to reduce (size-1 axes): one run of length 1
  const uniforms = [
    nOut, nRed, f32bits(scale), 0, 0, parts, chunk, 0,
    ...padDims(kept.map((k) => k[0]), 1), ...padDims(kept.map((k) => k[1])),
    ...padDims(red.map((k) => k[0]), 1), ...padDims(red.map((k) => k[1])),
  ];
  const dev = x.device;
  const inner = red[red.length - 1], innerKept = kept[kept.length - 1];
  const vec4 = v === 'thread' && inner[1] === 1 && inner[0] % 4 === 0 && chunk % 4 === 0;
  // four neighbouring outputs per invocation: the innermost kept dim contiguous, every other stride a multiple of 4
  const cols4 = v === 'thread' && parts === 1 && COLS4_OPS.includes(op) && innerKept?.[1] === 1 && innerKept[0] % 4 === 0 &&
    [...kept.slice(0, -1), ...red].every(([, stride]) => stride % 4 === 0);
  const workgroups: [number, number] = cols4 ? grid1d(dev, nOut / 4) : v === 'thread' ? grid1d(dev, nOut * parts) : grid1d(dev, nOut, 1);
  const inputs = through ? through.inputs : [x];
  const kernel = reduceKernel(op, cols4 ? 'cols4' : vec4 ? 'thread4' : v, kept.length, red.length, through?.prologue);
  const words = through ? Array.from(prologueWords(uniforms, through.prologue)) : uniforms;
  dev.dispatch(kernel, { buffers: [...inputs.map((a) => a.buffer), out.buffer], uniforms: words, workgroups });
}
