// kernels/conv/dispatch.ts: conv2d forward, backward-data and backward-weight on the GPU (implicit GEMMs from
// ./conv2d.wgsl.ts, ./pixelsShared.wgsl.ts, ./tiled.wgsl.ts; 1×1 convolutions through matmul); matches
// torch.nn.functional.conv2d and its gradients. The variant comes from ./variants.ts (or the tuner).
// convTranspose2d (engine/conv.ts) is conv2dBackwardData forward and conv2d + conv2dBackwardWeight backward.
// Shapes are validated by engine/conv.ts; here they are only derived.
import { type Device, type Kernel, ShapeError, ValueError, fmtShape, internal, DeviceArray, device as currentDevice } from '../../runtime';
import { grid1d } from '../grid';
import { gather } from '../layout/dispatch';
import { reduce } from '../reduce/dispatch';
import { matmulKernel } from '../matmul/dispatch';
import { filled, pick, tune, tuningMode, TUNE_MIN_FLOPS, type TuneOptions, type TuneResult, type Tunable } from '../tune';
import { biasAddWgsl, convWgsl, type ConvConfig, type ConvKernelKind, type ConvTile } from './conv2d.wgsl';
import { forwardSharedWgsl, type ConvSharedConfig } from './pixelsShared.wgsl';
import { backwardWeightTiledWgsl, forwardTiledWgsl, type ConvTiledConfig } from './tiled.wgsl';
import { convUniforms, type ConvGeometry } from './uniforms';
import {
  CONV_LANE_VARIANTS, CONV_TILES, convCandidates, convColumns, convFlops, convShapeKey, heuristicConvVariant, isWT, pickConvVariant, subgroupShare, wtBlocker, wtChannels,
  type ConvShape, type ConvVariant, type ConvWTVariant,
} from './variants';

export type { ConvTile, ConvKernelKind } from './conv2d.wgsl';
export type { ConvGeometry } from './uniforms';
export { CONV_LANE_VARIANTS, CONV_TILES, CONV_VARIANTS, convShapeKey, pickConvVariant, type ConvLaneVariant, type ConvShape, type ConvVariant, type ConvWTVariant } from './variants';

export interface ConvDispatchOptions {
  /** A named tile (default: picked from the shapes). */
  variant?: ConvVariant;
  /** Override fields of the tile (bench, autotuner). */
  config?: Partial<ConvTile>;
  /** Send 1×1 / stride 1 / no padding / 1 group through matmul (default true; false forces the implicit GEMM). */
  matmul1x1?: boolean;
  /** Backward-weight with lanes over (channel, tap) rows instead of one tap per workgroup (default: under 8 channels per group). */
  weightRows?: boolean;
}

/** Output length along one axis: ⌊(size + before + after − d·(k − 1) − 1) / s⌋ + 1 (torch's formula). */
export const convOutputSize = (size: number, k: number, stride: number, before: number, after: number, dilation: number): number =>
  Math.floor((size + before + after - dilation * (k - 1) - 1) / stride) + 1;

const kernels = new Map<string, Kernel>();
function kernelFor(dev: Device, tile: ConvTile, kind: ConvKernelKind): Kernel {
  const c: ConvConfig = { ...tile, kind, sg: tile.share ? subgroupShare(dev) : 0 };
  const key = JSON.stringify(c);
  let k = kernels.get(key);
  if (!k) kernels.set(key, (k = { code: convWgsl(c), label: `conv2d ${key}` }));
  return k;
}
/** Backward-weight's kernel: lanes over (channel, tap) rows when channels per group are few (default under 8), else one tap per workgroup. */
const weightRowsKind = (o: ConvDispatchOptions, cG: number): ConvKernelKind => ((o.weightRows ?? cG < 8) ? 'backwardWeightRows' : 'backwardWeight');

/** Backward-weight's workgroups: 8 lanes (one SIMD row on CPU drivers): its rows are often few, and one size keeps one pipeline per tile. */
const WEIGHT_WG = 8;
const BIAS_ADD: Kernel = { code: biasAddWgsl(), label: 'conv2d bias add' };

// ---- tuning --------------------------------------------------------------------------------------------------------

