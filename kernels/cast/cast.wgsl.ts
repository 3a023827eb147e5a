// kernels/cast/cast.wgsl.ts: f32 ↔ f16 conversion kernels, in two storage forms of an f16 tensor's buffer:
// - native: `array<f16>` under `enable f16` (the adapter's shader-f16 feature), one element per invocation;
// - packed: `array<u32>` holding element pairs (low half first) through pack2x16float / unpack2x16float, core WGSL,
//   so every adapter reads and writes the same bytes (f32 → f16 packs one pair per invocation: no shared words).
// Both give torch's .half() on the specials, which WGSL leaves indeterminate: NaN stays NaN, |x| ≥ 65520 (the first
// value that rounds past 65504) becomes ±inf, and finite values are clamped into range before converting. Within
// range WGSL lets a conversion round either way; the tests accept only the nearest half or its neighbour toward x.
import { main1d } from '../grid';

export type CastDirection = 'toHalf' | 'toFloat';

/** Half bits (in a u32) for the specials: NaN, and overflow past 65504 to ±inf; 0 flags "not special". */
const SPECIAL = /* wgsl */ `
fn specialHalf(v: f32) -> u32 {
  let b = bitcast<u32>(v);
  let sign = (b >> 16u) & 0x8000u;
  let mag = b & 0x7fffffffu;
  if (mag > 0x7f800000u) { return sign | 0x7e00u; } // NaN
  if (mag >= 0x477ff000u) { return sign | 0x7c00u; } // |v| ≥ 65520, infinity included
  return 0u;
}
const HALF_MAX = 65504.0;`;

const HEADER = (native: boolean, src: string, dst: string) => /* wgsl */ `${native ? 'enable f16;\n' : ''}
struct U { n: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> src: array<${src}>;
@group(0) @binding(2) var<storage, read_write> dst: array<${dst}>;`;

export function castWgsl(direction: CastDirection, native: boolean): string {
  if (direction === 'toHalf' && native) {
    return /* wgsl */ `${HEADER(true, 'f32', 'f16')}
${SPECIAL}
${main1d()}
  if (i >= u.n) { return; }
  let v = src[i];
  let s = specialHalf(v);
  dst[i] = select(f16(clamp(v, -HALF_MAX, HALF_MAX)), bitcast<vec2<f16>>(s).x, s != 0u);
}`;
  }
  if (direction === 'toHalf') {
    return /* wgsl */ `${HEADER(false, 'f32', 'u32')}
${SPECIAL}
fn halfBits(v: f32) -> u32 {
  let s = specialHalf(v);
  return select(pack2x16float(vec2f(clamp(v, -HALF_MAX, HALF_MAX), 0.0)) & 0xffffu, s, s != 0u);
}
${main1d()}
  // word i holds elements 2i (low half) and 2i + 1 (high half; zero past the end)
  if (2u * i >= u.n) { return; }
  let hi = select(0u, halfBits(src[min(2u * i + 1u, u.n - 1u)]), 2u * i + 1u < u.n);
  dst[i] = halfBits(src[2u * i]) | (hi << 16u);
}`;
  }
  if (native) {
    return /* wgsl */ `${HEADER(true, 'f16', 'f32')}
${main1d()}
  if (i >= u.n) { return; }
  dst[i] = f32(src[i]);
}`;
  }
  return /* wgsl */ `${HEADER(false, 'u32', 'f32')}
${main1d()}
  if (i >= u.n) { return; }
  let h = (src[i / 2u] >> (16u * (i % 2u))) & 0xffffu;
  // inf and NaN built from their bits (unpack2x16float leaves them indeterminate)
  let special = bitcast<f32>(((h & 0x8000u) << 16u) | 0x7f800000u | ((h & 0x3ffu) << 13u));
  dst[i] = select(unpack2x16float(h).x, special, (h & 0x7c00u) == 0x7c00u);
}`;
}
