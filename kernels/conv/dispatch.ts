// kernels/conv/dispatch.ts: conv2d forward, backward-data and backward-weight on the GPU (implicit GEMMs from
// ./conv2d.wgsl.ts, ./pixelsShared.wgsl.ts, ./tiled.wgsl.ts; 1×1 convolutions through matmul); matches
// torch.nn.functional.conv2d and its gradients.
// convTranspose2d (engine/conv.ts) is conv2dBackwardData forward and conv2d + conv2dBackwardWeight backward.
// Shapes are validated by engine/conv.ts; here they are only derived.
import { isSwiftShader, subgroupMinSize, type Device, type Kernel, ShapeError, ValueError, fmtShape, internal, DeviceArray, device as currentDevice } from '../../runtime';
import { grid1d } from '../grid';
import { gather } from '../layout/dispatch';
import { reduce } from '../reduce/dispatch';
import { matmulKernel } from '../matmul/dispatch';
import { filled, nearestPow2, pick, tune, tuningMode, TUNE_MIN_FLOPS, type TuneOptions, type TuneResult, type Tunable } from '../tune';
import { biasAddWgsl, convWgsl, type ConvConfig, type ConvKernelKind, type ConvTile } from './conv2d.wgsl';
import { forwardSharedWgsl, type ConvSharedConfig } from './pixelsShared.wgsl';
import { backwardWeightTiledWgsl, forwardTiledWgsl, type ConvTiledConfig } from './tiled.wgsl';
import { convUniforms, type ConvGeometry } from './uniforms';

export type { ConvTile, ConvKernelKind } from './conv2d.wgsl';
export type { ConvGeometry } from './uniforms';

/**
 * Named register tiles: every variant passes the same tests (test/kernels/conv.test.ts) and the bench times each.
 * `s…` tiles share the column loads across a subgroup (conv2d.wgsl.ts) where the adapter has subgroups, and are
 * plain register tiles elsewhere; `r4x8` never shares (it keeps that path tested on every adapter). `p16x8` is the
 * pixels-shared layout (pixelsShared.wgsl.ts: 16 output pixels shared by the workgroup, 8 channels per lane) for the
 * forward and the stride-1 backward-data, with one group, channels divisible by 4 on the written side and subgroups of
 * ≥ 4 lanes. `t64x64` is the workgroup-memory tiled layout for real GPUs (tiled.wgsl.ts: 64 pixels × 64 channels per
 * workgroup, 4×4 per invocation) for the forward and stride-1 backward-data, and its split-K kernel for
 * backward-weight; one group. The forward and backward-data of these two read a transposed weight copy wT; forced
 * on a forward they cannot run, they throw; the backward passes of a conv run with one take it where they can
 * (backward-data of stride 1, p16x8 also with input channels divisible by 4; backward-weight t64x64 only) and their
 * default tile elsewhere.
 */
export const CONV_VARIANTS = ['s8x32', 's4x16', 's8x4', 'r4x8', 'p16x8', 't64x64'] as const;
export type ConvVariant = (typeof CONV_VARIANTS)[number];
/** The layouts that run as a forward over a transposed weight copy wT [kH, kW, C, O]. */
export type ConvWTVariant = 'p16x8' | 't64x64';
const isWT = (v: ConvVariant): v is ConvWTVariant => v === 'p16x8' || v === 't64x64';
/** The tiles of the lanes-own-pixels kernels (every pass). */
export type ConvLaneVariant = Exclude<ConvVariant, ConvWTVariant>;
export const CONV_LANE_VARIANTS: readonly ConvLaneVariant[] = ['s8x32', 's4x16', 's8x4', 'r4x8'];
export const CONV_TILES: Record<ConvLaneVariant, ConvTile> = {
  s8x32: { tm: 8, tn: 32, wg: 64, share: true }, // 8 pixels × 32 channels per invocation: wide layers
  s4x16: { tm: 4, tn: 16, wg: 64, share: true },
  s8x4: { tm: 8, tn: 4, wg: 64, share: true }, // few channels on the column side (RGB or grey in / out, depthwise)
  r4x8: { tm: 4, tn: 8, wg: 64 },
};

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

