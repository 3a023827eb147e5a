// kernels/attention/dispatch.ts: fused scaled dot-product attention on the GPU (torch.nn.functional.
// scaled_dot_product_attention on [..., L, D] queries and [..., S, D] keys/values): a flash-style forward that saves
// only the log-sum-exp per query row, and a FlashAttention-2 backward in two kernels (dQ and Δ over key tiles, then
// dK/dV over query tiles) that recomputes the scores, so no L×S matrix and no atomics.
import { f32bits, isSwiftShader, subgroupMinSize, type Device, type Kernel, ShapeError, ValueError, fmtShape, DeviceArray, device as currentDevice } from '../../runtime';
import { filled, nearestPow2, pick, tune, tuningMode, TUNE_MIN_FLOPS, type TuneOptions, type TuneResult, type Tunable } from '../tune';
import { attentionDkvWgsl, attentionDqWgsl, attentionForwardWgsl, vec4Rows, type AttentionTileConfig } from './attention.wgsl';

/** Largest head dim: an invocation of the key-side kernel keeps 4·D floats per owned row in private arrays. */
export const ATTENTION_MAX_D = 128;

type Tile = Pick<AttentionTileConfig, 'own' | 'tile' | 'sub' | 'wg'>;

/** One tile configuration for the three kernels (the head dim is filled in per call). */
export interface AttentionVariant {
  name: string;
  /** Lanes sharing each streamed load through subgroupBroadcast (see attention.wgsl.ts); > 1 needs `subgroupsSupported`. */
  lanes: 1 | 4 | 8;
  /** Unrolled head-dim loops (attention.wgsl.ts headLoop). */
  unroll?: boolean;
  /** With lanes 1: tiles staged in workgroup memory (attention.wgsl.ts, shared mode). */
  shared?: boolean;
  /** Made for real GPUs: CPU drivers run it (tests do) but never pick or time it. */
  forGpu?: boolean;
  forward: Tile; // own: query rows per invocation, tile: keys per tile
  dq: Tile; // own: query rows, tile: keys
  dkv: Tile; // own: key rows per invocation, tile: query rows per tile
}

/**
 * The variants the tests and the bench run; `pickAttentionVariant` chooses among them. Process CPU ms of the forward /
 * dQ / dK·dV kernels on lavapipe (2 cores) at B·H 8, L 256, D 64: subgroup-r4 ≈ 7.3 / 10.5 / 13.7, subgroup-r2 (own 2)
 * ≈ 8.3 / 13.1 / 17.4, plain-r4 ≈ 2.5× subgroup-r4 (bench/attention-quick.ts times all of them end to end). Larger
 * tiles than subgroup-r4's spill registers and lose; its kernels take a few seconds each to compile on a cold cache.
 * SwiftShader's subgroups have 4 lanes, so it runs subgroup4-r4: wall ms of forward / dQ / dK·dV in Node at the same
 * shape 34.5 / 62.0 / 59.8, against plain-r4's 48 / 227 in all for the backward (other tiles of 2–8 owned rows, 8–32
 * streamed rows and 8–64 lanes per workgroup measured within noise of it, or slower).
 */
export const ATTENTION_VARIANTS: readonly AttentionVariant[] = [
  { name: 'subgroup-r4', lanes: 8, forward: { own: 4, tile: 16, wg: 16 }, dq: { own: 4, tile: 16, wg: 16 }, dkv: { own: 4, tile: 16, wg: 16 } },
  { name: 'subgroup-r2', lanes: 8, forward: { own: 2, tile: 16, wg: 32 }, dq: { own: 2, tile: 16, sub: 8, wg: 32 }, dkv: { own: 2, tile: 8, wg: 32 } },
  { name: 'subgroup4-r4', lanes: 4, forward: { own: 4, tile: 16, wg: 16 }, dq: { own: 4, tile: 16, wg: 16 }, dkv: { own: 4, tile: 16, wg: 16 } },
  // unrolled head-dim loops (SwiftShader keeps the rows in registers), 4-key tiles to keep the bodies small: a tuner
  // candidate on SwiftShader only (its kernels compile for ~5 s forward and ~10 s backward at D 64 there, minutes on lavapipe)
  { name: 'subgroup4-u4', lanes: 4, unroll: true, forward: { own: 4, tile: 4, wg: 16 }, dq: { own: 4, tile: 4, wg: 16 }, dkv: { own: 2, tile: 4, wg: 16 } },
  // tiles of 16 rows staged in workgroup memory by 64 lanes, one owned row each: for real GPUs only
  { name: 'shared-r1', lanes: 1, shared: true, forGpu: true, forward: { own: 1, tile: 16, wg: 64 }, dq: { own: 1, tile: 16, wg: 64 }, dkv: { own: 1, tile: 16, wg: 64 } },
  // one row per invocation: 4× the invocations of subgroup-r4, for GPUs with more cores than B·H·L/4 rows fill
  { name: 'subgroup-r1', lanes: 8, forGpu: true, forward: { own: 1, tile: 16, wg: 64 }, dq: { own: 1, tile: 16, wg: 64 }, dkv: { own: 1, tile: 16, wg: 64 } },
  { name: 'plain-r4', lanes: 1, forward: { own: 4, tile: 8, wg: 32 }, dq: { own: 4, tile: 4, wg: 32 }, dkv: { own: 4, tile: 4, wg: 32 } },
];

