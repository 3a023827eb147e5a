// models/metrics/toy.ts: metrics for 2-D samples: sliced Wasserstein-1 distance against reference samples, and mode
// statistics for mixture data sets (coverage, per-mode mass, high-quality fraction, total variation to uniform).
import { ValueError } from '../../engine/errors';
import { HostRng } from '../data/rng';

/**
 * Sliced W1: the mean over `projections` random unit directions of the 1-D Wasserstein-1 distance between the
 * projected sets (equal sizes: sorted differences; unequal: quantiles of the larger at the smaller's ranks).
 */
export function slicedWasserstein(a: Float32Array, b: Float32Array, opts: { projections?: number; seed?: number; dim?: number } = {}): number {
  const dim = opts.dim ?? 2;
  const P = opts.projections ?? 512;
  if (a.length % dim || b.length % dim || !a.length || !b.length) throw new ValueError(`slicedWasserstein: sample arrays must be non-empty [n, ${dim}] (got ${a.length} and ${b.length} values)`);
  const na = a.length / dim, nb = b.length / dim;
  const rng = new HostRng(opts.seed ?? 0);
  const pa = new Float64Array(na), pb = new Float64Array(nb);
  let total = 0;
  for (let p = 0; p < P; p++) {
    const dir = Array.from({ length: dim }, () => rng.normal());
    const norm = Math.hypot(...dir);
    for (let i = 0; i < na; i++) {
      let s = 0;
      for (let d = 0; d < dim; d++) s += a[i * dim + d] * dir[d];
      pa[i] = s / norm;
    }
    for (let i = 0; i < nb; i++) {
      let s = 0;
      for (let d = 0; d < dim; d++) s += b[i * dim + d] * dir[d];
      pb[i] = s / norm;
    }
    pa.sort();
    pb.sort();
    let w = 0;
    if (na === nb) for (let i = 0; i < na; i++) w += Math.abs(pa[i] - pb[i]);
    else {
      const [small, large] = na < nb ? [pa, pb] : [pb, pa];
      for (let i = 0; i < small.length; i++) w += Math.abs(small[i] - large[Math.min(large.length - 1, Math.floor(((i + 0.5) / small.length) * large.length))]);
    }
    total += w / Math.min(na, nb);
  }
  return total / P;
}

export interface ModeStats {
  /** Modes holding ≥ 20% of a fair share of the high-quality samples. */
  covered: number;
  total: number;
  /** Per mode: share of all samples whose nearest mode it is. */
  mass: number[];
  /** Fraction of samples within 3·std of their nearest mode. */
  hq: number;
  /** Total variation between the nearest-mode histogram and uniform. */
  tv: number;
}

export function modeStats(x: Float32Array, modes: { centers: [number, number][]; std: number }): ModeStats {
  const K = modes.centers.length, n = x.length / 2;
  const nearest = new Array<number>(K).fill(0), good = new Array<number>(K).fill(0);
  let hq = 0;
  for (let i = 0; i < n; i++) {
    let best = 0, bestD = Infinity;
    modes.centers.forEach(([cx, cy], k) => {
      const d = (x[2 * i] - cx) ** 2 + (x[2 * i + 1] - cy) ** 2;
      if (d < bestD) (bestD = d), (best = k);
    });
    nearest[best]++;
    if (Math.sqrt(bestD) <= 3 * modes.std) {
      good[best]++;
      hq++;
    }
  }
  const mass = nearest.map((c) => c / n);
  return {
    covered: good.filter((g) => g >= (0.2 * hq) / K && g > 0).length,
    total: K,
    mass,
    hq: hq / n,
    tv: 0.5 * mass.reduce((s, m) => s + Math.abs(m - 1 / K), 0),
  };
}
