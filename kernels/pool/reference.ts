// kernels/pool/reference.ts: plain float64 avg_pool2d (count_include_pad = True, ceil_mode = False) and nearest
// upsampling by integer factors over the last two dims; the tests' ground truth.
import type { HostTensor } from '../elementwise/reference';

const pair = (v: number | readonly number[]): [number, number] => (typeof v === 'number' ? [v, v] : [v[0], v[1]]);

export function avgPool2dRef(x: HostTensor, kernelSize: number | readonly number[], stride?: number | readonly number[], padding: number | readonly number[] = 0): HostTensor {
  const [kh, kw] = pair(kernelSize), [sh, sw] = pair(stride ?? kernelSize), [ph, pw] = pair(padding);
  const H = x.shape[x.shape.length - 2], W = x.shape[x.shape.length - 1];
  const planes = x.data.length / (H * W);
  const Ho = Math.floor((H + 2 * ph - kh) / sh) + 1, Wo = Math.floor((W + 2 * pw - kw) / sw) + 1;
  const out = new Float64Array(planes * Ho * Wo);
  for (let p = 0; p < planes; p++) {
    for (let oh = 0; oh < Ho; oh++) {
      for (let ow = 0; ow < Wo; ow++) {
        let s = 0;
        for (let a = 0; a < kh; a++) {
          for (let b = 0; b < kw; b++) {
            const h = oh * sh - ph + a, w = ow * sw - pw + b;
            if (h >= 0 && h < H && w >= 0 && w < W) s += x.data[(p * H + h) * W + w];
          }
        }
        out[(p * Ho + oh) * Wo + ow] = s / (kh * kw);
      }
    }
  }
  return { data: out, shape: [...x.shape.slice(0, -2), Ho, Wo] };
}

export function upsampleNearest2dRef(x: HostTensor, scale: number | readonly number[]): HostTensor {
  const [sh, sw] = pair(scale);
  const H = x.shape[x.shape.length - 2], W = x.shape[x.shape.length - 1];
  const planes = x.data.length / (H * W);
  const Ho = H * sh, Wo = W * sw;
  const out = new Float64Array(planes * Ho * Wo);
  for (let p = 0; p < planes; p++) {
    for (let oh = 0; oh < Ho; oh++) {
      for (let ow = 0; ow < Wo; ow++) out[(p * Ho + oh) * Wo + ow] = x.data[(p * H + Math.floor(oh / sh)) * W + Math.floor(ow / sw)];
    }
  }
  return { data: out, shape: [...x.shape.slice(0, -2), Ho, Wo] };
}
