// cli/distill.ts: `onestep distill` and `onestep make-pairs` — DMD/DMD2 distillation of a teacher file into a one-step
// generator, with progress, metrics.jsonl, scatter PNGs over time, atomic resumable checkpoints and report.html.
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as os from '../engine';
import { ValueError } from '../engine/errors';
import { HostRng } from '../models/data/rng';
import { toy2d, type Toy2d } from '../models/data/toy2d';
import { buildDenoiser, loadModel, saveModel, type ModelMeta } from '../models/checkpoint';
import { DMD_DEFAULTS, DMDTrainer, type DMDConfig, type DMDLosses, type RealData, type RegressionPairs } from '../models/dmd';
import { mnist, mnistBatch, type MnistSize } from '../models/data/mnist';
import { loadClassifier, type MNISTClassifier } from '../models/classifier';
import { imageMetrics, mnistReference, type ImageReference } from '../models/metrics/images';
import type { EDMDenoiser } from '../models/edm';
import { heunSample } from '../models/samplers';
import { modeStats, slicedWasserstein } from '../models/metrics/toy';
import { imageGridPng, lineChartSvg, scatterPng } from './plot';
import { Progress } from './progress';

export interface DistillArgs {
  teacher: string;
  out: string;
  steps: number;
  resume: boolean;
  pairs?: string;
  evalEvery: number;
  checkpointEvery: number;
  config: Partial<DMDConfig> & { mode: 'dmd' | 'dmd2' };
  command: string;
  quiet?: boolean;
  /** Classifier for image metrics (default zoo/mnist<S>-classifier.safetensors next to this package). */
  classifier?: string;
  /** Run on the current device instead of initialising one (a second run in one process, as the demo's ablation: a re-init would orphan the first run's tensors). */
  reuseDevice?: boolean;
}

/** Teacher Heun-18 samples for fixed noises: DMD's regression set. */
export function makePairs(teacher: EDMDenoiser, n: number, dim: number, seed: number): RegressionPairs {
  const z = os.keep(os.randn([n, dim], { seed }));
  const { x } = heunSample(teacher, { steps: 18, shape: [n, dim], seed });
  return { z, y: os.keep(x) };
}

/** What distillation needs to know about the data: sample shape, real batches (GAN head), and evaluation. */
export interface DistillTask {
  sampleShape: number[];
  /** The metric plotted over time, lower is better. */
  metricName: string;
  realData: RealData;
  evaluate(tr: DMDTrainer, net: EDMDenoiser): Promise<{ e: Omit<GeneratorEval, 'iteration'>; png: Uint8Array }>;
}

function toyTask(meta: ModelMeta): DistillTask {
  const data = toy2d(meta.data);
  const ref = data.sample(4096, new HostRng(777));
  return {
    sampleShape: [2],
    metricName: 'sliced Wasserstein distance to data',
    realData: (B, rng) => ({ x: os.tensor(data.sample(B, rng), [B, 2]), labels: null }),
    evaluate: async (tr, net) => {
      const { e, xs } = await evalGenerator(tr, data, ref, 4096, net);
      return { e, png: scatterPng(xs) };
    },
  };
}

/** MNIST: class-conditional one-step samples (balanced classes) scored by the zoo classifier. */
async function mnistTask(meta: ModelMeta, classifierPath: string): Promise<DistillTask> {
  if (meta.net !== 'unet') throw new ValueError(`distill: ${meta.data} teachers are UNets`);
  const S = meta.netConfig.resolution as MnistSize, K = meta.netConfig.labelDim;
  const train = mnist({ size: S, split: 'train' });
  if (!existsSync(classifierPath)) throw new ValueError(`distill: image metrics need the classifier ${classifierPath}; train it with onestep train-classifier --size ${S} --out ${classifierPath}, or pass --classifier FILE`);
  const { model: classifier } = await loadClassifier(new Uint8Array(readFileSync(classifierPath)));
  if (classifier.config.size !== S) throw new ValueError(`distill: the classifier ${classifierPath} takes ${classifier.config.size}×${classifier.config.size} images; the teacher makes ${S}×${S}`);
  const reference: ImageReference = await mnistReference(classifier);
  return {
    sampleShape: [1, S, S],
    metricName: 'Fréchet distance to held-out digits (classifier features)',
    realData: (B, rng) => {
      const b = mnistBatch(train, B, rng);
      return { x: b.x, labels: K > 0 ? b.y : (b.y.dispose(), null) };
    },
    evaluate: async (tr, net) => evalImages(tr, net, classifier, reference, S, K),
  };
}