export interface AttentionKernelOptions {
  scale: number;
  causal: boolean;
  /** A variant from ATTENTION_VARIANTS (or its name); default: the tuner's winner for this shape class when known, else pickAttentionVariant. */
  variant?: AttentionVariant | string;
}

/** One kernel's config: a pass's tile of the variant, with the head dim and the variant's mode. */
const configOf = (v: AttentionVariant, t: Tile, D: number): AttentionTileConfig => ({ ...t, d: D, lanes: v.lanes, unroll: v.unroll, shared: v.shared });

const kernels = new Map<string, Kernel>();
function cached(label: string, config: AttentionTileConfig, gen: (c: AttentionTileConfig) => string): Kernel {
  const key = `${label} ${JSON.stringify(config)}`;
  let k = kernels.get(key);
  if (!k) kernels.set(key, (k = { code: gen(config), label: key }));
  return k;
}

/** Whether a variant sharing loads over `lanes` lanes can run: the `subgroups` feature, subgroups of ≥ lanes, D % 4 = 0. */
export function subgroupsSupported(dev: Device, D: number, lanes = 8): boolean {
  return subgroupMinSize(dev) >= lanes && D % 4 === 0;
}

/** Whether this device runs `v` at head dim D. */
export const variantRuns = (dev: Device, v: AttentionVariant, D: number): boolean =>
  v.shared ? D % 4 === 0 && sharedBytes(v, D) <= dev.limits.maxComputeWorkgroupStorageSize : v.lanes === 1 || subgroupsSupported(dev, D, v.lanes);

/** Workgroup memory of a shared variant's largest kernel: two staged tiles of D floats per row. */
const sharedBytes = (v: AttentionVariant, D: number) => Math.max(v.forward.tile, v.dq.tile, v.dkv.tile) * D * 2 * 4;

/**
 * Whether the tuner (and the bench) times `v` here: it runs, unrolled variants only on SwiftShader (where they pay for
 * their compile) and those made for real GPUs only there (on lavapipe subgroup-r1 ran 1.7× slower than subgroup-r4,
 * and CPU drivers emulate shared-r1's barriers slowly).
 */
export const variantWorthTiming = (dev: Device, v: AttentionVariant, D: number): boolean =>
  variantRuns(dev, v, D) && (!v.unroll || isSwiftShader(dev)) && (!v.forGpu || !dev.isCpu);

/**
 * On a real GPU shared-r1 where it runs, else subgroup-r1 (an H200 at B·H 8, L 256, D 64, bench/attention-quick.ts:
 * forward + backward 0.82 ms, 1.13 and subgroup-r4's 1.47; composed matmul + softmax + matmul 1.01); elsewhere the
 * first variant of ATTENTION_VARIANTS this device runs that is not for real GPUs: the widest subgroup sharing it
 * offers, else plain.
 */
export function pickAttentionVariant(dev: Device, D: number): AttentionVariant {
  const runs = (name: string) => ATTENTION_VARIANTS.find((v) => v.name === name && variantRuns(dev, v, D));
  if (!dev.isCpu) {
    const onGpu = runs('shared-r1') ?? runs('subgroup-r1');
    if (onGpu) return onGpu;
  }
  return ATTENTION_VARIANTS.find((v) => !v.forGpu && variantRuns(dev, v, D))!;
}

function resolveVariant(dev: Device, v: AttentionVariant | string | undefined, D: number): AttentionVariant {
  if (v === undefined) return pickAttentionVariant(dev, D);
  const found = typeof v === 'string' ? ATTENTION_VARIANTS.find((x) => x.name === v) : v;
  if (!found) throw new ValueError(`attention: unknown variant "${v}"; known: ${ATTENTION_VARIANTS.map((x) => x.name).join(', ')}`);
  if (!variantRuns(dev, found, D) && found.shared) {
    throw new ValueError(
      `attention: variant "${found.name}" needs a head dim divisible by 4 (D = ${D}) and ${sharedBytes(found, D)} bytes of workgroup memory (this adapter: ${dev.limits.maxComputeWorkgroupStorageSize}); use ${pickAttentionVariant(dev, D).name} or another variant this adapter runs`,
    );
  }
  if (!variantRuns(dev, found, D)) {
    throw new ValueError(
      `attention: variant "${found.name}" needs the subgroups feature with subgroups of ≥ ${found.lanes} lanes (this adapter: ${subgroupMinSize(dev) || 'none'}) and a head dim divisible by 4 (D = ${D}); use ${pickAttentionVariant(dev, D).name} or another variant this adapter runs`,
    );
  }
  return found;
}

