// models/gan.ts: DMD2's GAN head (NeurIPS 2024 §4.3; tianweiy/DMD2 edm_guidance.py `cls_pred_branch`, DMD-SPEC §2.4):
// a small classifier on the fake score's bottleneck features of noised images, trained with the non-saturating loss
//   D loss = softplus(D(fake)) + softplus(−D(real))        G loss = softplus(−D(G(z)))
// For UNet features [C, r, r]: (Conv4×4 s2 p1 → GN → SiLU) while r > 4, then Conv r×r (stride r) → GN → SiLU →
// Conv1×1 (C → 1), as DMD2's head for 8×8 ImageNet features. For MLP features [H]: one linear layer (DMD-SPEC §9 step 6).
import * as os from '../engine';
import type { Tensor } from '../engine';
import { ShapeError, ValueError, fmtShape } from '../engine/errors';

/** softplus(x) = log(1 + eˣ) (the engine's op; kept here under the name the GAN losses use). */
export const softplus = os.softplus;

/** Non-saturating generator loss: mean softplus(−D(G(z))). */
export const ganGeneratorLoss = (fakeLogits: Tensor): Tensor => os.tidy(() => os.mean(softplus(os.neg(fakeLogits))));

/** Discriminator loss: mean softplus(D(fake)) + mean softplus(−D(real)). */
export const ganDiscriminatorLoss = (fakeLogits: Tensor, realLogits: Tensor): Tensor =>
  os.tidy(() => os.add(os.mean(softplus(fakeLogits)), os.mean(softplus(os.neg(realLogits)))));

class ConvStage extends os.nn.Module {
  conv: os.nn.Conv2d;
  norm: os.nn.GroupNorm;
  constructor(channels: number, kernel: number, stride: number, padding: number) {
    super();
    this.conv = new os.nn.Conv2d(channels, channels, kernel, { stride, padding });
    this.norm = new os.nn.GroupNorm(Math.max(1, Math.min(32, Math.floor(channels / 4))), channels);
  }
  forward(x: Tensor): Tensor {
    return this.norm.forward(this.conv.forward(x), { silu: true });
  }
}

/** Logits [B] from bottleneck features [B, ...featureShape]. */
export class GanHead extends os.nn.Module {
  stages: os.nn.ModuleList<ConvStage> | null = null;
  out: os.nn.Conv2d | os.nn.Linear;
  readonly featureShape: number[];

  constructor(featureShape: readonly number[]) {
    super();
    this.featureShape = [...featureShape];
    if (featureShape.length === 1) {
      this.out = new os.nn.Linear(featureShape[0], 1);
      return;
    }
    const [C, r, r2] = featureShape;
    if (featureShape.length !== 3 || r !== r2 || !(r >= 1)) throw new ValueError(`GanHead: features must be [C, r, r] or [H], got ${fmtShape(featureShape)}`);
    const stages: ConvStage[] = [];
    let res = r;
    for (; res > 4; res = Math.floor(res / 2)) stages.push(new ConvStage(C, 4, 2, 1));
    stages.push(new ConvStage(C, res, res, 0)); // res×res → 1×1
    this.stages = new os.nn.ModuleList(stages);
    this.out = new os.nn.Conv2d(C, 1, 1);
  }

  forward(features: Tensor): Tensor {
    const want = this.featureShape;
    if (features.ndim !== want.length + 1 || want.some((d, i) => features.shape[i + 1] !== d)) {
      throw new ShapeError(`GanHead: features ${fmtShape(features.shape)} must be [B, ${want.join(', ')}] (the fake score's bottleneck)`);
    }
    const B = features.shape[0];
    return os.tidy(() => {
      let h = features;
      for (const s of this.stages?.items ?? []) h = s.forward(h);
      return os.reshape(this.out.forward(h), [B]);
    });
  }
}