/** The tuner's view of a conv shape: every named tile this pass and device run, the heuristic, and a job that runs the kernel on this shape. */
export function convTunable(dev: Device, s: ConvShape): Tunable<ConvVariant> {
  return {
    family: 'conv2d',
    key: convShapeKey(s),
    candidates: convCandidates(dev, s),
    id: (v) => v,
    heuristic: heuristicConvVariant(dev, s),
    flops: convFlops(s),
    job: () => {
      const [N, , H, W] = s.x, O = s.w[0];
      const x = filled(dev, [...s.x], 0.5), w = filled(dev, [...s.w], 0.25), dy = filled(dev, [N, O, s.out[0], s.out[1]], 0.125);
      const run = (variant: ConvVariant) =>
        s.kind === 'forward'
          ? conv2dForward(x, w, undefined, s.geom, s.out, { variant })
          : s.kind === 'backwardData'
            ? conv2dBackwardData(dy, w, undefined, s.geom, [H, W], { variant })
            : conv2dBackwardWeight(x, dy, s.geom, [s.w[2], s.w[3]], { variant });
      return {
        run: (v) => run(v).dispose(),
        prepare: (v) => {
          if (isWT(v)) return dev.compileAsync(s.kind === 'backwardWeight' ? TILED_WEIGHT : wtKernelFor(v, wtChannels(s).written));
          const tile = CONV_TILES[v];
          if (s.kind !== 'backwardWeight') return dev.compileAsync(kernelFor(dev, tile, s.kind));
          return dev.compileAsync(kernelFor(dev, { ...tile, wg: WEIGHT_WG }, weightRowsKind({}, s.w[1])));
        },
        dispose: () => (x.dispose(), w.dispose(), dy.dispose()),
      };
    },
  };
}

/**
 * Times every tile on this conv shape now and caches the winner (explicit warm-up; convolutions never wait for it).
 * Returns the cached winner without timing unless `force`.
 */
export async function tuneConv(
  s: Pick<ConvShape, 'kind' | 'x' | 'w'> & { stride?: number; padding?: number; dilation?: number; groups?: number },
  o: TuneOptions & { device?: Device } = {},
): Promise<TuneResult> {
  const dev = o.device ?? currentDevice();
  const [stride, padding, dilation, groups] = [s.stride ?? 1, s.padding ?? 0, s.dilation ?? 1, s.groups ?? 1];
  const geom: ConvGeometry = { stride: [stride, stride], padding: [padding, padding], dilation: [dilation, dilation], groups };
  const out = [2, 3].map((d) => convOutputSize(s.x[d], s.w[d], stride, padding, padding, dilation)) as [number, number];
  return tune(dev, convTunable(dev, { kind: s.kind, x: s.x, w: s.w, out, geom }), o);
}

/** The variant to run: forced by the options, else the tuner's winner for this shape class (when known), else the heuristic. */
function variantFor(dev: Device, o: ConvDispatchOptions, s: ConvShape): ConvVariant {
  if (o.variant) {
    const v = o.variant;
    if (!isWT(v)) return v;
    const why = wtBlocker(dev, s, v);
    // a conv run with a wT layout takes it for its backward passes where they can, their default tile elsewhere (CONV_VARIANTS)
    if (s.kind !== 'forward') return why ? pickConvVariant(convColumns(s)) : v;
    if (why) throw new ValueError(`conv2d: variant ${v} cannot run x ${fmtShape(s.x)} w ${fmtShape(s.w)}: ${why}; use one of ${CONV_LANE_VARIANTS.join(', ')}`);
    return v;
  }
  if (o.config !== undefined) return pickConvVariant(convColumns(s));
  const tuned = tuningMode() !== 'off' && convFlops(s) >= TUNE_MIN_FLOPS;
  return tuned ? pick(dev, convTunable(dev, s)) : heuristicConvVariant(dev, s);
}

/** p16x8's config: 8 lanes × 8 channels per workgroup, 4 lanes for 32 channels or fewer (fewer idle lanes). */
const sharedConfig = (O: number): ConvSharedConfig => ({ tm: 16, tn: 8, wg: O > 32 ? 8 : 4, sg: 4 });
/** t64x64's config: 16×16 invocations of 4 pixels × 4 channels (the matmul tiled kernel's t4x4w16). */
const TILED: ConvTiledConfig = { tm: 4, tn: 4, wgX: 16, wgY: 16, kt: 16 };
const TILED_WEIGHT: Kernel = { code: backwardWeightTiledWgsl(TILED), label: `conv2d backward-weight tiled ${JSON.stringify(TILED)}` };
const wtKernels = new Map<string, Kernel>();
/** The forward kernel of a wT layout for O written channels (p16x8 sizes its workgroup by O). */
function wtKernelFor(v: ConvWTVariant, O: number): Kernel {
  const key = v === 'p16x8' ? `shared ${JSON.stringify(sharedConfig(O))}` : `tiled ${JSON.stringify(TILED)}`;
  let k = wtKernels.get(key);
  if (!k) wtKernels.set(key, (k = { code: v === 'p16x8' ? forwardSharedWgsl(sharedConfig(O)) : forwardTiledWgsl(TILED), label: `conv2d forward ${key}` }));
  return k;
}

