// engine/ops/conv.ts: conv2d and convTranspose2d with their backward rules; torch.nn.functional.conv2d / conv_transpose2d
// semantics (NCHW, an unbatched [C, H, W] input too). Kernels: kernels/conv/ (implicit GEMMs; 1×1 through matmul).
// conv2d: forward, dx = backward-data, dw = backward-weight, db = Σ over (n, h, w).
// convTranspose2d is conv2d's adjoint: forward = backward-data, dx = conv2d forward, dw = backward-weight (roles swapped).
import { conv2dBackwardData, conv2dBackwardWeight, conv2dForward, convOutputSize, type ConvGeometry, type ConvVariant } from '../../kernels/conv/dispatch';
import { ShapeError, ValueError, fmtShape } from '../../runtime/errors';
import { Tensor, tidy } from '../tensor';
import { apply, type OpDef } from './op';
import { sum } from './reduce';
import { reshape } from './shape';
import { checkInputs } from './validate';

/** One number for both axes, or [height, width]. */
type Pair = number | readonly [number, number];

export interface Conv2dOptions {
  stride?: Pair; // default 1
  padding?: Pair | 'valid' | 'same'; // zeros on each side; 'same' (stride 1 only) pads like torch, the odd one after
  dilation?: Pair; // default 1
  groups?: number; // default 1; must divide both channel counts
  /** Kernel tile (tests and bench); default: the tuner's winner for this shape class when known, else picked from the shapes. */
  variant?: ConvVariant;
}

export interface ConvTranspose2dOptions {
  stride?: Pair;
  padding?: Pair; // as torch: the conv2d padding this is the adjoint of; the output shrinks by 2·padding
  outputPadding?: Pair; // extra rows / columns at the end (< stride or < dilation)
  dilation?: Pair;
  groups?: number;
  variant?: ConvVariant;
}

function pairOf(op: string, name: string, v: Pair | undefined, dflt: number, min: number): [number, number] {
  const p: [number, number] = v === undefined ? [dflt, dflt] : typeof v === 'number' ? [v, v] : [v[0], v[1]];
  if ((typeof v === 'object' && v.length !== 2) || p.some((n) => !Number.isInteger(n) || n < min)) {
    throw new ValueError(`${op}: ${name} must be an integer ≥ ${min} or a pair [h, w] of them, got ${JSON.stringify(v)}`);
  }
  return p;
}

const inputsOf = (x: Tensor, w: Tensor, b: Tensor | undefined) => (b ? [x, w, b] : [x, w]);

function groupsOf(op: string, g: number | undefined): number {
  const groups = g ?? 1;
  if (!Number.isInteger(groups) || groups < 1) throw new ValueError(`${op}: groups must be a positive integer, got ${groups}`);
  return groups;
}

interface SharedGeometry {
  groups: number;
  stride: [number, number];
  dilation: [number, number];
}

/**
 * What conv2d and convTranspose2d check alike (live inputs, the weight's rank, groups dividing the input channels,
 * stride and dilation), then `fn` on x as a batch: an unbatched [C, H, W] input runs as a batch of one.
 */
function convolve(op: string, x: Tensor, w: Tensor, b: Tensor | undefined, opts: Conv2dOptions | ConvTranspose2dOptions, layout: string, fn: (x4: Tensor, g: SharedGeometry) => Tensor): Tensor {
  checkInputs(op, ...inputsOf(x, w, b));
  if (x.ndim !== 3 && x.ndim !== 4) throw new ShapeError(`${op}: input must be [N, C, H, W] (or unbatched [C, H, W]), got ${fmtShape(x.shape)}`);
  if (w.ndim !== 4) throw new ShapeError(`${op}: weight must be ${layout}, got ${fmtShape(w.shape)}`);
  const g: SharedGeometry = { groups: groupsOf(op, opts.groups), stride: pairOf(op, 'stride', opts.stride, 1, 1), dilation: pairOf(op, 'dilation', opts.dilation, 1, 1) };
  const C = x.shape[x.ndim - 3];
  if (C % g.groups !== 0) throw new ValueError(`${op}: groups ${g.groups} does not divide the ${C} input channels of ${fmtShape(x.shape)}; use a groups that divides both channel counts`);
  if (x.ndim === 4) return fn(x, g);
  return tidy(() => {
    const y = fn(reshape(x, [1, ...x.shape]), g);
    return reshape(y, y.shape.slice(1));
  });
}

