// cli/demo-mnist.ts: `npm run demo -- --data mnist` — distils the zoo's class-conditional MNIST teacher (16×16 UNet)
// into a one-step generator with DMD2 + GAN head + EMA (the recipe of zoo/mnist16-generator-dmd2.json), then scores
// data, teacher (Heun, 35 NFE, with classifier-free guidance) and generator (1 NFE) alike in the zoo classifier's
// features: Fréchet distance, precision/recall, classes covered, accuracy on the requested class, and the wall time
// per 1,000 samples. Leaves runs/demo-mnist/{samples/*.npy, samples/*.png, summary.json, report.html, metrics.jsonl,
// generator.safetensors}.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as os from '../engine';
import { ValueError } from '../engine/errors';
import { loadModel } from '../models/checkpoint';
import { loadClassifier } from '../models/classifier';
import { gatherImages, mnist, type MnistSize } from '../models/data/mnist';
import { imageMetrics, mnistReference, type ImageMetrics } from '../models/metrics/images';
import { heunSample, oneStepSample } from '../models/samplers';
import { distill, ttqText, writeReport } from './distill';
import { imageGridPng } from './plot';
import type { DemoArgs } from './demo';

/** Iterations of `npm run demo -- --data mnist`. */
export const MNIST_DEMO_STEPS = 600;

