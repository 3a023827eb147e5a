// engine/nn/conv.ts: Conv2d and ConvTranspose2d with torch.nn's parameter names, shapes and default init
// (kaiming_uniform(a=√5): weight and bias U(±1/√fanIn), fanIn = weight.shape[1]·kH·kW).
import { conv2d, convTranspose2d } from '../ops';
import { ValueError } from '../errors';
import { Tensor } from '../tensor';
import { Module } from './module';
import { uniformInit } from './layers';

/** One number for both axes, or [height, width]. */
type Pair = number | readonly [number, number];

export interface Conv2dModuleOptions {
  stride?: Pair; // default 1
  padding?: Pair | 'valid' | 'same'; // default 0
  dilation?: Pair; // default 1
  groups?: number; // default 1
  bias?: boolean; // default true
}

export interface ConvTranspose2dModuleOptions {
  stride?: Pair;
  padding?: Pair;
  outputPadding?: Pair;
  dilation?: Pair;
  groups?: number;
  bias?: boolean;
}

const pair = (v: Pair): [number, number] => (typeof v === 'number' ? [v, v] : [v[0], v[1]]);

/**
 * What both layers share: a weight [A, B/groups, kH, kW] — [out, in/groups, …] for Conv2d, [in, out/groups, …] for
 * ConvTranspose2d — and a bias [outChannels], both U(±1/√fanIn) with torch's fanIn = weight.shape[1]·kH·kW.
 */
abstract class ConvLayer extends Module {
  weight: Tensor;
  bias: Tensor | null;
  readonly kernelSize: [number, number];
  protected constructor(layer: string, inChannels: number, outChannels: number, kernelSize: Pair, groups: number, bias: boolean, transposed: boolean) {
    super();
    this.kernelSize = pair(kernelSize);
    const [kH, kW] = this.kernelSize;
    for (const [n, v] of [['inChannels', inChannels], ['outChannels', outChannels], ['kernelSize', kH], ['kernelSize', kW], ['groups', groups]] as const) {
      if (!Number.isInteger(v) || v <= 0) throw new ValueError(`${layer}: ${n} must be a positive integer, got ${v}`);
    }
    if (inChannels % groups !== 0 || outChannels % groups !== 0) {
      throw new ValueError(`${layer}: groups ${groups} must divide inChannels ${inChannels} and outChannels ${outChannels}`);
    }
    const shape = transposed ? [inChannels, outChannels / groups, kH, kW] : [outChannels, inChannels / groups, kH, kW];
    const bound = 1 / Math.sqrt(shape[1] * kH * kW);
    this.weight = this.param(uniformInit(shape, bound));
    this.bias = bias ? this.param(uniformInit([outChannels], bound)) : null;
  }
}

/** y = conv2d(x, weight, bias): weight [outChannels, inChannels/groups, kH, kW], bias [outChannels]. */
export class Conv2d extends ConvLayer {
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: Pair,
    readonly opts: Conv2dModuleOptions = {},
  ) {
    super('Conv2d', inChannels, outChannels, kernelSize, opts.groups ?? 1, opts.bias !== false, false);
  }
  forward(x: Tensor): Tensor {
    const { stride, padding, dilation, groups } = this.opts;
    return conv2d(x, this.weight, this.bias ?? undefined, { stride, padding, dilation, groups });
  }
}

/** y = convTranspose2d(x, weight, bias): weight [inChannels, outChannels/groups, kH, kW], bias [outChannels]. */
export class ConvTranspose2d extends ConvLayer {
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: Pair,
    readonly opts: ConvTranspose2dModuleOptions = {},
  ) {
    super('ConvTranspose2d', inChannels, outChannels, kernelSize, opts.groups ?? 1, opts.bias !== false, true);
  }
  forward(x: Tensor): Tensor {
    const { stride, padding, outputPadding, dilation, groups } = this.opts;
    return convTranspose2d(x, this.weight, this.bias ?? undefined, { stride, padding, outputPadding, dilation, groups });
  }
}
