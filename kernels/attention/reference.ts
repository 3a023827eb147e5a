// kernels/attention/reference.ts: plain-TS float64 scaled dot-product attention, forward (with the log-sum-exp the
// GPU saves) and backward; matches torch.nn.functional.scaled_dot_product_attention (is_causal: query i sees keys
// j ≤ i, top-left aligned when L ≠ S). Ground truth for test/kernels/attention.test.ts.
import type { HostTensor } from '../elementwise/reference';

export interface AttentionRefOptions {
  /** Multiplies q·kᵀ; default 1/√D. */
  scale?: number;
  causal?: boolean;
}

interface Dims {
  BH: number;
  L: number;
  S: number;
  D: number;
  lead: number[];
}

function dims(q: HostTensor, k: HostTensor): Dims {
  const D = q.shape[q.shape.length - 1];
  const L = q.shape[q.shape.length - 2];
  const S = k.shape[k.shape.length - 2];
  const lead = q.shape.slice(0, -2);
  return { BH: lead.reduce((a, b) => a * b, 1), L, S, D, lead };
}

/** Softmax probabilities of one (bh, i) row over keys, plus its log-sum-exp (natural log of Σ exp(score)). */
function row(q: HostTensor, k: HostTensor, d: Dims, bh: number, i: number, scale: number, causal: boolean): { p: Float64Array; lse: number } {
  const { S, D, L } = d;
  const s = new Float64Array(S);
  let m = -Infinity;
  for (let j = 0; j < S; j++) {
    if (causal && j > i) {
      s[j] = -Infinity;
      continue;
    }
    let acc = 0;
    for (let e = 0; e < D; e++) acc += q.data[(bh * L + i) * D + e] * k.data[(bh * S + j) * D + e];
    s[j] = acc * scale;
    m = Math.max(m, s[j]);
  }
  let sum = 0;
  for (let j = 0; j < S; j++) sum += s[j] === -Infinity ? 0 : Math.exp(s[j] - m);
  const p = s.map((x) => (x === -Infinity ? 0 : Math.exp(x - m) / sum));
  return { p, lse: m + Math.log(sum) };
}

/** out = softmax(q·kᵀ·scale (+ causal mask))·v for q [..., L, D], k and v [..., S, D]; lse [..., L]. */
export function attentionRef(q: HostTensor, k: HostTensor, v: HostTensor, o: AttentionRefOptions = {}): { out: HostTensor; lse: HostTensor } {
  const d = dims(q, k);
  const { BH, L, S, D } = d;
  const scale = o.scale ?? 1 / Math.sqrt(D);
  const out = new Float64Array(BH * L * D);
  const lse = new Float64Array(BH * L);
  for (let bh = 0; bh < BH; bh++) {
    for (let i = 0; i < L; i++) {
      const r = row(q, k, d, bh, i, scale, !!o.causal);
      lse[bh * L + i] = r.lse;
      for (let j = 0; j < S; j++) {
        if (r.p[j] === 0) continue;
        for (let e = 0; e < D; e++) out[(bh * L + i) * D + e] += r.p[j] * v.data[(bh * S + j) * D + e];
      }
    }
  }
  return { out: { data: out, shape: [...q.shape] }, lse: { data: lse, shape: [...d.lead, L] } };
}

/**
 * Gradients of attention given dOut: with P the softmax probabilities, dV = Pᵀ·dO, dP = dO·vᵀ,
 * dS = P ∘ (dP − rowsum(dP ∘ P)), dQ = dS·k·scale, dK = dSᵀ·q·scale.
 */
export function attentionBackwardRef(q: HostTensor, k: HostTensor, v: HostTensor, dOut: HostTensor, o: AttentionRefOptions = {}): { dq: HostTensor; dk: HostTensor; dv: HostTensor } {
  const d = dims(q, k);
  const { BH, L, S, D } = d;
  const scale = o.scale ?? 1 / Math.sqrt(D);
  const dq = new Float64Array(BH * L * D), dk = new Float64Array(BH * S * D), dv = new Float64Array(BH * S * D);
  for (let bh = 0; bh < BH; bh++) {
    for (let i = 0; i < L; i++) {
      const { p } = row(q, k, d, bh, i, scale, !!o.causal);
      const qi = (bh * L + i) * D;
      const dp = new Float64Array(S);
      let rowDot = 0;
      for (let j = 0; j < S; j++) {
        let acc = 0;
        for (let e = 0; e < D; e++) acc += dOut.data[qi + e] * v.data[(bh * S + j) * D + e];
        dp[j] = acc;
        rowDot += acc * p[j];
      }
      for (let j = 0; j < S; j++) {
        const kj = (bh * S + j) * D;
        const ds = p[j] * (dp[j] - rowDot) * scale;
        for (let e = 0; e < D; e++) {
          dv[kj + e] += p[j] * dOut.data[qi + e];
          dq[qi + e] += ds * k.data[kj + e];
          dk[kj + e] += ds * q.data[qi + e];
        }
      }
    }
  }
  return { dq: { data: dq, shape: [...q.shape] }, dk: { data: dk, shape: [...k.shape] }, dv: { data: dv, shape: [...v.shape] } };
}
