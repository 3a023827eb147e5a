// kernels/optim/segments.ts: multi-tensor ("foreach") kernels: one dispatch updates many tensors, each a segment.
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
// The update rules plugged into this machinery are in ./optim.wgsl.ts; the functions that run them in ./dispatch.ts.
// A per-tensor update (torch's foreach=False) is the same kernel with one segment per dispatch.
import { ShapeError, fmtShape, internal, type Device, type DeviceArray, type Kernel } from '../../runtime';
import { grid1d } from '../grid';

/**
 * Invocations per workgroup: 256 on GPUs; 64 on CPU drivers, where SwiftShader runs the clipping kernels' barriers
 * over a 256-wide workgroup slowly: the 2-D recipe's two clipping passes took 4.9 and 4.7 ms per iteration at 256,
 * 1.2 and 1.1 ms at 64 (lavapipe: no difference), and the iteration 116 → 100 ms. Kernels read it as the WGSL const WG.
 */
export const workgroupSize = (dev: Device): number => (dev.isCpu ? 64 : 256);
/** Uniform slot of Device.dispatch: 64 words; the header takes 8, each segment 4. */
const UNIFORM_WORDS = 64;
const HEADER_WORDS = 8;
const MAX_SEGMENTS_BY_UNIFORM = (UNIFORM_WORDS - HEADER_WORDS) / 4; // 14
/** On CPU drivers: aim for about this many workgroups per dispatch. */
const CPU_WORKGROUPS = 8;
/** The clipping reduction's partials (one per workgroup) are kept below about this many. */
export const TARGET_PARTIALS = 512;

/** One tensor's worth of work: its buffers in the kernel's per-segment binding order, its length, two extra words. */
export interface Segment {
  buffers: GPUBuffer[];
  /** Elements (0: the segment is skipped). */
  n: number;
  x?: number;
  y?: number;
}

export interface MultiSpec {
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

function multiKernel(spec: MultiSpec, K: number, wg: number): Kernel {
  const key = `${spec.label}|${K}|${wg}`;
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
        let i = base + e * WG + lid;
        if (i >= n4) { break; }
        let mask = vec4u(i * 4u) + vec4u(0u, 1u, 2u, 3u) < vec4u(n);
${body}
      }
    }`;
  }).join('\n');
  const code = /* wgsl */ `
const WG: u32 = ${wg}u;
struct Seg { wgEnd: u32, n: u32, x: u32, y: u32 }
struct U { ${spec.header}, seg: array<Seg, ${K}> }
@group(0) @binding(0) var<uniform> u: U;
${lines.join('\n')}
${spec.decls ?? ''}
@compute @workgroup_size(WG)
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
  let base = (wg - start) * WG * u.ept;
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

export const vec4s = (n: number) => Math.ceil(n / 4);

/** vec4s per invocation: 1 on GPUs; on CPU drivers enough that the dispatch has ~CPU_WORKGROUPS workgroups. */
export function eptFor(dev: Device, segs: readonly { n: number }[]): number {
  if (!dev.isCpu) return 1;
  const total = segs.reduce((s, x) => s + vec4s(x.n), 0);
  return Math.max(1, Math.ceil(total / (workgroupSize(dev) * CPU_WORKGROUPS)));
}

/** Workgroups of a segment of n elements at `ept` vec4s per invocation, `wg` invocations per workgroup. */
export const groupsOf = (n: number, ept: number, wg: number) => Math.ceil(vec4s(n) / (wg * ept));


/** One dispatch of a spec over some segments: what only their buffers and sizes decide (no per-call words). */
interface PlannedGroup {
  label: string;
  kernel: Kernel;
  bound: GPUBuffer[];
  ept: number;
  /** Per segment: the end of its workgroup range. */
  ends: number[];
  workgroups: [number, number];
}

function planGroup(dev: Device, spec: MultiSpec, segs: readonly Segment[], shared: readonly GPUBuffer[], ept: number): PlannedGroup {
  const wg = workgroupSize(dev);
  const ends: number[] = [];
  let end = 0;
  for (const s of segs) ends.push((end += groupsOf(s.n, ept, wg)));
  return { label: spec.label, kernel: multiKernel(spec, segs.length, wg), bound: [...shared, ...segs.flatMap((s) => s.buffers)], ept, ends, workgroups: grid1d(dev, end, 1) };
}

/** Records a planned group's dispatch for `segs` (the segments it was planned for, this call's extra words). */
function runGroup(dev: Device, p: PlannedGroup, segs: readonly Segment[], header: readonly number[]): void {
  if (header.length !== HEADER_WORDS) throw internal(`${p.label}: header has ${header.length} words`);
  const words = [p.ept, ...header.slice(1)];
  segs.forEach((s, j) => words.push(p.ends[j], s.n, s.x ?? 0, s.y ?? 0));
  dev.dispatch(p.kernel, { buffers: p.bound, uniforms: words, workgroups: p.workgroups });
}