function checkBias(op: string, b: Tensor | undefined, channels: number, w: Tensor): void {
  if (b && (b.ndim !== 1 || b.shape[0] !== channels)) {
    throw new ShapeError(`${op}: bias ${fmtShape(b.shape)} must be [${channels}], one per output channel of weight ${fmtShape(w.shape)}`);
  }
}

/** A convolution's geometry, the output size and the kernel tile, resolved by the public functions. */
export interface ConvAttrs {
  geom: ConvGeometry;
  /** Output height and width. */
  outHW: [number, number];
  /** The weight's kernel height and width. */
  kHW: [number, number];
  variant?: ConvVariant;
}

/**
 * conv2d and convTranspose2d are each other's adjoint: one's input gradient is the other applied to g (at the input's
 * size), both weight gradients are conv2dWeightGrad (with the convolution's input and output gradient in the roles
 * conv2d gives them), and the bias gradient is Σ over batch and pixels.
 */
function convDef(forward: OpDef<ConvAttrs>['forward'], outChannels: (w: readonly number[], a: ConvAttrs) => number, adjoint: 'conv2d' | 'convTranspose2d'): OpDef<ConvAttrs> {
  const conv2dRoles = adjoint === 'convTranspose2d';
  return {
    inputs: ['x', 'w', 'b?'], family: 'conv',
    shape: ([x, w], a) => [x[0], outChannels(w, a), ...a.outHW],
    forward,
    backward: (g, { inputs: [x, w, b], attrs: a, need }) => [
      need[0] ? convOf(adjoint, [g, w], { ...a, outHW: [x.shape[2], x.shape[3]] }) : null,
      need[1] ? convOf('conv2dWeightGrad', conv2dRoles ? [x, g] : [g, x], a) : null,
      b && need[2] ? sum(g, [0, 2, 3]) : null,
    ],
  };
}

export const CONV_OPS = {
  // y[n, o] = b[o] + Σ_c x[n, g·C/G + c] ⋆ w[o, c]
  conv2d: convDef(([x, w, b], a) => conv2dForward(x, w, b, a.geom, a.outHW, { variant: a.variant }), (w) => w[0], 'convTranspose2d'),
  // conv2d's adjoint: x [N, Cin, H, W], w [Cin, Cout/G, kH, kW]
  convTranspose2d: convDef(([x, w, b], a) => conv2dBackwardData(x, w, b, a.geom, a.outHW, { variant: a.variant }), (w, a) => w[1] * a.geom.groups, 'conv2d'),
  // ∂conv2d/∂w from the input x and the output gradient dy: [O, C/G, kH, kW]
  conv2dWeightGrad: {
    inputs: ['x', 'dy'], family: 'conv', backward: null,
    shape: ([x, dy], a) => [dy[1], x[1] / a.geom.groups, ...a.kHW],
    forward: ([x, dy], a) => conv2dBackwardWeight(x, dy, a.geom, a.kHW, { variant: a.variant }),
  } satisfies OpDef<ConvAttrs>,
};

/** Applies a conv entry to resolved attributes. */
function convOf(name: 'conv2d' | 'convTranspose2d' | 'conv2dWeightGrad', inputs: Tensor[], a: ConvAttrs): Tensor {
  return apply(name, CONV_OPS[name] as OpDef<ConvAttrs>, inputs, a);
}

/**
 * y[n, o] = b[o] + Σ_c x[n, g·C/G + c] ⋆ w[o, c] (torch.nn.functional.conv2d): x [N, C, H, W], w [O, C/groups, kH, kW],
 * b [O] → y [N, O, OH, OW] with OH = ⌊(H + 2·padding − dilation·(kH − 1) − 1) / stride⌋ + 1.
 */
export function conv2d(x: Tensor, w: Tensor, b?: Tensor, opts: Conv2dOptions = {}): Tensor {
  return convolve('conv2d', x, w, b, opts, '[outChannels, inChannels/groups, kH, kW]', (x4, g) => conv2dBatched(x4, w, b, opts, g));
}

