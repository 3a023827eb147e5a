// models/metrics/images.ts: image metrics in the feature space of the zoo's MNIST classifier (DMD-SPEC §7.3, §9 step 5):
// Fréchet distance between Gaussian fits (the FID formula, Heusel et al. 2017), precision/recall on k-NN manifolds
// (Kynkäänniemi et al. 2019), and the class histogram of the classifier's predictions (modes covered, TV and KL to
// uniform, mean max-softmax). All on the host in float64; `imageMetrics` ties them to a classifier and a reference set.
import { ShapeError, ValueError } from '../../engine/errors';
import { classify, type MNISTClassifier } from '../classifier';
import { gatherImages, mnist, type MnistSize } from '../data/mnist';
import { HostRng } from '../data/rng';

type Feats = Float32Array | Float64Array;

export interface GaussianStats {
  dim: number;
  n: number;
  mean: Float64Array; // [dim]
  cov: Float64Array; // [dim, dim], unbiased (n − 1), like numpy.cov
}

function rowsOf(op: string, x: Feats, dim: number, min = 1): number {
  if (!Number.isInteger(dim) || dim <= 0) throw new ValueError(`${op}: dim must be a positive integer, got ${dim}`);
  if (x.length % dim !== 0) throw new ShapeError(`${op}: ${x.length} values are not a whole number of rows of ${dim}`);
  const n = x.length / dim;
  if (n < min) throw new ValueError(`${op}: needs at least ${min} rows, got ${n}`);
  return n;
}

/** Mean and covariance of features [n, dim]. */
export function gaussianStats(x: Feats, dim: number): GaussianStats {
  const n = rowsOf('gaussianStats', x, dim, 2);
  const mean = new Float64Array(dim), cov = new Float64Array(dim * dim), c = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) mean[d] += x[i * dim + d];
  for (let d = 0; d < dim; d++) mean[d] /= n;
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < dim; d++) c[d] = x[i * dim + d] - mean[d];
    for (let a = 0; a < dim; a++) {
      const ca = c[a];
      if (ca === 0) continue;
      for (let b = a; b < dim; b++) cov[a * dim + b] += ca * c[b];
    }
  }
  for (let a = 0; a < dim; a++) for (let b = a; b < dim; b++) cov[b * dim + a] = cov[a * dim + b] /= n - 1;
  return { dim, n, mean, cov };
}

/**
 * Eigen-decomposition of a symmetric matrix [n, n] by cyclic Jacobi rotations: A = V·diag(values)·Vᵀ, eigenvectors
 * in the columns of V (row-major [n, n]). Converges quadratically; sweeps stop when the off-diagonal mass is ~0.
 */
export function symmetricEigen(matrix: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  if (matrix.length !== n * n) throw new ShapeError(`symmetricEigen: ${matrix.length} values for a ${n}×${n} matrix`);
  const a = Float64Array.from(matrix), v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let scale = 0;
  for (let i = 0; i < n * n; i++) scale += a[i] * a[i];
  const tiny = 1e-14 * Math.sqrt(scale);
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] ** 2;
    if (off <= 1e-22 * scale) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (Math.abs(apq) <= tiny) continue; // leaves < n²·1e-28·‖A‖² off the diagonal: under the stop test
        // rotation angle that zeroes a[p][q] (Numerical Recipes §11.1; t = tan θ, the smaller root)
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < n; k++) {
          // columns p, q
          const akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          // rows p, q
          const apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p], vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = a[i * n + i];
  return { values, vectors: v };
}

/** C = A·B for [n, n] matrices. */
function matmulSquare(A: Float64Array, B: Float64Array, n: number): Float64Array {
  const C = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = A[i * n + k];
      if (aik === 0) continue;
      for (let j = 0; j < n; j++) C[i * n + j] += aik * B[k * n + j];
    }
  }
  return C;
}

/**
 * Fréchet distance between N(μ1, Σ1) and N(μ2, Σ2): ‖μ1 − μ2‖² + tr Σ1 + tr Σ2 − 2·tr (Σ1^½ Σ2 Σ1^½)^½.
 * tr (Σ1Σ2)^½ is computed as the sum of square roots of the eigenvalues of the symmetric PSD Σ1^½ Σ2 Σ1^½ (negative
 * round-off eigenvalues count as 0). Takes features [n, dim] or precomputed stats.
 */
export function frechetDistance(a: Feats | GaussianStats, b: Feats | GaussianStats, dim?: number): number {
  const sa = 'cov' in a ? a : gaussianStats(a, need(dim)), sb = 'cov' in b ? b : gaussianStats(b, need(dim));
  if (sa.dim !== sb.dim) throw new ShapeError(`frechetDistance: feature dims differ (${sa.dim} vs ${sb.dim})`);
  const n = sa.dim;
  let meanTerm = 0, trA = 0, trB = 0;
  for (let d = 0; d < n; d++) {
    meanTerm += (sa.mean[d] - sb.mean[d]) ** 2;
    trA += sa.cov[d * n + d];
    trB += sb.cov[d * n + d];
  }
  const { values, vectors: V } = symmetricEigen(sa.cov, n);
  const root = new Float64Array(n * n); // Σ1^½ = V·diag(√λ)·Vᵀ
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += V[i * n + k] * Math.sqrt(Math.max(values[k], 0)) * V[j * n + k];
      root[i * n + j] = root[j * n + i] = s;
    }
  }
  const M = matmulSquare(matmulSquare(root, sb.cov, n), root, n);
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) M[i * n + j] = M[j * n + i] = 0.5 * (M[i * n + j] + M[j * n + i]);
  let trSqrt = 0;
  for (const l of symmetricEigen(M, n).values) trSqrt += Math.sqrt(Math.max(l, 0));
  return Math.max(0, meanTerm + trA + trB - 2 * trSqrt);
}