export interface AttentionDims {
  BH: number; // batch · heads
  L: number; // query rows
  S: number; // key rows
  D: number; // head dim
}
type Dims = AttentionDims;
const dimsOf = (q: DeviceArray, k: DeviceArray): Dims => {
  const D = q.shape[q.ndim - 1], L = q.shape[q.ndim - 2], S = k.shape[k.ndim - 2];
  return { BH: q.shape.slice(0, -2).reduce((a, b) => a * b, 1), L, S, D };
};

// ---- tuning --------------------------------------------------------------------------------------------------------

type Pass = 'forward' | 'backward';
const attentionFlops = (d: Dims, pass: Pass) => (pass === 'forward' ? 4 : 10) * d.BH * d.L * d.S * d.D;

/** Shape class: pass, head dim and causality exactly; BH, L and S to the nearest power of two. */
export const attentionShapeKey = (pass: Pass, d: Dims, causal: boolean): string => `${pass} bh${nearestPow2(d.BH)}l${nearestPow2(d.L)}s${nearestPow2(d.S)}d${d.D}${causal ? 'c' : ''}`;

/** The tuner's view of one attention pass: the variants this device runs, the heuristic, and a timing job. */
export function attentionTunable(dev: Device, pass: Pass, d: Dims, causal: boolean): Tunable<AttentionVariant> {
  return {
    family: 'attention',
    key: attentionShapeKey(pass, d, causal),
    candidates: ATTENTION_VARIANTS.filter((v) => variantWorthTiming(dev, v, d.D)),
    id: (v) => v.name,
    heuristic: pickAttentionVariant(dev, d.D),
    flops: attentionFlops(d, pass),
    job: () => {
      const q = filled(dev, [d.BH, d.L, d.D], 0.5), k = filled(dev, [d.BH, d.S, d.D], 0.25), v = filled(dev, [d.BH, d.S, d.D], 0.125);
      const o = { scale: 1 / Math.sqrt(d.D), causal };
      const fwd = pass === 'backward' ? attentionForward(q, k, v, { ...o, variant: pickAttentionVariant(dev, d.D) }) : null;
      const dOut = filled(dev, [d.BH, d.L, d.D], 0.0625);
      const kernelsOf = (variant: AttentionVariant) => {
        const c = (t: Tile) => configOf(variant, t, d.D);
        return pass === 'forward' ? [cached('attention forward', c(variant.forward), attentionForwardWgsl)] : [cached('attention dq', c(variant.dq), attentionDqWgsl), cached('attention dkv', c(variant.dkv), attentionDkvWgsl)];
      };
      return {
        run: (variant) => {
          if (fwd) {
            const g = attentionBackward(q, k, v, fwd.out, fwd.lse, dOut, { ...o, variant });
            for (const t of [g.dq, g.dk, g.dv]) t?.dispose();
          } else {
            const f = attentionForward(q, k, v, { ...o, variant });
            f.out.dispose();
            f.lse.dispose();
          }
        },
        prepare: async (variant) => {
          for (const kern of kernelsOf(variant)) await dev.compileAsync(kern);
        },
        dispose: () => {
          for (const t of [q, k, v, dOut, fwd?.out, fwd?.lse]) t?.dispose();
        },
      };
    },
  };
}

/**
 * Times every variant this device runs on one attention shape now and caches the winner (explicit warm-up). Returns
 * the cached winner without timing unless `force`.
 */
export async function tuneAttention(
  s: { pass: Pass; BH: number; L: number; S?: number; D: number; causal?: boolean },
  o: TuneOptions & { device?: Device } = {},
): Promise<TuneResult> {
  const dev = o.device ?? currentDevice();
  return tune(dev, attentionTunable(dev, s.pass, { BH: s.BH, L: s.L, S: s.S ?? s.L, D: s.D }, !!s.causal), o);
}

