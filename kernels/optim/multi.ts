// kernels/optim/multi.ts: multi-tensor ("foreach") optimiser kernels: one dispatch updates many parameter tensors.
// WGSL has no arrays of bindings, so a kernel is generated for K segments (K ≤ what the adapter's storage-buffer limit
// and one 256-byte uniform slot allow) with each segment's buffers as their own bindings; a table in the uniform block
// gives each segment its range of workgroups, so every workgroup works on one segment (uniform control flow, a switch
// on the segment index) and no invocation spans two tensors. Lists longer than K, or whose buffers would alias within
// one dispatch (WebGPU forbids a writable binding overlapping another), take several dispatches.
//
// Data moves as vec4: on lavapipe every storage access is a per-lane loop, so a vec4 access costs about what a scalar
// one does (measured: a 16k-element scale kernel 175 → 58 µs of CPU, the dispatch floor). Buffers come from the pool
// in multiples of 256 bytes, so a tensor's last vec4 is always inside its buffer; its lanes past the tensor's end are
// read but never changed (select with a lane mask), so results are exactly those of the scalar kernels. On CPU
// drivers, where each workgroup has a fixed cost (~2 µs on lavapipe), invocations take several vec4s each so that a
// dispatch has ~8 workgroups; on GPUs one vec4 each.
//
// Kernels: Adam/AdamW (per-segment bias corrections, so parameters with different step counts share a dispatch), SGD
// (per-segment "first momentum step" flag), the EMA lerp, and gradient clipping by global norm in two dispatches: a
// sum of squares per workgroup into a partials buffer, then a scale kernel whose workgroups each add up the partials
// (no finishing dispatch), scale their part by min(1, maxNorm / (‖g‖ + eps)) and write ‖g‖. Workgroup sums use two
// barriers (16 partial sums of 16, then one of 16): CPU drivers emulate barriers slowly, GPUs dislike long serial
// loops. Ground truth: ./reference.ts (the same rules as the per-tensor kernels of ./dispatch.ts, which these match
// bit for bit, except the clipping norm's order of summation).
import { f32bits, type Device, type Kernel, ShapeError, fmtShape, internal, DeviceArray } from '../../runtime';
import type { AdamStepArgs } from './dispatch';

const WG = 256;
/** Uniform slot of Device.dispatch: 64 words; the header takes 8, each segment 4. */
const UNIFORM_WORDS = 64;
const HEADER_WORDS = 8;
const MAX_SEGMENTS_BY_UNIFORM = (UNIFORM_WORDS - HEADER_WORDS) / 4; // 14
/** On CPU drivers: aim for about this many workgroups per dispatch. */
const CPU_WORKGROUPS = 8;
/** The clipping reduction's partials (one per workgroup) are kept below about this many. */
const TARGET_PARTIALS = 512;

/** One tensor's worth of work: its buffers in the kernel's per-segment binding order, its length, two extra words. */
export interface Segment {
  buffers: GPUBuffer[];
  /** Elements (0: the segment is skipped). */
  n: number;
  x?: number;
  y?: number;
}

interface MultiSpec {
  label: string;
  /** Per-segment bindings (array<vec4f>): WGSL name and whether the kernel writes it. */
  seg: readonly { name: string; write: boolean }[];
  /** Bindings every segment shares (array<f32>), bound first. */
  shared: readonly { name: string; write: boolean }[];
  /** Exactly 8 words of header fields (WGSL struct members); the first is `ept: u32`. */
  header: string;
  /** Module-scope declarations (workgroup arrays, helpers). */
  decls?: string;
  /** Statements at the top of main, in uniform control flow (before the segment lookup); `wg`, `lid` defined. */
  prologue?: string;
  /** Statements per vec4 `i` of segment k; `mask` marks its lanes inside the tensor; `b(name)` is k's binding. */
  body: (b: (name: string) => string) => string;
  /** Statements after the element loop, in uniform control flow (`wg`, `lid`, `k` defined). */
  epilogue?: string;
  /** Per-workgroup state declared before the element loop (`sx`, `sy`: the segment's extra words). */
  locals?: string;
}

const kernelCache = new Map<string, Kernel>();

