// models/dmd.ts: Distribution Matching Distillation (Yin et al., CVPR 2024) and DMD2 (NeurIPS 2024), following
// tianweiy/DMD2 `main/edm/edm_guidance.py` + `edm_unified_model.py` (DMD-SPEC §2, §9). Three denoisers of one
// architecture: the frozen real score (teacher), the fake score (trained online on generator samples), and the
// generator G(z, y) = D_G(σ_g·z; σ_g, y), all initialised from the teacher.
import * as os from '../engine';
import type { Tensor } from '../engine';
import { ValueError } from '../engine/errors';
import { HostRng } from './data/rng';
import { EDMDenoiser, fSpaceTarget, karrasGrid, sigmaLike } from './edm';
import { GanHead, ganDiscriminatorLoss, ganGeneratorLoss } from './gan';

export interface DMDConfig {
  mode: 'dmd' | 'dmd2'; // dmd: regression loss, 1 fake update per generator update; dmd2: no regression, TTUR
  batch: number;
  lr: number; // generator AdamW learning rate
  fakeLr: number; // fake-score AdamW learning rate
  weightDecay: number; // AdamW decay for both (DMD2: 0.01)
  betas: [number, number];
  ttur: number; // fake-score updates per generator update (DMD2: 5; DMD: 1)
  regWeight: number; // λ_reg of DMD's regression loss (DMD: 0.25; needs `pairs`)
  cfg: number; // classifier-free guidance on the real score only (1 = none)
  gradClip: number; // global-norm clipping of each network's gradient (10)
  generatorSigma: number; // σ_g at which G evaluates the teacher's denoiser (80)
  minStep: number; // DM loss σ indices on the 1000-level Karras grid: [minStep, maxStep] (20, 980)
  maxStep: number;
  emaDecay: number; // EMA of the generator, warmed up as min(β, (1+t)/(10+t)) (0 = off; DMD2 uses none)
  realOnly: boolean; // ablation: μ_fake := x_t (no fake score) — collapses onto modes (DMD Fig. 3a)
  ganWeight: number; // DMD2 GAN head: weight of the generator's loss softplus(−D(G(z))) (DMD2 ImageNet: 3e-3; 0 = off)
  ganDWeight: number; // weight of the head's loss softplus(D(fake)) + softplus(−D(real)) in the fake-score update (1e-2)
  ganMaxStep: number; // the head sees samples noised at Karras levels [0, ganMaxStep] (DMD2: 999, the whole grid)
  regBatch: number; // regression pairs per generator update (0 = batch)
  seed: number;
  warmup: number; // learning-rate warm-up: the k-th update of each optimiser uses lr·min(1, k / warmup) (0 = off)
  lrDecay: number; // cosine decay: after the warm-up both rates fall along a half cosine to 10% at update `lrDecay`, then stay (0 = off)
  compiled: boolean; // run each kind of iteration as a compiled step (os.compile): same results, far fewer dispatches
}

export const DMD_DEFAULTS: Record<'dmd' | 'dmd2', DMDConfig> = {
  dmd: { mode: 'dmd', batch: 256, lr: 1e-4, fakeLr: 1e-4, weightDecay: 0.01, betas: [0.9, 0.999], ttur: 1, regWeight: 0.25, cfg: 1, gradClip: 10, generatorSigma: 80, minStep: 20, maxStep: 980, emaDecay: 0, realOnly: false, ganWeight: 0, ganDWeight: 1e-2, ganMaxStep: 999, regBatch: 0, seed: 0, warmup: 0, lrDecay: 0, compiled: true },
  dmd2: { mode: 'dmd2', batch: 256, lr: 1e-4, fakeLr: 1e-4, weightDecay: 0.01, betas: [0.9, 0.999], ttur: 5, regWeight: 0, cfg: 1, gradClip: 10, generatorSigma: 80, minStep: 20, maxStep: 980, emaDecay: 0, realOnly: false, ganWeight: 0, ganDWeight: 1e-2, ganMaxStep: 999, regBatch: 0, seed: 0, warmup: 0, lrDecay: 0, compiled: true },
};

