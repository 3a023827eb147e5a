// kernels/grid.ts: shared pieces of every kernel: a 1-D index over a 2-D grid of workgroups (so more than
// 65,535 × 256 elements fit one dispatch) and the shape-to-strides helpers.
import type { Device } from '../engine/device';

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

/** WGSL: turns a linear output index into an input offset, given `shape` and strides arrays of vec4<u32>. */
export const offsetFn = (name: string, strides: string, ndim: number): string => /* wgsl */ `
fn ${name}(i: u32) -> u32 {
  var rem = i;
  var off = 0u;
  for (var d = ${ndim - 1}; d >= 0; d--) {
    let n = u.shape[d / 4][d % 4];
    off += (rem % n) * u.${strides}[d / 4][d % 4];
    rem /= n;
  }
  return off;
}`;
