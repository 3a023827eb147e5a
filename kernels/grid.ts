// kernels/grid.ts: shared pieces of every kernel: a 1-D index over a 2-D grid of workgroups (so more than
// 65,535 × 256 elements fit one dispatch) and the shape-to-strides helpers.
import { ShapeError, fmtShape, type Device } from '../runtime';

export const WG = 256;

/** Workgroup counts that cover n invocations of a `wg`-wide kernel. */
export function grid1d(dev: Device, n: number, wg = WG): [number, number] {
  const groups = Math.ceil(n / wg);
  const max = dev.limits.maxComputeWorkgroupsPerDimension;
  if (groups <= max) return [groups, 1];
  const y = Math.ceil(groups / max);
  return [Math.ceil(groups / y), y];
}

/** WGSL entry point header for 1-D kernels: defines `i`, the linear invocation index. */
export const main1d = (wg = WG): string => /* wgsl */ `
@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * ${wg}u;`;

/** Row-major strides of a contiguous shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d];
  }
  return s;
}

/** Broadcast result of two or more shapes, PyTorch rules (right-aligned, sizes equal or 1); the error names the op. */
export function broadcastShapes(op: string, ...shapes: (readonly number[])[]): number[] {
  const nd = Math.max(...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < nd; i++) {
    let d = 1;
    for (const s of shapes) {
      const v = s[s.length - nd + i] ?? 1;
      if (v === 1) continue;
      if (d !== 1 && v !== d) {
        throw new ShapeError(`${op}: shapes ${shapes.map(fmtShape).join(' and ')} cannot broadcast (dim ${i - nd}: ${d} vs ${v}); make the sizes equal or 1`);
      }
      d = v;
    }
    out.push(d);
  }
  return out;
}

/** Maximum dims a strided kernel handles (after merging dims that are contiguous in every operand). */
export const MAX_DIMS = 8;

/** Pads a list of numbers to MAX_DIMS words (uniform arrays are fixed-size). */
export const padDims = (xs: readonly number[], fill = 0): number[] => [...xs, ...new Array(MAX_DIMS - xs.length).fill(fill)];

/**
 * Merges adjacent dims that every operand walks contiguously (stride[d] = stride[d+1]·shape[d+1]) and drops size-1
 * dims: [8,1,64,64] with plain strides becomes [32768]. Returns the shape and each operand's strides.
 */
export function coalesce(shape: readonly number[], strides: readonly (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const keep = shape.map((_, d) => d).filter((d) => shape[d] !== 1);
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (const d of keep) {
    const last = outShape.length - 1;
    if (last >= 0 && strides.every((s, k) => outStrides[k][last] === s[d] * shape[d])) {
      outShape[last] *= shape[d];
      strides.forEach((s, k) => (outStrides[k][last] = s[d]));
    } else {
      outShape.push(shape[d]);
      strides.forEach((s, k) => outStrides[k].push(s[d]));
    }
  }
  return { shape: outShape, strides: outStrides };
}

/**
 * WGSL: element [d] of a vec4<u32> uniform array u.<field> with d a constant (SwiftShader resolves a uniform array read
 * at a loop-variable index per lane, so kernels bake their dim count in and index with constants).
 */
export const uniformAt = (field: string, d: number): string => `u.${field}[${d >> 2}][${d & 3}]`;

/**
 * WGSL: splits the linear index in the var `rem` into coordinates over the `ndim` dims of u.<shape>, innermost first:
 * one block per dim in which `c` is that dim's coordinate and `use(d)` runs. The outermost coordinate is what remains
 * (no division).
 */
export const decodeDims = (ndim: number, shape: string, use: (d: number) => string): string =>
  Array.from({ length: ndim }, (_, i) => ndim - 1 - i)
    .map((d) => `{\n    let c = ${d > 0 ? `rem % ${uniformAt(shape, d)}; rem /= ${uniformAt(shape, d)}` : 'rem'};\n    ${use(d)}\n  }`)
    .join('\n  ');

/** Consecutive output elements each invocation of a strided kernel handles (see stridedWalk). */
export const STRIDED_RUN = 4;

/**
 * WGSL for a strided kernel over `u.n` output elements of shape `u.shape`, with one strides array `u.<field>` (vec4<u32>
 * words) per operand: `decls` goes at module scope, `main` after main1d's header. Invocation i handles the run of
 * elements e = i·STRIDED_RUN … (contiguous in the output), and `body` sees each operand's offset as `p.<name>`. The
 * full decode (a division and a modulo per dim, for all operands at once) runs at the start of a run and where the
 * innermost coordinate wraps; otherwise each offset steps by its innermost stride. CPU drivers have no vector integer
 * division, so this is most of a strided kernel's time there.
 */
export function stridedWalk(ndim: number, operands: readonly (readonly [name: string, field: string])[], body: string): { decls: string; main: string } {
  const at = uniformAt;
  const inner = ndim - 1;
  const dims = decodeDims(ndim, 'shape', (d) => `${operands.map(([nm, f]) => `w.${nm} += c * ${at(f, d)};`).join(' ')}${d === inner ? ' w.coord = c;' : ''}`);
  const decls = /* wgsl */ `
struct Walk { coord: u32, ${operands.map(([nm]) => `${nm}: u32`).join(', ')} }
fn walkTo(e: u32) -> Walk {
  var w: Walk;
  var rem = e;
  ${dims}
  return w;
}`;
  const main = /* wgsl */ `
  let e0 = i * ${STRIDED_RUN}u;
  if (e0 >= u.n) { return; }
  let nInner = ${at('shape', inner)};
  var p = walkTo(e0);
  for (var e = e0; e < min(u.n, e0 + ${STRIDED_RUN}u); e++) {
    if (e > e0) {
      p.coord += 1u;
      if (p.coord == nInner) { p = walkTo(e); } else { ${operands.map(([nm, f]) => `p.${nm} += ${at(f, inner)};`).join(' ')} }
    }
    ${body}
  }`;
  return { decls, main };
}

/** Workgroups for a strided kernel over n output elements (stridedWalk). */
export const stridedGrid = (dev: Device, n: number): [number, number] => grid1d(dev, Math.ceil(n / STRIDED_RUN));