/** DMD's regression set: noises z_i and the teacher's deterministic (Heun) samples y_i = ODE(z_i). */
export interface RegressionPairs {
  z: Tensor; // [P, ...]
  y: Tensor; // [P, ...]
}

/** The losses of one step, as 0-d tensors (read them back in batches; a readback per step would stall the GPU). */
export interface DMDLosses {
  /** Generator distribution-matching loss (only on generator steps). */
  dm?: Tensor;
  /** Regression loss (DMD mode, generator steps). */
  reg?: Tensor;
  /** ‖grad‖ of the DM gradient (DMD2's stability signal). */
  gradNorm?: Tensor;
  /** Fake-score denoising loss (every step). */
  fake: Tensor;
  /** GAN generator loss softplus(−D(G(z))) (generator steps, with a GAN head). */
  ganG?: Tensor;
  /** GAN head loss softplus(D(fake)) + softplus(−D(real)) (every step, with a GAN head). */
  ganD?: Tensor;
}

/** A batch of real training data (the GAN head's positives): x [B, ...sampleShape] and one-hot labels or null. */
export type RealData = (batch: number, rng: HostRng) => { x: Tensor; labels: Tensor | null };

/** Copies a denoiser: same architecture, same weights. */
export type DenoiserFactory = () => EDMDenoiser;

export class DMDTrainer {
  readonly cfg: DMDConfig;
  readonly real: EDMDenoiser;
  readonly fake: EDMDenoiser;
  readonly generator: EDMDenoiser;
  readonly ema: os.optim.EMA | null;
  readonly optG: os.optim.AdamW;
  readonly optF: os.optim.AdamW;
  /** DMD2's GAN head on the fake score's bottleneck (null without ganWeight), and its optimiser. */
  readonly head: GanHead | null;
  readonly optH: os.optim.AdamW | null;
  private readonly realData: RealData | null;
  private readonly grid = karrasGrid();
  private readonly rng: HostRng;
  /** Factor of both base rates at an optimiser's update s (0-based): the warm-up, then the cosine decay if any. */
  private readonly schedule: os.optim.Schedule;
  private readonly pairs: RegressionPairs | null;
  private readonly sampleShape: number[];
  iteration = 0;
  /**
   * The two kinds of iteration as compiled steps (null: eager, cfg.compiled false): `generator` (the generator update,
   * then the fake score's) and `fake` (the fake score's alone, TTUR > 1). Their stats() and explain() show what each
   * iteration dispatches once it has run; call neither: step() does.
   */
  readonly compiledSteps: { generator: os.Compiled<[], DMDLosses>; fake: os.Compiled<[], DMDLosses> } | null;
  /** Compiled mode: whether both kinds of iteration have been traced (see traceBeforeFirstStep). */
  private traced = false;

