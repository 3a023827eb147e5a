// kernels/norm/reference.ts: plain float64 group norm and layer norm (torch.nn.functional.group_norm / layer_norm,
// biased variance, two-pass), with the optional fused SiLU, and their analytic backward. The tests' ground truth.
import { sizeOf, type HostTensor } from '../elementwise/reference';

export interface GroupNormRefResult {
  y: HostTensor;
  /** [N, G] means and reciprocal standard deviations. */
  mean: HostTensor;
  rstd: HostTensor;
}

/** Index of channel ch of sample n in γ or β: [C] per channel, or [N, C] per sample (adaptive group norm). */
const affineIndex = (t: HostTensor, n: number, C: number, ch: number) => (t.shape.length === 2 ? n * C + ch : ch);

/** groupNorm of x [N, C, ...] with numGroups groups; γ, β of shape [C] or [N, C]; y = silu(…) when `silu`. */
export function groupNormFullRef(x: HostTensor, numGroups: number, weight?: HostTensor, bias?: HostTensor, eps = 1e-5, silu = false): GroupNormRefResult {
  const [N, C] = x.shape;
  const S = sizeOf(x.shape.slice(2));
  const Cg = C / numGroups, M = Cg * S;
  const y = new Float64Array(x.data.length);
  const mean = new Float64Array(N * numGroups), rstd = new Float64Array(N * numGroups);
  for (let r = 0; r < N * numGroups; r++) {
    const base = r * M, g = r % numGroups;
    let m = 0;
    for (let j = 0; j < M; j++) m += x.data[base + j];
    m /= M;
    let v = 0;
    for (let j = 0; j < M; j++) v += (x.data[base + j] - m) ** 2;
    const rs = 1 / Math.sqrt(v / M + eps);
    mean[r] = m;
    rstd[r] = rs;
    for (let j = 0; j < M; j++) {
      const ch = g * Cg + Math.floor(j / S);
      const n = Math.floor(r / numGroups);
      const z = (x.data[base + j] - m) * rs * (weight ? weight.data[affineIndex(weight, n, C, ch)] : 1) + (bias ? bias.data[affineIndex(bias, n, C, ch)] : 0);
      y[base + j] = silu ? z / (1 + Math.exp(-z)) : z;
    }
  }
  return { y: { data: y, shape: [...x.shape] }, mean: { data: mean, shape: [N, numGroups] }, rstd: { data: rstd, shape: [N, numGroups] } };
}

export const groupNormRef = (x: HostTensor, numGroups: number, weight?: HostTensor, bias?: HostTensor, eps = 1e-5, silu = false): HostTensor =>
  groupNormFullRef(x, numGroups, weight, bias, eps, silu).y;

/** layerNorm over the trailing dims `normalizedShape`; γ, β of that shape. */
export function layerNormRef(x: HostTensor, normalizedShape: readonly number[], weight?: HostTensor, bias?: HostTensor, eps = 1e-5, silu = false): HostTensor {
  const L = sizeOf(normalizedShape);
  const rows = L === 0 ? 0 : x.data.length / L;
  // layer norm is group norm of [rows, L] with one group (γ, β per element of the row)
  const flat = groupNormRef({ data: x.data, shape: [rows, L] }, 1, weight && { data: weight.data, shape: [L] }, bias && { data: bias.data, shape: [L] }, eps, silu);
  return { data: flat.data, shape: [...x.shape] };
}

/** Analytic backward of groupNormFullRef for an incoming gradient dy: dx, dγ, dβ. */
export function groupNormBackwardRef(dy: HostTensor, x: HostTensor, numGroups: number, weight?: HostTensor, bias?: HostTensor, eps = 1e-5, silu = false) {
  const [N, C] = x.shape;
  const S = sizeOf(x.shape.slice(2));
  const Cg = C / numGroups, M = Cg * S;
  const { mean, rstd } = groupNormFullRef(x, numGroups, weight, bias, eps, silu);
  const dx = new Float64Array(x.data.length), dw = new Float64Array(weight?.data.length ?? C), db = new Float64Array(bias?.data.length ?? C);
  const dz = new Float64Array(M), xh = new Float64Array(M);
  for (let r = 0; r < N * numGroups; r++) {
    const base = r * M, g = r % numGroups, n = Math.floor(r / numGroups);
    let A = 0, B = 0;
    for (let j = 0; j < M; j++) {
      const ch = g * Cg + Math.floor(j / S);
      const wi = weight ? affineIndex(weight, n, C, ch) : ch, bi = bias ? affineIndex(bias, n, C, ch) : ch;
      const w = weight ? weight.data[wi] : 1, b = bias ? bias.data[bi] : 0;
      xh[j] = (x.data[base + j] - mean.data[r]) * rstd.data[r];
      let d = dy.data[base + j];
      if (silu) {
        const z = xh[j] * w + b, sg = 1 / (1 + Math.exp(-z));
        d *= sg * (1 + z * (1 - sg));
      }
      dz[j] = d;
      dw[wi] += d * xh[j];
      db[bi] += d;
      A += w * d;
      B += w * d * xh[j];
    }
    for (let j = 0; j < M; j++) {
      const ch = g * Cg + Math.floor(j / S);
      const w = weight ? weight.data[affineIndex(weight, n, C, ch)] : 1;
      dx[base + j] = rstd.data[r] * (w * dz[j] - A / M - (xh[j] * B) / M);
    }
  }
  return { dx: { data: dx, shape: [...x.shape] }, dw: { data: dw, shape: weight ? [...weight.shape] : [C] }, db: { data: db, shape: bias ? [...bias.shape] : [C] } };
}