function checkGrid(op: string, groups: [number, number, number], shape: readonly number[], maxWg: number): [number, number, number] {
  if (groups.some((n) => n > maxWg)) {
    throw new ShapeError(`${op}: ${fmtShape(shape)} needs ${fmtShape(groups)} workgroups, over this adapter's ${maxWg} per dimension; split the batch into smaller ones`);
  }
  return groups;
}

/** A 1×1 convolution with stride 1, no padding and one group is a matmul per image: y[n] = W·x[n]. */
const isPointwise = (k: readonly number[], inHW: readonly number[], outHW: readonly number[], g: ConvGeometry) =>
  k[0] === 1 && k[1] === 1 && g.groups === 1 && g.stride[0] === 1 && g.stride[1] === 1 && g.padding[0] === 0 && g.padding[1] === 0 &&
  inHW[0] === outHW[0] && inHW[1] === outHW[1];

/** In place: y[n, c, …] += bias[c]. */
function addBias(y: DeviceArray, bias: DeviceArray): void {
  const [, C, H, W] = y.shape;
  const dev = y.device;
  dev.dispatch(BIAS_ADD, { buffers: [bias.buffer, y.buffer], uniforms: [y.size, C, H * W, 0], workgroups: grid1d(dev, y.size) });
}

/** Views `t` as `shape`, runs fn, disposes the views. */
function withViews<T>(ts: [DeviceArray, readonly number[]][], fn: (...views: DeviceArray[]) => T): T {
  const views = ts.map(([t, s]) => t.viewAs(s));
  try {
    return fn(...views);
  } finally {
    for (const v of views) v.dispose();
  }
}

/** A pointwise convolution of `input` [N, C, H, W] as a matmul per image: out[n] = op(w)·input[n] (+ bias[c]), w [O, C, 1, 1]. */
function pointwise(w: DeviceArray, input: DeviceArray, outShape: readonly number[], transA: boolean, bias: DeviceArray | undefined): DeviceArray {
  const [N, C, H, W] = input.shape;
  const out3 = withViews([[w, [w.shape[0], w.shape[1]]], [input, [N, C, H * W]]], (w2, in3) => matmulKernel(w2, in3, { transA }));
  const out = out3.viewAs(outShape);
  out3.dispose();
  if (bias) addBias(out, bias);
  return out;
}

/** y = conv2d(x, w) + b: x [N, C, H, W], w [O, C/G, kH, kW], b [O] → y [N, O, outHW…]. */
export function conv2dForward(x: DeviceArray, w: DeviceArray, bias: DeviceArray | undefined, geom: ConvGeometry, outHW: readonly [number, number], o: ConvDispatchOptions = {}): DeviceArray {
  const [N, C, H, W] = x.shape, [O, , kH, kW] = w.shape;
  if (x.ndim !== 4 || w.ndim !== 4 || w.shape[1] * geom.groups !== C) throw internal(`conv2dForward: x ${fmtShape(x.shape)}, w ${fmtShape(w.shape)}, groups ${geom.groups}`);
  const yShape = [N, O, outHW[0], outHW[1]];
  if (o.matmul1x1 !== false && isPointwise([kH, kW], [H, W], outHW, geom) && x.size > 0) return pointwise(w, x, yShape, false, bias);
  const y = DeviceArray.alloc(yShape, x.device);
  if (y.size === 0) return y;
  const oG = O / geom.groups;
  const dev = x.device;
  const variant = variantFor(dev, o, { kind: 'forward', x: x.shape, w: w.shape, out: outHW, geom });
  if (isWT(variant)) {
    // wT [kH, kW, C, O]
    wtConv(variant, x, gather(w, [kH, kW, C, O], [kW, 1, kH * kW, C * kH * kW]), bias, y, geom, false);
    return y;
  }
  const tile = { ...CONV_TILES[variant], ...o.config };
  const groups = checkGrid('conv2d', [Math.ceil((N * outHW[0] * outHW[1]) / (tile.tm * tile.wg)), Math.ceil(oG / tile.tn), geom.groups], yShape, dev.limits.maxComputeWorkgroupsPerDimension);
  // without a bias, w stands in at binding 3 (never read: hasBias = 0)
  dev.dispatch(kernelFor(dev, tile, 'forward'), {
    buffers: [x.buffer, w.buffer, bias?.buffer ?? w.buffer, y.buffer],
    uniforms: convUniforms(x.shape, yShape, [kH, kW], geom, !!bias),
    workgroups: groups,
  });
  return y;
}