  constructor(o: { teacher: EDMDenoiser; makeDenoiser: DenoiserFactory; sampleShape: readonly number[]; pairs?: RegressionPairs | null; realData?: RealData | null; config?: Partial<DMDConfig> }) {
    const mode = o.config?.mode ?? 'dmd2';
    this.cfg = { ...DMD_DEFAULTS[mode], ...o.config };
    const c = this.cfg;
    if (!Number.isInteger(c.ttur) || c.ttur < 1) throw new ValueError(`DMDTrainer: ttur must be a positive integer, got ${c.ttur}`);
    if (!Number.isInteger(c.warmup) || c.warmup < 0) throw new ValueError(`DMDTrainer: warmup must be an integer ≥ 0 (updates), got ${c.warmup}`);
    if (!Number.isInteger(c.lrDecay) || c.lrDecay < 0) throw new ValueError(`DMDTrainer: lrDecay must be an integer ≥ 0 (updates), got ${c.lrDecay}`);
    if (c.regWeight > 0 && !o.pairs) throw new ValueError(`DMDTrainer: regWeight ${c.regWeight} needs regression pairs (onestep make-pairs); pass pairs or set regWeight 0`);
    if (!(c.ganWeight >= 0 && c.ganDWeight >= 0)) throw new ValueError(`DMDTrainer: ganWeight and ganDWeight must be ≥ 0, got ${c.ganWeight}, ${c.ganDWeight}`);
    if (c.ganWeight > 0 && !o.realData) throw new ValueError(`DMDTrainer: ganWeight ${c.ganWeight} needs a stream of real data for the GAN head (realData); pass one or set ganWeight 0`);
    if (c.ganWeight > 0 && c.realOnly) throw new ValueError('DMDTrainer: the GAN head lives on the fake score, which the realOnly ablation removes; use one or the other');
    if (!Number.isInteger(c.regBatch) || c.regBatch < 0) throw new ValueError(`DMDTrainer: regBatch must be an integer ≥ 0 (regression pairs per generator update; 0 = batch), got ${c.regBatch}`);
    if (!(c.minStep >= 0 && c.maxStep <= 999 && c.minStep <= c.maxStep)) throw new ValueError(`DMDTrainer: need 0 ≤ minStep ≤ maxStep ≤ 999, got ${c.minStep}, ${c.maxStep}`);
    this.real = o.teacher;
    this.real.requiresGrad_(false).eval();
    this.fake = o.makeDenoiser();
    this.generator = o.makeDenoiser();
    this.fake.loadStateDict(o.teacher.stateDict());
    this.generator.loadStateDict(o.teacher.stateDict());
    this.pairs = o.pairs ?? null;
    this.sampleShape = [...o.sampleShape];
    this.rng = new HostRng(c.seed);
    if (c.lrDecay > 0 && c.lrDecay <= c.warmup) throw new ValueError(`DMDTrainer: lrDecay (${c.lrDecay}) must end after the warm-up (${c.warmup} updates); 0 turns it off`);
    this.schedule = c.lrDecay > 0 ? os.optim.cosine(c.lrDecay, { warmup: c.warmup, minFactor: 0.1 }) : os.optim.warmup(c.warmup);
    this.optG = new os.optim.AdamW(this.generator.parameters(), { lr: c.lr, betas: c.betas, weightDecay: c.weightDecay });
    this.optF = new os.optim.AdamW(this.fake.parameters(), { lr: c.fakeLr, betas: c.betas, weightDecay: c.weightDecay });
    this.ema = c.emaDecay > 0 ? new os.optim.EMA(this.generator.parameters(), { decay: c.emaDecay, warmup: true }) : null;
    this.realData = o.realData ?? null;
    this.head = c.ganWeight > 0 ? new GanHead(this.fake.net.bottleneckShape) : null;
    this.optH = this.head ? new os.optim.AdamW(this.head.parameters(), { lr: c.fakeLr, betas: c.betas, weightDecay: c.weightDecay }) : null;
    this.compiledSteps = c.compiled ? { generator: os.compile(() => this.generatorIterationEager()), fake: os.compile(() => this.fakeIterationEager()) } : null;
  }

  /** GAN logits [B] of samples x: the head on the fake score's bottleneck at x + σ·ε, σ from Karras levels [0, ganMaxStep]. */
  discriminate(x: Tensor, labels: Tensor | null): Tensor {
    return os.tidy(() => {
      const { xt, sigma } = this.ganNoised(x);
      return this.head!.forward(this.fake.bottleneck(xt, sigma, labels));
    });
  }

  /**
   * discriminate() of two batches (generator samples and real data) in one pass of the fake score's trunk and the
   * head: the same draws in the same order, half the dispatches. Every layer treats samples alike (no batch norm).
   */
  discriminatePair(a: Tensor, la: Tensor | null, b: Tensor, lb: Tensor | null): [Tensor, Tensor] {
    return os.tidy(() => {
      const logits = this.head!.forward(this.trunk([{ ...this.ganNoised(a), labels: la }, { ...this.ganNoised(b), labels: lb }]));
      const n = a.shape[0];
      return [os.slice(logits, [0], [n]), os.slice(logits, [n], [n + b.shape[0]])];
    });
  }

  /** The fake score's bottleneck features of several noised batches, stacked, from one pass of its trunk (labels: all or none). */
  private trunk(parts: { xt: Tensor; sigma: Tensor; labels: Tensor | null }[]): Tensor {
    const labels = parts.every((p) => p.labels) ? os.cat(parts.map((p) => p.labels!), 0) : null;
    return this.fake.bottleneck(os.cat(parts.map((p) => p.xt), 0), os.cat(parts.map((p) => p.sigma), 0), labels);
  }

