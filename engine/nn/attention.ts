// engine/nn/attention.ts: MultiheadSelfAttention2d, the attention block of the EDM/ADM UNets (NVlabs/edm
// training/networks.py, UNetBlock): x + proj(attention(qkv(GroupNorm(x)))) on NCHW feature maps, attending over the
// L = H·W positions. Parameter names and shapes match that block (norm2 → `norm`, qkv, proj), so weights load from a
// PyTorch mirror that follows the head layout documented at `multiheadSelfAttention2d`.
import { ShapeError, ValueError, fmtShape } from '../errors';
import * as ops from '../ops';
import { noGrad } from '../autograd';
import { Tensor, tidy } from '../tensor';
import { Conv2d } from './conv';
import { Module } from './module';
import { GroupNorm } from './norm';

export interface MultiheadSelfAttention2dOptions {
  /** Attention heads; channels must divide evenly (EDM: channels / channels_per_head). Default 1. */
  numHeads?: number;
  /** GroupNorm epsilon (EDM's DhariwalUNet 1e-5, SongUNet 1e-6). */
  eps?: number;
  /** GroupNorm groups; default min(32, channels / 4) as in EDM. */
  groups?: number;
}

/** The block's weights, as tensors (the module's parameters, or any others for tests). */
export interface MultiheadSelfAttention2dWeights {
  normWeight: Tensor; // [C]
  normBias: Tensor; // [C]
  qkvWeight: Tensor; // [3C, C, 1, 1]
  qkvBias: Tensor; // [3C]
  projWeight: Tensor; // [C, C, 1, 1]
  projBias: Tensor; // [C]
}

/**
 * x + proj(attention(qkv(groupNorm(x)))) for x [N, C, H, W]. The 1×1 convolutions are matmuls on the [N, C, L] view
 * (weight [Cout, C] shared over the batch). Head layout, EDM's
 * `q, k, v = qkv.reshape(N * heads, C // heads, 3, L).unbind(2)`: channel o of the qkv output is
 * o = (head·(C/heads) + c)·3 + t with t = 0, 1, 2 for q, k, v, i.e. the three are interleaved per channel, not
 * stacked. Each head attends with scale 1/√(C/heads), softmax over keys; the result's channel head·(C/heads) + c
 * feeds proj.
 */
export function multiheadSelfAttention2d(x: Tensor, w: MultiheadSelfAttention2dWeights, o: { numHeads: number; groups: number; eps: number }): Tensor {
  if (x.ndim !== 4) throw new ShapeError(`MultiheadSelfAttention2d: input must be [N, C, H, W], got ${fmtShape(x.shape)}`);
  const [N, C, H, W] = x.shape;
  const heads = o.numHeads, ch = C / heads, L = H * W;
  if (!Number.isInteger(ch)) throw new ShapeError(`MultiheadSelfAttention2d: ${C} channels do not split into ${heads} heads`);
  return tidy(() => {
    const h = ops.reshape(ops.groupNorm(x, o.groups, w.normWeight, w.normBias, o.eps), [N, C, L]);
    const qkv = ops.add(ops.matmul(ops.reshape(w.qkvWeight, [3 * C, C]), h), ops.reshape(w.qkvBias, [3 * C, 1])); // [N, 3C, L]
    // [N, heads, ch, 3, L] → [3, N, heads, L, ch]: one copy, then q, k, v are its three slabs
    const parts = ops.split(ops.permute(ops.reshape(qkv, [N, heads, ch, 3, L]), [3, 0, 1, 4, 2]), 1, 0);
    const [q, k, v] = parts.map((t) => ops.reshape(t, [N, heads, L, ch]));
    const a = ops.attention(q, k, v, { scale: 1 / Math.sqrt(ch) }); // [N, heads, L, ch]
    const aC = ops.reshape(ops.permute(a, [0, 1, 3, 2]), [N, C, L]); // channel head·ch + c
    const y = ops.add(ops.matmul(ops.reshape(w.projWeight, [C, C]), aC), ops.reshape(w.projBias, [C, 1]));
    return ops.add(x, ops.reshape(y, x.shape));
  });
}

/**
 * Self-attention over the pixels of a feature map with a residual connection: x + proj(attention(qkv(norm(x)))).
 * Parameters: `norm.weight`, `norm.bias` [C]; `qkv.weight` [3C, C, 1, 1], `qkv.bias` [3C] (U(±1/√C), torch's Conv2d
 * default); `proj.weight` [C, C, 1, 1], `proj.bias` [C], zero-initialised as in EDM, so a fresh block is the identity.
 */
export class MultiheadSelfAttention2d extends Module {
  norm: GroupNorm;
  qkv: Conv2d;
  proj: Conv2d;
  readonly numHeads: number;
  readonly groups: number;
  readonly eps: number;
  constructor(readonly channels: number, opts: MultiheadSelfAttention2dOptions = {}) {
    super();
    if (!Number.isInteger(channels) || channels <= 0) throw new ValueError(`MultiheadSelfAttention2d: channels must be a positive integer, got ${channels}`);
    this.numHeads = opts.numHeads ?? 1;
    if (!Number.isInteger(this.numHeads) || this.numHeads <= 0 || channels % this.numHeads !== 0) {
      throw new ValueError(`MultiheadSelfAttention2d: numHeads ${this.numHeads} must be a positive integer dividing channels ${channels}`);
    }
    this.groups = opts.groups ?? Math.max(1, Math.min(32, Math.floor(channels / 4)));
    this.eps = opts.eps ?? 1e-5;
    this.norm = new GroupNorm(this.groups, channels, { eps: this.eps });
    this.qkv = new Conv2d(channels, 3 * channels, 1);
    this.proj = new Conv2d(channels, channels, 1);
    noGrad(() => {
      for (const t of [this.proj.weight, this.proj.bias!]) tidy(() => ops.assign(t, ops.zeros(t.shape)));
    });
  }
  /** x [N, C, H, W] → same shape. */
  forward(x: Tensor): Tensor {
    if (x.ndim !== 4 || x.shape[1] !== this.channels) {
      throw new ShapeError(`MultiheadSelfAttention2d: input ${fmtShape(x.shape)} must be [N, ${this.channels}, H, W]`);
    }
    return multiheadSelfAttention2d(
      x,
      { normWeight: this.norm.weight!, normBias: this.norm.bias!, qkvWeight: this.qkv.weight, qkvBias: this.qkv.bias!, projWeight: this.proj.weight, projBias: this.proj.bias! },
      { numHeads: this.numHeads, groups: this.groups, eps: this.eps },
    );
  }
}
