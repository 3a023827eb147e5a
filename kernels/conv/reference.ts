// kernels/conv/reference.ts: plain float64 loops for conv2d (torch.nn.functional.conv2d), its backward-data and
// backward-weight, and convTranspose2d (torch.nn.functional.conv_transpose2d). Written as the textbook sums (the
// backward ones scatter, the kernels gather), they are the ground truth for test/kernels/conv.test.ts.
import { sizeOf, type HostTensor } from '../elementwise/reference';

export type RefPair = number | readonly [number, number];

export interface ConvRefOptions {
  stride?: RefPair;
  /** Zeros before the first row / column (and after the last, unless `paddingAfter` says otherwise). */
  padding?: RefPair;
  paddingAfter?: RefPair;
  dilation?: RefPair;
  groups?: number;
}

export interface ConvTransposeRefOptions {
  stride?: RefPair;
  padding?: RefPair;
  outputPadding?: RefPair;
  dilation?: RefPair;
  groups?: number;
}

const pair = (v: RefPair | undefined, dflt: number): [number, number] => (v === undefined ? [dflt, dflt] : typeof v === 'number' ? [v, v] : [v[0], v[1]]);

interface Geo {
  s: [number, number];
  p: [number, number];
  d: [number, number];
  G: number;
}
const geo = (o: ConvRefOptions | ConvTransposeRefOptions): Geo => ({ s: pair(o.stride, 1), p: pair(o.padding, 0), d: pair(o.dilation, 1), G: o.groups ?? 1 });

/** Output size of conv2d along each axis (torch's formula). */
export function conv2dOutHW(xShape: readonly number[], wShape: readonly number[], o: ConvRefOptions = {}): [number, number] {
  const { s, p, d } = geo(o);
  const pa = pair(o.paddingAfter ?? o.padding, 0);
  return [0, 1].map((a) => Math.floor((xShape[2 + a] + p[a] + pa[a] - d[a] * (wShape[2 + a] - 1) - 1) / s[a]) + 1) as [number, number];
}

/**
 * Calls f(n, g, o, c, oh, ow, kh, kw, ih, iw) for every term x[n, g·cG + c, ih, iw]·w[o, c, kh, kw] of
 * y[n, o, oh, ow] with the input pixel inside the image (o is the global output channel, c the channel in its group).
 */
function forEachTerm(
  xShape: readonly number[],
  wShape: readonly number[],
  outHW: readonly [number, number],
  { s, p, d, G }: Geo,
  f: (n: number, o: number, ci: number, c: number, oh: number, ow: number, kh: number, kw: number, ih: number, iw: number) => void,
): void {
  const [N, , H, W] = xShape, [O, cG, kH, kW] = wShape;
  const oG = O / G;
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++) {
      const g = Math.floor(o / oG);
      for (let c = 0; c < cG; c++)
        for (let oh = 0; oh < outHW[0]; oh++)
          for (let ow = 0; ow < outHW[1]; ow++)
            for (let kh = 0; kh < kH; kh++) {
              const ih = oh * s[0] - p[0] + kh * d[0];
              if (ih < 0 || ih >= H) continue;
              for (let kw = 0; kw < kW; kw++) {
                const iw = ow * s[1] - p[1] + kw * d[1];
                if (iw < 0 || iw >= W) continue;
                f(n, o, g * cG + c, c, oh, ow, kh, kw, ih, iw);
              }
            }
    }
}

/** y = conv2d(x, w) + b: x [N, C, H, W], w [O, C/groups, kH, kW], b [O]. */
export function conv2dRef(x: HostTensor, w: HostTensor, b: HostTensor | undefined, o: ConvRefOptions = {}): HostTensor {
  const g = geo(o);
  const [N, C, H, W] = x.shape, [O, cG, kH, kW] = w.shape;
  if (C !== cG * g.G) throw new Error(`conv2dRef: x [${x.shape}] vs w [${w.shape}], groups ${g.G}`);
  const [OH, OW] = conv2dOutHW(x.shape, w.shape, o);
  const y = new Float64Array(N * O * OH * OW);
  if (b) for (let i = 0; i < y.length; i++) y[i] = b.data[Math.floor(i / (OH * OW)) % O];
  forEachTerm(x.shape, w.shape, [OH, OW], g, (n, oc, ci, c, oh, ow, kh, kw, ih, iw) => {
    y[((n * O + oc) * OH + oh) * OW + ow] += x.data[((n * C + ci) * H + ih) * W + iw] * w.data[((oc * cG + c) * kH + kh) * kW + kw];
  });
  return { data: y, shape: [N, O, OH, OW] };
}