  /** x + σ·ε with σ per sample from Karras levels [0, ganMaxStep]: what the head sees. */
  private ganNoised(x: Tensor): { xt: Tensor; sigma: Tensor } {
    const sigma = this.drawSigmas(0, this.cfg.ganMaxStep, x.shape[0]);
    return { xt: os.add(x, os.mul(os.randnLike(x), sigmaLike(sigma, x))), sigma };
  }

  /**
   * σ per sample: Karras grid levels drawn uniformly from [lo, hi] (host RNG, so resume replays the stream; a dynamic
   * region, so a compiled step draws afresh at every call).
   */
  private drawSigmas(lo: number, hi: number, n = this.cfg.batch): Tensor {
    return os.dynamic(() => {
      const s = new Float32Array(n);
      for (let i = 0; i < s.length; i++) s[i] = this.grid[lo + this.rng.int(hi - lo + 1)];
      return os.tensor(s, [s.length]);
    });
  }

  /** G(z, y) = D_G(σ_g·z; σ_g, y). */
  generate(z: Tensor, labels: Tensor | null = null, net: EDMDenoiser = this.generator): Tensor {
    return os.tidy(() => net.forward(os.mul(z, this.cfg.generatorSigma), os.full([z.shape[0]], this.cfg.generatorSigma), labels));
  }

  /**
   * The DM loss of DMD2's `compute_distribution_matching_loss`: on x_t = x + σ·ε (no grad),
   * grad = (μ_fake − μ_real) / mean|x − μ_real| per sample (NaN-guarded), loss = 0.5·mean((x − sg(x − grad))²),
   * so ∂loss/∂x = grad / numel and nothing flows into the score networks.
   */
  dmLoss(x: Tensor, labels: Tensor | null, fixed: { sigma?: Tensor; noise?: Tensor } = {}): { loss: Tensor; gradNorm: Tensor } {
    const c = this.cfg;
    return os.tidy(() => {
      const { grad, gradNorm } = os.noGrad(() =>
        os.tidy(() => {
          const xd = x.detach();
          const sigma = fixed.sigma ?? this.drawSigmas(c.minStep, c.maxStep);
          const xt = os.add(xd, os.mul(fixed.noise ?? os.randnLike(xd), sigmaLike(sigma, xd)));
          const muReal = this.real.guided(xt, sigma, labels, c.cfg);
          const muFake = c.realOnly ? xt : this.fake.forward(xt, sigma, labels); // fake score: never guided
          const axes = xd.shape.slice(1).map((_, i) => i + 1);
          const w = os.mean(os.abs(os.sub(xd, muReal)), axes, true);
          const grad = os.nanToNum(os.div(os.sub(muFake, muReal), w));
          return { grad, gradNorm: os.sqrt(os.sum(os.square(grad))) };
        }),
      );
      const target = os.sub(x.detach(), grad);
      return { loss: os.mul(os.mseLoss(x, target), 0.5), gradNorm };
    });
  }

  private randomLabels(): Tensor | null {
    const K = this.generator.labelDim;
    if (K === 0) return null;
    return os.dynamic(() => {
      const idx = Array.from({ length: this.cfg.batch }, () => this.rng.int(K));
      return os.tidy(() => os.oneHot(os.tensor(Float32Array.from(idx)), K));
    });
  }

  /**
   * One iteration: a generator update every `ttur`-th iteration, a fake-score update every iteration (DMD-SPEC §9,
   * step 4). With `compiled`, each of the two kinds of iteration is one compiled step (os.compile).
   */
  step(): DMDLosses {
    const c = this.cfg;
    if (c.compiled && !this.traced) this.traceBeforeFirstStep();
    const genStep = this.iteration % c.ttur === 0;
    this.iteration++;
    this.setRates(genStep);
    const steps = this.compiledSteps;
    if (steps) return genStep ? steps.generator() : steps.fake();
    return genStep ? this.generatorIterationEager() : this.fakeIterationEager();
  }

