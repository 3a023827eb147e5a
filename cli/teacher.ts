// cli/teacher.ts: `onestep train-teacher` — trains an EDM teacher on a data set with Adam + EMA, writing
// runs/<name>/metrics.jsonl, an atomic resumable checkpoint, and the EMA model as DIR/teacher.safetensors.
import { existsSync, mkdirSync, readFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import * as os from '../engine';
import { HostRng } from '../models/data/rng';
import { toy2d } from '../models/data/toy2d';
import { EDMDenoiser, edmLoss } from '../models/edm';
import { MLPScoreNet, MLP_DEFAULTS } from '../models/mlp';
import { saveModel, type ModelMeta } from '../models/checkpoint';
import { heunSample } from '../models/samplers';
import { modeStats, slicedWasserstein } from '../models/metrics/toy';
import { Progress } from './progress';
import { truncateLog } from './distill';

export interface TeacherArgs {
  data: string;
  out: string;
  steps: number;
  batch: number;
  lr: number;
  ema: number; // EMA half-life in samples (EDM style); 0 = no EMA
  seed: number;
  resume: boolean;
  checkpointEvery: number;
  evalEvery: number;
  command: string;
}

const CKPT = 'checkpoint.safetensors';

export async function trainTeacher(a: TeacherArgs): Promise<void> {
  await os.init();
  const data = toy2d(a.data); // MNIST teachers arrive with the UNet
  mkdirSync(a.out, { recursive: true });
  const meta: ModelMeta = { kind: 'edm-denoiser', net: 'mlp', netConfig: { ...MLP_DEFAULTS }, sigmaData: 0.5, data: a.data };
  os.manualSeed(a.seed);
  const den = new EDMDenoiser(new MLPScoreNet(meta.netConfig), { sigmaData: meta.sigmaData });
  const ema = new EDMDenoiser(new MLPScoreNet(meta.netConfig), { sigmaData: meta.sigmaData });
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
  for (let step = start + 1; step <= a.steps; step++) {
    const y = os.tensor(data.sample(a.batch, rng), [a.batch, 2]);
    const loss = os.tidy(() => {
      const l = edmLoss(den, y);
      l.backward();
      return l;
    });
    y.dispose();
    opt.step();
    opt.zeroGrad();
    if (a.ema > 0) emaTracker.update(os.optim.edmEmaDecay(a.batch, a.ema, step * a.batch));
    pending.push({ step, loss });
    const last = step === a.steps;
    if (pending.length === 50 || last) {
      const lines: string[] = [];
      for (const p of pending) {
        lines.push(JSON.stringify({ step: p.step, loss: await p.loss.item() }));
        p.loss.dispose();
      }
      appendFileSync(metricsPath, lines.join('\n') + '\n');
      progress.update(step, { loss: JSON.parse(lines.at(-1)!).loss });
      pending = [];
    }
    if (step % a.checkpointEvery === 0 || last) await checkpoint(ckptPath, step, den, opt, emaTracker);
    if (a.evalEvery > 0 && (step % a.evalEvery === 0 || last)) {
      emaTracker.copyTo(ema.parameters());
      const m = await evaluate(a.ema > 0 ? ema : den, data);
      appendFileSync(metricsPath, JSON.stringify({ step, eval: m }) + '\n');
    }
  }
  const wall = progress.done();
  if (a.ema > 0) emaTracker.copyTo(ema.parameters());
  const final = a.ema > 0 ? ema : den;
  const metric = await evaluate(final, data);
  meta.recipe = { command: a.command, steps: a.steps, batch: a.batch, lr: a.lr, emaHalfLife: a.ema, seed: a.seed, wallSeconds: Math.round((performance.now() - t0) / 100) / 10, adapter: os.device().adapterLabel, metric };
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
