// kernels/elementwise/dispatch.ts: unary, binary (NumPy/PyTorch broadcasting) and ternary `where` on the GPU.
// Same-shape operands take a flat kernel; broadcasting ones a strided kernel over dims merged by `coalesce`.
import { f32bits, type Device, type Kernel, ShapeError, fmtShape, DeviceArray } from '../../runtime';
import { MAX_DIMS, WG, broadcastShapes, coalesce, grid1d, main1d, padDims, stridedGrid, stridedWalk, stridesOf } from '../grid';

export { broadcastShapes } from '../grid';
import { BINARY, UNARY, WGSL_MATH, type BinaryOp, type UnaryOp } from './ops';

/**
 * Strides that read `shape` as if broadcast to `outShape` (0 on broadcast dims); `strides`: how `shape` itself is laid
 * out (a window of a larger tensor), contiguous by default.
 */
export function broadcastStrides(shape: readonly number[], outShape: readonly number[], strides: readonly number[] = stridesOf(shape)): number[] {
  const off = outShape.length - shape.length;
  return outShape.map((_, d) => (d < off || shape[d - off] === 1 ? 0 : strides[d - off]));
}

const flatKernels = new Map<string, Kernel>();

const NAMES: Record<number, string[]> = { 1: ['x'], 2: ['a', 'b'], 3: ['c', 'a', 'b'] };
const LANES = ['x', 'y', 'z', 'w'];

/** vec4s each invocation of a same-shape kernel handles (see flatKernel). */
const FLAT_VEC4S = 4;

/** Workgroups for a same-shape kernel over n4 vec4s. */
const flatGrid = (dev: Device, n4: number) => grid1d(dev, Math.ceil(n4 / FLAT_VEC4S));

/**
 * Same-shape operands: each invocation reads one vec4 of every input, evaluates the scalar expression on its four
 * lanes and writes one vec4, for FLAT_VEC4S vec4s a grid apart (grid-stride: neighbouring lanes touch neighbouring
 * vec4s, as GPUs coalesce). CPU drivers run a storage access as a per-lane loop, so a quarter of the accesses is most
 * of the time (lavapipe: 1M-element add 4.1 → ~1.4 ms), and fewer, longer invocations cut their per-invocation cost
 * (1M-element add, 4 vec4s vs 1: lavapipe 1.2 → 0.87 ms, SwiftShader 5.3 → 4.7). Pool buffers are whole multiples of
 * 16 bytes, so the last vec4 stays inside every buffer; its lanes past n compute garbage that nothing reads.
 */
function flatKernel(arity: number, expr: string, label: string, names = NAMES[arity]): Kernel {
  const key = `${names.join(',')}:${expr}`;
  let k = flatKernels.get(key);
  if (!k) {
    const code = /* wgsl */ `
struct U { n4: u32, p0: f32, p1: f32, pad: u32 }
@group(0) @binding(0) var<uniform> u: U;
${names.map((nm, j) => `@group(0) @binding(${j + 1}) var<storage, read> in_${nm}: array<vec4f>;`).join('\n')}
@group(0) @binding(${arity + 1}) var<storage, read_write> out: array<vec4f>;
${WGSL_MATH}
${main1d()}
  let stride = nwg.x * nwg.y * ${WG}u;
  let p0 = u.p0; let p1 = u.p1;
  ${Array.from({ length: FLAT_VEC4S }, (_, m) => `if (i + ${m}u * stride < u.n4) {
    let j = i + ${m}u * stride;
    ${names.map((nm) => `let v_${nm} = in_${nm}[j];`).join(' ')}
    var r: vec4f;
    ${LANES.map((l) => `{ ${names.map((nm) => `let ${nm} = v_${nm}.${l};`).join(' ')} r.${l} = ${expr}; }`).join('\n    ')}
    out[j] = r;
  }`).join('\n  ')}
}`;
    k = { code, label: `elementwise ${label}` };
    flatKernels.set(key, k);
  }
  return k;
}

