// models/session.ts: one distillation, as `onestep distill`, `npm run demo` and the web page run it: the regression
// pairs, the trainer, iterations with one loss readback per batch of them, evaluations of the generator that is
// sampled and shipped (the EMA when there is one), and time to quality (TTQ): training wall seconds, from the start
// (teacher loaded; pairs included) to the first evaluation at which the generator reaches the teacher's quality.
// Evaluation time is kept apart. No file or DOM access: the CLI and the page add their own I/O around it.
import * as os from '../engine';
import type { Tensor } from '../engine';
import { buildDenoiser, type ModelMeta } from './checkpoint';
import { DMDTrainer, type DMDConfig, type DMDLosses, type RealData, type RegressionPairs } from './dmd';
import type { EDMDenoiser } from './edm';
import { heunSample } from './samplers';

/** What an evaluation reports: the task's headline metric (lower is better) and its extras. */
export interface Quality {
  metric: number;
  [extra: string]: number | number[] | boolean | null;
}

/** What a session needs to know about the data. */
export interface SessionTask {
  sampleShape: number[];
  /** Real batches for the GAN head. */
  realData: RealData;
  /** Scores samples of `net` (a one-step generator when sigma is given, else the teacher's Heun-18 sampler). */
  evaluate(net: EDMDenoiser, generatorSigma: number | null): Promise<Quality>;
  /** Whether the generator's quality has reached the teacher's (the TTQ criterion). */
  reached(generator: Quality, teacher: Quality): boolean;
}

/** One evaluation: when (training seconds, iteration), the quality, and whether it reached the teacher's. */
export interface SessionEval extends Quality {
  seconds: number;
  iteration: number;
  reached: boolean;
}

/** One iteration's losses, read back. */
export type LossRecord = { iteration: number } & { [K in keyof DMDLosses]?: number };

export interface SessionOptions {
  teacher: EDMDenoiser;
  meta: ModelMeta;
  config: Partial<DMDConfig>;
  task: SessionTask;
  /** DMD's regression pairs: given, or this many made with the teacher (Heun-18) at the start. */
  pairs?: RegressionPairs | number;
  /** Seed of the pairs' noises. */
  pairSeed?: number;
  /** The teacher's quality when it is already known (the page scores its teacher panel once); else start() evaluates it. */
  teacherQuality?: Quality;
  /** The clock (ms); performance.now by default. */
  now?: () => number;
}

/** Heun-18 outputs of the teacher for fixed noises z: DMD's regression set. */
export function makePairs(teacher: EDMDenoiser, n: number, shape: readonly number[], seed: number): RegressionPairs {
  const z = os.keep(os.randn([n, ...shape], { seed }));
  const { x } = heunSample(teacher, { steps: 18, shape: [n, ...shape], seed });
  return { z, y: os.keep(x) };
}

export class DistillSession {
  readonly trainer: DMDTrainer;
  readonly evals: SessionEval[] = [];
  /** The teacher's quality (Heun-18), the TTQ reference; set by start(). */
  teacherQuality: Quality | null = null;
  /** Wall seconds spent training (pairs and iterations; evaluation excluded). */
  trainSeconds = 0;
  /** Wall seconds spent evaluating. */
  evalSeconds = 0;
  /** Training seconds at the first evaluation that reached the teacher's quality, or null. */
  ttqSeconds: number | null = null;
  /** The network holding the EMA weights when there is an EMA (what is sampled and shipped). */
  private readonly emaNet: EDMDenoiser | null;
  private readonly now: () => number;

  private constructor(
    readonly task: SessionTask,
    readonly meta: ModelMeta,
    trainer: DMDTrainer,
    readonly pairs: RegressionPairs | null,
    now: () => number,
  ) {
    this.trainer = trainer;
    this.now = now;
    this.emaNet = trainer.ema ? buildDenoiser(meta) : null;
  }

