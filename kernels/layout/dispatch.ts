// kernels/layout/dispatch.ts: moving values without arithmetic. `gather` reads a strided window of a buffer into a new
// contiguous tensor (permute, expand, slice); `scatter` writes a contiguous tensor into a strided window of another
// (cat); `embed` makes a tensor that holds one tensor in a strided window and a constant elsewhere, in one pass (pad,
// slice backward); `fill` sets every element.
import { DeviceArray, ShapeError, f32bits, fmtShape, prefersRangeCopies, shapeSize, type Kernel } from '../../runtime';
import { MAX_DIMS, coalesce, decodeDims, grid1d, main1d, padDims, stridedGrid, stridedWalk, stridesOf, uniformAt } from '../grid';

const kernels = new Map<string, Kernel>();

function stridedKernel(kind: 'gather' | 'scatter', ndim: number): Kernel {
  const key = `${kind}:${ndim}`;
  let k = kernels.get(key);
  if (k) return k;
  const vecs = MAX_DIMS / 4;
  // p.win: the element's offset in the strided window
  const walk = stridedWalk(ndim, [['win', 'strides']], kind === 'gather' ? 'dst[e] = src[u.offset + p.win];' : 'dst[u.offset + p.win] = src[e];');
  const code = /* wgsl */ `
struct U { n: u32, offset: u32, pad0: u32, pad1: u32, shape: array<vec4u, ${vecs}>, strides: array<vec4u, ${vecs}> }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
${walk.decls}
${main1d()}${walk.main}
}`;
  k = { code, label: `${kind} (${ndim}-d)` };
  kernels.set(key, k);
  return k;
}

function stridedDispatch(kind: 'gather' | 'scatter', src: DeviceArray, dst: DeviceArray, shape: readonly number[], strides: readonly number[], offset: number): void {
  const n = shapeSize(shape);
  if (n === 0) return;
  const merged = coalesce(shape, [strides, stridesOf(shape)]);
  // only dims contiguous in BOTH the window and the dense side may merge
  const dims = merged.shape.length ? merged.shape : [1];
  const winStrides = merged.shape.length ? merged.strides[0] : [0];
  if (dims.length > MAX_DIMS) throw new ShapeError(`${kind}: window ${fmtShape(shape)} needs ${dims.length} strided dims; at most ${MAX_DIMS}`);
  const dev = src.device;
  if (dims.length === 1 && (winStrides[0] === 1 || n === 1) && prefersRangeCopies(dev)) {
    // one contiguous range (a slice or a cat along the first dimension): a buffer copy where that is cheaper
    const [from, to] = kind === 'gather' ? [offset, 0] : [0, offset];
    dev.copy(src.buffer, 4 * from, dst.buffer, 4 * to, 4 * n);
    return;
  }
  dev.dispatch(stridedKernel(kind, dims.length), {
    buffers: [src.buffer, dst.buffer],
    uniforms: [n, offset, 0, 0, ...padDims(dims, 1), ...padDims(winStrides)],
    workgroups: stridedGrid(dev, n),
  });
}


/** A new contiguous tensor of `shape` whose element at index (i…) is src[offset + Σ i_d·strides_d]. */
export function gather(src: DeviceArray, shape: readonly number[], strides: readonly number[], offset = 0): DeviceArray {
  const out = DeviceArray.alloc(shape, src.device);
  stridedDispatch('gather', src, out, shape, strides, offset);
  return out;
}

/** Writes src (contiguous, of `shape`) into dst at dst[offset + Σ i_d·strides_d], in place. */
export function scatterInto(dst: DeviceArray, src: DeviceArray, strides: readonly number[], offset = 0): void {
  stridedDispatch('scatter', src, dst, src.shape, strides, offset);
}