/**
 * Default tile from the channels on the column side (output channels per group; input channels per group for
 * backward-data): columns past the channel count are wasted work, and beyond that the wider tile re-reads the pixels
 * fewer times. Measured on lavapipe with bench/conv-quick.ts (UNet shapes: 4×32 fastest from 32 channels up).
 */
export function pickConvVariant(columns: number): ConvLaneVariant {
  if (columns >= 24) return 's8x32';
  if (columns >= 10) return 's4x16';
  return 's8x4';
}

/** Output length along one axis: ⌊(size + before + after − d·(k − 1) − 1) / s⌋ + 1 (torch's formula). */
export const convOutputSize = (size: number, k: number, stride: number, before: number, after: number, dilation: number): number =>
  Math.floor((size + before + after - dilation * (k - 1) - 1) / stride) + 1;

/** Lanes that can split the column loads on this device: its smallest subgroup, if it has subgroups (else 0). */
function subgroupShare(dev: Device): 0 | 4 | 8 {
  const min = subgroupMinSize(dev);
  return min >= 8 ? 8 : min >= 4 ? 4 : 0;
}

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

/** What a conv kernel runs on: the tuner's shape class and the inputs of its timing job. */
export interface ConvShape {
  kind: 'forward' | 'backwardData' | 'backwardWeight';
  x: readonly number[]; // [N, C, H, W]
  w: readonly number[]; // [O, C/G, kH, kW]
  out: readonly [number, number]; // the forward output's (OH, OW)
  geom: ConvGeometry;
}


/** Shape class: kind, channels, kernel and geometry exactly; the GEMM's pixel count to the nearest power of two. */
export function convShapeKey(s: ConvShape): string {
  const [, C] = s.x, [O, , kH, kW] = s.w, g = s.geom;
  return `${s.kind} c${C}o${O}k${kH}x${kW}s${g.stride.join('x')}p${g.padding.join('x')}d${g.dilation.join('x')}g${g.groups}px${nearestPow2(convPixels(s))}`;
}

/** The pixels a pass runs over: the input's in backward-data, the output's otherwise. */
const convPixels = (s: ConvShape) => (s.kind === 'backwardData' ? s.x[0] * s.x[2] * s.x[3] : s.x[0] * s.out[0] * s.out[1]);

const convFlops = (s: ConvShape) => 2 * s.x[0] * s.out[0] * s.out[1] * s.w[0] * s.w[1] * s.w[2] * s.w[3];

/** The tiles's column count for the heuristic: output channels per group, input channels per group in backward-data. */
const convColumns = (s: ConvShape) => (s.kind === 'backwardData' ? s.w[1] : s.w[0] / s.geom.groups);

/** The channels a wT layout reads and writes for this pass: forward x → y; backward-data dy → dx (a forward over dy). */
const wtChannels = (s: ConvShape) => (s.kind === 'backwardData' ? { read: s.w[0], written: s.w[1] * s.geom.groups } : { read: s.x[1], written: s.w[0] });

/** Why the wT layout `v` cannot run this pass on this device, or null when it can. */
function wtBlocker(dev: Device, s: ConvShape, v: ConvWTVariant): string | null {
  if (s.kind === 'backwardWeight' && v === 'p16x8') return 'it has no backward-weight kernel';
  if (s.geom.groups !== 1) return `it takes one group (groups = ${s.geom.groups})`;
  if (s.kind === 'backwardData' && (s.geom.stride[0] !== 1 || s.geom.stride[1] !== 1)) return `its backward-data takes stride 1 (stride ${s.geom.stride.join('×')})`;
  if (v === 't64x64') return null;
  const { written } = wtChannels(s);
  if (written % 4 !== 0) return `it needs ${s.kind === 'forward' ? 'output' : 'input'} channels divisible by 4 (${written})`;
  if (subgroupShare(dev) < 4) return `it needs subgroups of ≥ 4 lanes, which ${dev.adapterLabel} lacks`;
  return null;
}