/** dx = ∂⟨conv2d(x, w), dy⟩/∂x for x of shape xShape. */
export function conv2dBackwardDataRef(dy: HostTensor, w: HostTensor, xShape: readonly number[], o: ConvRefOptions = {}): HostTensor {
  const [N, C, H, W] = xShape, [O, cG, kH, kW] = w.shape, [, , OH, OW] = dy.shape;
  const dx = new Float64Array(sizeOf(xShape));
  forEachTerm(xShape, w.shape, [OH, OW], geo(o), (n, oc, ci, c, oh, ow, kh, kw, ih, iw) => {
    dx[((n * C + ci) * H + ih) * W + iw] += dy.data[((n * O + oc) * OH + oh) * OW + ow] * w.data[((oc * cG + c) * kH + kh) * kW + kw];
  });
  return { data: dx, shape: [...xShape] };
}

/** dw = ∂⟨conv2d(x, w), dy⟩/∂w for w of shape wShape. */
export function conv2dBackwardWeightRef(x: HostTensor, dy: HostTensor, wShape: readonly number[], o: ConvRefOptions = {}): HostTensor {
  const [, C, H, W] = x.shape, [O, cG, kH, kW] = wShape, [, , OH, OW] = dy.shape;
  const dw = new Float64Array(sizeOf(wShape));
  forEachTerm(x.shape, wShape, [OH, OW], geo(o), (n, oc, ci, c, oh, ow, kh, kw, ih, iw) => {
    dw[((oc * cG + c) * kH + kh) * kW + kw] += dy.data[((n * O + oc) * OH + oh) * OW + ow] * x.data[((n * C + ci) * H + ih) * W + iw];
  });
  return { data: dw, shape: [...wShape] };
}

/** Output size of convTranspose2d: (H − 1)·s − 2p + d·(k − 1) + outputPadding + 1. */
export function convTranspose2dOutHW(xShape: readonly number[], wShape: readonly number[], o: ConvTransposeRefOptions = {}): [number, number] {
  const { s, p, d } = geo(o), op = pair(o.outputPadding, 0);
  return [0, 1].map((a) => (xShape[2 + a] - 1) * s[a] - 2 * p[a] + d[a] * (wShape[2 + a] - 1) + op[a] + 1) as [number, number];
}

/**
 * y = convTranspose2d(x, w) + b: x [N, Cin, H, W], w [Cin, Cout/groups, kH, kW], b [Cout]. Every input pixel
 * scatters x·w into y at (ih·s − p + kh·d, iw·s − p + kw·d).
 */
export function convTranspose2dRef(x: HostTensor, w: HostTensor, b: HostTensor | undefined, o: ConvTransposeRefOptions = {}): HostTensor {
  const { s, p, d, G } = geo(o);
  const [N, Cin, H, W] = x.shape, [, coG, kH, kW] = w.shape;
  const Cout = coG * G, ciG = Cin / G;
  const [OH, OW] = convTranspose2dOutHW(x.shape, w.shape, o);
  const y = new Float64Array(N * Cout * OH * OW);
  if (b) for (let i = 0; i < y.length; i++) y[i] = b.data[Math.floor(i / (OH * OW)) % Cout];
  for (let n = 0; n < N; n++)
    for (let ci = 0; ci < Cin; ci++) {
      const g = Math.floor(ci / ciG);
      for (let ih = 0; ih < H; ih++)
        for (let iw = 0; iw < W; iw++) {
          const v = x.data[((n * Cin + ci) * H + ih) * W + iw];
          for (let co = 0; co < coG; co++)
            for (let kh = 0; kh < kH; kh++) {
              const oh = ih * s[0] - p[0] + kh * d[0];
              if (oh < 0 || oh >= OH) continue;
              for (let kw = 0; kw < kW; kw++) {
                const ow = iw * s[1] - p[1] + kw * d[1];
                if (ow < 0 || ow >= OW) continue;
                y[((n * Cout + g * coG + co) * OH + oh) * OW + ow] += v * w.data[((ci * coG + co) * kH + kh) * kW + kw];
              }
            }
        }
    }
  return { data: y, shape: [N, Cout, OH, OW] };
}
