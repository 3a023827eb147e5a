// models/edm.ts: the EDM denoiser (Karras et al. 2022, Table 1), its training loss and noise-level helpers.
//   D(x; σ, y) = c_skip(σ)·x + c_out(σ)·F(c_in(σ)·x; c_noise(σ), y)
//   c_skip = σ_d²/(σ²+σ_d²)   c_out = σ·σ_d/√(σ²+σ_d²)   c_in = 1/√(σ²+σ_d²)   c_noise = ln(σ)/4
import * as os from '../engine';
import type { Tensor } from '../engine';

/** A network F(c_in·x, c_noise, y) → same shape as x. `labels`: one-hot [B, K] (a zero row = the null class), or null. */
export interface ScoreNet extends os.nn.Module {
  readonly labelDim: number;
  forward(xIn: Tensor, cNoise: Tensor, labels: Tensor | null): Tensor;
  /** The encoder's output for the same inputs (UNet: after the last encoder block; MLP: the last hidden layer). */
  bottleneck(xIn: Tensor, cNoise: Tensor, labels: Tensor | null): Tensor;
  /** Shape of one sample's bottleneck features: [C, r, r] or [hidden]. */
  readonly bottleneckShape: readonly number[];
  /**
   * F from the bottleneck features alone, where the rest of the network reads nothing else (MLP: the output layer).
   * With it one pass of the trunk serves both the fake score's denoising loss and the GAN head (DMDTrainer).
   */
  fromBottleneck?(features: Tensor): Tensor;
}

export interface EDMConfig {
  sigmaData: number; // std of the training data; 0.5 for every data set here
}

/** Per-sample σ [B] reshaped to broadcast against x [B, ...]. */
export const sigmaLike = (sigma: Tensor, x: Tensor): Tensor => os.reshape(sigma, [x.shape[0], ...x.shape.slice(1).map(() => 1)]);

/** The EDM preconditioning coefficients as host numbers (tests, samplers that hold σ on the host). */
export function edmCoefficients(sigma: number, sigmaData: number) {
  const s2 = sigma * sigma, sd2 = sigmaData * sigmaData;
  return { cSkip: sd2 / (s2 + sd2), cOut: (sigma * sigmaData) / Math.sqrt(s2 + sd2), cIn: 1 / Math.sqrt(s2 + sd2), cNoise: Math.log(sigma) / 4 };
}

export class EDMDenoiser extends os.nn.Module {
  readonly sigmaData: number;
  constructor(readonly net: ScoreNet, cfg: Partial<EDMConfig> = {}) {
    super();
    this.sigmaData = cfg.sigmaData ?? 0.5;
  }

  get labelDim(): number {
    return this.net.labelDim;
  }

  /** c_skip, c_out, c_in shaped like x's batch (for broadcasting) and c_noise [B]. */
  coefficients(x: Tensor, sigma: Tensor) {
    return { ...this.mixing(x, sigma), cIn: this.inputScale(x, sigma), cNoise: this.noiseLevel(sigma) };
  }

  /** c_in = 1/√(σ² + σ_d²) per sample, shaped like x's batch. */
  inputScale(x: Tensor, sigma: Tensor): Tensor {
    return os.tidy(() => os.rsqrt(os.add(os.square(sigmaLike(sigma, x)), this.sigmaData ** 2)));
  }

  /** c_skip = σ_d²/(σ² + σ_d²) and c_out = σ·σ_d/√(σ² + σ_d²) per sample, shaped like x's batch. */
  mixing(x: Tensor, sigma: Tensor): { cSkip: Tensor; cOut: Tensor } {
    return os.tidy(() => {
      const s = sigmaLike(sigma, x);
      const sd2 = this.sigmaData ** 2, denom = os.add(os.square(s), sd2);
      return { cSkip: os.div(sd2, denom), cOut: os.mul(os.mul(s, this.sigmaData), os.rsqrt(denom)) };
    });
  }

  /** c_in·x with σ broadcast per sample. */
  scaleIn(x: Tensor, sigma: Tensor): Tensor {
    return os.tidy(() => os.mul(x, this.inputScale(x, sigma)));
  }

  /** c_noise = ln(σ)/4 per sample [B]. */
  noiseLevel(sigma: Tensor): Tensor {
    return os.tidy(() => os.mul(os.log(sigma), 0.25));
  }

  /** c_skip·x + c_out·F. */
  combine(x: Tensor, F: Tensor, sigma: Tensor): Tensor {
    return os.tidy(() => {
      const { cSkip, cOut } = this.mixing(x, sigma);
      return os.add(os.mul(cSkip, x), os.mul(cOut, F));
    });
  }

  /** F's raw output for the noisy input x at σ: the quantity EDM's loss regresses. */
  rawF(x: Tensor, sigma: Tensor, labels: Tensor | null = null): Tensor {
    return os.tidy(() => this.net.forward(this.scaleIn(x, sigma), this.noiseLevel(sigma), labels));
  }

  /** The network's bottleneck features for the noisy input x at σ (what DMD2's GAN head reads). */
  bottleneck(x: Tensor, sigma: Tensor, labels: Tensor | null = null): Tensor {
    return os.tidy(() => this.net.bottleneck(this.scaleIn(x, sigma), this.noiseLevel(sigma), labels));
  }

