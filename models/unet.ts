// models/unet.ts: the image score network, EDM's DhariwalUNet (ADM; NVlabs/edm training/networks.py, DMD-SPEC §5.4)
// at toy sizes. Every block is   x = conv0(silu(GN0(x)))            (resampled first when it goes up or down)
//                                 scale, shift = Linear(emb)
//                                 x = silu(shift + GN1(x)·(scale + 1))   (one group-norm kernel: γ, β per sample)
//                                 x = conv1(dropout(x)) + skip(orig)  (conv1 zero-initialised)
//                                 x = x + proj(attention(qkv(GN2(x))))  at the configured resolutions
// The noise level enters as a positional embedding of c_noise through a 2-layer MLP, a class as a bias-free linear map
// of its one-hot row (the zero row is the null class of classifier-free guidance). The encoder's last activation is
// the "bottleneck" that DMD2's GAN head reads (`forwardWithFeatures`).
import * as os from '../engine';
import type { Tensor } from '../engine';
import { ShapeError, ValueError, fmtShape } from '../engine/errors';
import type { ScoreNet } from './edm';

export interface UNetConfig {
  resolution: number; // input height = width
  inChannels: number;
  outChannels: number;
  labelDim: number; // number of classes; 0 = unconditional
  modelChannels: number; // channels at the first level
  channelMult: number[]; // per level: channels = modelChannels·mult; each level after the first halves the resolution
  numBlocks: number; // ResBlocks per level in the encoder (the decoder has numBlocks + 1)
  attnResolutions: number[]; // resolutions with self-attention after each block (the bottleneck always has one)
  channelsPerHead: number; // attention heads = channels / channelsPerHead (EDM: 64)
  dropout: number;
  embMult: number; // embedding width = modelChannels·embMult (EDM: 4)
}

/** A 16×16 one-channel class-conditional UNet that trains on a CPU driver in tens of minutes (DMD-SPEC §7.3). */
export const UNET_DEFAULTS: UNetConfig = {
  resolution: 16, inChannels: 1, outChannels: 1, labelDim: 10, modelChannels: 32, channelMult: [1, 2], numBlocks: 1,
  attnResolutions: [8], channelsPerHead: 32, dropout: 0, embMult: 4,
};

/** The MNIST teacher's UNet: 16×16, 16/32 channels, attention at 8×8, class-conditional (DMD-SPEC §7.3: 0.2 M params). */
export const MNIST_UNET: Partial<UNetConfig> = { modelChannels: 16, channelMult: [1, 2], numBlocks: 1, attnResolutions: [8], channelsPerHead: 32, labelDim: 10 };

const groupsFor = (c: number): number => Math.max(1, Math.min(32, Math.floor(c / 4)));

/**
 * silu(shift + GN(x)·(scale + 1)), the adaptive group norm of a block (scale, shift [N, C] from the conditioning): one
 * group-norm kernel whose per-sample γ, β are scale + 1 and shift. `norm` gives the groups and eps (it has no affine).
 */
export function modulate(x: Tensor, norm: os.nn.GroupNorm, scale: Tensor, shift: Tensor): Tensor {
  if (norm.affine) throw new ValueError('modulate: the group norm must have no affine of its own (new os.nn.GroupNorm(G, C, { affine: false })); scale and shift are its γ and β');
  return os.tidy(() => os.groupNorm(x, norm.numGroups, os.add(scale, 1), shift, norm.eps, { silu: true }));
}

type Resample = 'none' | 'up' | 'down';

/** 2× average pooling (EDM's [1,1] filter) or nearest-neighbour 2× upsampling. */
function resample(x: Tensor, how: Resample): Tensor {
  if (how === 'down') return os.avgPool2d(x, 2);
  if (how === 'up') return os.upsampleNearest2d(x, 2);
  return x;
}

export class UNetBlock extends os.nn.Module {
  norm0: os.nn.GroupNorm;
  conv0: os.nn.Conv2d;
  affine: os.nn.Linear;
  norm1: os.nn.GroupNorm;
  conv1: os.nn.Conv2d;
  skip: os.nn.Conv2d | null;
  attn: os.nn.MultiheadSelfAttention2d | null;