function multiKernel(spec: MultiSpec, K: number): Kernel {
  const key = `${spec.label}|${K}`;
  let k = kernelCache.get(key);
  if (k) return k;
  const S = spec.shared.length;
  const decl = (binding: number, name: string, write: boolean, type: string) =>
    `@group(0) @binding(${binding}) var<storage, ${write ? 'read_write' : 'read'}> ${name}: array<${type}>;`;
  const lines: string[] = [];
  spec.shared.forEach((s, j) => lines.push(decl(1 + j, s.name, s.write, 'f32')));
  for (let s = 0; s < K; s++) spec.seg.forEach((b, j) => lines.push(decl(1 + S + s * spec.seg.length + j, `${b.name}${s}`, b.write, 'vec4f')));
  const cases = Array.from({ length: K }, (_, s) => {
    const body = spec.body((name) => `${name}${s}`);
    return `    case ${s}u: {
      for (var e = 0u; e < u.ept; e++) {
        let i = base + e * ${WG}u + lid;
        if (i >= n4) { break; }
        let mask = vec4u(i * 4u) + vec4u(0u, 1u, 2u, 3u) < vec4u(n);
${body}
      }
    }`;
  }).join('\n');
  const code = /* wgsl */ `
struct Seg { wgEnd: u32, n: u32, x: u32, y: u32 }
struct U { ${spec.header}, seg: array<Seg, ${K}> }
@group(0) @binding(0) var<uniform> u: U;
${lines.join('\n')}
${spec.decls ?? ''}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let wg = wid.x + wid.y * nwg.x;
${spec.prologue ?? ''}
  // the segment of this workgroup: the first whose workgroup range ends after wg (the grid may have spare groups)
  var k = 0u;
  var start = 0u;
  for (; k < ${K}u; k++) {
    if (wg < u.seg[k].wgEnd) { break; }
    start = u.seg[k].wgEnd;
  }
  if (k >= ${K}u) { return; }
  let n = u.seg[k].n;
  let n4 = (n + 3u) / 4u;
  let sx = u.seg[k].x;
  let sy = u.seg[k].y;
  let base = (wg - start) * ${WG}u * u.ept;
${spec.locals ?? ''}
  switch k {
${cases}
    default: {}
  }
${spec.epilogue ?? ''}
}`;
  k = { code, label: `${spec.label} ×${K}` };
  kernelCache.set(key, k);
  return k;
}

/** Largest K for a spec on this device: storage-binding and uniform limits. */
export function maxSegments(dev: Device, perSeg: number, shared: number): number {
  const byBindings = Math.floor((dev.limits.maxStorageBuffersPerShaderStage - shared) / perSeg);
  return Math.max(1, Math.min(byBindings, MAX_SEGMENTS_BY_UNIFORM));
}

/**
 * Splits segments into dispatch groups: at most `maxK` each, and no buffer twice within a group (WebGPU rejects a
 * writable binding that aliases any other binding of the same dispatch). Empty segments are dropped. Keeps order.
 */
export function planGroups(segments: readonly Segment[], maxK: number, sharedBuffers: readonly GPUBuffer[] = []): Segment[][] {
  const groups: Segment[][] = [];
  let cur: Segment[] = [];
  let used = new Set<GPUBuffer>(sharedBuffers);
  for (const s of segments) {
    if (s.n === 0) continue;
    const clash = cur.length >= maxK || s.buffers.some((b) => used.has(b));
    if (clash && cur.length > 0) {
      groups.push(cur);
      cur = [];
      used = new Set(sharedBuffers);
    }
    cur.push(s);
    for (const b of s.buffers) used.add(b);
  }
  if (cur.length) groups.push(cur);
  return groups;
}

const vec4s = (n: number) => Math.ceil(n / 4);

/** vec4s per invocation: 1 on GPUs; on CPU drivers enough that the dispatch has ~CPU_WORKGROUPS workgroups. */
function eptFor(dev: Device, segs: readonly { n: number }[]): number {
  if (!dev.isCpu) return 1;
  const total = segs.reduce((s, x) => s + vec4s(x.n), 0);
  return Math.max(1, Math.ceil(total / (WG * CPU_WORKGROUPS)));
}

/** Workgroups of a segment of n elements at `ept` vec4s per invocation. */
const groupsOf = (n: number, ept: number) => Math.ceil(vec4s(n) / (WG * ept));

function grid(dev: Device, groups: number): [number, number] {
  const max = dev.limits.maxComputeWorkgroupsPerDimension;
  if (groups <= max) return [groups, 1];
  const y = Math.ceil(groups / max);
  return [Math.ceil(groups / y), y];
}

/** Records one dispatch of `spec` over `segs` (≤ its K) with 8 header words (word 0 is set to `ept`). Returns its workgroups. */
function dispatchGroup(dev: Device, spec: MultiSpec, segs: Segment[], shared: GPUBuffer[], header: number[], ept: number): number {
  if (header.length !== HEADER_WORDS) throw internal(`${spec.label}: header has ${header.length} words`);
  const words = [...header];
  words[0] = ept;
  let end = 0;
  for (const s of segs) {
    end += groupsOf(s.n, ept);
    words.push(end, s.n, s.x ?? 0, s.y ?? 0);
  }
  dev.dispatch(multiKernel(spec, segs.length), { buffers: [...shared, ...segs.flatMap((s) => s.buffers)], uniforms: words, workgroups: grid(dev, end) });
  return end;
}