function need(dim: number | undefined): number {
  if (dim === undefined) throw new ValueError('frechetDistance: pass dim with raw feature arrays');
  return dim;
}

/** Squared distances between the rows of x [nx, dim] and y [ny, dim], row-major [nx, ny]. */
function squaredDistances(x: Float64Array, nx: number, y: Float64Array, ny: number, dim: number): Float64Array {
  const out = new Float64Array(nx * ny), sx = norms(x, nx, dim), sy = norms(y, ny, dim);
  for (let i = 0; i < nx; i++) {
    const xo = i * dim;
    for (let j = 0; j < ny; j++) {
      const yo = j * dim;
      let d0 = 0, d1 = 0, d2 = 0, d3 = 0, d = 0; // four accumulators: ~2× faster in V8
      for (; d + 3 < dim; d += 4) {
        d0 += x[xo + d] * y[yo + d];
        d1 += x[xo + d + 1] * y[yo + d + 1];
        d2 += x[xo + d + 2] * y[yo + d + 2];
        d3 += x[xo + d + 3] * y[yo + d + 3];
      }
      for (; d < dim; d++) d0 += x[xo + d] * y[yo + d];
      out[i * ny + j] = Math.max(0, sx[i] + sy[j] - 2 * (d0 + d1 + d2 + d3));
    }
  }
  return out;
}

function norms(x: Float64Array, n: number, dim: number): Float64Array {
  const s = new Float64Array(n);
  for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) s[i] += x[i * dim + d] ** 2;
  return s;
}

/** Squared distance from each row to its k-th nearest other row (the radius of its k-NN ball). */
function kthRadii(d2: Float64Array, n: number, k: number): Float64Array {
  const r = new Float64Array(n), best = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    best.fill(Infinity);
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      const v = d2[i * n + j];
      if (v >= best[k - 1]) continue;
      let p = k - 1;
      while (p > 0 && best[p - 1] > v) (best[p] = best[p - 1]), p--;
      best[p] = v;
    }
    r[i] = best[k - 1];
  }
  return r;
}

/** Fraction of the rows of `query` inside the union of the k-NN balls of the rows of `ref`. */
function coverage(query: Float64Array, nq: number, ref: Float64Array, nr: number, radii: Float64Array, dim: number): number {
  const d2 = squaredDistances(query, nq, ref, nr, dim);
  let inside = 0;
  for (let i = 0; i < nq; i++) {
    for (let j = 0; j < nr; j++) {
      if (d2[i * nr + j] <= radii[j]) {
        inside++;
        break;
      }
    }
  }
  return inside / nq;
}

export interface PrecisionRecall {
  precision: number; // share of fake samples inside the real manifold
  recall: number; // share of real samples inside the fake manifold
  k: number;
  nReal: number;
  nFake: number;
}

/**
 * Improved precision and recall (Kynkäänniemi et al. 2019): each set's manifold is the union of balls around its
 * points with radius the distance to their k-th nearest neighbour in the same set. At most `maxPoints` rows of each
 * set are used (the first ones; default 2,000), since the cost is quadratic.
 */
export function precisionRecall(real: Feats, fake: Feats, dim: number, opts: { k?: number; maxPoints?: number } = {}): PrecisionRecall {
  const k = opts.k ?? 3, maxPoints = opts.maxPoints ?? 2000;
  const nr = Math.min(rowsOf('precisionRecall', real, dim, k + 1), maxPoints), nf = Math.min(rowsOf('precisionRecall', fake, dim, k + 1), maxPoints);
  const R = Float64Array.from(real.subarray(0, nr * dim)), F = Float64Array.from(fake.subarray(0, nf * dim));
  const rr = kthRadii(squaredDistances(R, nr, R, nr, dim), nr, k), rf = kthRadii(squaredDistances(F, nf, F, nf, dim), nf, k);
  return { precision: coverage(F, nf, R, nr, rr, dim), recall: coverage(R, nr, F, nf, rf, dim), k, nReal: nr, nFake: nf };
}

export interface ClassHistogram {
  n: number;
  counts: number[]; // predicted (argmax) class counts
  share: number[]; // counts / n
  modesCovered: number; // classes with share ≥ threshold (5%)
  tv: number; // ½ Σ |share − 1/K|
  kl: number; // KL(share ‖ uniform) = Σ share·ln(share·K), nats
  meanMaxProb: number; // mean of the max softmax probability (a precision proxy)
}

