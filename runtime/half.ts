// runtime/half.ts: IEEE 754 binary16 ("f16", torch.float16) on the host: bits to number and number to bits with
// round-to-nearest-even, as torch's .half() rounds. Used by f16 tensors' data(), safetensors and the cast tests.

/** IEEE half bits → number: sign · 2^(e−15) · (1 + m/1024); subnormals 2^−24 · m; e = 31 is inf/NaN. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** The largest finite half (65504); from 65520 on, round-to-nearest-even gives infinity. */
export const HALF_MAX = 65504;

/** Number → IEEE half bits, rounding to nearest, ties to even (the f32 value of x is what is rounded). */
export function floatToHalf(x: number): number {
  const f = Math.fround(x);
  if (Number.isNaN(f)) return 0x7e00;
  const sign = f < 0 || Object.is(f, -0) ? 0x8000 : 0;
  const a = Math.abs(f);
  if (a >= HALF_MAX + 16) return sign | 0x7c00; // 65520 and up (infinity included) round to infinity
  // scale to units of the half's last place at this magnitude, round half to even, then rebuild the bits
  let exp = -14; // subnormals share the smallest normal's exponent
  if (a >= 2 ** -14) {
    exp = Math.floor(Math.log2(a));
    if (2 ** exp > a) exp--; // Math.log2 may round across a power of two
    else if (2 ** (exp + 1) <= a) exp++;
  }
  const ulp = 2 ** (exp - 10);
  let q = a / ulp; // exact: a power-of-two scale of an f32
  const fl = Math.floor(q), r = q - fl;
  q = r > 0.5 || (r === 0.5 && fl % 2 === 1) ? fl + 1 : fl;
  // q counts ulps: normal halves have q in [1024, 2048) (2048 carries into the next exponent), subnormals q < 1024
  if (a < 2 ** -14) return sign | q; // q = 1024 is the smallest normal, whose bits are exactly 1024
  const e2 = q === 2048 ? exp + 1 : exp, m = q === 2048 ? 0 : q - 1024;
  if (e2 > 15) return sign | 0x7c00;
  return sign | ((e2 + 15) << 10) | m;
}

/** Half bits (a Uint16Array view) → Float32Array. */
export const halvesToFloats = (h: Uint16Array): Float32Array => Float32Array.from(h, halfToFloat);