/** One-step samples (n, classes cycled) vs the reference: FD, precision/recall, class histogram; a 10×10 grid. */
export async function evalImages(tr: DMDTrainer, net: EDMDenoiser, classifier: MNISTClassifier, reference: ImageReference, S: number, K: number, n = 1000) {
  const xs = new Float32Array(n * S * S);
  const labels = Int32Array.from({ length: n }, (_, i) => i % Math.max(K, 1));
  for (let done = 0; done < n; done += 250) {
    const b = Math.min(250, n - done);
    const y = K > 0 ? os.oneHot(os.tensor(Float32Array.from(labels.subarray(done, done + b))), K) : null;
    const x = os.noGrad(() => tr.generate(os.randn([b, 1, S, S], { seed: 4242 + done }), y, net));
    xs.set(await x.data(), done * S * S);
    x.dispose();
    y?.dispose();
  }
  const m = await imageMetrics(xs, classifier, reference, K > 0 ? { labels } : {});
  let mean = 0, sq = 0;
  for (const v of xs) (mean += v), (sq += v * v);
  mean /= xs.length;
  const e = { metric: m.fd, fd: m.fd, precision: m.precision, recall: m.recall, modes: m.histogram.modesCovered, tv: m.histogram.tv, confidence: m.histogram.meanMaxProb, classAccuracy: m.classAccuracy ?? null, mean: [mean], std: [Math.sqrt(sq / xs.length - mean * mean)] };
  return { e, png: imageGridPng(xs.subarray(0, 100 * S * S), Math.min(100, n), S, { cols: 10, zoom: 3 }), xs };
}

export async function makePairsCommand(a: { teacher: string; n: number; seed: number; out: string }): Promise<void> {
  await os.init();
  const { den, meta } = await loadModel(new Uint8Array(readFileSync(a.teacher)));
  const t0 = performance.now();
  if (meta.net !== 'mlp') throw new ValueError(`make-pairs: ${a.teacher} is a ${meta.data} ${meta.net} model; regression pairs are built for 2-D teachers (image DMD uses --mode dmd2)`);
  const p = makePairs(den, a.n, meta.netConfig.dim, a.seed);
  await os.io.writeFileAtomic(a.out, await os.io.saveSafetensors({ z: p.z, y: p.y }, { teacher: a.teacher, sampler: 'heun', steps: '18', nfe: '35', seed: String(a.seed) }));
  console.log(JSON.stringify({ out: a.out, n: a.n, seconds: +((performance.now() - t0) / 1000).toFixed(1) }));
}

export interface GeneratorEval {
  iteration: number;
  /** The task's headline metric (toy: SWD; images: FD), lower is better. */
  metric: number;
  modes: number | null;
  tv: number | null;
  mean: number[];
  std: number[];
  /** Task-specific extras: swd, hq (toy); fd, precision, recall, confidence, classAccuracy (images). */
  [extra: string]: number | number[] | null;
}

/** Generator samples vs fresh data: SWD, mode statistics, and the sample mean/std (DMD2's stability signal). */
export async function evalGenerator(tr: DMDTrainer, data: Toy2d, ref: Float32Array, n = 4096, net?: EDMDenoiser): Promise<{ e: Omit<GeneratorEval, 'iteration'>; xs: Float32Array }> {
  const x = os.noGrad(() => tr.generate(os.randn([n, 2], { seed: 4242 }), null, net));
  const xs = await x.data();
  x.dispose();
  const ms = data.modes ? modeStats(xs, data.modes) : null;
  const mean = [0, 1].map((d) => xs.filter((_, i) => i % 2 === d).reduce((a, b) => a + b, 0) / n);
  const std = [0, 1].map((d) => Math.sqrt(xs.filter((_, i) => i % 2 === d).reduce((a, b) => a + (b - mean[d]) ** 2, 0) / n));
  const swd = slicedWasserstein(xs, ref);
  return { e: { metric: swd, swd, modes: ms?.covered ?? null, hq: ms?.hq ?? null, tv: ms?.tv ?? null, mean, std }, xs };
}

