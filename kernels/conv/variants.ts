// kernels/conv/variants.ts: the conv2d variants (named tiles of kernels/conv/*.wgsl.ts) and how one is chosen for a
// pass: the heuristic, the tuner's candidates and shape classes, and what the wT layouts cannot run. The dispatcher
// (dispatch.ts) runs the choice.
import { isSwiftShader, subgroupMinSize, type Device } from '../../runtime';
import { nearestPow2 } from '../tune';
import type { ConvTile } from './conv2d.wgsl';
import type { ConvGeometry } from './uniforms';

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
export const isWT = (v: ConvVariant): v is ConvWTVariant => v === 'p16x8' || v === 't64x64';
/** The tiles of the lanes-own-pixels kernels (every pass). */
export type ConvLaneVariant = Exclude<ConvVariant, ConvWTVariant>;
export const CONV_LANE_VARIANTS: readonly ConvLaneVariant[] = ['s8x32', 's4x16', 's8x4', 'r4x8'];
export const CONV_TILES: Record<ConvLaneVariant, ConvTile> = {
  s8x32: { tm: 8, tn: 32, wg: 64, share: true }, // 8 pixels × 32 channels per invocation: wide layers
  s4x16: { tm: 4, tn: 16, wg: 64, share: true },
  s8x4: { tm: 8, tn: 4, wg: 64, share: true }, // few channels on the column side (RGB or grey in / out, depthwise)
  r4x8: { tm: 4, tn: 8, wg: 64 },
};

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

/** Lanes that can split the column loads on this device: its smallest subgroup, if it has subgroups (else 0). */
export function subgroupShare(dev: Device): 0 | 4 | 8 {
  const min = subgroupMinSize(dev);
  return min >= 8 ? 8 : min >= 4 ? 4 : 0;
}

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
export const convPixels = (s: ConvShape) => (s.kind === 'backwardData' ? s.x[0] * s.x[2] * s.x[3] : s.x[0] * s.out[0] * s.out[1]);

export const convFlops = (s: ConvShape) => 2 * s.x[0] * s.out[0] * s.out[1] * s.w[0] * s.w[1] * s.w[2] * s.w[3];

/** The tiles's column count for the heuristic: output channels per group, input channels per group in backward-data. */
export const convColumns = (s: ConvShape) => (s.kind === 'backwardData' ? s.w[1] : s.w[0] / s.geom.groups);

/** The channels a wT layout reads and writes for this pass: forward x → y; backward-data dy → dx (a forward over dy). */
export const wtChannels = (s: ConvShape) => (s.kind === 'backwardData' ? { read: s.w[0], written: s.w[1] * s.geom.groups } : { read: s.x[1], written: s.w[0] });

/** Why the wT layout `v` cannot run this pass on this device, or null when it can. */
export function wtBlocker(dev: Device, s: ConvShape, v: ConvWTVariant): string | null {
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
export function heuristicConvVariant(dev: Device, s: ConvShape): ConvVariant {
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
export const convCandidates = (dev: Device, s: ConvShape): ConvVariant[] =>
  CONV_VARIANTS.filter((v) => !isWT(v) || (!wtBlocker(dev, s, v) && (v !== 't64x64' || !dev.isCpu)));

