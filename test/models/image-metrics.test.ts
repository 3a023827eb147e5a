// test/models/image-metrics.test.ts: the image metrics against closed forms and constructed inputs: Fréchet distance
// (exact 2×2 formula, rotated block-diagonal cases, sampled Gaussians), the Jacobi eigensolver, k-NN precision/recall,
// and the class histogram; then the metrics of real digits and of noise with the zoo classifier.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadClassifier } from '../../models/classifier';
import { mnist } from '../../models/data/mnist';
import { classHistogram, frechetDistance, gaussianStats, imageMetrics, mnistDataFloor, mnistReference, precisionRecall, symmetricEigen, type GaussianStats } from '../../models/metrics/images';
import { rng } from '../helpers';

type Mat = number[][];
const matmul = (a: Mat, b: Mat): Mat => a.map((r) => b[0].map((_, j) => r.reduce((s, v, k) => s + v * b[k][j], 0)));
const transpose = (a: Mat): Mat => a[0].map((_, j) => a.map((r) => r[j]));
const trace = (a: Mat) => a.reduce((s, r, i) => s + r[i], 0);
const stats = (mean: number[], cov: Mat): GaussianStats => ({ dim: mean.length, n: 1e9, mean: Float64Array.from(mean), cov: Float64Array.from(cov.flat()) });

/** tr (Σ1Σ2)^½ for 2×2 PSD matrices: the eigenvalues a, b of Σ1Σ2 give (√a + √b)² = tr + 2√det. */
function fd2x2(m1: number[], s1: Mat, m2: number[], s2: Mat): number {
  const p = matmul(s1, s2), det = p[0][0] * p[1][1] - p[0][1] * p[1][0];
  const trSqrt = Math.sqrt(trace(p) + 2 * Math.sqrt(det));
  return (m1[0] - m2[0]) ** 2 + (m1[1] - m2[1]) ** 2 + trace(s1) + trace(s2) - 2 * trSqrt;
}

/** A random orthogonal matrix (Gram–Schmidt on Gaussian columns). */
function orthogonal(n: number, seed: number): Mat {
  const r = rng(seed), q: number[][] = [];
  for (let i = 0; i < n; i++) {
    let v = Array.from({ length: n }, () => r.normal());
    for (const u of q) {
      const d = v.reduce((s, x, k) => s + x * u[k], 0);
      v = v.map((x, k) => x - d * u[k]);
    }
    const norm = Math.hypot(...v);
    q.push(v.map((x) => x / norm));
  }
  return q;
}

/** n samples of N(mean, L·Lᵀ) as [n, dim]. */
function sampleGaussian(n: number, mean: number[], L: Mat, seed: number): Float64Array {
  const r = rng(seed), d = mean.length, out = new Float64Array(n * d), z = new Array<number>(d);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < d; k++) z[k] = r.normal();
    for (let a = 0; a < d; a++) out[i * d + a] = mean[a] + L[a].reduce((s, l, k) => s + l * z[k], 0);
  }
  return out;
}

const S1: Mat = [[2, 0.6], [0.6, 0.5]], S2: Mat = [[0.7, -0.3], [-0.3, 1.3]]; // non-commuting

describe('symmetricEigen', () => {
  it('reconstructs a random symmetric 37×37 matrix with orthonormal eigenvectors', () => {
    const n = 37, r = rng(3), A = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = i; j < n; j++) A[i * n + j] = A[j * n + i] = r.normal();
    const { values, vectors: V } = symmetricEigen(A, n);
    let worst = 0, worstOrtho = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0, o = 0;
        for (let k = 0; k < n; k++) (s += V[i * n + k] * values[k] * V[j * n + k]), (o += V[k * n + i] * V[k * n + j]);
        worst = Math.max(worst, Math.abs(s - A[i * n + j]));
        worstOrtho = Math.max(worstOrtho, Math.abs(o - (i === j ? 1 : 0)));
      }
    }
    expect(worst).toBeLessThan(1e-10);
    expect(worstOrtho).toBeLessThan(1e-10);
  });
  it('finds the eigenvalues of a known matrix (diag(5, −1, 2, 2) rotated)', () => {
    const Q = orthogonal(4, 9), D = [5, -1, 2, 2];
    const A = matmul(matmul(Q, D.map((d, i) => D.map((_, j) => (i === j ? d : 0)))), transpose(Q));
    const got = [...symmetricEigen(Float64Array.from(A.flat()), 4).values].sort((a, b) => a - b);
    [-1, 2, 2, 5].forEach((v, i) => expect(got[i]).toBeCloseTo(v, 10));
  });
});

