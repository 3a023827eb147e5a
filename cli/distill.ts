// cli/distill.ts: `onestep distill` and `onestep make-pairs` — DMD/DMD2 distillation of a teacher file into a one-step
// generator, with progress, metrics.jsonl, scatter PNGs over time, atomic resumable checkpoints and report.html.
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as os from '../engine';
import { shapeSize } from '../runtime';
import { ValueError } from '../engine/errors';
import { loadModel, saveModel, type ModelMeta } from '../models/checkpoint';
import { loadClassifier } from '../models/classifier';
import { mnist, type MnistSize } from '../models/data/mnist';
import { mnistReference } from '../models/metrics/images';
import { type DMDConfig, type DMDTrainer, type RegressionPairs } from '../models/dmd';
import type { EDMDenoiser } from '../models/edm';
import { DistillSession, makePairs, type Quality, type SessionEval, type SessionTask } from '../models/session';
import { mnistTask } from '../models/tasks/mnist';
import { recipeFor, TOY_PAIRS } from '../models/recipe';
import { toyTask } from '../models/tasks/toy';
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
  /** Over the data set's recipe (models/recipe.ts); the recipe's mode when mode is not given. */
  config: Partial<DMDConfig>;
  command: string;
  quiet?: boolean;
  /** Classifier for image metrics (default zoo/mnist<S>-classifier.safetensors next to this package). */
  classifier?: string;
  /** Run on the current device instead of initialising one (a second run in one process, as the demo's ablation: a re-init would orphan the first run's tensors). */
  reuseDevice?: boolean;
  /** Regression pairs to make when `pairs` is not given (TOY_PAIRS). */
  pairCount?: number;
  /** MNIST: samples per evaluation, classes cycled (1,000). */
  evalSamples?: number;
  /**
   * The teacher's Heun-18 samples at the run's guidance, classes cycled, as many as an evaluation takes, when the caller
   * has made them already (the MNIST demo, for its report): they score the teacher instead of a second sampling run.
   */
  teacherSamples?: Float32Array;
}

/** The CLI's view of a data set: the session task, what the metric is called, and a picture of samples. */
export interface DistillTask {
  session: SessionTask;
  sampleShape: number[];
  /** The metric plotted over time, lower is better. */
  metricName: string;
  /** A picture of the last evaluation's samples. */
  picture(): Uint8Array;
  /** Samples per evaluation. */
  evalSamples: number;
  /** Scores samples as an evaluation does. */
  score(xs: Float32Array): Promise<Quality>;
}

/** The session's task, keeping the samples of the latest evaluation for the picture. */
function keepingSamples(t: SessionTask & { samples(net: EDMDenoiser, sigma: number | null): Promise<Float32Array>; score(x: Float32Array): Quality | Promise<Quality> }) {
  let last: Float32Array | null = null;
  const session: SessionTask = {
    ...t,
    evaluate: async (net, sigma) => {
      last = await t.samples(net, sigma);
      return t.score(last);
    },
  };
  return { session, last: () => last };
}

function toyDistillTask(meta: ModelMeta): DistillTask {
  const t = toyTask(meta.data);
  const { session, last } = keepingSamples(t);
  return { session, sampleShape: [2], metricName: 'sliced Wasserstein distance to data', picture: () => scatterPng(last() ?? new Float32Array(0)), evalSamples: t.n, score: async (xs) => t.score(xs) };
}

/** MNIST: class-conditional one-step samples (balanced classes) scored by the zoo classifier; teacher: Heun-18 with the run's guidance. */
async function mnistDistillTask(meta: ModelMeta, classifierPath: string, cfg: number, n = 1000): Promise<DistillTask> {
  if (meta.net !== 'unet') throw new ValueError(`distill: ${meta.data} teachers are UNets`);
  const S = meta.netConfig.resolution as MnistSize;
  if (!existsSync(classifierPath)) throw new ValueError(`distill: image metrics need the classifier ${classifierPath}; train it with onestep train-classifier --size ${S} --out ${classifierPath}, or pass --classifier FILE`);
  const { model: classifier } = await loadClassifier(new Uint8Array(readFileSync(classifierPath)));
  if (classifier.config.size !== S) throw new ValueError(`distill: the classifier ${classifierPath} takes ${classifier.config.size}×${classifier.config.size} images; the teacher makes ${S}×${S}`);
  const t = mnistTask(meta, classifier, mnist({ size: S, split: 'train' }), await mnistReference(classifier), { cfg, n });
  const { session, last } = keepingSamples(t);
  const picture = () => {
    const x = last() ?? new Float32Array(S * S);
    return imageGridPng(x.subarray(0, 100 * S * S), Math.min(100, x.length / (S * S)), S, { cols: 10, zoom: 3 });
  };
  return { session, sampleShape: [1, S, S], metricName: 'Fréchet distance to held-out digits (classifier features)', picture, evalSamples: t.n, score: t.score };
}