  /** Makes the pairs (timed as training) and the trainer; evaluates the teacher (timed as evaluation). */
  static async start(o: SessionOptions): Promise<DistillSession> {
    const now = o.now ?? (() => performance.now());
    const t0 = now();
    let pairs: RegressionPairs | null = null;
    const wantPairs = (o.config.regWeight ?? 0) > 0;
    if (wantPairs) {
      pairs = typeof o.pairs === 'object' ? o.pairs : makePairs(o.teacher, o.pairs ?? 5000, o.task.sampleShape, o.pairSeed ?? 1000);
      await pairs.y.data(); // the pairs are done before the clock reads
    }
    const trainer = new DMDTrainer({ teacher: o.teacher, makeDenoiser: () => buildDenoiser(o.meta), sampleShape: o.task.sampleShape, pairs, realData: o.task.realData, config: o.config });
    const s = new DistillSession(o.task, o.meta, trainer, pairs, now);
    s.trainSeconds = (now() - t0) / 1000;
    const t1 = now();
    s.teacherQuality = o.teacherQuality ?? (await o.task.evaluate(o.teacher, null));
    s.evalSeconds += (now() - t1) / 1000;
    return s;
  }

  get iteration(): number {
    return this.trainer.iteration;
  }

  /** The generator that is sampled, evaluated and shipped: the EMA weights when there is an EMA, else the raw ones. */
  generator(): EDMDenoiser {
    const tr = this.trainer;
    if (!this.emaNet || !tr.ema) return tr.generator;
    tr.ema.copyTo(this.emaNet.parameters());
    return this.emaNet;
  }

  /**
   * Runs `n` iterations, then reads their losses back in one readback (the GPU never waits for the host in between;
   * os.readAll copies each loss into one staging buffer, where stacking them into one tensor cost a dispatch per loss);
   * `yieldEvery` awaits between iterations (the page's event loop, Dawn's housekeeping). Timed as training.
   */
  async train(n: number, o: { onIteration?: () => Promise<void> | void } = {}): Promise<LossRecord[]> {
    const t0 = this.now();
    const pending: { iteration: number; l: DMDLosses }[] = [];
    for (let i = 0; i < n; i++) {
      pending.push({ l: this.trainer.step(), iteration: this.trainer.iteration });
      await (o.onIteration?.() ?? os.relieve());
    }
    // every loss of every iteration in one readback
    const losses = pending.map((p) => Object.entries(p.l).filter(([, t]) => t) as [keyof DMDLosses, Tensor][]);
    const values = await os.readAll(losses.flat().map(([, t]) => t));
    let at = 0;
    const records = pending.map((p, i) => {
      const rec: LossRecord = { iteration: p.iteration };
      for (const [k, t] of losses[i]) {
        rec[k] = values[at++][0];
        t.dispose();
      }
      return rec;
    });
    this.trainSeconds += (this.now() - t0) / 1000;
    return records;
  }

  /** Evaluates the shipped generator (timed apart); the first evaluation that reaches the teacher's quality sets TTQ. */
  async evaluate(): Promise<SessionEval> {
    const t0 = this.now();
    const q = await this.task.evaluate(this.generator(), this.trainer.cfg.generatorSigma);
    const reached = this.teacherQuality !== null && this.task.reached(q, this.teacherQuality);
    if (reached && this.ttqSeconds === null) this.ttqSeconds = this.trainSeconds;
    const e: SessionEval = { ...q, seconds: this.trainSeconds, iteration: this.trainer.iteration, reached };
    this.evals.push(e);
    this.evalSeconds += (this.now() - t0) / 1000;
    return e;
  }

  /** The trainer's state plus the session's clock and evaluations (a checkpoint). */
  state(): { tensors: Record<string, Tensor>; meta: Record<string, string> } {
    const s = this.trainer.state();
    return { tensors: s.tensors, meta: { ...s.meta, session: JSON.stringify({ trainSeconds: this.trainSeconds, evalSeconds: this.evalSeconds, ttqSeconds: this.ttqSeconds, evals: this.evals }) } };
  }

  restore(s: { tensors: Record<string, Tensor>; meta: Record<string, string> }): void {
    this.trainer.restore(s);
    if (s.meta.session) {
      const j = JSON.parse(s.meta.session) as { trainSeconds: number; evalSeconds: number; ttqSeconds: number | null; evals: SessionEval[] };
      this.trainSeconds = j.trainSeconds;
      this.evalSeconds = j.evalSeconds;
      this.ttqSeconds = j.ttqSeconds;
      this.evals.splice(0, this.evals.length, ...j.evals);
    }
  }

  /** Frees the pairs and the EMA network (the trainer's tensors stay with the trainer). */
  dispose(): void {
    this.pairs?.z.dispose();
    this.pairs?.y.dispose();
    this.emaNet?.parameters().forEach((p) => p.dispose());
  }
}
