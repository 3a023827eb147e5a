// models/tasks/mnist.ts: class-conditional MNIST as a distillation task: real batches for the GAN head, and the
// evaluation behind time to quality: n samples (classes balanced) scored in the zoo classifier's features against
// the held-out digits (Fréchet distance, precision/recall, classes covered, class accuracy). The teacher is sampled
// with Heun-18 and the run's guidance; the generator has reached it when its FD is at most the teacher's and its class
// accuracy at least the teacher's.
import * as os from '../../engine';
import type { ModelMeta } from '../checkpoint';
import type { MNISTClassifier } from '../classifier';
import { mnistBatch, type MnistData } from '../data/mnist';
import type { EDMDenoiser } from '../edm';
import { imageMetrics, type ImageReference } from '../metrics/images';
import { heunSample, oneStepSample } from '../samplers';
import type { Quality, SessionTask } from '../session';

export interface MnistTaskOptions {
  /** Classifier-free guidance of the teacher's sampler (the generator has it built in). */
  cfg?: number;
  /** Samples per evaluation, classes cycled (1,000). */
  n?: number;
}

export type MnistTask = SessionTask & { n: number; samples(net: EDMDenoiser, sigma: number | null): Promise<Float32Array>; score(xs: Float32Array): Promise<Quality> };

export function mnistTask(meta: ModelMeta, classifier: MNISTClassifier, train: MnistData, reference: ImageReference, o: MnistTaskOptions = {}): MnistTask {
  if (meta.net !== 'unet') throw new Error(`internal: mnistTask needs a UNet teacher, got ${meta.net}`);
  const S = meta.netConfig.resolution, K = meta.netConfig.labelDim, n = o.n ?? 1000;
  const labels = Int32Array.from({ length: n }, (_, i) => i % Math.max(K, 1));
  const samples = async (net: EDMDenoiser, sigma: number | null): Promise<Float32Array> => {
    const xs = new Float32Array(n * S * S);
    for (let done = 0; done < n; done += 100) {
      const b = Math.min(100, n - done);
      const y = K > 0 ? os.oneHot(os.tensor(Float32Array.from(labels.subarray(done, done + b))), K) : null;
      const shape = [b, 1, S, S];
      // fixed noises per chunk: evaluations differ only by the weights
      const { x } = sigma === null ? heunSample(net, { steps: 18, shape, seed: 4242 + done, labels: y, cfg: o.cfg ?? 1 }) : oneStepSample(net, { shape, sigma, seed: 4242 + done, labels: y });
      xs.set(await x.data(), done * S * S);
      x.dispose();
      y?.dispose();
    }
    return xs;
  };
  const score = async (xs: Float32Array): Promise<Quality> => {
    const m = await imageMetrics(xs, classifier, reference, K > 0 ? { labels } : {});
    let mean = 0, sq = 0;
    for (const v of xs) (mean += v), (sq += v * v);
    mean /= xs.length;
    return {
      metric: m.fd, fd: m.fd, precision: m.precision, recall: m.recall, modes: m.histogram.modesCovered, tv: m.histogram.tv,
      confidence: m.histogram.meanMaxProb, classAccuracy: m.classAccuracy ?? null, mean: [mean], std: [Math.sqrt(sq / xs.length - mean * mean)],
    };
  };
  return {
    n,
    sampleShape: [1, S, S],
    realData: (B, rng) => {
      const b = mnistBatch(train, B, rng);
      return { x: b.x, labels: K > 0 ? b.y : (b.y.dispose(), null) };
    },
    samples,
    score,
    evaluate: async (net, sigma) => score(await samples(net, sigma)),
    reached: (g, t) => (g.fd as number) <= (t.fd as number) && (t.classAccuracy === null || ((g.classAccuracy as number) ?? 0) >= (t.classAccuracy as number)),
  };
}