function checkSegments(op: string, dev: Device, tensors: DeviceArray[][]): void {
  for (const row of tensors) {
    const p = row[0];
    for (const t of row) {
      const buf = t.rawBuffer(op);
      if (t.size !== p.size) throw new ShapeError(`${op}: ${fmtShape(t.shape)} does not match parameter ${fmtShape(p.shape)}`);
      if (t.device !== dev) throw new ShapeError(`${op}: tensor ${fmtShape(t.shape)} lives on another device than the others`);
      if (buf.size < vec4s(t.size) * 16) throw internal(`${op}: buffer of ${buf.size} bytes under a ${fmtShape(t.shape)} tensor is not padded to vec4`);
    }
  }
}

// ---- Adam / AdamW -------------------------------------------------------------------------------------------------

const ADAM: MultiSpec = {
  label: 'optim adam (multi)',
  // decay = 1 − lr·wd (AdamW) or 1; l2 = wd (Adam) or 0; per segment x = stepSize = lr / (1 − β1ᵗ), y = sqrt(1 − β2ᵗ)
  header: 'ept: u32, oneMinusBeta1: f32, beta2: f32, oneMinusBeta2: f32, eps: f32, l2: f32, decay: f32, pad0: u32',
  shared: [],
  seg: [
    { name: 'param', write: true },
    { name: 'grad', write: false },
    { name: 'expAvg', write: true },
    { name: 'expAvgSq', write: true },
  ],
  locals: '  let stepSize = bitcast<f32>(sx);\n  let bc2Sqrt = bitcast<f32>(sy);',
  body: (b) => `
        let p0 = ${b('param')}[i];
        let g = ${b('grad')}[i] + u.l2 * p0;
        let p = p0 * u.decay;
        let m0 = ${b('expAvg')}[i];
        let m = m0 + u.oneMinusBeta1 * (g - m0);
        let v0 = ${b('expAvgSq')}[i];
        let v = v0 * u.beta2 + u.oneMinusBeta2 * (g * g);
        let denom = sqrt(v) / bc2Sqrt + u.eps;
        ${b('param')}[i] = select(p0, p - stepSize * (m / denom), mask);
        ${b('expAvg')}[i] = select(m0, m, mask);
        ${b('expAvgSq')}[i] = select(v0, v, mask);`,
};

/** The per-step scalars of ./dispatch.ts's Adam, less the step count (each tensor brings its own). */
export type MultiAdamArgs = Omit<AdamStepArgs, 'step'>;

/** One tensor of a multi-tensor Adam step: its 1-based step count (after the increment) sets its bias corrections. */
export interface AdamItem {
  param: DeviceArray;
  grad: DeviceArray;
  expAvg: DeviceArray;
  expAvgSq: DeviceArray;
  step: number;
}

/** Adam/AdamW on every item, same rule as adamStep; ⌈items / K⌉ dispatches (K = 4 on 16 storage bindings). */
export function adamStepMulti(items: readonly AdamItem[], a: MultiAdamArgs): number {
  if (items.length === 0) return 0;
  const dev = items[0].param.device;
  checkSegments('adam', dev, items.map((it) => [it.param, it.grad, it.expAvg, it.expAvgSq]));
  const segs: Segment[] = items.map((it) => ({
    buffers: [it.param.buffer, it.grad.buffer, it.expAvg.buffer, it.expAvgSq.buffer],
    n: it.param.size,
    x: f32bits(a.lr / (1 - a.beta1 ** it.step)),
    y: f32bits(Math.sqrt(1 - a.beta2 ** it.step)),
  }));
  const header = [0, f32bits(1 - a.beta1), f32bits(a.beta2), f32bits(1 - a.beta2), f32bits(a.eps), f32bits(a.decoupled ? 0 : a.weightDecay), f32bits(a.decoupled ? 1 - a.lr * a.weightDecay : 1), 0];
  const groups = planGroups(segs, maxSegments(dev, ADAM.seg.length, 0));
  for (const g of groups) dispatchGroup(dev, ADAM, g, [], header, eptFor(dev, g));
  return groups.length;
}

// ---- SGD ----------------------------------------------------------------------------------------------------------