describe('frechetDistance', () => {
  it('matches the closed 2×2 form for non-commuting covariances', () => {
    const m1 = [0.3, -1], m2 = [1.1, 0.4];
    const want = fd2x2(m1, S1, m2, S2);
    expect(frechetDistance(stats(m1, S1), stats(m2, S2))).toBeCloseTo(want, 10);
    expect(want).toBeGreaterThan(2); // a non-trivial case
  });
  it('matches the closed form on rotated block-diagonal 6-D Gaussians (three 2×2 blocks, shared random rotation)', () => {
    const blocks1 = [S1, [[1, 0.2], [0.2, 0.3]], [[0.4, 0], [0, 3]]], blocks2 = [S2, [[0.5, -0.4], [-0.4, 0.9]], [[2, 0.1], [0.1, 0.2]]];
    const m1 = [0, 1, 2, 3, 4, 5], m2 = [0.5, 1, 1.5, 3, 4, 6];
    const blockDiag = (bs: Mat[]): Mat => Array.from({ length: 6 }, (_, i) => Array.from({ length: 6 }, (_, j) => (Math.floor(i / 2) === Math.floor(j / 2) ? bs[Math.floor(i / 2)][i % 2][j % 2] : 0)));
    const want = [0, 1, 2].reduce((s, b) => s + fd2x2(m1.slice(2 * b, 2 * b + 2), blocks1[b], m2.slice(2 * b, 2 * b + 2), blocks2[b]), 0);
    const Q = orthogonal(6, 5), rot = (m: Mat) => matmul(matmul(Q, m), transpose(Q)), rotv = (v: number[]) => Q.map((r) => r.reduce((s, q, k) => s + q * v[k], 0));
    const got = frechetDistance(stats(rotv(m1), rot(blockDiag(blocks1))), stats(rotv(m2), rot(blockDiag(blocks2))));
    expect(got).toBeCloseTo(want, 9);
  });
  it('is 0 for identical sets, symmetric, and ‖δ‖² for a pure shift (128-D features)', () => {
    const r = rng(11), n = 300, d = 128, x = new Float32Array(n * d);
    for (let i = 0; i < x.length; i++) x[i] = r.normal() * (1 + (i % d) / 64);
    const sx = gaussianStats(x, d);
    expect(frechetDistance(sx, sx) / trace2(sx)).toBeLessThan(1e-9);
    const y = x.map((v, i) => v + (i % d === 3 ? 0.5 : 0) + (i % d === 100 ? -0.25 : 0));
    expect(frechetDistance(x, y, d)).toBeCloseTo(0.25 + 0.0625, 6);
    const z = new Float32Array(200 * d).map(() => r.normal());
    expect(frechetDistance(x, z, d)).toBeCloseTo(frechetDistance(z, x, d), 7);
  });
  it('estimates the closed form from 40,000 samples of two 2-D Gaussians', () => {
    const chol = (s: Mat): Mat => {
      const l00 = Math.sqrt(s[0][0]), l10 = s[1][0] / l00;
      return [[l00, 0], [l10, Math.sqrt(s[1][1] - l10 * l10)]];
    };
    const m1 = [0, 0], m2 = [1, -0.5];
    const a = sampleGaussian(40_000, m1, chol(S1), 1), b = sampleGaussian(40_000, m2, chol(S2), 2);
    const want = fd2x2(m1, S1, m2, S2);
    expect(Math.abs(frechetDistance(a, b, 2) - want)).toBeLessThan(0.03 * want);
    // and the wrong answer is far: the same sets with the covariance term dropped
    expect(Math.abs(want - 1.25)).toBeGreaterThan(0.5);
  });
  it('rejects ragged features', () => {
    expect(() => frechetDistance(new Float32Array(10), new Float32Array(12), 4)).toThrow(/whole number of rows/);
  });
});

const trace2 = (s: GaussianStats) => Array.from({ length: s.dim }, (_, i) => s.cov[i * s.dim + i]).reduce((a, b) => a + b, 0);

describe('precisionRecall', () => {
  const gauss = (n: number, d: number, seed: number, shift = 0) => {
    const r = rng(seed);
    return Float64Array.from({ length: n * d }, (_, i) => r.normal() + (i % d === 0 ? shift : 0));
  };
  it('is 1/1 for the same set and drops as the sets move apart', () => {
    const a = gauss(500, 8, 1);
    expect(precisionRecall(a, a, 8)).toMatchObject({ precision: 1, recall: 1, k: 3 });
    const fresh = precisionRecall(a, gauss(500, 8, 2), 8);
    expect(fresh.precision).toBeGreaterThan(0.85);
    expect(fresh.recall).toBeGreaterThan(0.85);
    const shifted = [1.5, 3, 6].map((s) => precisionRecall(a, gauss(500, 8, 3, s), 8)); // mean moved by s std
    for (const key of ['precision', 'recall'] as const) {
      [fresh, ...shifted].slice(1).forEach((p, i) => expect(p[key]).toBeLessThan([fresh, ...shifted][i][key] - 0.05));
      expect(shifted[1][key]).toBeLessThan(0.55);
      expect(shifted[2][key]).toBeLessThan(0.04);
    }
  });
  it('tells a collapsed generator (one of two modes) by recall, not precision', () => {
    const d = 4, n = 600, r = rng(7);
    const real = Float64Array.from({ length: n * d }, (_, i) => r.normal() * 0.3 + (Math.floor(i / d) % 2 ? 5 : -5));
    const fake = Float64Array.from({ length: n * d }, () => r.normal() * 0.3 - 5);
    const pr = precisionRecall(real, fake, d);
    expect(pr.precision).toBeGreaterThan(0.9);
    expect(pr.recall).toBeGreaterThan(0.4);
    expect(pr.recall).toBeLessThan(0.55);
  });
  it('uses at most maxPoints of each set', () => {
    const pr = precisionRecall(gauss(50, 3, 1), gauss(40, 3, 2), 3, { maxPoints: 30, k: 5 });
    expect(pr).toMatchObject({ nReal: 30, nFake: 30, k: 5 });
  });
});