export async function demoMnist(a: DemoArgs & { n: number; cfg: number }): Promise<void> {
  const teacherFile = join(a.zoo, 'mnist16-teacher.safetensors'), classifierFile = join(a.zoo, 'mnist16-classifier.safetensors');
  for (const f of [teacherFile, classifierFile]) if (!existsSync(f)) throw new ValueError(`demo: ${f} is missing; the MNIST demo needs the zoo's teacher and classifier (zoo/*.json say how to train them)`);
  if (!Number.isInteger(a.n) || a.n < 10) throw new ValueError(`demo: --n must be an integer ≥ 10 (samples per model, classes balanced), got ${a.n}`);
  mkdirSync(join(a.out, 'samples'), { recursive: true });
  await os.init();
  const { model: classifier } = await loadClassifier(new Uint8Array(readFileSync(classifierFile)));
  const S = classifier.config.size as MnistSize, K = 10, N = a.n;
  const reference = await mnistReference(classifier);
  const labels = Int32Array.from({ length: N }, (_, i) => i % K);

  /**
   * Runs a sampler on all N labels in chunks of 100 (a counter on stderr: the teacher takes minutes on a CPU driver);
   * returns the samples and the wall time of that warm run. Chunk c draws its noise with seed + c.
   */
  const sampleAll = async (name: string, run: (y: os.Tensor, seed: number) => os.Tensor): Promise<{ xs: Float32Array; ms: number }> => {
    const chunk = 100;
    // one small batch first: compiles outside the timing
    const warm = os.oneHot(os.tensor(Float32Array.from(labels.subarray(0, K)), [K]), K);
    const w = os.noGrad(() => run(warm, 0));
    await w.data();
    w.dispose();
    warm.dispose();
    const xs = new Float32Array(N * S * S);
    const t0 = performance.now();
    for (let done = 0; done < N; done += chunk) {
      if (process.stderr.isTTY) process.stderr.write(`\rdemo: sampling ${N} digits from the ${name}: ${done}/${N}`);
      const b = Math.min(chunk, N - done);
      const y = os.oneHot(os.tensor(Float32Array.from(labels.subarray(done, done + b)), [b]), K);
      const x = os.noGrad(() => run(y, done));
      xs.set(await x.data(), done * S * S);
      x.dispose();
      y.dispose();
    }
    const ms = performance.now() - t0;
    process.stderr.write(`${process.stderr.isTTY ? '\r' : ''}demo: sampling ${N} digits from the ${name}: ${N}/${N} in ${(ms / 1000).toFixed(1)} s\n`);
    return { xs, ms };
  };
  const shape = (b: os.Tensor) => [b.shape[0], 1, S, S];
  // the teacher first: its samples are the report's and, scored by the session, the time-to-quality reference (one
  // Heun-18 run of N guided digits, minutes on a CPU driver, instead of two)
  const { den: teacher } = await loadModel(new Uint8Array(readFileSync(teacherFile)));
  const teacherRun = await sampleAll('teacher (Heun, 18 steps)', (y, c) => heunSample(teacher, { steps: 18, shape: shape(y), seed: a.seed + 1 + c, labels: y, cfg: a.cfg }).x);
  console.log(`demo: distilling ${teacherFile} with DMD2 + GAN for ${a.steps} iterations → ${a.out}`);
  const { session, trainer, evals, itPerSec, dispatchesPerIt, sampler } = await distill({
    teacher: teacherFile, out: a.out, steps: a.steps, resume: false, classifier: classifierFile, reuseDevice: true,
    evalEvery: Math.max(50, Math.floor(a.steps / 6)), checkpointEvery: Math.max(50, Math.floor(a.steps / 12)),
    config: { ...a.config, cfg: a.cfg, seed: a.seed }, quiet: false, evalSamples: N, teacherSamples: teacherRun.xs,
    command: `npm run demo -- --data mnist --steps ${a.steps} --cfg ${a.cfg}`,
  });
  const genRun = await sampleAll('generator (1 step)', (y, c) => trainer.generate(os.randn(shape(y), { seed: a.seed + 2 + c }), y, sampler));
  const naiveRun = await sampleAll('teacher once at σ = 80 (naive)', (y, c) => oneStepSample(teacher, { shape: shape(y), seed: a.seed + 3 + c, labels: y }).x);
  // data: N training digits, the same class balance
  const train = mnist({ size: S, split: 'train' });
  const byClass = Array.from({ length: K }, (_, k) => train.labels.reduce<number[]>((acc, l, i) => (l === k ? (acc.push(i), acc) : acc), []));
  const dataX = gatherImages(train, Int32Array.from(labels, (k, i) => byClass[k][Math.floor(i / K) % byClass[k].length])).images;

  const score = async (xs: Float32Array) => {
    const m: ImageMetrics = await imageMetrics(xs, classifier, reference, { labels });
    return { fd: m.fd, precision: m.precision, recall: m.recall, classesCovered: m.histogram.modesCovered, classAccuracy: m.classAccuracy ?? null };
  };
  const samples = { data: dataX, teacher: teacherRun.xs, generator: genRun.xs, naive: naiveRun.xs };
  for (const [name, xs] of Object.entries(samples)) {
    await os.io.writeFileAtomic(join(a.out, 'samples', `${name}.npy`), os.io.encodeNpy(xs, [N, 1, S, S]));
  }
  const summary = {
    data: { name: 'mnist16', n: N, split: 'train', ...(await score(dataX)) },
    // with guidance each evaluation is two network passes (conditional and unconditional); the generator has it built in
    teacher: { sampler: 'heun-18', nfe: 35, networkPasses: a.cfg === 1 ? 35 : 70, cfg: a.cfg, msPer1000: (teacherRun.ms / N) * 1000, ...(await score(teacherRun.xs)) },
    generator: { nfe: 1, msPer1000: (genRun.ms / N) * 1000, ...(await score(genRun.xs)) },
    naive: { nfe: 1, ...(await score(naiveRun.xs)) },
    speedup: teacherRun.ms / genRun.ms,
    metric: 'Fréchet distance in the features of zoo/mnist16-classifier.safetensors to the 2,000 held-out digits; classAccuracy: the classifier agrees with the requested class',
    training: { mode: trainer.cfg.mode, iterations: trainer.iteration, generatorUpdates: trainer.optG.steps, itPerSec, dispatchesPerIt, seconds: session.trainSeconds, evaluationSeconds: session.evalSeconds, config: trainer.cfg },
    // time to quality: training seconds until the generator first matched the guided teacher's Heun-18 samples in an
    // evaluation (models/tasks/mnist.ts says how); evaluation time excluded; null when not reached
    ttqSeconds: session.ttqSeconds,
    evals: evals.map((e) => ({ seconds: e.seconds, iteration: e.iteration, fd: e.fd, classAccuracy: e.classAccuracy, modes: e.modes, reached: e.reached })),
    adapter: os.device().adapterLabel,
  };
  await os.io.writeFileAtomic(join(a.out, 'summary.json'), JSON.stringify(summary, null, 2));
  const grid = (xs: Float32Array) => imageGridPng(xs.subarray(0, 100 * S * S), Math.min(100, N), S, { cols: K, zoom: 3 });
  const f1 = (v: number) => v.toFixed(1), pct = (v: number | null) => (v === null ? 'n/a' : `${(100 * v).toFixed(1)}%`);
  writeReport(a.out, {
    title: 'onestep demo: DMD2 on MNIST (16×16, class-conditional)',
    evals,
    metricName: 'Fréchet distance to held-out digits (classifier features)',
    floor: summary.data.fd,
    teacherMetric: summary.teacher.fd,
    panels: [
      { name: `data (FD ${f1(summary.data.fd)} = floor)`, png: grid(dataX) },
      { name: `teacher, Heun 35 NFE${a.cfg === 1 ? '' : ` × 2 passes (CFG ${a.cfg})`} (FD ${f1(summary.teacher.fd)}, class accuracy ${pct(summary.teacher.classAccuracy)})`, png: grid(teacherRun.xs) },
      { name: `generator, 1 NFE (FD ${f1(summary.generator.fd)}, class accuracy ${pct(summary.generator.classAccuracy)})`, png: grid(genRun.xs) },
      { name: `naive: teacher once at σ=80 (FD ${f1(summary.naive.fd)})`, png: grid(naiveRun.xs) },
    ],
    table: [
      ['adapter', summary.adapter],
      ['training', `DMD2 + GAN, ${trainer.iteration} iterations (${trainer.optG.steps} generator updates), ${itPerSec.toFixed(2)} it/s, ${dispatchesPerIt.toFixed(0)} dispatches/it`],
      [`FD (${N} samples, classes balanced)`, `data ${f1(summary.data.fd)} · teacher ${f1(summary.teacher.fd)} · generator ${f1(summary.generator.fd)} · naive ${f1(summary.naive.fd)}`],
      ['class accuracy', `data ${pct(summary.data.classAccuracy)} · teacher ${pct(summary.teacher.classAccuracy)} · generator ${pct(summary.generator.classAccuracy)} · naive ${pct(summary.naive.classAccuracy)}`],
      ['ms per 1,000 samples', `teacher ${summary.teacher.msPer1000.toFixed(0)} (35 NFE, ${summary.teacher.networkPasses} network passes) · generator ${summary.generator.msPer1000.toFixed(0)} (1 NFE)`],
      ['speed-up', `${summary.speedup.toFixed(1)}×`],
      ['time to quality', ttqText(session)],
    ],
  });
  console.log(`\n              FD      precision  recall  classes  class acc  ms/1000 samples`);
  for (const [name, s] of Object.entries({ data: summary.data, teacher: summary.teacher, generator: summary.generator, naive: summary.naive })) {
    const ms = 'msPer1000' in s ? (s.msPer1000 as number).toFixed(0) : '';
    console.log(`  ${name.padEnd(10)}  ${f1(s.fd).padStart(6)}  ${s.precision.toFixed(3).padStart(9)}  ${s.recall.toFixed(3).padStart(6)}  ${String(s.classesCovered).padStart(7)}  ${pct(s.classAccuracy).padStart(9)}  ${ms}`);
  }
  console.log(`  generator FD ÷ teacher FD: ${(summary.generator.fd / summary.teacher.fd).toFixed(2)} · speed-up over Heun-18: ${summary.speedup.toFixed(1)}×  (adapter: ${summary.adapter})`);
  console.log(`  time to quality: ${ttqText(session)}`);
  console.log(`  wrote ${join(a.out, 'summary.json')}, ${join(a.out, 'report.html')}, ${join(a.out, 'samples')}/*.npy`);
}
