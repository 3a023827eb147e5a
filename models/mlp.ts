// models/mlp.ts: MLPScoreNet, the score network for 2-D toy data (DMD-SPEC §7.2): input [c_in·x, c_noise,
// sin/cos(2^k c_noise)] (+ a one-hot class), an input layer, residual SiLU blocks, a zero-initialised output layer.
import * as os from '../engine';
import type { Tensor } from '../engine';
import type { ScoreNet } from './edm';

export interface MLPScoreNetConfig {
  dim: number; // data dimension (2 for the toy sets)
  hidden: number; // width of every hidden layer (128)
  depth: number; // hidden layers: 1 input layer + (depth − 1) residual blocks (3)
  freqs: number; // sin/cos frequencies 2^0 … 2^(freqs−1) of c_noise (6)
  labelDim: number; // number of classes; 0 = unconditional
}

export const MLP_DEFAULTS: MLPScoreNetConfig = { dim: 2, hidden: 128, depth: 3, freqs: 6, labelDim: 0 };

export class MLPScoreNet extends os.nn.Module implements ScoreNet {
  readonly config: MLPScoreNetConfig;
  readonly input: os.nn.Linear;
  readonly blocks: os.nn.Linear[];
  readonly output: os.nn.Linear;
  private readonly freqTable: Tensor;

  constructor(config: Partial<MLPScoreNetConfig> = {}) {
    super();
    const c = (this.config = { ...MLP_DEFAULTS, ...config });
    const embDim = 1 + 2 * c.freqs;
    this.input = new os.nn.Linear(c.dim + embDim + c.labelDim, c.hidden);
    this.blocks = Array.from({ length: c.depth - 1 }, () => new os.nn.Linear(c.hidden, c.hidden));
    this.output = new os.nn.Linear(c.hidden, c.dim);
    os.noGrad(() => {
      os.assign(this.output.weight, os.zerosLike(this.output.weight));
      os.assign(this.output.bias!, os.zerosLike(this.output.bias!));
    });
    this.freqTable = os.keep(os.tensor(Float32Array.from({ length: c.freqs }, (_, k) => 2 ** k), [1, c.freqs]));
  }

  get labelDim(): number {
    return this.config.labelDim;
  }

  /** [c_noise, sin(2^k c_noise), cos(2^k c_noise)] per sample: [B, 1 + 2·freqs]. */
  embed(cNoise: Tensor): Tensor {
    return os.tidy(() => {
      const c = os.reshape(cNoise, [cNoise.shape[0], 1]);
      const phase = os.mul(c, this.freqTable);
      return os.cat([c, os.sin(phase), os.cos(phase)], 1);
    });
  }

  forward(xIn: Tensor, cNoise: Tensor, labels: Tensor | null): Tensor {
    return os.tidy(() => {
      const parts = [xIn, this.embed(cNoise)];
      if (this.config.labelDim > 0) parts.push(labels ?? os.zeros([xIn.shape[0], this.config.labelDim]));
      let h = os.silu(this.input.forward(os.cat(parts, 1)));
      for (const b of this.blocks) h = os.add(h, os.silu(b.forward(h)));
      return this.output.forward(h);
    });
  }

  override dispose(): void {
    super.dispose();
    this.freqTable.dispose();
  }
}