/** The embed kernel over `ndim` dims; `unit`: every step is 1 (pad, slices without steps), no divisions by steps. */
function embedKernel(ndim: number, unit: boolean): Kernel {
  const key = `embed:${ndim}:${unit}`;
  let k = kernels.get(key);
  if (k) return k;
  const vecs = MAX_DIMS / 4;
  const at = uniformAt;
  const stepped = (q: string, d: number) => (unit ? q : `${q} / ${at('step', d)}`);
  const dims = decodeDims(ndim, 'shape', (d) => `let q = c - ${at('start', d)};
    inside = inside && c >= ${at('start', d)}${unit ? '' : ` && q % ${at('step', d)} == 0u`} && ${stepped('q', d)} < ${at('window', d)};
    k += ${stepped('q', d)} * stride;${d > 0 ? ` stride *= ${at('window', d)};` : ''}`);
  const code = /* wgsl */ `
struct U { n: u32, v: f32, pad0: u32, pad1: u32, shape: array<vec4u, ${vecs}>, start: array<vec4u, ${vecs}>, step: array<vec4u, ${vecs}>, window: array<vec4u, ${vecs}> }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
${main1d()}
  if (i >= u.n) { return; }
  // dst[c] = src[(c - start) / step] where every coordinate lands on the window, else v
  var rem = i;
  var k = 0u;
  var stride = 1u;
  var inside = true;
  ${dims}
  if (inside) { dst[i] = src[k]; } else { dst[i] = u.v; }
}`;
  k = { code, label: `embed (${ndim}-d${unit ? '' : ', steps'})` };
  kernels.set(key, k);
  return k;
}

/**
 * A new tensor of `shape` that holds src at the window of coordinates start_d + i_d·step_d (i over src's shape) and v
 * everywhere else: pad's forward and slice's backward in one pass (a fill and a scatter before).
 */
export function embed(src: DeviceArray, shape: readonly number[], start: readonly number[], step: readonly number[], v: number): DeviceArray {
  if (src.ndim !== shape.length || start.length !== shape.length || step.length !== shape.length) {
    throw new ShapeError(`embed: ${fmtShape(src.shape)} into ${fmtShape(shape)} needs one start and step per dim (got ${start.length} and ${step.length})`);
  }
  if (shape.length > MAX_DIMS) throw new ShapeError(`embed: ${fmtShape(shape)} has ${shape.length} dims; at most ${MAX_DIMS}`);
  const out = DeviceArray.alloc(shape, src.device);
  const n = shapeSize(shape);
  if (n === 0) return out;
  const m = mergeEmbedDims(shape, src.shape, start, step);
  const dev = src.device;
  dev.dispatch(embedKernel(m.shape.length, m.step.every((s) => s === 1)), {
    buffers: [src.buffer, out.buffer],
    uniforms: [n, f32bits(v), 0, 0, ...padDims(m.shape, 1), ...padDims(m.start), ...padDims(m.step, 1), ...padDims(m.window, 1)],
    workgroups: grid1d(dev, n),
  });
  return out;
}

/**
 * Fewer dims for embed's index arithmetic (a division or two per dim and element): a dim merges into the one outside
 * it when the window covers it whole (start 0, step 1) and the outer dim's step is 1. Slice backward along dim 0 of
 * [3, 16, 2, 64, 32] (attention's q, k, v) becomes one dim of 196,608 with a window of 65,536; padding the last two
 * dims of [8, 4, 9, 9] leaves [32, 9, 9].
 */
export function mergeEmbedDims(shape: readonly number[], window: readonly number[], start: readonly number[], step: readonly number[]) {
  const m = { shape: [] as number[], window: [] as number[], start: [] as number[], step: [] as number[] };
  for (let d = 0; d < shape.length; d++) {
    const last = m.shape.length - 1;
    const whole = start[d] === 0 && step[d] === 1 && window[d] === shape[d];
    if (last >= 0 && whole && m.step[last] === 1) {
      m.shape[last] *= shape[d];
      m.window[last] *= shape[d];
      m.start[last] *= shape[d];
    } else {
      m.shape.push(shape[d]);
      m.window.push(window[d]);
      m.start.push(start[d]);
      m.step.push(step[d]);
    }
  }
  if (!m.shape.length) return { shape: [1], window: [1], start: [0], step: [1] };
  return m;
}

let fillKernel: Kernel | null = null;
/** Sets every element of t to v, in place. */
export function fillInto(t: DeviceArray, v: number): void {
  if (t.size === 0) return;
  fillKernel ??= {
    label: 'fill',
    code: /* wgsl */ `
struct U { n: u32, v: f32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
${main1d()}
  if (i < u.n) { dst[i] = u.v; }
}`,
  };
  t.device.dispatch(fillKernel, { buffers: [t.buffer], uniforms: [t.size, f32bits(v), 0, 0], workgroups: grid1d(t.device, t.size) });
}

/** A new tensor filled with v. */
export function filled(shape: readonly number[], v: number): DeviceArray {
  const t = DeviceArray.alloc(shape);
  fillInto(t, v);
  return t;
}