  /** The warm-up and the decay: host values the compiled steps' optimiser updates read afresh at every call. */
  private setRates(genStep: boolean): void {
    const c = this.cfg;
    this.optF.lr = c.fakeLr * this.schedule(this.optF.steps);
    if (this.optH) this.optH.lr = this.optF.lr;
    if (genStep) this.optG.lr = c.lr * this.schedule(this.optG.steps);
  }

  /**
   * os.compile runs a step's first two calls eagerly while it traces them, and eager ops round differently from the
   * fused kernels of the replays. So before the first iteration, each kind of iteration is traced twice without
   * running (Compiled.trace: nothing reaches the GPU, and no kernel is compiled but the programs'), and then the host
   * state those traces advanced (RNG streams, optimiser and EMA counters) is put back: every iteration runs the
   * compiled program, the first after a start or a resume included, and a resumed run repeats the uninterrupted one
   * bit for bit.
   */
  private traceBeforeFirstStep(): void {
    this.traced = true;
    // state() also makes every optimiser moment not yet used (zeros): a dry trace must not make state
    const live = this.state();
    const kinds = this.cfg.ttur > 1 ? [true, false] : [true];
    for (const genStep of kinds)
      for (let call = 0; call < 2; call++) {
        this.setRates(genStep);
        (genStep ? this.compiledSteps!.generator : this.compiledSteps!.fake).trace();
      }
    this.restore(live); // the tensors are live ones, untouched by the traces: only the host state changes
  }

  /** Both updates on one batch: the generator's from G(z), then the fake score's from the same (pre-update) samples. */
  private generatorIterationEager(): DMDLosses {
    const { z, labels } = this.drawLatents();
    let x: Tensor, g: Omit<DMDLosses, 'fake' | 'ganD'>;
    if (this.cfg.regWeight > 0 && this.pairs) {
      // G(z) and G(z_ref) of the regression pairs in one pass of the generator (as the PyTorch mirror does)
      const { zs, ys } = this.regressionWindow();
      const both = this.generate(os.cat([z, zs], 0), labels && os.cat([labels, os.zeros([zs.shape[0], labels.shape[1]])], 0));
      const B = z.shape[0];
      x = os.slice(both, [0], [B]);
      const gRef = os.slice(both, [B], [both.shape[0]]);
      both.dispose();
      g = this.generatorUpdate(x, labels, { g: gRef, y: ys });
      for (const t of [gRef, zs, ys]) t.dispose();
    } else {
      x = this.generate(z, labels);
      g = this.generatorUpdate(x, labels);
    }
    const x0 = x.detach();
    x.dispose();
    const f = this.fakeScoreUpdate(x0, labels);
    for (const t of [x0, z, labels]) t?.dispose();
    return { ...g, ...f };
  }

  /** The fake score's update alone, on fresh generator samples. */
  private fakeIterationEager(): DMDLosses {
    const { z, labels } = this.drawLatents();
    const x0 = os.noGrad(() => this.generate(z, labels));
    const f = this.fakeScoreUpdate(x0, labels);
    for (const t of [x0, z, labels]) t?.dispose();
    return f;
  }

  /** z ~ N(0, I) and, for a class-conditional generator, random one-hot labels. */
  private drawLatents(): { z: Tensor; labels: Tensor | null } {
    return { z: os.randn([this.cfg.batch, ...this.sampleShape]), labels: this.randomLabels() };
  }