const sgdSpecs = new Map<boolean, MultiSpec>();
function sgdSpec(withMomentum: boolean): MultiSpec {
  let s = sgdSpecs.get(withMomentum);
  if (s) return s;
  s = {
    label: `optim sgd${withMomentum ? ' (momentum)' : ''} (multi)`,
    // per segment x = 1 on the segment's first momentum step (buf ← d_p)
    header: 'ept: u32, lr: f32, wd: f32, momentum: f32, oneMinusDampening: f32, nesterov: u32, pad0: u32, pad1: u32',
    shared: [],
    seg: [{ name: 'param', write: true }, { name: 'grad', write: false }, ...(withMomentum ? [{ name: 'buf', write: true }] : [])],
    body: (b) => `
        let p = ${b('param')}[i];
        var d = ${b('grad')}[i] + u.wd * p;
${
  withMomentum
    ? `        let b0 = ${b('buf')}[i];
        var mb = d;
        if (sx == 0u) { mb = b0 * u.momentum + u.oneMinusDampening * d; }
        ${b('buf')}[i] = select(b0, mb, mask);
        if (u.nesterov != 0u) { d = d + u.momentum * mb; } else { d = mb; }`
    : ''
}
        ${b('param')}[i] = select(p, p - u.lr * d, mask);`,
  };
  sgdSpecs.set(withMomentum, s);
  return s;
}

export interface MultiSgdArgs {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
}

export interface SgdItem {
  param: DeviceArray;
  grad: DeviceArray;
  /** Momentum buffer (null when momentum = 0: then every item must have none). */
  buf: DeviceArray | null;
  /** This item's first momentum step. */
  first: boolean;
}

/** SGD on every item, same rule as sgdStep; ⌈items / K⌉ dispatches. */
export function sgdStepMulti(items: readonly SgdItem[], a: MultiSgdArgs): number {
  if (items.length === 0) return 0;
  const dev = items[0].param.device;
  const withMomentum = items[0].buf !== null;
  if (items.some((it) => (it.buf !== null) !== withMomentum)) throw internal('sgd (multi): every item needs a momentum buffer, or none');
  checkSegments('sgd', dev, items.map((it) => (it.buf ? [it.param, it.grad, it.buf] : [it.param, it.grad])));
  const spec = sgdSpec(withMomentum);
  const segs: Segment[] = items.map((it) => ({
    buffers: it.buf ? [it.param.buffer, it.grad.buffer, it.buf.buffer] : [it.param.buffer, it.grad.buffer],
    n: it.param.size,
    x: it.first ? 1 : 0,
  }));
  const header = [0, f32bits(a.lr), f32bits(a.weightDecay), f32bits(a.momentum), f32bits(1 - a.dampening), a.nesterov ? 1 : 0, 0, 0];
  const groups = planGroups(segs, maxSegments(dev, spec.seg.length, 0));
  for (const g of groups) dispatchGroup(dev, spec, g, [], header, eptFor(dev, g));
  return groups.length;
}

// ---- EMA ----------------------------------------------------------------------------------------------------------

const EMA: MultiSpec = {
  label: 'optim ema (multi)',
  header: 'ept: u32, decay: f32, oneMinusDecay: f32, pad0: u32, pad1: u32, pad2: u32, pad3: u32, pad4: u32',
  shared: [],
  seg: [{ name: 'ema', write: true }, { name: 'src', write: false }],
  body: (b) => `        let e0 = ${b('ema')}[i];
        ${b('ema')}[i] = select(e0, u.decay * e0 + u.oneMinusDecay * ${b('src')}[i], mask);`,
};

/** ema_i ← decay·ema_i + (1 − decay)·src_i for every pair; ⌈pairs / K⌉ dispatches. */
export function emaUpdateMulti(pairs: readonly [ema: DeviceArray, src: DeviceArray][], decay: number): number {
  if (pairs.length === 0) return 0;
  const dev = pairs[0][0].device;
  checkSegments('ema', dev, pairs.map(([e, s]) => [e, s]));
  const segs: Segment[] = pairs.map(([e, s]) => ({ buffers: [e.buffer, s.buffer], n: e.size }));
  const header = [0, f32bits(decay), f32bits(1 - decay), 0, 0, 0, 0, 0];
  const groups = planGroups(segs, maxSegments(dev, EMA.seg.length, 0));
  for (const g of groups) dispatchGroup(dev, EMA, g, [], header, eptFor(dev, g));
  return groups.length;
}

// ---- gradient clipping by global L2 norm --------------------------------------------------------------------------