/**
 * Class histogram of classifier outputs [n, K]: logits (softmax applied) or probabilities (`input: 'probs'`; 'auto'
 * treats rows that are non-negative and sum to 1 as probabilities).
 */
export function classHistogram(values: Feats, classes = 10, opts: { input?: 'logits' | 'probs' | 'auto'; threshold?: number } = {}): ClassHistogram {
  const n = rowsOf('classHistogram', values, classes), K = classes, threshold = opts.threshold ?? 0.05;
  let input = opts.input ?? 'auto';
  if (input === 'auto') {
    input = 'probs';
    for (let i = 0; i < n && input === 'probs'; i++) {
      let s = 0;
      for (let k = 0; k < K; k++) {
        const v = values[i * K + k];
        if (!(v >= 0)) input = 'logits';
        s += v;
      }
      if (Math.abs(s - 1) > 1e-3) input = 'logits';
    }
  }
  const counts = new Array<number>(K).fill(0);
  let maxProbSum = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let k = 1; k < K; k++) if (values[i * K + k] > values[i * K + best]) best = k;
    counts[best]++;
    if (input === 'probs') maxProbSum += values[i * K + best];
    else {
      // max softmax = 1 / Σ exp(l_k − l_max)
      let z = 0;
      for (let k = 0; k < K; k++) z += Math.exp(values[i * K + k] - values[i * K + best]);
      maxProbSum += 1 / z;
    }
  }
  const share = counts.map((c) => c / n);
  return {
    n, counts, share,
    modesCovered: share.filter((s) => s >= threshold).length,
    tv: 0.5 * share.reduce((s, p) => s + Math.abs(p - 1 / K), 0),
    kl: share.reduce((s, p) => s + (p > 0 ? p * Math.log(p * K) : 0), 0),
    meanMaxProb: maxProbSum / n,
  };
}

export interface ImageReference {
  features: Float32Array; // [n, dim]
  stats: GaussianStats;
  n: number;
}

/** Reference features and their Gaussian fit for images [n, 1, S, S] (e.g. the 2,000 held-out test digits). */
export async function imageReference(classifier: MNISTClassifier, images: Float32Array): Promise<ImageReference> {
  const { features, n } = await classify(classifier, images);
  return { features, stats: gaussianStats(features, classifier.config.features), n };
}

export interface ImageMetrics {
  n: number;
  fd: number; // Fréchet distance to the reference in penultimate features
  precision: number;
  recall: number;
  histogram: ClassHistogram;
  /** With `labels`: share of samples classified as their requested class. */
  classAccuracy?: number;
}

/**
 * Metrics of images [n, 1, S, S] (clamped to [−1, 1] first, like a PNG would) against a reference: FD and precision/
 * recall (k = 3) in the classifier's penultimate features, and the class histogram of its predictions.
 */
export async function imageMetrics(samples: Float32Array, classifier: MNISTClassifier, reference: ImageReference, opts: { labels?: ArrayLike<number>; k?: number } = {}): Promise<ImageMetrics> {
  const x = samples.map((v) => (Number.isNaN(v) ? -1 : Math.min(1, Math.max(-1, v))));
  const { features, logits, n } = await classify(classifier, x);
  const dim = classifier.config.features, K = classifier.config.classes;
  if (n < 2) throw new ValueError(`imageMetrics: needs at least 2 samples, got ${n}`);
  const pr = precisionRecall(reference.features, features, dim, { k: opts.k });
  const out: ImageMetrics = { n, fd: frechetDistance(reference.stats, gaussianStats(features, dim)), precision: pr.precision, recall: pr.recall, histogram: classHistogram(logits, K, { input: 'logits' }) };
  if (opts.labels) {
    if (opts.labels.length !== n) throw new ShapeError(`imageMetrics: ${opts.labels.length} labels for ${n} samples`);
    let right = 0;
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let k = 1; k < K; k++) if (logits[i * K + k] > logits[i * K + best]) best = k;
      if (best === opts.labels[i]) right++;
    }
    out.classAccuracy = right / n;
  }
  return out;
}

/** The held-out MNIST test split (2,000 digits) as the reference, at the classifier's size. */
export async function mnistReference(classifier: MNISTClassifier): Promise<ImageReference> {
  return imageReference(classifier, mnist({ size: classifier.config.size as MnistSize, split: 'test' }).images);
}

/**
 * The data-vs-data floor: `n` digits drawn (without replacement, seeded) from the train split, scored against the
 * reference exactly like samples. A generator cannot be expected to beat it at the same n.
 */
export async function mnistDataFloor(classifier: MNISTClassifier, reference: ImageReference, opts: { n?: number; seed?: number } = {}): Promise<ImageMetrics> {
  const train = mnist({ size: classifier.config.size as MnistSize, split: 'train' });
  const n = Math.min(opts.n ?? 2000, train.n);
  const rng = new HostRng(opts.seed ?? 0), perm = Int32Array.from({ length: train.n }, (_, i) => i);
  for (let i = 0; i < n; i++) {
    const j = i + rng.int(train.n - i);
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  return imageMetrics(gatherImages(train, perm.subarray(0, n)).images, classifier, reference);
}