describe('classHistogram', () => {
  const logitsFor = (classes: number[], peak = 10) => {
    const out = new Float32Array(classes.length * 10);
    classes.forEach((c, i) => (out[i * 10 + c] = peak));
    return out;
  };
  it('two collapsed classes: shares, modes, TV 0.8, KL ln 5, max-softmax', () => {
    const h = classHistogram(logitsFor([...new Array(37).fill(3), ...new Array(37).fill(8)]));
    expect(h.n).toBe(74);
    expect(h.counts).toEqual([0, 0, 0, 37, 0, 0, 0, 0, 37, 0]);
    expect(h.modesCovered).toBe(2);
    expect(h.tv).toBeCloseTo(0.8, 12);
    expect(h.kl).toBeCloseTo(Math.log(5), 12);
    expect(h.meanMaxProb).toBeCloseTo(1 / (1 + 9 * Math.exp(-10)), 6);
  });
  it('uniform predictions: 10 modes, TV 0, KL 0; probabilities are detected as such', () => {
    const classes = Array.from({ length: 130 }, (_, i) => i % 10);
    const h = classHistogram(logitsFor(classes, 2));
    expect(h).toMatchObject({ modesCovered: 10 });
    expect(h.tv).toBeCloseTo(0, 12);
    expect(h.kl).toBeCloseTo(0, 12);
    const probs = new Float32Array(130 * 10).map((_, i) => (i % 10 === classes[Math.floor(i / 10)] ? 0.55 : 0.05));
    expect(classHistogram(probs).meanMaxProb).toBeCloseTo(0.55, 6);
    expect(classHistogram(probs, 10, { input: 'logits' }).meanMaxProb).toBeCloseTo(1 / (1 + 9 * Math.exp(-0.5)), 6);
  });
  it('counts a class at exactly the 5% threshold and not one just below', () => {
    const classes = [...new Array(5).fill(1), ...new Array(4).fill(2), ...new Array(91).fill(0)];
    expect(classHistogram(logitsFor(classes)).modesCovered).toBe(2);
  });
});

describe('image metrics with the zoo classifier', () => {
  it('the data floor covers all classes with high precision/recall; noise and a one-class set are far from it', async () => {
    const { model } = await loadClassifier(new Uint8Array(readFileSync('zoo/mnist16-classifier.safetensors')));
    const ref = await mnistReference(model);
    expect(ref.n).toBe(2000);
    const floor = await mnistDataFloor(model, ref, { n: 1000, seed: 1 });
    expect(floor.histogram.modesCovered).toBe(10);
    expect(floor.precision).toBeGreaterThan(0.7);
    expect(floor.recall).toBeGreaterThan(0.7);
    const r = rng(5);
    const noise = await imageMetrics(new Float32Array(300 * 256).map(() => r.uniform(-1, 1)), model, ref);
    expect(noise.fd).toBeGreaterThan(20 * floor.fd);
    // k-NN precision is generous to outliers (a few odd real digits have wide balls; 0.25 measured), recall is not
    expect(noise.precision).toBeLessThan(floor.precision - 0.4);
    expect(noise.recall).toBeLessThan(0.02);
    // 300 train-split sevens, asked for as sevens: right class, low recall, few modes
    const train = mnist({ size: 16, split: 'train' });
    const start = train.classCounts.slice(0, 7).reduce((s, c) => s + c, 0);
    const sevens = await imageMetrics(train.images.slice(start * 256, (start + 300) * 256), model, ref, { labels: new Int32Array(300).fill(7) });
    expect(sevens.classAccuracy).toBeGreaterThan(0.97);
    expect(sevens.histogram.modesCovered).toBe(1);
    expect(sevens.recall).toBeLessThan(0.3);
    expect(sevens.fd).toBeGreaterThan(5 * floor.fd);
    model.dispose();
  });
});
