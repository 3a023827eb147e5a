// cli/classifier.ts: `onestep train-classifier` — trains the MNIST classifier behind the image metrics (AdamW, cosine
// lr, random ±shift px translations), writes runs/<name>/metrics.jsonl and the model file atomically, with its config,
// held-out test accuracy and command in `__metadata__`; and `onestep eval --data mnistS`, the image metrics of a .npy.
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as os from '../engine';
import { ValueError } from '../engine/errors';
import { HostRng } from '../models/data/rng';
import { MNIST_SIZES, mnist, mnistBatch, type MnistData, type MnistSize } from '../models/data/mnist';
import { CLASSIFIER_DEFAULTS, MNISTClassifier, classify, loadClassifier, saveClassifier, type ClassifierMeta } from '../models/classifier';
import { imageMetrics, mnistDataFloor, mnistReference, type ImageMetrics } from '../models/metrics/images';
import { Progress } from './progress';

export interface ClassifierArgs {
  size: number;
  out: string; // model file (.safetensors)
  run?: string; // run directory for metrics.jsonl (default runs/<out basename>)
  steps: number;
  batch: number;
  lr: number;
  shift: number; // max translation in pixels
  seed: number;
  evalEvery: number;
  command: string;
}

export async function trainClassifier(a: ClassifierArgs): Promise<{ testAccuracy: number; wallSeconds: number }> {
  if (!(MNIST_SIZES as readonly number[]).includes(a.size)) throw new ValueError(`train-classifier: --size must be one of ${MNIST_SIZES.join(', ')}, got ${a.size}`);
  // a shift of the whole width leaves blank images
  if (!(Number.isInteger(a.shift) && a.shift >= 0 && a.shift < a.size)) throw new ValueError(`--shift must be an integer in 0..${a.size - 1} for --size ${a.size} (pixels), got ${a.shift}`);
  if (!a.out.endsWith('.safetensors')) throw new ValueError(`train-classifier: --out must end in .safetensors, got "${a.out}"`);
  await os.init();
  const size = a.size as MnistSize;
  const train = mnist({ size, split: 'train' }), test = mnist({ size, split: 'test' });
  const run = a.run ?? join('runs', basename(a.out, '.safetensors'));
  mkdirSync(run, { recursive: true });
  mkdirSync(dirname(a.out) || '.', { recursive: true });
  const metricsPath = join(run, 'metrics.jsonl');
  rmSync(metricsPath, { force: true });
  os.manualSeed(a.seed);
  const model = new MNISTClassifier({ ...CLASSIFIER_DEFAULTS, size });
  const opt = new os.optim.AdamW(model.parameters(), { lr: a.lr, weightDecay: 1e-4 });
  const sched = new os.optim.LRScheduler(opt, os.optim.cosine(a.steps, { warmup: Math.min(100, Math.floor(a.steps / 10)), minFactor: 0.02 }));
  const rng = new HostRng(a.seed);
  const progress = new Progress(a.steps, 'step');
  const t0 = performance.now();
  let pending: { step: number; loss: os.Tensor }[] = [];
  for (let step = 1; step <= a.steps; step++) {
    const { x, labels } = mnistBatch(train, a.batch, rng, { shift: a.shift });
    const loss = os.tidy(() => {
      const l = os.crossEntropy(model.forward(x), labels);
      l.backward();
      return l;
    });
    x.dispose();
    opt.step();
    opt.zeroGrad();
    sched.step();
    pending.push({ step, loss });
    const last = step === a.steps;
    if (pending.length === 25 || last) {
      const losses = await os.readAll(pending.map((p) => p.loss)); // one readback for the batch
      const lines = pending.map((p, i) => JSON.stringify({ step: p.step, loss: losses[i][0], lr: opt.lr }));
      for (const p of pending) p.loss.dispose();
      appendFileSync(metricsPath, lines.join('\n') + '\n');
      progress.update(step, { loss: JSON.parse(lines.at(-1)!).loss });
      pending = [];
    }
    if (a.evalEvery > 0 && step % a.evalEvery === 0 && !last) {
      const acc = await accuracy(model, test);
      appendFileSync(metricsPath, JSON.stringify({ step, testAccuracy: acc }) + '\n');
      progress.update(step, { testAcc: acc }, true);
    }
  }
  progress.done();
  const wallSeconds = Math.round((performance.now() - t0) / 100) / 10;
  const testAccuracy = await accuracy(model, test);
  const trainAccuracy = await accuracy(model, train);
  appendFileSync(metricsPath, JSON.stringify({ step: a.steps, testAccuracy, trainAccuracy }) + '\n');
  const meta: ClassifierMeta = {
    kind: 'classifier', config: model.config, data: `mnist${size}`, testAccuracy,
    recipe: { command: a.command, steps: a.steps, batch: a.batch, lr: a.lr, schedule: 'AdamW (wd 1e-4), cosine to 0.02× with warm-up', shift: a.shift, seed: a.seed, trainAccuracy, testDigits: test.n, wallSeconds, adapter: os.device().adapterLabel },
  };
  await os.io.writeFileAtomic(a.out, await saveClassifier(model, meta));
  console.log(JSON.stringify({ out: a.out, testAccuracy, trainAccuracy, testDigits: test.n, wallSeconds, params: model.numParameters() }));
  model.dispose();
  return { testAccuracy, wallSeconds };
}