/**
 * A wT layout's forward from x into y (+ bias) with weights wT [kH, kW, x's channels, y's channels] (which it
 * disposes): the p16x8 / t64x64 forward, and with `flipTaps` the stride-1 backward-data (x = dy, y = dx, geom the
 * flipped kernel's).
 */
function wtConv(v: ConvWTVariant, x: DeviceArray, wT: DeviceArray, bias: DeviceArray | undefined, y: DeviceArray, geom: ConvGeometry, flipTaps: boolean): void {
  const [kH, kW, , O] = wT.shape;
  const dev = x.device;
  const max = dev.limits.maxComputeWorkgroupsPerDimension;
  const pixels = y.shape[0] * y.shape[2] * y.shape[3];
  // pixel blocks split over two grid dimensions: p16x8 (y, z) under channel blocks in x; t64x64 (x, z) with channel blocks in y
  const sc = sharedConfig(O);
  const [pixelBlock, channelBlock] = v === 'p16x8' ? [sc.tm, sc.wg * sc.tn] : [TILED.wgX * TILED.tm, TILED.wgY * TILED.tn];
  const blocks = Math.ceil(pixels / pixelBlock), z = Math.ceil(blocks / max), channels = Math.ceil(O / channelBlock);
  dev.dispatch(wtKernelFor(v, O), {
    buffers: [x.buffer, wT.buffer, bias?.buffer ?? wT.buffer, y.buffer],
    uniforms: convUniforms(x.shape, y.shape, [kH, kW], geom, !!bias, flipTaps),
    workgroups: checkGrid('conv2d', v === 'p16x8' ? [channels, Math.ceil(blocks / z), z] : [Math.ceil(blocks / z), channels, z], y.shape, max),
  });
  wT.dispose();
}

/**
 * dx = ∂⟨y, dy⟩/∂x for y = conv2d(x, w) (+ bias[c] on dx, which makes it convTranspose2d's forward):
 * dy [N, O, OH, OW], w [O, C/G, kH, kW] → dx [N, C, inHW…].
 */
export function conv2dBackwardData(dy: DeviceArray, w: DeviceArray, bias: DeviceArray | undefined, geom: ConvGeometry, inHW: readonly [number, number], o: ConvDispatchOptions = {}): DeviceArray {
  const [N, O, OH, OW] = dy.shape, [, cG, kH, kW] = w.shape;
  const C = cG * geom.groups;
  if (dy.ndim !== 4 || w.ndim !== 4 || w.shape[0] !== O) throw internal(`conv2dBackwardData: dy ${fmtShape(dy.shape)}, w ${fmtShape(w.shape)}`);
  const xShape = [N, C, inHW[0], inHW[1]];
  if (o.matmul1x1 !== false && isPointwise([kH, kW], inHW, [OH, OW], geom) && dy.size > 0) return pointwise(w, dy, xShape, true, bias);
  const dx = DeviceArray.alloc(xShape, dy.device);
  if (dx.size === 0) return dx;
  const dev = dy.device;
  const variant = variantFor(dev, o, { kind: 'backwardData', x: xShape, w: w.shape, out: [OH, OW], geom });
  if (isWT(variant)) {
    // stride 1: dx = conv2d(dy, w flipped, padding d·(k − 1) − p) with wT [kH, kW, O, C] read tap-reversed
    const [dh, dw] = geom.dilation;
    const flipped: ConvGeometry = { stride: [1, 1], padding: [dh * (kH - 1) - geom.padding[0], dw * (kW - 1) - geom.padding[1]], dilation: geom.dilation, groups: 1 };
    wtConv(variant, dy, gather(w, [kH, kW, O, C], [kW, 1, C * kH * kW, kH * kW]), bias, dx, flipped, true);
    return dx;
  }
  const tile = { ...CONV_TILES[variant], ...o.config };
  const [sh, sw] = geom.stride;
  const phasePixels = N * Math.ceil(inHW[0] / sh) * Math.ceil(inHW[1] / sw);
  const groups = checkGrid('conv2d backward', [Math.ceil(phasePixels / (tile.tm * tile.wg)), Math.ceil(cG / tile.tn), geom.groups * sh * sw], xShape, dev.limits.maxComputeWorkgroupsPerDimension);
  dev.dispatch(kernelFor(dev, tile, 'backwardData'), {
    buffers: [dy.buffer, w.buffer, bias?.buffer ?? w.buffer, dx.buffer],
    uniforms: convUniforms(xShape, dy.shape, [kH, kW], geom, !!bias),
    workgroups: groups,
  });
  return dx;
}