function conv2dBatched(x: Tensor, w: Tensor, b: Tensor | undefined, opts: Conv2dOptions, { groups, stride, dilation }: SharedGeometry): Tensor {
  const op = 'conv2d';
  const [, C, H, W] = x.shape, [O, cG, kH, kW] = w.shape;
  if (O % groups !== 0) throw new ValueError(`${op}: groups ${groups} does not divide the ${O} output channels of weight ${fmtShape(w.shape)}`);
  if (C !== cG * groups) {
    const expects = groups === 1 ? `${cG}` : `${cG * groups} (${cG} per group × ${groups} groups)`;
    throw new ShapeError(`${op}: input has ${C} channels but weight expects ${expects} (weight ${fmtShape(w.shape)}, input ${fmtShape(x.shape)})`);
  }
  checkBias(op, b, O, w);
  // padding before and after, per axis
  let before: [number, number], after: [number, number];
  if (opts.padding === 'valid') before = after = [0, 0];
  else if (opts.padding === 'same') {
    if (stride[0] !== 1 || stride[1] !== 1) throw new ValueError(`${op}: padding 'same' needs stride 1, got stride ${fmtShape(stride)}; pad explicitly instead`);
    const total = [dilation[0] * (kH - 1), dilation[1] * (kW - 1)];
    before = [Math.floor(total[0] / 2), Math.floor(total[1] / 2)];
    after = [total[0] - before[0], total[1] - before[1]];
  } else before = after = pairOf(op, 'padding', opts.padding, 0, 0);
  const outHW: [number, number] = [
    convOutputSize(H, kH, stride[0], before[0], after[0], dilation[0]),
    convOutputSize(W, kW, stride[1], before[1], after[1], dilation[1]),
  ];
  if (outHW[0] < 1 || outHW[1] < 1) {
    const span = [dilation[0] * (kH - 1) + 1, dilation[1] * (kW - 1) + 1];
    throw new ShapeError(
      `${op}: kernel ${kH}×${kW} (dilation ${fmtShape(dilation)}, spanning ${span[0]}×${span[1]}) is larger than the padded input ` +
        `${H + before[0] + after[0]}×${W + before[1] + after[1]} (input ${fmtShape(x.shape)}, padding ${fmtShape(before)}); pad the input more or use a smaller kernel`,
    );
  }
  const geom: ConvGeometry = { stride, padding: before, dilation, groups };
  return convOf(op, inputsOf(x, w, b), { geom, outHW, kHW: [kH, kW], variant: opts.variant });
}

/**
 * The adjoint of conv2d (torch.nn.functional.conv_transpose2d): x [N, Cin, H, W], w [Cin, Cout/groups, kH, kW],
 * b [Cout] → y [N, Cout, OH, OW] with OH = (H − 1)·stride − 2·padding + dilation·(kH − 1) + outputPadding + 1.
 */
export function convTranspose2d(x: Tensor, w: Tensor, b?: Tensor, opts: ConvTranspose2dOptions = {}): Tensor {
  return convolve('convTranspose2d', x, w, b, opts, '[inChannels, outChannels/groups, kH, kW]', (x4, g) => convTranspose2dBatched(x4, w, b, opts, g));
}

function convTranspose2dBatched(x: Tensor, w: Tensor, b: Tensor | undefined, opts: ConvTranspose2dOptions, { groups, stride, dilation }: SharedGeometry): Tensor {
  const op = 'convTranspose2d';
  const [, Cin, H, W] = x.shape, [wIn, coG, kH, kW] = w.shape;
  const padding = pairOf(op, 'padding', opts.padding, 0, 0), outPad = pairOf(op, 'outputPadding', opts.outputPadding, 0, 0);
  if (Cin !== wIn) throw new ShapeError(`${op}: input has ${Cin} channels but weight expects ${wIn} (weight ${fmtShape(w.shape)} is [inChannels, outChannels/groups, kH, kW])`);
  for (const a of [0, 1]) {
    if (outPad[a] >= stride[a] && outPad[a] >= dilation[a]) {
      throw new ValueError(`${op}: outputPadding ${fmtShape(outPad)} must be smaller than stride ${fmtShape(stride)} or dilation ${fmtShape(dilation)}`);
    }
  }
  const Cout = coG * groups;
  checkBias(op, b, Cout, w);
  const outHW: [number, number] = [
    (H - 1) * stride[0] - 2 * padding[0] + dilation[0] * (kH - 1) + outPad[0] + 1,
    (W - 1) * stride[1] - 2 * padding[1] + dilation[1] * (kW - 1) + outPad[1] + 1,
  ];
  if (outHW[0] < 1 || outHW[1] < 1) {
    throw new ShapeError(`${op}: padding ${fmtShape(padding)} crops the whole output (input ${fmtShape(x.shape)}, weight ${fmtShape(w.shape)}, stride ${fmtShape(stride)} give ${outHW[0]}×${outHW[1]}); use less padding`);
  }
  // the conv2d whose adjoint this is: input [N, Cout, OH, OW] → output x [N, Cin, H, W], weight w as [O = Cin, C/G = Cout/G, …]
  const geom: ConvGeometry = { stride, padding, dilation, groups };
  return convOf(op, inputsOf(x, w, b), { geom, outHW, kHW: [kH, kW], variant: opts.variant });
}
