// engine/nn/norm.ts: GroupNorm, with torch.nn.GroupNorm's parameter names (`weight`, `bias`), shapes ([C]) and
// init (ones, zeros). LayerNorm lives in ./layers.ts; both run the fused kernels of kernels/norm/.
import { ShapeError, ValueError, fmtShape } from '../errors';
import * as ops from '../ops';
import type { Tensor } from '../tensor';
import { Module } from './module';

export interface GroupNormOptions {
  /** Added to the variance (torch default 1e-5). */
  eps?: number;
  /** Learnable per-channel weight and bias (default true). */
  affine?: boolean;
}

export class GroupNorm extends Module {
  weight: Tensor | null;
  bias: Tensor | null;
  readonly eps: number;
  readonly affine: boolean;
  constructor(readonly numGroups: number, readonly numChannels: number, opts: GroupNormOptions = {}) {
    super();
    for (const [n, v] of [['numGroups', numGroups], ['numChannels', numChannels]] as const) {
      if (!Number.isInteger(v) || v <= 0) throw new ValueError(`GroupNorm: ${n} must be a positive integer, got ${v}`);
    }
    if (numChannels % numGroups !== 0) throw new ValueError(`GroupNorm: numChannels ${numChannels} is not divisible by numGroups ${numGroups}; pick a numGroups that divides it`);
    this.eps = opts.eps ?? 1e-5;
    this.affine = opts.affine ?? true;
    this.weight = this.affine ? this.param(ops.ones([numChannels])) : null;
    this.bias = this.affine ? this.param(ops.zeros([numChannels])) : null;
  }
  /** GroupNorm of x [N, C, ...]; `{silu: true}` fuses the SiLU that follows it in a ResBlock. */
  forward(x: Tensor, opts: { silu?: boolean } = {}): Tensor {
    if (x.ndim < 2 || x.shape[1] !== this.numChannels) {
      throw new ShapeError(`GroupNorm: input ${fmtShape(x.shape)} has ${x.ndim < 2 ? 'no channel dim' : `${x.shape[1]} channels`} but the module was built for ${this.numChannels} ([N, ${this.numChannels}, ...])`);
    }
    return ops.groupNorm(x, this.numGroups, this.weight ?? undefined, this.bias ?? undefined, this.eps, opts);
  }
}