function stridedKernel(arity: number, expr: string, label: string, ndim: number, names = NAMES[arity]): Kernel {
  const key = `s${names.join(',')}:${ndim}:${expr}`;
  let k = flatKernels.get(key);
  if (!k) {
    const vecs = MAX_DIMS / 4;
    const walk = stridedWalk(ndim, names.map((nm) => [nm, `s_${nm}`] as const), /* wgsl */ `${names.map((nm) => `let ${nm} = in_${nm}[p.${nm}];`).join(' ')}
    out[e] = ${expr};`);
    const code = /* wgsl */ `
struct U { n: u32, pad0: u32, pad1: u32, pad2: u32, shape: array<vec4u, ${vecs}>,
  ${names.map((nm) => `s_${nm}: array<vec4u, ${vecs}>`).join(', ')} }
@group(0) @binding(0) var<uniform> u: U;
${names.map((nm, j) => `@group(0) @binding(${j + 1}) var<storage, read> in_${nm}: array<f32>;`).join('\n')}
@group(0) @binding(${arity + 1}) var<storage, read_write> out: array<f32>;
${WGSL_MATH}
${walk.decls}
${main1d()}
${walk.main}
}`;
    k = { code, label: `elementwise ${label} (broadcast, ${ndim}-d)` };
    flatKernels.set(key, k);
  }
  return k;
}

/** out = f(x) elementwise, with up to two scalar parameters. */
export function unary(op: UnaryOp, x: DeviceArray, p0 = 0, p1 = 0): DeviceArray {
  const out = DeviceArray.alloc(x.shape, x.device);
  const n = x.size;
  if (n === 0) return out;
  const n4 = Math.ceil(n / 4);
  x.device.dispatch(flatKernel(1, UNARY[op].wgsl, op), {
    buffers: [x.buffer, out.buffer],
    uniforms: [n4, f32bits(p0), f32bits(p1), 0],
    workgroups: flatGrid(x.device, n4),
  });
  return out;
}

/** The generic n-ary path: flat when every operand has the output's shape, else strided. */
function nary(op: string, expr: string, inputs: DeviceArray[], names = NAMES[inputs.length]): DeviceArray {
  const outShape = broadcastShapes(op, ...inputs.map((t) => t.shape));
  const dev = inputs[0].device;
  const out = DeviceArray.alloc(outShape, dev);
  const n = out.size;
  if (n === 0) return out;
  const arity = inputs.length;
  const same = inputs.every((t) => t.size === n && t.shape.length === outShape.length);
  if (same) {
    const n4 = Math.ceil(n / 4);
    dev.dispatch(flatKernel(arity, expr, op, names), {
      buffers: [...inputs.map((t) => t.buffer), out.buffer],
      uniforms: [n4, 0, 0, 0],
      workgroups: flatGrid(dev, n4),
    });
    return out;
  }
  const merged = coalesce(outShape, inputs.map((t) => broadcastStrides(t.shape, outShape)));
  const ndim = Math.max(1, merged.shape.length);
  if (ndim > MAX_DIMS) throw new ShapeError(`${op}: broadcasting ${inputs.map((t) => fmtShape(t.shape)).join(' and ')} needs ${ndim} strided dims; at most ${MAX_DIMS} are supported`);
  const shape = merged.shape.length ? merged.shape : [1];
  const strides = merged.shape.length ? merged.strides : inputs.map(() => [0]);
  dev.dispatch(stridedKernel(arity, expr, op, ndim, names), {
    buffers: [...inputs.map((t) => t.buffer), out.buffer],
    uniforms: [n, 0, 0, 0, ...padDims(shape, 1), ...strides.flatMap((s) => padDims(s))],
    workgroups: stridedGrid(dev, n),
  });
  return out;
}

/** out = f(a, b) with broadcasting. */
export function binary(op: BinaryOp, a: DeviceArray, b: DeviceArray): DeviceArray {
  return nary(op, BINARY[op].wgsl, [a, b]);
}

/** where's element: c ≠ 0 ? a : b. */
export const WHERE_EXPR = 'select(b, a, c != 0.0)';

/** out = c != 0 ? a : b, with broadcasting over all three. */
export function where(c: DeviceArray, a: DeviceArray, b: DeviceArray): DeviceArray {
  return nary('where', WHERE_EXPR, [c, a, b]);
}

/**
 * A custom fused elementwise expression over 1–4 broadcast inputs named a, b, c, d (one dispatch). The expression is
 * WGSL over f32 and may call the WGSL_MATH helpers; the kernel is cached by its source.
 */
export function fusedElementwise(label: string, expr: string, inputs: DeviceArray[]): DeviceArray {
  if (inputs.length < 1 || inputs.length > 4) throw new ShapeError(`${label}: fused elementwise takes 1–4 inputs, got ${inputs.length}`);
  return nary(label, expr, inputs, ['a', 'b', 'c', 'd'].slice(0, inputs.length));
}
