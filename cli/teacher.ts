// cli/teacher.ts: `onestep train-teacher` — trains an EDM teacher on a data set with Adam + EMA, writing
// runs/<name>/metrics.jsonl, an atomic resumable checkpoint, and the EMA model as DIR/teacher.safetensors.
import { existsSync, mkdirSync, readFileSync, appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as os from '../engine';
import { HostRng } from '../models/data/rng';
import { toy2d } from '../models/data/toy2d';
import { EDMDenoiser, edmTrainStep } from '../models/edm';
import { MLP_DEFAULTS, type MLPScoreNetConfig } from '../models/mlp';
import { MNIST_UNET, UNET_DEFAULTS, type UNetConfig } from '../models/unet';
import { mnist, mnistBatch, MNIST_SIZES, type MnistSize } from '../models/data/mnist';
import { buildDenoiser, saveModel, type ModelMeta } from '../models/checkpoint';
import { heunSample } from '../models/samplers';
import { modeStats, slicedWasserstein } from '../models/metrics/toy';
import { Progress } from './progress';
import { imageGridPng } from './plot';
import { ValueError } from '../engine/errors';
import { truncateLog } from './distill';

export interface TeacherArgs {
  data: string;
  out: string;
  steps: number;
  batch: number;
  lr: number;
  ema: number; // EMA half-life in samples (EDM style); 0 = no EMA
  pMean?: number; // training σ ~ exp(N(pMean, pStd²)) (EDM: −1.2, 1.2); lower pMean trains more at the small σ that sharp modes need
  pStd?: number;
  seed: number;
  resume: boolean;
  checkpointEvery: number;
  evalEvery: number;
  command: string;
  /** Network config overrides as JSON: MLPScoreNet fields for 2-D data ('{"hidden":256,"depth":4}'), UNet fields for images. */
  net?: string;
  /** Run each step op by op instead of as one compiled step (os.compile). */
  eager?: boolean;
}


/** A training set: batches, the model it needs, and how to evaluate a model on it. */
interface TeacherData {
  meta: ModelMeta;
  /** Probability of training a sample with the null class (classifier-free guidance); 0 for unconditional data. */
  labelDropout: number;
  batch(n: number, rng: HostRng): { y: os.Tensor; labels: os.Tensor | null };
  evaluate(den: EDMDenoiser, final: boolean, out: string, step: number): Promise<Record<string, unknown>>;
}

/** 'mnist16' | 'mnist28' | 'mnist32' → the size, else null. */
export function mnistSizeOf(name: string): MnistSize | null {
  const m = /^mnist(\d+)$/.exec(name);
  if (!m) return null;
  const size = Number(m[1]);
  if (!(MNIST_SIZES as readonly number[]).includes(size)) throw new ValueError(`data: MNIST comes in sizes ${MNIST_SIZES.map((s) => `mnist${s}`).join(', ')}; got "${name}"`);
  return size as MnistSize;
}

/**
 * The --net overrides: a JSON object whose keys are fields of the network's config (fixed fields excluded). A typo
 * would otherwise train the default network for an hour without a word.
 */
function netOverrides<T extends object>(netJson: string | undefined, defaults: T, fixed: string[], what: string): Partial<T> {
  if (!netJson) return {};
  let v: unknown;
  try {
    v = JSON.parse(netJson);
  } catch {
    throw new ValueError(`train-teacher: --net must be a JSON object of ${what} config fields, got ${netJson}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ValueError(`train-teacher: --net must be a JSON object of ${what} config fields, got ${netJson}`);
  const allowed = Object.keys(defaults).filter((k) => !fixed.includes(k));
  const bad = Object.keys(v).filter((k) => !allowed.includes(k));
  if (bad.length) throw new ValueError(`train-teacher: --net has ${bad.map((k) => `"${k}"`).join(', ')}, which ${what} does not take here; its fields are ${allowed.join(', ')}`);
  return v as Partial<T>;
}

function teacherData(name: string, netJson?: string): TeacherData {
  const size = mnistSizeOf(name);
  if (size === null) {
    const data = toy2d(name);
    const netConfig: MLPScoreNetConfig = { ...MLP_DEFAULTS, ...netOverrides(netJson, MLP_DEFAULTS, ['dim', 'labelDim'], 'MLPScoreNet') };
    return {
      meta: { kind: 'edm-denoiser', net: 'mlp', netConfig, sigmaData: 0.5, data: name },
      labelDropout: 0,
      batch: (n, rng) => ({ y: os.tensor(data.sample(n, rng), [n, 2]), labels: null }),
      evaluate: (den) => evaluate(den, data),
    };
  }
  const train = mnist({ size, split: 'train' });
  const overrides = netOverrides(netJson, UNET_DEFAULTS, ['resolution', 'inChannels', 'outChannels'], 'UNet');
  const netConfig: UNetConfig = { ...UNET_DEFAULTS, ...MNIST_UNET, ...overrides, resolution: size, inChannels: 1, outChannels: 1 };
  return {
    meta: { kind: 'edm-denoiser', net: 'unet', netConfig, sigmaData: 0.5, data: name },
    labelDropout: 0.1,
    batch: (n, rng) => {
      const b = mnistBatch(train, n, rng);
      return { y: b.x, labels: b.y };
    },
    evaluate: async (den, final, out, step) => {
      // Heun-18 (35 evaluations) on 10 digits per class; the picture is the quick look, `onestep eval` the metrics
      const n = final ? 100 : 50, K = 10;
      const labels = os.oneHot(os.tensor(Float32Array.from({ length: n }, (_, i) => i % K), [n]), K);
      const t0 = performance.now();
      const { x, nfe } = heunSample(den, { steps: 18, shape: [n, 1, size, size], seed: 1234, labels });
      const xs = await x.data();
      x.dispose();
      labels.dispose();
      const file = join(out, `samples-${String(step).padStart(6, '0')}.png`);
      writeFileSync(file, imageGridPng(xs, n, size, { cols: K, zoom: 3 }));
      return { nfe, grid: file, seconds: +((performance.now() - t0) / 1000).toFixed(1), mean: +(xs.reduce((s2, v) => s2 + v, 0) / xs.length).toFixed(4) };
    },
  };
}

const CKPT = 'checkpoint.safetensors';

export async function trainTeacher(a: TeacherArgs): Promise<void> {
  await os.init();
  const data = teacherData(a.data, a.net);
  const meta = data.meta;
  mkdirSync(a.out, { recursive: true });
  os.manualSeed(a.seed);
  const den = buildDenoiser(meta);
  const ema = buildDenoiser(meta);
  ema.loadStateDict(den.stateDict());
  const emaTracker = new os.optim.EMA(den.parameters(), { decay: 0.999 });
  const opt = new os.optim.Adam(den.parameters(), { lr: a.lr });
  let rng = new HostRng(a.seed);
  let start = 0;
  const ckptPath = join(a.out, CKPT);
  if (a.resume && existsSync(ckptPath)) {
    start = await restore(ckptPath, den, opt, emaTracker);
    opt.lr = a.lr; // the command line decides the learning rate of the resumed segment (e.g. a final lr drop)
    rng = new HostRng(a.seed + start * 7919); // a fresh data stream per resumed segment, seeded by the step
    truncateLog(join(a.out, 'metrics.jsonl'), 'step', start);
    console.log(`train-teacher: resumed from ${ckptPath} at step ${start}`);
  } else if (a.resume) console.log(`train-teacher: no checkpoint at ${ckptPath}; starting fresh`);
  const metricsPath = join(a.out, 'metrics.jsonl');
  const progress = new Progress(a.steps, 'step');
  const t0 = performance.now();
  let pending: { step: number; loss: os.Tensor }[] = [];
  let step = start;
  // one training step: the batch (host data: a dynamic region, drawn afresh at every call of the compiled step), the
  // EDM loss and its backward, Adam, the EMA at this step's decay
  const trainStep = (): os.Tensor => {
    const { y, labels } = os.dynamic(() => data.batch(a.batch, rng));
    const loss = edmTrainStep(den, opt, y, { labels, labelDropout: data.labelDropout, pMean: a.pMean, pStd: a.pStd });
    y.dispose();
    labels?.dispose();
    if (a.ema > 0) os.dynamic(() => emaTracker.update(os.optim.edmEmaDecay(a.batch, a.ema, step * a.batch)));
    return loss;
  };
  const runStep = a.eager ? trainStep : os.compile(trainStep);
  for (step = start + 1; step <= a.steps; step++) {
    await os.relieve();
    const loss = runStep();
    pending.push({ step, loss });
    const last = step === a.steps;
    if (pending.length === 50 || last) {
      const losses = await os.readAll(pending.map((p) => p.loss)); // one readback for the batch
      const lines = pending.map((p, i) => JSON.stringify({ step: p.step, loss: losses[i][0] }));
      for (const p of pending) p.loss.dispose();
      appendFileSync(metricsPath, lines.join('\n') + '\n');
      progress.update(step, { loss: JSON.parse(lines.at(-1)!).loss });
      pending = [];
    }
    if (step % a.checkpointEvery === 0 || last) await checkpoint(ckptPath, step, den, opt, emaTracker);
    if (a.evalEvery > 0 && (step % a.evalEvery === 0 || last)) {
      emaTracker.copyTo(ema.parameters());
      const m = await data.evaluate(a.ema > 0 ? ema : den, false, a.out, step);
      appendFileSync(metricsPath, JSON.stringify({ step, eval: m }) + '\n');
    }
  }
  const wall = progress.done();
  if (a.ema > 0) emaTracker.copyTo(ema.parameters());
  const final = a.ema > 0 ? ema : den;
  const metric = await data.evaluate(final, true, a.out, a.steps);
  meta.recipe = { command: a.command, params: final.parameters().reduce((n, p) => n + p.size, 0), steps: a.steps, batch: a.batch, lr: a.lr, emaHalfLife: a.ema, pMean: a.pMean ?? -1.2, pStd: a.pStd ?? 1.2, seed: a.seed, wallSeconds: Math.round((performance.now() - t0) / 100) / 10, adapter: os.device().adapterLabel, metric };
  await os.io.writeFileAtomic(join(a.out, 'teacher.safetensors'), await saveModel(final, meta));
  console.log(`train-teacher: ${a.steps} steps in ${wall.toFixed(0)} s → ${join(a.out, 'teacher.safetensors')}`);
  console.log(JSON.stringify(metric));
}

/** Heun-18 samples vs fresh data: SWD, the data-vs-data floor, and mode statistics. */
export async function evaluate(den: EDMDenoiser, data: ReturnType<typeof toy2d>, n = 4096) {
  const { x, nfe } = heunSample(den, { steps: 18, shape: [n, 2], seed: 1234 });
  const xs = await x.data();
  x.dispose();
  const ref = data.sample(n, new HostRng(777)), ref2 = data.sample(n, new HostRng(778));
  const modes = data.modes ? modeStats(xs, data.modes) : null;
  return { nfe, swd: slicedWasserstein(xs, ref), floor: slicedWasserstein(ref2, ref), modes: modes && { covered: modes.covered, hq: modes.hq, tv: modes.tv, mass: modes.mass.map((v) => +v.toFixed(4)) } };
}

async function checkpoint(path: string, step: number, den: EDMDenoiser, opt: os.optim.Adam, ema: os.optim.EMA): Promise<void> {
  const state: Record<string, os.Tensor> = {};
  for (const [k, t] of Object.entries(den.stateDict())) state[`model.${k}`] = t;
  const o = opt.state(), e = ema.state();
  for (const [slot, ts] of Object.entries(o.slots)) ts.forEach((t, i) => (state[`opt.${slot}.${i}`] = t));
  for (const [slot, ts] of Object.entries(e.slots)) ts.forEach((t, i) => (state[`ema.${slot}.${i}`] = t));
  const meta = { step: String(step), opt: JSON.stringify({ ...o, slots: undefined }), ema: JSON.stringify({ ...e, slots: undefined }), rng: JSON.stringify(os.getRngState()) };
  await os.io.writeFileAtomic(path, await os.io.saveSafetensorsChecked(state, meta));
}

async function restore(path: string, den: EDMDenoiser, opt: os.optim.Adam, ema: os.optim.EMA): Promise<number> {
  const { tensors, metadata } = await os.io.loadSafetensorsChecked(new Uint8Array(readFileSync(path)));
  const pick = (prefix: string) => Object.fromEntries(Object.entries(tensors).filter(([k]) => k.startsWith(prefix)).map(([k, t]) => [k.slice(prefix.length), t]));
  den.loadStateDict(pick('model.'));
  const slots = (prefix: string) => {
    const out: Record<string, os.Tensor[]> = {};
    for (const [k, t] of Object.entries(pick(prefix))) {
      const [slot, i] = k.split('.');
      (out[slot] ??= [])[Number(i)] = t;
    }
    return out;
  };
  opt.restore({ ...JSON.parse(metadata.opt), slots: slots('opt.') });
  ema.restore({ ...JSON.parse(metadata.ema), slots: slots('ema.') });
  os.setRngState(JSON.parse(metadata.rng));
  for (const t of Object.values(tensors)) t.dispose();
  return Number(metadata.step);
}