  constructor(readonly inC: number, readonly outC: number, embC: number, readonly how: Resample, attention: boolean, channelsPerHead: number, readonly dropout: number) {
    super();
    this.norm0 = new os.nn.GroupNorm(groupsFor(inC), inC);
    this.conv0 = new os.nn.Conv2d(inC, outC, 3, { padding: 1 });
    this.affine = new os.nn.Linear(embC, 2 * outC);
    this.norm1 = new os.nn.GroupNorm(groupsFor(outC), outC, { affine: false });
    this.conv1 = new os.nn.Conv2d(outC, outC, 3, { padding: 1 });
    os.nn.zeroInit(this.conv1);
    // channels change: a 1×1 projection (after resampling); same channels: the skip is the resampled input itself
    this.skip = inC !== outC ? new os.nn.Conv2d(inC, outC, 1) : null;
    this.attn = attention ? new os.nn.MultiheadSelfAttention2d(outC, { numHeads: Math.max(1, Math.floor(outC / channelsPerHead)) }) : null;
  }

  forward(x: Tensor, emb: Tensor): Tensor {
    return os.tidy(() => {
      const orig = x;
      let h = this.conv0.forward(resample(this.norm0.forward(x, { silu: true }), this.how));
      const [scale, shift] = os.split(this.affine.forward(emb), this.outC, 1);
      h = modulate(h, this.norm1, scale, shift);
      h = this.conv1.forward(os.dropout(h, this.dropout, this.training));
      let s = resample(orig, this.how);
      if (this.skip) s = this.skip.forward(s);
      h = os.add(h, s);
      return this.attn ? this.attn.forward(h) : h;
    });
  }
}

export class UNet extends os.nn.Module implements ScoreNet {
  readonly config: UNetConfig;
  mapNoise0: os.nn.Linear;
  mapNoise1: os.nn.Linear;
  mapLabel: os.nn.Linear | null;
  convIn: os.nn.Conv2d;
  enc: os.nn.ModuleList<UNetBlock>;
  mid: os.nn.ModuleList<UNetBlock>;
  dec: os.nn.ModuleList<UNetBlock>;
  normOut: os.nn.GroupNorm;
  convOut: os.nn.Conv2d;
  private readonly freqTable: Tensor;
  private readonly phaseTable: Tensor;
  /** Which decoder blocks concatenate a skip (all but the upsampling ones). */
  private readonly decTakesSkip: boolean[];

  constructor(config: Partial<UNetConfig> = {}) {
    super();
    const c = (this.config = { ...UNET_DEFAULTS, ...config, channelMult: [...(config.channelMult ?? UNET_DEFAULTS.channelMult)], attnResolutions: [...(config.attnResolutions ?? UNET_DEFAULTS.attnResolutions)] });
    checkConfig(c);
    const mc = c.modelChannels, embC = mc * c.embMult, cph = c.channelsPerHead;
    this.mapNoise0 = new os.nn.Linear(mc, embC);
    this.mapNoise1 = new os.nn.Linear(embC, embC);
    this.mapLabel = c.labelDim > 0 ? new os.nn.Linear(c.labelDim, embC, false) : null;
    const plan = unetPlan(c);
    this.convIn = new os.nn.Conv2d(c.inChannels, plan.inCh, 3, { padding: 1 });
    const block = (b: BlockSpec) => new UNetBlock(b.inC, b.outC, embC, b.how, b.attention, cph, c.dropout);
    this.enc = new os.nn.ModuleList(plan.enc.map(block));
    this.mid = new os.nn.ModuleList(plan.mid.map(block));
    this.dec = new os.nn.ModuleList(plan.dec.map(block));
    this.decTakesSkip = plan.dec.map((b) => b.takesSkip);
    const ch = plan.outCh;
    this.normOut = new os.nn.GroupNorm(groupsFor(ch), ch);
    this.convOut = new os.nn.Conv2d(ch, c.outChannels, 3, { padding: 1 });
    os.nn.zeroInit(this.convOut);
    // positional embedding (EDM PositionalEmbedding, endpoint false): [cos(c·f_k), sin(c·f_k)], f_k = (1/10⁴)^(k/(mc/2))
    const half = mc / 2;
    const f = Array.from({ length: half }, (_, k) => Math.pow(1e-4, k / half));
    this.freqTable = os.keep(os.tensor(Float32Array.from([...f, ...f]), [1, mc]));
    this.phaseTable = os.keep(os.tensor(Float32Array.from([...new Array(half).fill(Math.PI / 2), ...new Array(half).fill(0)]), [1, mc]));
  }

  get labelDim(): number {
    return this.config.labelDim;
  }