export async function makePairsCommand(a: { teacher: string; n: number; seed: number; out: string }): Promise<void> {
  await os.init();
  const { den, meta } = await loadModel(new Uint8Array(readFileSync(a.teacher)));
  const t0 = performance.now();
  if (meta.net !== 'mlp') throw new ValueError(`make-pairs: ${a.teacher} is a ${meta.data} ${meta.net} model; regression pairs are built for 2-D teachers (image DMD uses --mode dmd2)`);
  const p = makePairs(den, a.n, [meta.netConfig.dim], a.seed);
  await os.io.writeFileAtomic(a.out, await os.io.saveSafetensors({ z: p.z, y: p.y }, { teacher: a.teacher, sampler: 'heun', steps: '18', nfe: '35', seed: String(a.seed) }));
  console.log(JSON.stringify({ out: a.out, n: a.n, seconds: +((performance.now() - t0) / 1000).toFixed(1) }));
}

/** One evaluation as logged: the session's (seconds, iteration, quality, reached), with the task's headline metric. */
export type GeneratorEval = SessionEval;

/** The zoo folder of this package (checkpoints, classifiers). */
export const ZOO = join(import.meta.dirname ?? '.', '..', 'zoo');

export interface DistillResult {
  session: DistillSession;
  trainer: DMDTrainer;
  teacher: EDMDenoiser;
  meta: ModelMeta;
  evals: GeneratorEval[];
  itPerSec: number;
  dispatchesPerIt: number;
  /** The generator that was shipped (the EMA weights when there is an EMA). */
  sampler: EDMDenoiser;
  task: DistillTask;
}