/** The variant to run: forced by the options, else the tuner's winner for this shape class (when known), else the heuristic. */
function variantFor(dev: Device, pass: Pass, d: Dims, o: AttentionKernelOptions): AttentionVariant {
  if (o.variant !== undefined || tuningMode() === 'off' || attentionFlops(d, pass) < TUNE_MIN_FLOPS) return resolveVariant(dev, o.variant, d.D);
  return pick(dev, attentionTunable(dev, pass, d, o.causal));
}

/** [blocks, BH] with BH split over y and z when it exceeds the per-dimension limit. */
function workgroups(maxWg: number, blocks: number, BH: number): [number, number, number] {
  if (BH <= maxWg) return [blocks, BH, 1];
  const z = Math.ceil(BH / maxWg);
  return [blocks, Math.ceil(BH / z), z];
}

const uniforms = (d: Dims, o: AttentionKernelOptions, v: AttentionVariant) => [d.L, d.S, d.BH, o.causal ? 1 : 0, f32bits(o.scale), f32bits(o.scale * Math.LOG2E), vec4Rows(v) ? d.D / 4 : d.D, 0];

/**
 * Forward: out [..., L, D] and lse [..., L] (natural log of Σ_j exp(score_ij)). Shapes are validated by the caller
 * (engine/attention.ts): q [..., L, D], k and v [..., S, D] with the same leading dims, S ≥ 1, D ≤ ATTENTION_MAX_D.
 */
export function attentionForward(q: DeviceArray, k: DeviceArray, v: DeviceArray, o: AttentionKernelOptions): { out: DeviceArray; lse: DeviceArray } {
  const d = dimsOf(q, k);
  if (d.D > ATTENTION_MAX_D) throw new ShapeError(`attention: head dim ${d.D} of q ${fmtShape(q.shape)} exceeds ${ATTENTION_MAX_D}; use more heads of a smaller dim`);
  const out = DeviceArray.alloc(q.shape, q.device);
  const lse = DeviceArray.alloc(q.shape.slice(0, -1), q.device);
  if (out.size === 0) return { out, lse };
  const dev = q.device;
  const variant = variantFor(dev, 'forward', d, o);
  const c = configOf(variant, variant.forward, d.D);
  dev.dispatch(cached('attention forward', c, attentionForwardWgsl), {
    buffers: [q.buffer, k.buffer, v.buffer, out.buffer, lse.buffer],
    uniforms: uniforms(d, o, variant),
    workgroups: workgroups(dev.limits.maxComputeWorkgroupsPerDimension, Math.ceil(d.L / (c.wg * c.own)), d.BH),
  });
  return { out, lse };
}

/**
 * Backward from the forward's out and lse and the incoming gradient dOut: dq, and dk, dv unless `keys` is false (no
 * key-side kernel then). Δ = rowsum(dOut ∘ out) is a temporary written by the dq kernel.
 */
export function attentionBackward(
  q: DeviceArray, k: DeviceArray, v: DeviceArray, out: DeviceArray, lse: DeviceArray, dOut: DeviceArray, o: AttentionKernelOptions & { keys?: boolean },
): { dq: DeviceArray; dk: DeviceArray | null; dv: DeviceArray | null } {
  const d = dimsOf(q, k);
  const dev = q.device;
  const keys = o.keys ?? true;
  const dq = DeviceArray.alloc(q.shape, dev);
  const dk = keys ? DeviceArray.alloc(k.shape, dev) : null, dv = keys ? DeviceArray.alloc(v.shape, dev) : null;
  if (d.BH === 0 || d.D === 0 || (d.L === 0 && !keys)) return { dq, dk, dv };
  const variant = variantFor(dev, 'backward', d, o);
  const maxWg = dev.limits.maxComputeWorkgroupsPerDimension;
  const u = uniforms(d, o, variant);
  const delta = DeviceArray.alloc(lse.shape, dev);
  const cq = configOf(variant, variant.dq, d.D);
  dev.dispatch(cached('attention dq', cq, attentionDqWgsl), {
    buffers: [q.buffer, k.buffer, v.buffer, out.buffer, dOut.buffer, lse.buffer, dq.buffer, delta.buffer],
    uniforms: u,
    workgroups: workgroups(maxWg, Math.ceil(d.L / (cq.wg * cq.own)), d.BH),
  });
  if (dk && dv) {
    // with L = 0 this only zeroes dK and dV
    const ckv = configOf(variant, variant.dkv, d.D);
    dev.dispatch(cached('attention dkv', ckv, attentionDkvWgsl), {
      buffers: [q.buffer, k.buffer, v.buffer, dOut.buffer, lse.buffer, delta.buffer, dk.buffer, dv.buffer],
      uniforms: u,
      workgroups: workgroups(maxWg, Math.ceil(d.S / (ckv.wg * ckv.own)), d.BH),
    });
  }
  delta.dispose();
  return { dq, dk, dv };
}