  /** D(x; σ, y): the denoised estimate of x at noise level σ [B]. */
  forward(x: Tensor, sigma: Tensor, labels: Tensor | null = null): Tensor {
    return os.tidy(() => this.combine(x, this.rawF(x, sigma, labels), sigma));
  }

  /** D with classifier-free guidance: D_u + w·(D_c − D_u) (DMD2's form; w = 1 is plain conditional). */
  guided(x: Tensor, sigma: Tensor, labels: Tensor | null, cfg = 1): Tensor {
    if (!labels || cfg === 1) return this.forward(x, sigma, labels);
    return os.tidy(() => {
      // the conditional and unconditional passes as one batch of 2B: every layer works per sample, and one pass
      // makes half the dispatches of two
      const B = x.shape[0];
      const d = this.forward(os.cat([x, x], 0), os.cat([sigma, sigma], 0), os.cat([labels, os.zerosLike(labels)], 0));
      const [dc, du] = os.split(d, B, 0);
      return os.add(du, os.mul(os.sub(dc, du), cfg));
    });
  }
}

export interface EDMLossOptions {
  pMean?: number; // ln σ ~ N(pMean, pStd²): EDM's −1.2
  pStd?: number; // 1.2
  labels?: Tensor | null;
  /** Probability of replacing a label by the null class (classifier-free guidance training). */
  labelDropout?: number;
}

/**
 * EDM's training loss (NVlabs/edm `EDMLoss`) in F-space: mean ‖F(c_in(y+n); c_noise) − (y − c_skip(y+n))/c_out‖², which
 * equals λ(σ)·‖D − y‖² with λ = (σ²+σ_d²)/(σ·σ_d)² and avoids huge weights at small σ.
 */
export function edmLoss(den: EDMDenoiser, y: Tensor, opts: EDMLossOptions = {}): Tensor {
  return os.tidy(() => {
    const B = y.shape[0];
    const sigma = os.exp(os.add(os.mul(os.randn([B]), opts.pStd ?? 1.2), opts.pMean ?? -1.2));
    return fSpaceLoss(den, y, sigma, maybeDropLabels(opts.labels ?? null, opts.labelDropout ?? 0));
  });
}

/**
 * One EDM training update on the batch y: the loss and its backward, the optimiser's step, gradients cleared. Returns
 * the loss (read it back in batches). The teacher trainer and the compiled-vs-eager checks all step this way; each adds
 * its own EMA update after it.
 */
export function edmTrainStep(den: EDMDenoiser, opt: { step(): void; zeroGrad(): void }, y: Tensor, opts: EDMLossOptions = {}): Tensor {
  const loss = os.tidy(() => {
    const l = edmLoss(den, y, opts);
    l.backward();
    return l;
  });
  opt.step();
  opt.zeroGrad();
  return loss;
}

/** ‖F(c_in·x_t) − (y − c_skip·x_t)/c_out‖² averaged, for x_t = y + σ·ε: the unit-weight denoising loss at given σ [B]. */
export function fSpaceLoss(den: EDMDenoiser, y: Tensor, sigma: Tensor, labels: Tensor | null, noise?: Tensor): Tensor {
  return os.tidy(() => {
    const xt = os.add(y, os.mul(noise ?? os.randnLike(y), sigmaLike(sigma, y)));
    return os.mseLoss(den.rawF(xt, sigma, labels), fSpaceTarget(den, y, xt, sigma));
  });
}

/** F's regression target (y − c_skip·x_t)/c_out for clean y noised to x_t at σ [B]. */
export function fSpaceTarget(den: EDMDenoiser, y: Tensor, xt: Tensor, sigma: Tensor): Tensor {
  return os.tidy(() => {
    const { cSkip, cOut } = den.mixing(y, sigma);
    return os.div(os.sub(y, os.mul(cSkip, xt)), cOut);
  });
}

/** Replaces rows of one-hot labels by the null class (zeros) with probability p. */
export function maybeDropLabels(labels: Tensor | null, p: number): Tensor | null {
  if (!labels || p <= 0) return labels;
  return os.tidy(() => os.mul(labels, os.reshape(os.gt(os.rand([labels.shape[0]]), p), [labels.shape[0], 1])));
}

/** EDM sampler schedule: t_i = (σmax^{1/ρ} + i/(N−1)(σmin^{1/ρ} − σmax^{1/ρ}))^ρ, i = 0..N−1, then t_N = 0. */
export function edmSigmas(steps: number, sigmaMin = 0.002, sigmaMax = 80, rho = 7): number[] {
  const out: number[] = [];
  for (let i = 0; i < steps; i++) {
    const f = steps === 1 ? 0 : i / (steps - 1);
    out.push((sigmaMax ** (1 / rho) + f * (sigmaMin ** (1 / rho) - sigmaMax ** (1 / rho))) ** rho);
  }
  out.push(0);
  return out;
}

/** DMD's 1000-level Karras grid, ascending: index 0 = σ_min, 999 = σ_max (DMD2 `karras_sigmas` after flip). */
export function karrasGrid(levels = 1000, sigmaMin = 0.002, sigmaMax = 80, rho = 7): Float64Array {
  const g = new Float64Array(levels);
  for (let i = 0; i < levels; i++) {
    const f = i / (levels - 1);
    g[levels - 1 - i] = (sigmaMax ** (1 / rho) + f * (sigmaMin ** (1 / rho) - sigmaMax ** (1 / rho))) ** rho;
  }
  return g;
}