export async function distill(a: DistillArgs): Promise<DistillResult> {
  if (!a.reuseDevice || !os.hasDevice()) await os.init();
  const { den: teacher, meta } = await loadModel(new Uint8Array(readFileSync(a.teacher)));
  if (meta.generatorSigma !== undefined) throw new ValueError(`distill: ${a.teacher} is a one-step generator, not a teacher; pass the teacher it was distilled from`);
  const image = meta.net === 'unet';
  // the recipe the page uses too; the caller's settings over it
  const config: Partial<DMDConfig> = { ...recipeFor(meta.data, a.config.mode), ...a.config };
  if (image && (config.regWeight ?? 0) > 0) throw new ValueError('distill: the regression loss is implemented for 2-D teachers (L2); for images use --mode dmd2 or --reg-weight 0 (the paper\'s LPIPS has no counterpart at this scale)');
  const task = image ? await mnistDistillTask(meta, a.classifier ?? join(ZOO, `${meta.data}-classifier.safetensors`), config.cfg ?? 1, a.evalSamples) : toyDistillTask(meta);
  let teacherQuality: Quality | undefined;
  if (a.teacherSamples) {
    const want = task.evalSamples * shapeSize(task.sampleShape);
    if (a.teacherSamples.length !== want) throw new ValueError(`distill: teacherSamples holds ${a.teacherSamples.length} values; an evaluation takes ${task.evalSamples} samples of [${task.sampleShape}] (${want} values)`);
    teacherQuality = await task.score(a.teacherSamples);
  }
  mkdirSync(join(a.out, 'samples'), { recursive: true });
  os.manualSeed(config.seed ?? 0);
  let pairs: RegressionPairs | number | undefined;
  if ((config.regWeight ?? 0) > 0 && a.pairs) {
    const { tensors } = await os.io.loadSafetensors(new Uint8Array(readFileSync(a.pairs)));
    if (!tensors.z || !tensors.y) throw new ValueError(`distill: ${a.pairs} has no "z" and "y" tensors (make it with onestep make-pairs)`);
    pairs = { z: os.keep(tensors.z), y: os.keep(tensors.y) };
  } else if ((config.regWeight ?? 0) > 0 && !a.quiet) console.log(`distill: making ${(a.pairCount ?? TOY_PAIRS).toLocaleString('en')} regression pairs with the teacher (Heun, 18 steps)…`);
  const session = await DistillSession.start({ teacher, meta, config, task: task.session, pairs: pairs ?? a.pairCount ?? TOY_PAIRS, pairSeed: 1000 + (config.seed ?? 0), teacherQuality });
  const tr = session.trainer;
  if (session.pairs && !a.pairs) await os.io.writeFileAtomic(join(a.out, 'pairs.safetensors'), await os.io.saveSafetensors({ z: session.pairs.z, y: session.pairs.y }, { sampler: 'heun', steps: '18' }));
  const ckpt = join(a.out, 'checkpoint.safetensors');
  const metricsPath = join(a.out, 'metrics.jsonl');
  if (a.resume && existsSync(ckpt)) {
    const { tensors, metadata } = await os.io.loadSafetensorsChecked(new Uint8Array(readFileSync(ckpt)));
    session.restore({ tensors, meta: metadata });
    for (const t of Object.values(tensors)) t.dispose();
    truncateLog(metricsPath, 'iteration', tr.iteration);
    if (!a.quiet) console.log(`distill: resumed from ${ckpt} at iteration ${tr.iteration}`);
  } else writeFileSync(metricsPath, '');
  const lastPanel: { iteration: number; png: Uint8Array | null } = { iteration: -1, png: null }; // reused by report.html
  const logEval = async () => {
    const ev = await session.evaluate();
    appendFileSync(metricsPath, JSON.stringify({ iteration: tr.iteration, eval: ev }) + '\n');
    const png = task.picture();
    writeFileSync(join(a.out, 'samples', `generator-${String(tr.iteration).padStart(6, '0')}.png`), png);
    Object.assign(lastPanel, { iteration: tr.iteration, png });
    if (ev.reached && session.ttqSeconds === ev.seconds && !a.quiet) progress.note(`reached the teacher's quality after ${ev.seconds.toFixed(1)} s of training (iteration ${ev.iteration})`);
    return ev;
  };
  const progress = new Progress(a.steps, 'iteration', a.quiet ? ({ write: () => true, isTTY: false } as unknown as NodeJS.WriteStream) : process.stderr);
  if (tr.iteration === 0) await logEval();
  const t0 = performance.now(), d0 = os.memory().dispatches, it0 = tr.iteration, s0 = session.trainSeconds;
  let last: Record<string, number> = {};
  while (tr.iteration < a.steps) {
    // losses read back after each batch of iterations (50, or up to the next evaluation / checkpoint / end)
    const stops = [a.steps, ...(a.evalEvery > 0 ? [Math.ceil((tr.iteration + 1) / a.evalEvery) * a.evalEvery] : []), Math.ceil((tr.iteration + 1) / Math.max(1, a.checkpointEvery)) * a.checkpointEvery];
    const n = Math.min(50, Math.min(...stops) - tr.iteration);
    const records = await session.train(n);
    for (const rec of records) {
      if (rec.dm !== undefined) last = { ...last, dm: rec.dm, gradNorm: rec.gradNorm! };
      last.fake = rec.fake!;
      if (rec.ganD !== undefined) last.ganD = rec.ganD;
      const bad = Object.entries(rec).find(([, v]) => !Number.isFinite(v));
      if (bad) throw new ValueError(`distill: loss ${bad[0]} became ${bad[1]} at iteration ${rec.iteration}; the last good checkpoint is ${ckpt}`);
    }
    appendFileSync(metricsPath, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
    progress.update(tr.iteration - it0, { fake: last.fake, ...(last.dm !== undefined ? { dm: last.dm } : {}), ...(last.ganD !== undefined ? { ganD: last.ganD } : {}) });
    const done = tr.iteration >= a.steps;
    if (a.evalEvery > 0 && (tr.iteration % a.evalEvery === 0 || done)) await logEval();
    if (tr.iteration % a.checkpointEvery === 0 || done) {
      const s = session.state();
      await os.io.writeFileAtomic(ckpt, await os.io.saveSafetensorsChecked(s.tensors, s.meta));
    }
  }
  progress.done();
  const itPerSec = (tr.iteration - it0) / Math.max(session.trainSeconds - s0, 1e-9);
  const dispatchesPerIt = (os.memory().dispatches - d0) / Math.max(1, tr.iteration - it0);
  void t0;
  const evals = session.evals;
  const genMeta: ModelMeta = { ...meta, generatorSigma: tr.cfg.generatorSigma, recipe: { command: a.command, teacher: a.teacher, config: tr.cfg, iterations: tr.iteration, itPerSec, dispatchesPerIt, ttqSeconds: session.ttqSeconds, trainSeconds: session.trainSeconds, adapter: os.device().adapterLabel, final: evals.at(-1) } };
  // generator.safetensors is what `onestep sample --sampler onestep` should use: the EMA weights when there is an EMA
  const shipped = session.generator();
  await os.io.writeFileAtomic(join(a.out, 'generator.safetensors'), await saveModel(shipped, genMeta));
  if (tr.ema) await os.io.writeFileAtomic(join(a.out, 'generator-raw.safetensors'), await saveModel(tr.generator, genMeta));
  await os.io.writeFileAtomic(join(a.out, 'fake-score.safetensors'), await saveModel(tr.fake, { ...meta, recipe: { role: 'fake score', command: a.command } }));
  if (!a.quiet && lastPanel.iteration !== tr.iteration) await logEval();
  if (!a.quiet) {
    writeReport(a.out, {
      title: `onestep distill: ${meta.data} (${tr.cfg.mode}${tr.cfg.ganWeight > 0 ? ' + GAN' : ''})`, evals, metricName: task.metricName, teacherMetric: session.teacherQuality?.metric,
      panels: [{ name: `generator, 1 NFE, iteration ${tr.iteration}`, png: lastPanel.png! }],
      table: [['teacher', a.teacher], ['iterations', String(tr.iteration)], ['it/s', itPerSec.toFixed(2)], ['time to quality', ttqText(session)], ['final metric', JSON.stringify(evals.at(-1))]],
    });
    console.log(`distill: time to quality ${ttqText(session)}`);
  }
  return { session, trainer: tr, teacher, meta, evals, itPerSec, dispatchesPerIt, sampler: shipped, task };
}

/** "12.3 s of training (iteration 450); 4.1 s of evaluation" or "not reached in … s". */
export function ttqText(s: DistillSession): string {
  const at = s.evals.find((e) => e.reached);
  const ev = `${s.evalSeconds.toFixed(1)} s of evaluation excluded`;
  return at ? `${at.seconds.toFixed(1)} s of training (iteration ${at.iteration}); ${ev}` : `not reached in ${s.trainSeconds.toFixed(1)} s of training; ${ev}`;
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
  // quality against training wall seconds (evaluation excluded): what time to quality reads off
  const metric = o.evals.map((e): [number, number] => [e.seconds, e.metric]);
  const ref = (v: number | undefined) => (v === undefined ? [] : [[0, v], [o.evals.at(-1)?.seconds ?? 1, v]] as [number, number][]);
  const html = `<!doctype html><meta charset="utf-8"><title>${o.title}</title>
<style>body{font-family:sans-serif;margin:24px;max-width:1200px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 10px;text-align:left}.panels{display:flex;gap:16px;flex-wrap:wrap}figure{margin:0}</style>
<h1>${o.title}</h1>
<table>${o.table.map(([k, v]) => `<tr><th>${k}</th><td>${v}</td></tr>`).join('')}</table>
<h2>Samples</h2><div class="panels">${o.panels.map((p) => `<figure><img width="320" height="320" src="data:image/png;base64,${Buffer.from(p.png).toString('base64')}"><figcaption>${p.name}</figcaption></figure>`).join('')}</div>
<h2>Metric over training time</h2>${lineChartSvg(`${o.metricName ?? 'sliced Wasserstein distance to data'} (lower is better) against training seconds`, [
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
