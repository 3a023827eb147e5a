// kernels/attention/dispatch.ts: fused scaled dot-product attention on the GPU (torch.nn.functional.
// scaled_dot_product_attention on [..., L, D] queries and [..., S, D] keys/values): a flash-style forward that saves
// only the log-sum-exp per query row, and a FlashAttention-2 backward in two kernels (dQ and Δ over key tiles, then
// dK/dV over query tiles) that recomputes the scores, so no L×S matrix and no atomics.
import { f32bits, type Kernel } from '../../engine/device';
import { ShapeError, fmtShape } from '../../engine/errors';
import { Tensor } from '../../engine/tensor';
import {
  attentionDkvWgsl,
  attentionDqWgsl,
  attentionForwardWgsl,
  type AttentionDkvConfig,
  type AttentionDqConfig,
  type AttentionForwardConfig,
} from './attention.wgsl';

/** Largest head dim: the row arrays of one invocation (4·D floats per row in the key-side kernel) must stay small. */
export const ATTENTION_MAX_D = 128;

/** One tile configuration for all three kernels; D is filled in per call. */
export interface AttentionVariant {
  name: string;
  forward: Omit<AttentionForwardConfig, 'd' | 'unroll'>;
  dq: Omit<AttentionDqConfig, 'd' | 'unroll'>;
  dkv: Omit<AttentionDkvConfig, 'd' | 'unroll'>;
}

/** The variants the tests and the bench run; `pickAttentionVariant` chooses among them. */
export const ATTENTION_VARIANTS: readonly AttentionVariant[] = [
  { name: 'rows1', forward: { rows: 1, keys: 8, wg: 64 }, dq: { rows: 1, keys: 8, wg: 64 }, dkv: { cols: 1, rows: 8, wg: 64 } },
  { name: 'rows2', forward: { rows: 2, keys: 8, wg: 32 }, dq: { rows: 2, keys: 4, wg: 32 }, dkv: { cols: 2, rows: 4, wg: 32 } },
];
export type AttentionVariantName = string;

export interface AttentionKernelOptions {
  scale: number;
  causal: boolean;
  /** A variant from ATTENTION_VARIANTS (or its name); default: pickAttentionVariant. */
  variant?: AttentionVariant | AttentionVariantName;
  /** Emit the loops over the head dim unrolled (default: unrolled when D ≤ UNROLL_MAX_D). */
  unroll?: boolean;
}

const UNROLL_MAX_D = 64;

const kernels = new Map<string, Kernel>();
function cached<C>(label: string, config: C, gen: (c: C) => string): Kernel {
  const key = `${label} ${JSON.stringify(config)}`;
  let k = kernels.get(key);
  if (!k) kernels.set(key, (k = { code: gen(config), label: key }));
  return k;
}

export function pickAttentionVariant(L: number, _S: number, _D: number): AttentionVariant {
  return L >= 64 ? ATTENTION_VARIANTS[1] : ATTENTION_VARIANTS[0];
}

function resolveVariant(v: AttentionVariant | AttentionVariantName | undefined, L: number, S: number, D: number): AttentionVariant {
  if (v === undefined) return pickAttentionVariant(L, S, D);
  if (typeof v !== 'string') return v;
  const found = ATTENTION_VARIANTS.find((x) => x.name === v);
  if (!found) throw new ShapeError(`attention: unknown variant "${v}"; known: ${ATTENTION_VARIANTS.map((x) => x.name).join(', ')}`);
  return found;
}

interface Dims {
  BH: number;
  L: number;
  S: number;
  D: number;
}
const dimsOf = (q: Tensor, k: Tensor): Dims => {
  const D = q.shape[q.ndim - 1], L = q.shape[q.ndim - 2], S = k.shape[k.ndim - 2];
  return { BH: q.shape.slice(0, -2).reduce((a, b) => a * b, 1), L, S, D };
};