  /** Channels of the bottleneck features (the input of DMD2's GAN head) and their resolution. */
  get bottleneckShape(): [number, number, number] {
    const c = this.config;
    const r = c.resolution / 2 ** (c.channelMult.length - 1);
    return [c.modelChannels * c.channelMult.at(-1)!, r, r];
  }

  /** The conditioning vector: silu(MLP(posemb(c_noise)) + Linear(labels)), [B, embC]. */
  embed(cNoise: Tensor, labels: Tensor | null, batch: number): Tensor {
    return os.tidy(() => {
      const c = os.reshape(cNoise, [batch, 1]);
      const pe = os.sin(os.add(os.mul(c, this.freqTable), this.phaseTable));
      let emb = this.mapNoise1.forward(os.silu(this.mapNoise0.forward(pe)));
      if (this.mapLabel) emb = os.add(emb, this.mapLabel.forward(labels ?? os.zeros([batch, this.config.labelDim])));
      return os.silu(emb);
    });
  }

  forward(xIn: Tensor, cNoise: Tensor, labels: Tensor | null): Tensor {
    return os.tidy(() => this.forwardWithFeatures(xIn, cNoise, labels).out);
  }

  /** The bottleneck features [B, C, r, r] alone: the encoder pass, no decoder. */
  bottleneck(xIn: Tensor, cNoise: Tensor, labels: Tensor | null): Tensor {
    return os.tidy(() => this.encode(xIn, cNoise, labels).x);
  }

  /** The output and the bottleneck features [B, C, r, r] (after the encoder, before the decoder). */
  forwardWithFeatures(xIn: Tensor, cNoise: Tensor, labels: Tensor | null): { out: Tensor; bottleneck: Tensor } {
    return os.tidy(() => {
      const { emb, skips, x: bottleneck } = this.encode(xIn, cNoise, labels);
      let x = bottleneck;
      for (const blk of this.mid.items) x = blk.forward(x, emb);
      this.dec.items.forEach((blk, i) => {
        x = blk.forward(this.decTakesSkip[i] ? os.cat([x, skips.pop()!], 1) : x, emb);
      });
      const out = this.convOut.forward(this.normOut.forward(x, { silu: true }));
      return { out, bottleneck };
    });
  }

  /** Embedding, the encoder's activations (the skips) and its last one. Call inside a tidy scope. */
  private encode(xIn: Tensor, cNoise: Tensor, labels: Tensor | null): { emb: Tensor; skips: Tensor[]; x: Tensor } {
    const c = this.config;
    if (xIn.ndim !== 4 || xIn.shape[1] !== c.inChannels || xIn.shape[2] !== c.resolution || xIn.shape[3] !== c.resolution) {
      throw new ShapeError(`UNet: input ${fmtShape(xIn.shape)} must be [B, ${c.inChannels}, ${c.resolution}, ${c.resolution}] (the config's inChannels and resolution)`);
    }
    const B = xIn.shape[0];
    if (labels && (labels.ndim !== 2 || labels.shape[0] !== B || labels.shape[1] !== c.labelDim)) {
      throw new ShapeError(`UNet: labels ${fmtShape(labels.shape)} must be one-hot [${B}, ${c.labelDim}]`);
    }
    const emb = this.embed(cNoise, labels, B);
    let x = this.convIn.forward(xIn);
    const skips: Tensor[] = [x];
    for (const blk of this.enc.items) {
      x = blk.forward(x, emb);
      skips.push(x);
    }
    return { emb, skips, x };
  }

  override dispose(): void {
    super.dispose();
    this.freqTable.dispose();
    this.phaseTable.dispose();
  }
}

interface BlockSpec {
  inC: number;
  outC: number;
  how: Resample;
  attention: boolean;
  takesSkip: boolean; // decoder blocks: input = cat(x, skip)
}

/**
 * The UNet's blocks from its config, without allocating anything: encoder (per level a down block except at the first,
 * then numBlocks blocks, every output a skip), bottleneck (attention + plain, EDM's decoder in0/in1), decoder (per level
 * from the lowest an up block except there, then numBlocks + 1 blocks each reading a skip).
 */