/** Records one dispatch of `spec` over `segs` (≤ its K) with 8 header words (word 0 is set to `ept`). Returns its workgroups. */
export function dispatchGroup(dev: Device, spec: MultiSpec, segs: Segment[], shared: GPUBuffer[], header: number[], ept: number): number {
  const p = planGroup(dev, spec, segs, shared, ept);
  runGroup(dev, p, segs, header);
  return p.ends.at(-1) ?? 0;
}

/** Buffers already found padded to their tensors' last vec4, with the size checked (a buffer's size never changes). */
const paddedFor = new WeakMap<GPUBuffer, number>();

export function checkSegments(op: string, dev: Device, tensors: DeviceArray[][]): void {
  for (const row of tensors) {
    const p = row[0];
    for (const t of row) {
      const buf = t.rawBuffer(op);
      if (t.size !== p.size) throw new ShapeError(`${op}: ${fmtShape(t.shape)} does not match parameter ${fmtShape(p.shape)}`);
      if (t.device !== dev) throw new ShapeError(`${op}: tensor ${fmtShape(t.shape)} lives on another device than the others`);
      // GPUBuffer.size is a native getter (~0.2 µs in Dawn's Node binding): a compiled step's optimiser region runs
      // this for every tensor at every replay, so each buffer is measured once
      const need = vec4s(t.size) * 16;
      if ((paddedFor.get(buf) ?? 0) >= need) continue;
      if (buf.size < need) throw internal(`${op}: buffer of ${buf.size} bytes under a ${fmtShape(t.shape)} tensor is not padded to vec4`);
      paddedFor.set(buf, buf.size);
    }
  }
}

/** A spec's segments split into dispatches (indices into the live segments), as planned for these buffers and sizes. */
interface Grouping {
  buffers: GPUBuffer[][];
  ns: number[];
  maxK: number;
  groups: { members: number[]; planned: PlannedGroup }[];
}

/**
 * Groupings by spec and by the first segment's first buffer (a parameter: one entry per optimiser or EMA). A compiled
 * step replays its optimiser's host code at every call with the same tensors; a UNet's 125 parameters took ~0.25 ms
 * per call to check and group again, a quarter of the replay's host work outside Dawn.
 */
const groupings = new WeakMap<MultiSpec, WeakMap<GPUBuffer, Grouping>>();

function sameSegments(g: Grouping, segs: readonly Segment[], maxK: number): boolean {
  if (g.maxK !== maxK || g.ns.length !== segs.length) return false;
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i], b = g.buffers[i];
    if (s.n !== g.ns[i] || s.buffers.length !== b.length) return false;
    for (let j = 0; j < b.length; j++) if (s.buffers[j] !== b[j]) return false;
  }
  return true;
}

function groupSegments(dev: Device, spec: MultiSpec, segs: readonly Segment[], maxK: number): Grouping {
  const index = new Map(segs.map((s, i) => [s, i]));
  const groups = planGroups(segs, Math.min(maxK, maxSegments(dev, spec.seg.length, 0))).map((members) => ({
    members: members.map((s) => index.get(s)!),
    planned: planGroup(dev, spec, members, [], eptFor(dev, members)),
  }));
  return { buffers: segs.map((s) => s.buffers), ns: segs.map((s) => s.n), maxK, groups };
}

/**
 * Runs `spec` over every segment: groups of at most K (or `maxK`: 1 is the per-tensor form) that alias no buffer, one
 * dispatch each, with the 8 header words. `check` validates the tensors behind the segments; it runs only when their
 * buffers or sizes differ from the last call's with the same first buffer. Returns the dispatches made.
 */
export function dispatchSegments(dev: Device, spec: MultiSpec, segs: readonly Segment[], header: number[], maxK = Infinity, check?: () => void): number {
  const live = segs.filter((s) => s.n > 0);
  if (live.length === 0) return 0;
  let bySpec = groupings.get(spec);
  if (!bySpec) groupings.set(spec, (bySpec = new WeakMap()));
  let g = bySpec.get(live[0].buffers[0]);
  if (!g || !sameSegments(g, live, maxK)) {
    check?.();
    bySpec.set(live[0].buffers[0], (g = groupSegments(dev, spec, live, maxK)));
  }
  for (const { members, planned } of g.groups) runGroup(dev, planned, members.map((m) => live[m]), header);
  return g.groups.length;
}