  /**
   * The generator update on its samples x = G(z): the DM loss (+ λ_reg · regression, + GAN weight · softplus(−D(x))),
   * backward into G only, clipping, AdamW, and the EMA (warmed up: min(β, (1+t)/(10+t))). `regression`: G(z_ref) of
   * the regression pairs' window and its targets, when the caller generated them alongside x; drawn here otherwise.
   */
  generatorUpdate(x: Tensor, labels: Tensor | null, regression?: { g: Tensor; y: Tensor }): Omit<DMDLosses, 'fake' | 'ganD'> {
    const c = this.cfg;
    const losses = os.tidy(() => {
      let reg: Tensor | undefined;
      if (c.regWeight > 0 && this.pairs && !regression) regression = os.tidy(() => {
        const { zs, ys } = this.regressionWindow();
        return { g: this.generate(zs), y: ys };
      });
      const { loss, gradNorm } = this.dmLoss(x, labels);
      let total = loss;
      if (c.regWeight > 0 && regression) {
        reg = os.mseLoss(regression.g, regression.y);
        total = os.add(total, os.mul(reg, c.regWeight));
      }
      let ganG: Tensor | undefined;
      if (this.head) {
        // the gradient flows through the fake score and the head into x, but neither learns from this loss
        this.fake.requiresGrad_(false);
        this.head.requiresGrad_(false);
        try {
          ganG = ganGeneratorLoss(this.discriminate(x, labels));
          total = os.add(total, os.mul(ganG, c.ganWeight));
          total.backward();
        } finally {
          this.fake.requiresGrad_(true);
          this.head.requiresGrad_(true);
        }
      } else total.backward();
      return { dm: loss, reg, gradNorm, ganG };
    });
    os.optim.clipGradNorm(this.generator.parameters(), c.gradClip).dispose();
    this.optG.step();
    this.generator.zeroGrad();
    this.ema?.update();
    return losses;
  }

  /** The fake score learns the generator's current distribution from its (detached) samples x0; + the GAN head's loss. */
  fakeScoreUpdate(x0: Tensor, labels: Tensor | null): Pick<DMDLosses, 'fake' | 'ganD'> {
    const c = this.cfg;
    const losses = os.tidy(() => {
      // the denoising loss at x_t = x0 + σ·ε: F-space, == the EDM-weighted x0 loss (1/σ² + 1/σ_d²)
      const sigma = this.drawSigmas(0, 999);
      const xt = os.add(x0, os.mul(os.randnLike(x0), sigmaLike(sigma, x0)));
      const denoising = () => os.mseLoss(this.fake.rawF(xt, sigma, labels), fSpaceTarget(this.fake, x0, xt, sigma));
      if (!this.head) {
        const l = denoising();
        l.backward();
        return { fake: l };
      }
      // the head and the fake score's encoder learn to tell noised generator samples from noised real data
      const real = os.dynamic(() => this.realData!(c.batch, this.rng));
      // one trunk pass where the net allows it and labels come with both batches or neither
      const [l, ganD] = this.fake.net.fromBottleneck && !labels === !real.labels
        ? this.guidanceLossesOnePass(x0, xt, sigma, labels, real)
        : [denoising(), ganDiscriminatorLoss(...this.discriminatePair(x0, labels, real.x, real.labels))];
      os.add(l, os.mul(ganD, c.ganDWeight)).backward();
      return { fake: l, ganD };
    });
    const guidance = this.head ? [...this.fake.parameters(), ...this.head.parameters()] : this.fake.parameters();
    os.optim.clipGradNorm(guidance, c.gradClip).dispose();
    this.optF.step();
    this.fake.zeroGrad();
    if (this.head) {
      this.optH!.step();
      this.head.zeroGrad();
    }
    return losses;
  }

  /**
   * The fake score's two losses from one pass of its trunk over [x_t; noised x0; noised real], for nets whose output
   * reads only the bottleneck (ScoreNet.fromBottleneck): F on the first rows gives the denoising loss, the head on the
   * rest the GAN loss. The same draws in the same order as the two-pass form, and about half its dispatches.
   */
  private guidanceLossesOnePass(x0: Tensor, xt: Tensor, sigma: Tensor, labels: Tensor | null, real: { x: Tensor; labels: Tensor | null }): [Tensor, Tensor] {
    const h = this.trunk([{ xt, sigma, labels }, { ...this.ganNoised(x0), labels }, { ...this.ganNoised(real.x), labels: real.labels }]);
    const B = x0.shape[0], Br = real.x.shape[0];
    const F = this.fake.net.fromBottleneck!(os.slice(h, [0], [B]));
    const logits = this.head!.forward(os.slice(h, [B], [2 * B + Br]));
    const ganD = ganDiscriminatorLoss(os.slice(logits, [0], [B]), os.slice(logits, [B], [B + Br]));
    return [os.mseLoss(F, fSpaceTarget(this.fake, x0, xt, sigma)), ganD];
  }