/** [blocks, BH] with BH split over y and z when it exceeds the per-dimension limit. */
function workgroups(maxWg: number, blocks: number, BH: number): [number, number, number] {
  if (BH <= maxWg) return [blocks, BH, 1];
  const z = Math.ceil(BH / maxWg);
  return [blocks, Math.ceil(BH / z), z];
}

const uniforms = (d: Dims, o: AttentionKernelOptions) => [d.L, d.S, d.BH, o.causal ? 1 : 0, f32bits(o.scale), f32bits(o.scale * Math.LOG2E), 0, 0];

/**
 * Forward: out [..., L, D] and lse [..., L] (natural log of Σ_j exp(score_ij)). Shapes are validated by the caller
 * (engine/attention.ts): q [..., L, D], k and v [..., S, D] with the same leading dims, S ≥ 1, D ≤ ATTENTION_MAX_D.
 */
export function attentionForward(q: Tensor, k: Tensor, v: Tensor, o: AttentionKernelOptions): { out: Tensor; lse: Tensor } {
  const d = dimsOf(q, k);
  const out = Tensor.empty(q.shape, q.device);
  const lse = Tensor.empty(q.shape.slice(0, -1), q.device);
  if (out.size === 0) return { out, lse };
  if (d.D > ATTENTION_MAX_D) throw new ShapeError(`attention: head dim ${d.D} of q ${fmtShape(q.shape)} exceeds ${ATTENTION_MAX_D}; split heads further`);
  const variant = resolveVariant(o.variant, d.L, d.S, d.D);
  const unroll = o.unroll ?? d.D <= UNROLL_MAX_D;
  const c: AttentionForwardConfig = { ...variant.forward, d: d.D, unroll };
  const dev = q.device;
  dev.dispatch(cached('attention forward', c, attentionForwardWgsl), {
    buffers: [q.buffer, k.buffer, v.buffer, out.buffer, lse.buffer],
    uniforms: uniforms(d, o),
    workgroups: workgroups(dev.limits.maxComputeWorkgroupsPerDimension, Math.ceil(d.L / (c.wg * c.rows)), d.BH),
  });
  return { out, lse };
}

/** Backward from the forward's out and lse and the incoming gradient dOut: dq, dk, dv (Δ is a temporary). */
export function attentionBackward(q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, dOut: Tensor, o: AttentionKernelOptions): { dq: Tensor; dk: Tensor; dv: Tensor } {
  const d = dimsOf(q, k);
  const dev = q.device;
  const dq = Tensor.empty(q.shape, dev), dk = Tensor.empty(k.shape, dev), dv = Tensor.empty(v.shape, dev);
  if (dq.size === 0 && dk.size === 0) return { dq, dk, dv };
  const variant = resolveVariant(o.variant, d.L, d.S, d.D);
  const unroll = o.unroll ?? d.D <= UNROLL_MAX_D;
  const delta = Tensor.empty(lse.shape, dev);
  const maxWg = dev.limits.maxComputeWorkgroupsPerDimension;
  const u = uniforms(d, o);
  const cq: AttentionDqConfig = { ...variant.dq, d: d.D, unroll };
  // L = 0 still needs the key-side kernel to zero dK/dV
  dev.dispatch(cached('attention dq', cq, attentionDqWgsl), {
    buffers: [q.buffer, k.buffer, v.buffer, out.buffer, dOut.buffer, lse.buffer, dq.buffer, delta.buffer],
    uniforms: u,
    workgroups: workgroups(maxWg, Math.ceil(d.L / (cq.wg * cq.rows)), d.BH),
  });
  const ckv: AttentionDkvConfig = { ...variant.dkv, d: d.D, unroll };
  dev.dispatch(cached('attention dkv', ckv, attentionDkvWgsl), {
    buffers: [q.buffer, k.buffer, v.buffer, dOut.buffer, lse.buffer, delta.buffer, dk.buffer, dv.buffer],
    uniforms: u,
    workgroups: workgroups(maxWg, Math.ceil(d.S / (ckv.wg * ckv.cols)), d.BH),
  });
  delta.dispose();
  return { dq, dk, dv };
}
