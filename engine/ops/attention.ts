// engine/ops/attention.ts: scaled dot-product attention as one fused, differentiable op; matches
// torch.nn.functional.scaled_dot_product_attention(q, k, v, scale=…, is_causal=…) on [B, H, L, D] tensors.
// Forward and backward are the flash-style kernels of kernels/attention/: the only saved intermediate is the
// log-sum-exp per query row ([B, H, L]); no L×S matrix is ever stored.
import { ATTENTION_MAX_D, attentionBackward, attentionForward, type AttentionVariant } from '../../kernels/attention/dispatch';
import { ShapeError, ValueError, fmtShape } from '../../runtime/errors';
import { Tensor } from '../tensor';
import { apply, type OpDef } from './op';
import { checkInputs } from './validate';

export interface AttentionOptions {
  /** Multiplies q·kᵀ before the softmax; default 1/√D. */
  scale?: number;
  /** Lower-triangular mask: query i sees keys j ≤ i (torch's is_causal, top-left aligned when L ≠ S). */
  causal?: boolean;
  /** Force a kernel variant from ATTENTION_VARIANTS (tests, bench); default: the tuner's winner for the shape class when known, else chosen for the adapter. */
  variant?: AttentionVariant | string;
}

export interface AttentionAttrs {
  scale: number;
  causal: boolean;
  variant?: AttentionVariant | string;
}

export const ATTENTION_OPS = {
  // out = softmax(q·kᵀ·scale)·v, saving only the log-sum-exp per query row; the backward recomputes the scores
  attention: {
    inputs: ['q', 'k', 'v'], family: 'attention',
    shape: ([q]) => q,
    forward: ([q, k, v], a) => {
      const { out, lse } = attentionForward(q, k, v, a);
      return { out, saved: [lse] };
    },
    // dq always (one kernel); dk and dv together (a second kernel) when either is needed
    backward: (g, { inputs: [q, k, v], out, saved: [lse], attrs, need }) => {
      const { dq, dk, dv } = attentionBackward(q, k, v, out, lse, g, { ...attrs, keys: need[1] || need[2] });
      const wrap = (t: typeof dq | null, wanted: boolean) => {
        if (t && !wanted) t.dispose();
        return t && wanted ? Tensor.adopt(t) : null;
      };
      return [wrap(dq, need[0]), wrap(dk, need[1]), wrap(dv, need[2])];
    },
  } satisfies OpDef<AttentionAttrs>,
};

/**
 * out = softmax(q·kᵀ·scale (+ causal mask))·v over the last two dims, for q [B, H, L, D] and k, v [B, H, S, D]
 * (S = L for self-attention). Differentiable in q, k and v.
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  const op = 'attention';
  checkInputs(op, q, k, v);
  const shapes = `q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)}, v ${fmtShape(v.shape)}`;
  for (const [name, t] of [['q', q], ['k', k], ['v', v]] as const) {
    if (t.ndim !== 4) throw new ShapeError(`${op}: ${name} must be 4-D [B, H, L, D], got ${fmtShape(t.shape)} (${shapes}); add batch/head dims with reshape`);
  }
  const [B, H, L, D] = q.shape;
  const S = k.shape[2];
  if (k.shape[0] !== B || k.shape[1] !== H || k.shape[3] !== D) {
    throw new ShapeError(`${op}: k must be [${B}, ${H}, S, ${D}] to match q's batch, heads and head dim (${shapes})`);
  }
  if (v.shape.some((n, i) => n !== k.shape[i])) {
    throw new ShapeError(`${op}: v must have k's shape ${fmtShape(k.shape)} (${shapes}); a different value dim is not supported`);
  }
  if (D > ATTENTION_MAX_D) throw new ShapeError(`${op}: head dim ${D} exceeds ${ATTENTION_MAX_D} (${shapes}); use more heads of a smaller dim`);
  if (S === 0 && L > 0 && B * H * D > 0) throw new ShapeError(`${op}: k and v have no rows (${shapes}); a softmax over zero keys is undefined`);
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  if (!Number.isFinite(scale)) throw new ValueError(`${op}: scale must be a finite number, got ${scale}`);
  return apply(op, ATTENTION_OPS.attention, [q, k, v], { scale, causal: !!opts.causal, variant: opts.variant });
}