export function unetPlan(c: UNetConfig): { inCh: number; enc: BlockSpec[]; mid: BlockSpec[]; dec: BlockSpec[]; outCh: number } {
  const mc = c.modelChannels;
  const spec = (inC: number, outC: number, how: Resample, attention: boolean, takesSkip = false): BlockSpec => ({ inC, outC, how, attention, takesSkip });
  const enc: BlockSpec[] = [], dec: BlockSpec[] = [];
  const skips = [mc * c.channelMult[0]];
  let ch = skips[0], res = c.resolution;
  c.channelMult.forEach((mult, level) => {
    if (level > 0) {
      res /= 2;
      enc.push(spec(ch, ch, 'down', false));
      skips.push(ch);
    }
    for (let b = 0; b < c.numBlocks; b++) {
      enc.push(spec(ch, mc * mult, 'none', c.attnResolutions.includes(res)));
      ch = mc * mult;
      skips.push(ch);
    }
  });
  const mid = [spec(ch, ch, 'none', true), spec(ch, ch, 'none', false)];
  for (let level = c.channelMult.length - 1; level >= 0; level--) {
    if (level < c.channelMult.length - 1) {
      res *= 2;
      dec.push(spec(ch, ch, 'up', false));
    }
    for (let b = 0; b <= c.numBlocks; b++) {
      const cin = ch + skips.pop()!;
      ch = mc * c.channelMult[level];
      dec.push(spec(cin, ch, 'none', c.attnResolutions.includes(res), true));
    }
  }
  return { inCh: mc * c.channelMult[0], enc, mid, dec, outCh: ch };
}

/** Parameters a UNet of this config has (checked against the module in tests; lets loaders vet a file first). */
export function unetParamCount(config: UNetConfig): number {
  const c = { ...config };
  checkConfig(c);
  const mc = c.modelChannels, emb = mc * c.embMult;
  const conv = (i: number, o: number, k: number) => i * o * k * k + o;
  const block = (b: BlockSpec) =>
    2 * b.inC + conv(b.inC, b.outC, 3) + emb * 2 * b.outC + 2 * b.outC + conv(b.outC, b.outC, 3) +
    (b.inC !== b.outC ? conv(b.inC, b.outC, 1) : 0) + (b.attention ? 2 * b.outC + conv(b.outC, 3 * b.outC, 1) + conv(b.outC, b.outC, 1) : 0);
  const p = unetPlan(c);
  return mc * emb + emb + emb * emb + emb + c.labelDim * emb + conv(c.inChannels, p.inCh, 3) +
    [...p.enc, ...p.mid, ...p.dec].reduce((n, b) => n + block(b), 0) + 2 * p.outCh + conv(p.outCh, c.outChannels, 3);
}

function checkConfig(c: UNetConfig): void {
  const ints: [string, number][] = [['resolution', c.resolution], ['inChannels', c.inChannels], ['outChannels', c.outChannels], ['modelChannels', c.modelChannels], ['numBlocks', c.numBlocks], ['channelsPerHead', c.channelsPerHead], ['embMult', c.embMult]];
  for (const [n, v] of ints) if (!Number.isInteger(v) || v <= 0) throw new ValueError(`UNet: ${n} must be a positive integer, got ${v}`);
  if (!Number.isInteger(c.labelDim) || c.labelDim < 0) throw new ValueError(`UNet: labelDim must be a non-negative integer, got ${c.labelDim}`);
  if (c.modelChannels % 2 !== 0) throw new ValueError(`UNet: modelChannels ${c.modelChannels} must be even (the noise embedding is half cos, half sin)`);
  if (!Array.isArray(c.channelMult) || c.channelMult.length === 0 || c.channelMult.some((m) => !Number.isInteger(m) || m <= 0)) throw new ValueError(`UNet: channelMult must be positive integers, got ${JSON.stringify(c.channelMult)}`);
  const down = 2 ** (c.channelMult.length - 1);
  if (c.resolution % down !== 0) throw new ValueError(`UNet: resolution ${c.resolution} must be divisible by 2^(levels−1) = ${down} for ${c.channelMult.length} levels; use fewer levels or a resolution like ${down * Math.ceil(c.resolution / down)}`);
  for (const m of c.channelMult) {
    const ch = c.modelChannels * m, g = groupsFor(ch);
    if (ch % g !== 0) throw new ValueError(`UNet: level channels ${ch} (modelChannels ${c.modelChannels} × ${m}) do not split into GroupNorm's min(32, C/4) = ${g} groups; pick channels divisible by 4 (and by 32 above 128)`);
  }
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new ValueError(`UNet: dropout must be in [0, 1), got ${c.dropout}`);
  if (!Array.isArray(c.attnResolutions) || c.attnResolutions.some((r) => typeof r !== 'number')) throw new ValueError(`UNet: attnResolutions must be a list of resolutions, got ${JSON.stringify(c.attnResolutions)}`);
}