/** The zoo folder of this package (checkpoints, classifiers). */
export const ZOO = join(import.meta.dirname ?? '.', '..', 'zoo');

export async function distill(a: DistillArgs): Promise<{ trainer: DMDTrainer; teacher: EDMDenoiser; meta: ModelMeta; evals: GeneratorEval[]; itPerSec: number; dispatchesPerIt: number; sampler: EDMDenoiser; task: DistillTask }> {
  if (!a.reuseDevice || !os.hasDevice()) await os.init();
  const { den: teacher, meta } = await loadModel(new Uint8Array(readFileSync(a.teacher)));
  if (meta.generatorSigma !== undefined) throw new ValueError(`distill: ${a.teacher} is a one-step generator, not a teacher; pass the teacher it was distilled from`);
  const image = meta.net === 'unet';
  const task = image ? await mnistTask(meta, a.classifier ?? join(ZOO, `${meta.data}-classifier.safetensors`)) : toyTask(meta);
  mkdirSync(join(a.out, 'samples'), { recursive: true });
  const mode = a.config.mode;
  const config: Partial<DMDConfig> = { ...a.config };
  if (mode === 'dmd' && config.regWeight === undefined) config.regWeight = image ? 0 : DMD_DEFAULTS.dmd.regWeight;
  if (image && (config.regWeight ?? 0) > 0) throw new ValueError('distill: the regression loss is implemented for 2-D teachers (L2); for images use --mode dmd2 or --reg-weight 0 (the paper\'s LPIPS has no counterpart at this scale)');
  os.manualSeed(config.seed ?? 0);
  let pairs: RegressionPairs | null = null;
  if ((config.regWeight ?? 0) > 0) {
    if (a.pairs) {
      const { tensors } = await os.io.loadSafetensors(new Uint8Array(readFileSync(a.pairs)));
      if (!tensors.z || !tensors.y) throw new ValueError(`distill: ${a.pairs} has no "z" and "y" tensors (make it with onestep make-pairs)`);
      pairs = { z: os.keep(tensors.z), y: os.keep(tensors.y) };
    } else {
      if (!a.quiet) console.log('distill: making 5,000 regression pairs with the teacher (Heun, 18 steps)…');
      pairs = makePairs(teacher, 5000, 2, 1000 + (config.seed ?? 0));
      await os.io.writeFileAtomic(join(a.out, 'pairs.safetensors'), await os.io.saveSafetensors({ z: pairs.z, y: pairs.y }, { sampler: 'heun', steps: '18' }));
    }
  }
  const tr = new DMDTrainer({ teacher, makeDenoiser: () => buildDenoiser(meta), sampleShape: task.sampleShape, pairs, realData: task.realData, config });
  const ckpt = join(a.out, 'checkpoint.safetensors');
  const metricsPath = join(a.out, 'metrics.jsonl');
  if (a.resume && existsSync(ckpt)) {
    const { tensors, metadata } = await os.io.loadSafetensorsChecked(new Uint8Array(readFileSync(ckpt)));
    tr.restore({ tensors, meta: metadata });
    for (const t of Object.values(tensors)) t.dispose();
    truncateLog(metricsPath, 'iteration', tr.iteration);
    if (!a.quiet) console.log(`distill: resumed from ${ckpt} at iteration ${tr.iteration}`);
  } else writeFileSync(metricsPath, '');
  const evals: GeneratorEval[] = [];
  // with an EMA, the averaged weights are the generator we evaluate and ship
  const emaNet = tr.ema ? buildDenoiser(meta) : null;
  const sampler = () => {
    if (!emaNet || !tr.ema) return tr.generator;
    tr.ema.copyTo(emaNet.parameters());
    return emaNet;
  };
  const lastPanel: { iteration: number; png: Uint8Array | null } = { iteration: -1, png: null }; // reused by report.html
  const logEval = async () => {
    const { e, png } = await task.evaluate(tr, sampler());
    const ev = { iteration: tr.iteration, ...e } as GeneratorEval;
    evals.push(ev);
    appendFileSync(metricsPath, JSON.stringify({ iteration: tr.iteration, eval: ev }) + '\n');
    writeFileSync(join(a.out, 'samples', `generator-${String(tr.iteration).padStart(6, '0')}.png`), png);
    Object.assign(lastPanel, { iteration: tr.iteration, png });
    return ev;
  };
  if (tr.iteration === 0) await logEval();
  const progress = new Progress(a.steps, 'iteration', a.quiet ? ({ write: () => true, isTTY: false } as unknown as NodeJS.WriteStream) : process.stderr);
  let pending: { it: number; l: DMDLosses }[] = [];
  const t0 = performance.now(), d0 = os.memory().dispatches, it0 = tr.iteration;
  let last: Record<string, number> = {};
  while (tr.iteration < a.steps) {
    const l = tr.step();
    pending.push({ it: tr.iteration, l });
    await os.relieve(); // image models make hundreds of submits in a few iterations; Dawn needs the host to wait
    const done = tr.iteration >= a.steps;
    if (pending.length === 50 || done) {
      // one readback for 50 iterations: the GPU never waits for the host in between
      const lines: string[] = [];
      for (const p of pending) {
        const rec: Record<string, number> = { iteration: p.it };
        for (const [k, t] of Object.entries(p.l)) if (t) (rec[k] = await t.item()), t.dispose();
        lines.push(JSON.stringify(rec));
        if (rec.dm !== undefined) last = { ...last, dm: rec.dm, gradNorm: rec.gradNorm };
        last.fake = rec.fake;
        if (rec.ganD !== undefined) last.ganD = rec.ganD;
        const bad = Object.entries(rec).find(([, v]) => !Number.isFinite(v));
        if (bad) throw new ValueError(`distill: loss ${bad[0]} became ${bad[1]} at iteration ${p.it}; the last good checkpoint is ${ckpt}`);
      }
      appendFileSync(metricsPath, lines.join('\n') + '\n');
      pending = [];
      progress.update(tr.iteration - it0, { fake: last.fake, ...(last.dm !== undefined ? { dm: last.dm } : {}), ...(last.ganD !== undefined ? { ganD: last.ganD } : {}) });
    }
    if (a.evalEvery > 0 && (tr.iteration % a.evalEvery === 0 || done)) await logEval();
    if (tr.iteration % a.checkpointEvery === 0 || done) {
      const s = tr.state();
      await os.io.writeFileAtomic(ckpt, await os.io.saveSafetensorsChecked(s.tensors, s.meta));
    }
  }
  const secs = (performance.now() - t0) / 1000;
  progress.done();
  const itPerSec = (tr.iteration - it0) / Math.max(secs, 1e-9);
  const dispatchesPerIt = (os.memory().dispatches - d0) / Math.max(1, tr.iteration - it0);
  const genMeta: ModelMeta = { ...meta, generatorSigma: tr.cfg.generatorSigma, recipe: { command: a.command, teacher: a.teacher, config: tr.cfg, iterations: tr.iteration, itPerSec, dispatchesPerIt, adapter: os.device().adapterLabel, final: evals.at(-1) } };
  // generator.safetensors is what `onestep sample --sampler onestep` should use: the EMA weights when there is an EMA
  const shipped = sampler();
  await os.io.writeFileAtomic(join(a.out, 'generator.safetensors'), await saveModel(shipped, genMeta));
  if (tr.ema) await os.io.writeFileAtomic(join(a.out, 'generator-raw.safetensors'), await saveModel(tr.generator, genMeta));
  await os.io.writeFileAtomic(join(a.out, 'fake-score.safetensors'), await saveModel(tr.fake, { ...meta, recipe: { role: 'fake score', command: a.command } }));
  if (!a.quiet) writeReport(a.out, { title: `onestep distill: ${meta.data} (${tr.cfg.mode}${tr.cfg.ganWeight > 0 ? ' + GAN' : ''})`, evals, metricName: task.metricName, panels: [{ name: `generator, 1 NFE, iteration ${tr.iteration}`, png: lastPanel.iteration === tr.iteration && lastPanel.png ? lastPanel.png : (await task.evaluate(tr, shipped)).png }], table: [['teacher', a.teacher], ['iterations', String(tr.iteration)], ['it/s', itPerSec.toFixed(2)], ['final metric', JSON.stringify(evals.at(-1))]] });
  return { trainer: tr, teacher, meta, evals, itPerSec, dispatchesPerIt, sampler: shipped, task };
}