/** Workgroup sum of every invocation's `v` in a fixed order (the same bits in every workgroup); all must call it. */
const WG_SUM = /* wgsl */ `
var<workgroup> wsum: array<f32, ${WG}>;
var<workgroup> wsum16: array<f32, 16>;
fn wgSum(v: f32, lid: u32) -> f32 {
  wsum[lid] = v;
  workgroupBarrier();
  if (lid < 16u) {
    var t = 0.0;
    for (var j = 0u; j < ${WG / 16}u; j++) { t += wsum[lid * ${WG / 16}u + j]; }
    wsum16[lid] = t;
  }
  workgroupBarrier();
  var t = 0.0;
  for (var j = 0u; j < 16u; j++) { t += wsum16[j]; }
  return t;
}`;

const SUMSQ: MultiSpec = {
  label: 'optim clip sumsq (multi)',
  header: 'ept: u32, partialBase: u32, pad0: u32, pad1: u32, pad2: u32, pad3: u32, pad4: u32, pad5: u32',
  shared: [{ name: 'partials', write: true }],
  seg: [{ name: 'grad', write: false }],
  decls: WG_SUM,
  locals: '  var acc = 0.0;',
  body: (b) => `        let g = select(vec4f(0.0), ${b('grad')}[i], mask);
        acc += dot(g, g);`,
  epilogue: `  let t = wgSum(acc, lid);
  if (lid == 0u) { partials[u.partialBase + wg] = t; }`,
};

const CLIP_SCALE: MultiSpec = {
  label: 'optim clip scale (multi)',
  // count: partials to add up; writeNorm: this dispatch's workgroup 0 stores ‖g‖
  header: 'ept: u32, count: u32, maxNorm: f32, eps: f32, writeNorm: u32, pad0: u32, pad1: u32, pad2: u32',
  shared: [{ name: 'partials', write: false }, { name: 'normOut', write: true }],
  seg: [{ name: 'grad', write: true }],
  decls: WG_SUM,
  prologue: `  var s = 0.0;
  for (var j = lid; j < u.count; j += ${WG}u) { s += partials[j]; }
  let norm = sqrt(wgSum(s, lid));
  if (u.writeNorm != 0u && wg == 0u && lid == 0u) { normOut[0] = norm; }
  let coef = min(1.0, u.maxNorm / (norm + u.eps));  // torch: clamp(max_norm / (total_norm + 1e-6), max=1)`,
  body: (b) => `        let g = ${b('grad')}[i];
        ${b('grad')}[i] = select(g, g * coef, mask);`,
};

/**
 * Gradient clipping by global norm over all of `grads`: scales each in place by min(1, maxNorm / (‖g‖ + eps)) and
 * writes ‖g‖ (the L2 norm of all of them together) into `norm` (a 1-element tensor). No readback. Dispatches: one
 * sum-of-squares pass and one scale pass per group of K gradients (2 for up to 14 tensors on 16 storage bindings).
 */
export function clipGradNormMulti(grads: readonly DeviceArray[], maxNorm: number, eps: number, norm: DeviceArray): number {
  const live = grads.filter((g) => g.size > 0);
  const dev = norm.device;
  checkSegments('clipGradNorm', dev, live.map((g) => [g]));
  if (live.length === 0) {
    dev.write(norm.buffer, new Float32Array([0]));
    return 0;
  }
  const segs = live.map((g) => ({ buffers: [g.buffer], n: g.size }));
  // vec4s per invocation of the reduction: enough that the partials stay few (≥ 1 per tensor in any case)
  const total = segs.reduce((s, x) => s + vec4s(x.n), 0);
  const ept = Math.max(eptFor(dev, segs), Math.ceil(total / (WG * TARGET_PARTIALS)));
  const count = segs.reduce((s, x) => s + groupsOf(x.n, ept), 0);
  const partials = DeviceArray.alloc([count], dev);
  let dispatches = 0;
  let base = 0;
  for (const g of planGroups(segs, maxSegments(dev, 1, 1), [partials.buffer])) {
    base += dispatchGroup(dev, SUMSQ, g, [partials.buffer], [0, base, 0, 0, 0, 0, 0, 0], ept);
    dispatches++;
  }
  if (base !== count) throw internal(`clipGradNorm: ${base} partials written, ${count} planned`);
  planGroups(segs, maxSegments(dev, 1, 2), [partials.buffer, norm.buffer]).forEach((g, j) => {
    dispatchGroup(dev, CLIP_SCALE, g, [partials.buffer, norm.buffer], [0, count, f32bits(maxNorm), f32bits(eps), j === 0 ? 1 : 0, 0, 0, 0], eptFor(dev, g));
    dispatches++;
  });
  partials.dispose();
  return dispatches;
}