/**
 * The heuristic. On CPU drivers lanes own pixels (by column count), except the pixels-shared layout on SwiftShader
 * from 8 channels read on (bench/conv-quick.ts there: forward 70–122% of the same-size matmul at UNet shapes against
 * 52–67% for s8x32; below 4 channels it only runs its plain tail, and on lavapipe it loses to s8x32 by 1.3–2×).
 * On a real GPU the workgroup-memory tiles where they run (the split-K backward-weight beat the register tiles
 * 15–300× at every UNet shape on an H100), else the narrow tiles that won there (an H200 at N8 64→64 32² 3×3: s8x4
 * 2.5× s8x32 forward and backward-data, r4x8 4.7× s8x32 backward-weight; bench/tune-report.ts). But a forward or
 * backward-data that writes ≤ 32 channels over ≥ 16,384 pixels leaves the 64-channel tile half empty: r4x8 ran
 * 1.2–5× faster there (32→16 channels over 131,072 pixels: 0.29 vs 0.87 ms; bench/unet-step.ts --tune on an H100,
 * GPU timestamps).
 */
function heuristicConvVariant(dev: Device, s: ConvShape): ConvVariant {
  if (!dev.isCpu) {
    const tiled = !wtBlocker(dev, s, 't64x64');
    if (s.kind === 'backwardWeight') return tiled ? 't64x64' : 'r4x8';
    if (wtChannels(s).written <= 32 && convPixels(s) >= 16384) return 'r4x8';
    return tiled ? 't64x64' : 's8x4';
  }
  if (isSwiftShader(dev) && !wtBlocker(dev, s, 'p16x8') && wtChannels(s).read >= 8) return 'p16x8';
  // backward-weight's GEMM has (input channel, tap) rows: with ≤ 288 of them (32 channels 3×3, 1×1 from ≤ 64 channels
  // on) and ≥ 10 output channels, s4x16 ran 1.2–2× faster than s8x32 on both CPU drivers at UNet shapes
  // (bench/unet-step.ts --tune, GPU timestamps; from 576 rows s8x32 led or tied)
  if (s.kind === 'backwardWeight' && s.w[1] * s.w[2] * s.w[3] <= 288 && convColumns(s) >= 10) return 's4x16';
  return pickConvVariant(convColumns(s));
}

/** The variants the tuner times on this pass and device: the wT layouts where they run (t64x64 on real GPUs only: CPU drivers emulate workgroup memory slowly). */
const convCandidates = (dev: Device, s: ConvShape): ConvVariant[] =>
  CONV_VARIANTS.filter((v) => !isWT(v) || (!wtBlocker(dev, s, v) && (v !== 't64x64' || !dev.isCpu)));

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

/** y = conv2d(x, w) + b: x [N, C, H, W], w [O, C/G, kH, kW], b [O] → y [N, O, outHW…]. */
export function conv2dForward(x: DeviceArray, w: DeviceArray, bias: DeviceArray | undefined, geom: ConvGeometry, outHW: readonly [number, number], o: ConvDispatchOptions = {}): DeviceArray {
  const [N, C, H, W] = x.shape, [O, , kH, kW] = w.shape;
  if (x.ndim !== 4 || w.ndim !== 4 || w.shape[1] * geom.groups !== C) throw internal(`conv2dForward: x ${fmtShape(x.shape)}, w ${fmtShape(w.shape)}, groups ${geom.groups}`);
  const yShape = [N, O, outHW[0], outHW[1]];
  if (o.matmul1x1 !== false && isPointwise([kH, kW], [H, W], outHW, geom) && x.size > 0) {
    const y3 = withViews([[w, [O, C]], [x, [N, C, H * W]]], (w2, x3) => matmulKernel(w2, x3));
    const y = y3.viewAs(yShape);
    y3.dispose();
    if (bias) addBias(y, bias);
    return y;
  }
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
  if (o.matmul1x1 !== false && isPointwise([kH, kW], inHW, [OH, OW], geom) && dy.size > 0) {
    const x3 = withViews([[w, [O, C]], [dy, [N, O, OH * OW]]], (w2, dy3) => matmulKernel(w2, dy3, { transA: true }));
    const dx = x3.viewAs(xShape);
    x3.dispose();
    if (bias) addBias(dx, bias);
    return dx;
  }
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