/** dw = ∂⟨y, dy⟩/∂w for y = conv2d(x, w): x [N, C, H, W], dy [N, O, OH, OW] → dw [O, C/G, kH, kW]. */
export function conv2dBackwardWeight(x: DeviceArray, dy: DeviceArray, geom: ConvGeometry, kHW: readonly [number, number], o: ConvDispatchOptions = {}): DeviceArray {
  const [N, C] = x.shape, O = dy.shape[1];
  if (x.ndim !== 4 || dy.ndim !== 4 || dy.shape[0] !== N) throw internal(`conv2dBackwardWeight: x ${fmtShape(x.shape)}, dy ${fmtShape(dy.shape)}`);
  const cG = C / geom.groups, oG = O / geom.groups;
  const [kH, kW] = kHW;
  const dw = DeviceArray.alloc([O, cG, kH, kW], x.device);
  if (dw.size === 0) return dw;
  // an empty batch still runs: the K loop is empty and every dw is written as 0
  const dev = x.device;
  const variant = variantFor(dev, o, { kind: 'backwardWeight', x: x.shape, w: dw.shape, out: [dy.shape[2], dy.shape[3]], geom });
  if (variant === 't64x64') return tiledBackwardWeight(x, dy, geom, dw);
  if (isWT(variant)) throw internal(`conv2d: ${variant} picked for backward-weight`);
  const tile = { ...CONV_TILES[variant], ...o.config };
  // lanes run over input channels (one tap per workgroup), or over (channel, tap) rows when channels are few
  const rows = weightRowsKind(o, cG) === 'backwardWeightRows';
  const laneRows = rows ? cG * kH * kW : cG;
  const wg = WEIGHT_WG;
  const zGroups = rows ? geom.groups : geom.groups * kH * kW;
  const groups = checkGrid('conv2d weight backward', [Math.ceil(laneRows / (tile.tm * wg)), Math.ceil(oG / tile.tn), zGroups], dw.shape, dev.limits.maxComputeWorkgroupsPerDimension);
  dev.dispatch(kernelFor(dev, { ...tile, wg }, rows ? 'backwardWeightRows' : 'backwardWeight'), {
    buffers: [x.buffer, dy.buffer, dw.buffer],
    uniforms: convUniforms(x.shape, dy.shape, kHW, geom, false),
    workgroups: groups,
  });
  return dw;
}

/**
 * t64x64's backward-weight into dw [O, C, kH, kW] (one group): backwardWeightTiledWgsl over K slices of `chunk`
 * pixels, sized so that the grid has ≥ 256 workgroups where the pixels allow (≥ 256 pixels a slice), then one sum over
 * the slices; one slice writes dw directly.
 */
function tiledBackwardWeight(x: DeviceArray, dy: DeviceArray, geom: ConvGeometry, dw: DeviceArray): DeviceArray {
  const dev = x.device;
  const [O, C, kH, kW] = dw.shape, [N, , OH, OW] = dy.shape;
  const R = C * kH * kW, P = N * OH * OW;
  const blocks = Math.ceil(O / (TILED.wgY * TILED.tm)) * Math.ceil(R / (TILED.wgX * TILED.tn));
  const wanted = Math.max(1, Math.min(Math.ceil(256 / blocks), Math.ceil(P / 256)));
  const chunk = TILED.kt * Math.max(1, Math.ceil(P / (TILED.kt * wanted)));
  const slices = Math.max(1, Math.ceil(P / chunk));
  const out = slices === 1 ? dw : DeviceArray.alloc([slices, O, C, kH, kW], dev);
  dev.dispatch(TILED_WEIGHT, {
    buffers: [x.buffer, dy.buffer, out.buffer],
    uniforms: convUniforms(x.shape, dy.shape, [kH, kW], geom, false, false, chunk),
    workgroups: checkGrid('conv2d weight backward', [Math.ceil(R / (TILED.wgX * TILED.tn)), Math.ceil(O / (TILED.wgY * TILED.tm)), slices], dw.shape, dev.limits.maxComputeWorkgroupsPerDimension),
  });
  if (out === dw) return dw;
  dw.dispose();
  const summed = reduce('sum', out, [0], false);
  out.dispose();
  return summed;
}