/** Fraction of a split's digits whose argmax logit is their label. */
export async function accuracy(model: MNISTClassifier, d: MnistData): Promise<number> {
  const { logits, n } = await classify(model, d.images);
  const K = model.config.classes;
  let right = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let k = 1; k < K; k++) if (logits[i * K + k] > logits[i * K + best]) best = k;
    if (best === d.labels[i]) right++;
  }
  return right / n;
}

export interface ImageEvalArgs {
  samples: string; // .npy of [N, 1, S, S], [N, S, S] or [N, S·S]
  data: string; // mnist16 | mnist28 | mnist32 | mnist (size from the samples)
  classifier?: string; // default zoo/mnist<S>-classifier.safetensors
  classLabel?: number | 'balanced'; // the class the samples were asked for ('balanced': sample i asked for i mod 10, as `onestep sample` draws them): reports the share classified as it
  seed: number; // seed of the data floor's train subset
}

/** `onestep eval --data mnistS`: FD, precision/recall and the class histogram vs the held-out digits, and the data floor. */
export async function evaluateImageFile(a: ImageEvalArgs): Promise<Record<string, unknown>> {
  const m = /^mnist(16|28|32)?$/.exec(a.data);
  if (!m) throw new ValueError(`eval: unknown image data set "${a.data}"; choose mnist16, mnist28 or mnist32`);
  const { data: raw, shape } = os.io.decodeNpy(new Uint8Array(readFileSync(a.samples)));
  const n = shape[0], px = shape.slice(1).reduce((p, d) => p * d, 1);
  const S = Math.round(Math.sqrt(px));
  const okShape = shape.length >= 2 && S * S === px && (shape.length === 2 || shape.at(-1) === S) && (shape.length !== 4 || shape[1] === 1);
  if (!okShape || !(MNIST_SIZES as readonly number[]).includes(S)) throw new ValueError(`eval: ${a.samples} has shape [${shape}]; MNIST metrics need [N, 1, S, S] images with S = 16, 28 or 32`);
  if (m[1] && Number(m[1]) !== S) throw new ValueError(`eval: --data ${a.data} expects ${m[1]}×${m[1]} images but ${a.samples} holds ${S}×${S}`);
  if (a.classLabel !== undefined && a.classLabel !== 'balanced' && !(Number.isInteger(a.classLabel) && a.classLabel >= 0 && a.classLabel < 10)) throw new ValueError(`eval: --class must be a digit 0–9 or "balanced", got ${a.classLabel}`);
  const path = a.classifier ?? defaultClassifier(S);
  await os.init();
  const { model, meta } = await loadClassifier(new Uint8Array(readFileSync(path)));
  try {
    if (model.config.size !== S) throw new ValueError(`eval: classifier ${path} takes ${model.config.size}×${model.config.size} images, the samples are ${S}×${S}`);
    const x = Float32Array.from(raw as ArrayLike<number>);
    const reference = await mnistReference(model);
    const labels = a.classLabel === undefined ? undefined : a.classLabel === 'balanced' ? Int32Array.from({ length: n }, (_, i) => i % 10) : new Int32Array(n).fill(a.classLabel);
    const metrics = await imageMetrics(x, model, reference, { labels });
    const floor = await mnistDataFloor(model, reference, { n: Math.min(n, 8000), seed: a.seed });
    const round = (r: ImageMetrics) => ({ fd: +r.fd.toFixed(4), precision: +r.precision.toFixed(4), recall: +r.recall.toFixed(4), modesCovered: r.histogram.modesCovered, tv: +r.histogram.tv.toFixed(4), kl: +r.histogram.kl.toFixed(4), meanMaxProb: +r.histogram.meanMaxProb.toFixed(4), ...(r.classAccuracy === undefined ? {} : { classAccuracy: r.classAccuracy }) });
    const out = { samples: a.samples, n, data: `mnist${S}`, classifier: path, classifierTestAccuracy: meta.testAccuracy, reference: `test split (${reference.n} held-out digits)`, ...round(metrics), share: metrics.histogram.share.map((s) => +s.toFixed(4)), floor: { n: floor.n, ...round(floor) } };
    console.log(JSON.stringify(out));
    return out;
  } finally {
    model.dispose();
  }
}

/** zoo/mnist<S>-classifier.safetensors in the working directory, else in the package. */
function defaultClassifier(S: number): string {
  const name = `mnist${S}-classifier.safetensors`;
  const local = join('zoo', name);
  if (existsSync(local)) return local;
  return fileURLToPath(new URL(`../zoo/${name}`, import.meta.url)); // cli/ in the source tree, dist/ when built
}
