// models/mlp.ts: MLPScoreNet, the score network for 2-D toy data (DMD-SPEC §7.2): input [c_in·x, c_noise,
// sin/cos(2^k c_noise)] (+ a one-hot class), an input layer, residual SiLU blocks, a zero-initialised output layer.
import * as os from '../engine';
import type { Tensor } from '../engine';
import type { ScoreNet } from './edm';
import { ValueError } from '../engine/errors';

export interface MLPScoreNetConfig {
  dim: number; // data dimension (2 for the toy sets)
  hidden: number; // width of every hidden layer (128)
  depth: number; // hidden layers: 1 input layer + (depth − 1) residual blocks (3)
  freqs: number; // sin/cos frequencies 2^0 … 2^(freqs−1) of c_noise (6)
  labelDim: number; // number of classes; 0 = unconditional
}

export const MLP_DEFAULTS: MLPScoreNetConfig = { dim: 2, hidden: 128, depth: 3, freqs: 6, labelDim: 0 };

/** Parameters an MLPScoreNet of this config has (lets loaders vet a file before building the network). */
export function mlpParamCount(c: MLPScoreNetConfig): number {
  for (const k of ['dim', 'hidden', 'depth', 'freqs'] as const) {
    if (!Number.isInteger(c[k]) || c[k] <= 0) throw new ValueError(`MLPScoreNet: ${k} must be a positive integer, got ${JSON.stringify(c[k])}`);
  }
  if (!Number.isInteger(c.labelDim) || c.labelDim < 0) throw new ValueError(`MLPScoreNet: labelDim must be a non-negative integer, got ${JSON.stringify(c.labelDim)}`);
  const h = c.hidden;
  return (c.dim + 1 + 2 * c.freqs + c.labelDim) * h + h + (c.depth - 1) * (h * h + h) + h * c.dim + c.dim;
}

export class MLPScoreNet extends os.nn.Module implements ScoreNet {
  readonly config: MLPScoreNetConfig;
  readonly input: os.nn.Linear;
  readonly blocks: os.nn.Linear[];
  readonly output: os.nn.Linear;
  private readonly freqTable: Tensor;
  private readonly phaseTable: Tensor;
  private readonly rawColumn: Tensor;

  constructor(config: Partial<MLPScoreNetConfig> = {}) {
    super();
    const c = (this.config = { ...MLP_DEFAULTS, ...config });
    mlpParamCount(c); // validates the config
    const embDim = 1 + 2 * c.freqs;
    this.input = new os.nn.Linear(c.dim + embDim + c.labelDim, c.hidden);
    this.blocks = Array.from({ length: c.depth - 1 }, () => new os.nn.Linear(c.hidden, c.hidden));
    this.output = new os.nn.Linear(c.hidden, c.dim);
    os.nn.zeroInit(this.output);
    // per embedding column: frequency (0 marks the raw c_noise column) and phase (cos x = sin(x + π/2))
    const freq = [0, ...Array.from({ length: c.freqs }, (_, k) => 2 ** k), ...Array.from({ length: c.freqs }, (_, k) => 2 ** k)];
    const phase = [0, ...new Array(c.freqs).fill(0), ...new Array(c.freqs).fill(Math.PI / 2)];
    this.freqTable = os.keep(os.tensor(Float32Array.from(freq), [1, freq.length]));
    this.phaseTable = os.keep(os.tensor(Float32Array.from(phase), [1, phase.length]));
    this.rawColumn = os.keep(os.tensor(Float32Array.from(freq, (f) => (f === 0 ? 1 : 0)), [1, freq.length]));
  }

  get labelDim(): number {
    return this.config.labelDim;
  }

  /** [c_noise, sin(2^k c_noise), cos(2^k c_noise)] per sample: [B, 1 + 2·freqs]. */
  embed(cNoise: Tensor): Tensor {
    return os.tidy(() => {
      const c = os.reshape(cNoise, [cNoise.shape[0], 1]);
      return os.where(this.rawColumn, c, os.sin(os.add(os.mul(c, this.freqTable), this.phaseTable)));
    });
  }

  forward(xIn: Tensor, cNoise: Tensor, labels: Tensor | null): Tensor {
    return os.tidy(() => this.output.forward(this.bottleneck(xIn, cNoise, labels)));
  }

  /** The output layer: F from the last hidden layer. */
  fromBottleneck(h: Tensor): Tensor {
    return this.output.forward(h);
  }

  /** The last hidden layer [B, hidden] (the input of the output layer). */
  bottleneck(xIn: Tensor, cNoise: Tensor, labels: Tensor | null): Tensor {
    return os.tidy(() => {
      const parts = [xIn, this.embed(cNoise)];
      if (this.config.labelDim > 0) parts.push(labels ?? os.zeros([xIn.shape[0], this.config.labelDim]));
      let h = os.silu(this.input.forward(os.cat(parts, 1)));
      for (const b of this.blocks) h = os.add(h, os.silu(b.forward(h)));
      return h;
    });
  }

  get bottleneckShape(): number[] {
    return [this.config.hidden];
  }

  override dispose(): void {
    super.dispose();
    this.freqTable.dispose();
    this.phaseTable.dispose();
    this.rawColumn.dispose();
  }
}