  /** A random window of the regression pairs, min(regBatch or batch, P) long: noises z_ref and the teacher's outputs y_ref. */
  private regressionWindow(): { zs: Tensor; ys: Tensor } {
    const p = this.pairs!;
    const P = p.z.shape[0], B = Math.min(this.cfg.regBatch || this.cfg.batch, P);
    // host RNG: a dynamic region
    const [zs, ys] = os.dynamic(() => {
      const start = this.rng.int(P - B + 1);
      return [os.slice(p.z, [start], [start + B]), os.slice(p.y, [start], [start + B])];
    });
    return { zs, ys };
  }

  /** Everything needed to continue exactly: weights, optimiser moments, EMA, RNG streams, iteration. */
  state(): { tensors: Record<string, Tensor>; meta: Record<string, string> } {
    const tensors: Record<string, Tensor> = {};
    for (const [k, t] of Object.entries(this.generator.stateDict())) tensors[`generator.${k}`] = t;
    for (const [k, t] of Object.entries(this.fake.stateDict())) tensors[`fake.${k}`] = t;
    if (this.head) for (const [k, t] of Object.entries(this.head.stateDict())) tensors[`head.${k}`] = t;
    const oh = this.optH?.state();
    if (oh) for (const [slot, ts] of Object.entries(oh.slots)) ts.forEach((t, i) => (tensors[`optH.${slot}.${i}`] = t));
    const og = this.optG.state(), of = this.optF.state(), e = this.ema?.state();
    for (const [slot, ts] of Object.entries(og.slots)) ts.forEach((t, i) => (tensors[`optG.${slot}.${i}`] = t));
    for (const [slot, ts] of Object.entries(of.slots)) ts.forEach((t, i) => (tensors[`optF.${slot}.${i}`] = t));
    if (e) for (const [slot, ts] of Object.entries(e.slots)) ts.forEach((t, i) => (tensors[`ema.${slot}.${i}`] = t));
    const meta = {
      iteration: String(this.iteration),
      config: JSON.stringify(this.cfg),
      optG: JSON.stringify({ ...og, slots: undefined }),
      optF: JSON.stringify({ ...of, slots: undefined }),
      ema: e ? JSON.stringify({ ...e, slots: undefined }) : '',
      optH: oh ? JSON.stringify({ ...oh, slots: undefined }) : '',
      gpuRng: JSON.stringify(os.getRngState()),
      hostRng: JSON.stringify(this.rng.getState()),
    };
    return { tensors, meta };
  }

  restore(s: { tensors: Record<string, Tensor>; meta: Record<string, string> }): void {
    const pick = (prefix: string) => Object.fromEntries(Object.entries(s.tensors).filter(([k]) => k.startsWith(prefix)).map(([k, t]) => [k.slice(prefix.length), t]));
    const slots = (prefix: string) => {
      const out: Record<string, Tensor[]> = {};
      for (const [k, t] of Object.entries(pick(prefix))) {
        const dot = k.lastIndexOf('.');
        (out[k.slice(0, dot)] ??= [])[Number(k.slice(dot + 1))] = t;
      }
      return out;
    };
    this.generator.loadStateDict(pick('generator.'));
    this.fake.loadStateDict(pick('fake.'));
    if (this.head) {
      if (!s.meta.optH) throw new ValueError('DMDTrainer.restore: this trainer has a GAN head but the checkpoint has none (it was written with ganWeight 0)');
      this.head.loadStateDict(pick('head.'));
      this.optH!.restore({ ...JSON.parse(s.meta.optH), slots: slots('optH.') });
    }
    this.optG.restore({ ...JSON.parse(s.meta.optG), slots: slots('optG.') });
    this.optF.restore({ ...JSON.parse(s.meta.optF), slots: slots('optF.') });
    if (this.ema && s.meta.ema) this.ema.restore({ ...JSON.parse(s.meta.ema), slots: slots('ema.') });
    os.setRngState(JSON.parse(s.meta.gpuRng));
    this.rng.setState(JSON.parse(s.meta.hostRng));
    this.iteration = Number(s.meta.iteration);
  }
}