/** report.html: loss curves, the metric over time, sample panels and the timing table, self-contained. */
export function writeReport(dir: string, o: { title: string; evals: GeneratorEval[]; panels: { name: string; png: Uint8Array }[]; table: [string, string][]; metricName?: string; floor?: number; teacherMetric?: number }): void {
  const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const losses = lines.filter((l) => 'fake' in l);
  const smooth = (key: string) => {
    const pts: [number, number][] = [];
    const rows = losses.filter((l) => l[key] !== undefined);
    const win = Math.max(1, Math.floor(rows.length / 200));
    for (let i = 0; i + win <= rows.length; i += win) pts.push([rows[i + win - 1].iteration, rows.slice(i, i + win).reduce((s, r) => s + r[key], 0) / win]);
    return pts;
  };
  const metric = o.evals.map((e): [number, number] => [e.iteration, e.metric]);
  const ref = (v: number | undefined) => (v === undefined ? [] : [[0, v], [o.evals.at(-1)?.iteration ?? 1, v]] as [number, number][]);
  const html = `<!doctype html><meta charset="utf-8"><title>${o.title}</title>
<style>body{font-family:sans-serif;margin:24px;max-width:1200px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 10px;text-align:left}.panels{display:flex;gap:16px;flex-wrap:wrap}figure{margin:0}</style>
<h1>${o.title}</h1>
<table>${o.table.map(([k, v]) => `<tr><th>${k}</th><td>${v}</td></tr>`).join('')}</table>
<h2>Samples</h2><div class="panels">${o.panels.map((p) => `<figure><img width="320" height="320" src="data:image/png;base64,${Buffer.from(p.png).toString('base64')}"><figcaption>${p.name}</figcaption></figure>`).join('')}</div>
<h2>Metric over time</h2>${lineChartSvg(`${o.metricName ?? 'sliced Wasserstein distance to data'} (lower is better)`, [
    { name: 'generator', points: metric, color: '#d62728' },
    { name: 'teacher (Heun)', points: ref(o.teacherMetric), color: '#2ca02c' },
    { name: 'data floor', points: ref(o.floor), color: '#7f7f7f' },
  ], { logY: true })}
<h2>Losses</h2>${lineChartSvg('fake-score loss', [{ name: 'fake', points: smooth('fake'), color: '#1f77b4' }])}
${lineChartSvg('generator DM loss', [{ name: 'dm', points: smooth('dm'), color: '#ff7f0e' }], { logY: true })}
${lineChartSvg('‖DM gradient‖', [{ name: 'gradNorm', points: smooth('gradNorm'), color: '#9467bd' }], { logY: true })}
${losses.some((l) => l.ganD !== undefined) ? lineChartSvg('GAN losses', [{ name: 'head: softplus(D(fake)) + softplus(−D(real))', points: smooth('ganD'), color: '#17becf' }, { name: 'generator: softplus(−D(G(z)))', points: smooth('ganG'), color: '#bcbd22' }]) : ''}
${losses.some((l) => l.reg !== undefined) ? lineChartSvg('regression loss', [{ name: 'reg', points: smooth('reg'), color: '#8c564b' }], { logY: true }) : ''}
<p>Loss values are not a progress signal for DMD (DMD-SPEC §8.6): watch the metric and the samples.</p>`;
  writeFileSync(join(dir, 'report.html'), html);
}

/** After a resume, drops log lines written after the checkpoint (a killed run may have logged past it). */
export function truncateLog(path: string, key: string, upTo: number): void {
  if (!existsSync(path)) return;
  const keep = readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() && (JSON.parse(l)[key] ?? 0) <= upTo);
  writeFileSync(path, keep.length ? keep.join('\n') + '\n' : '');
}
