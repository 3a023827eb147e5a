// kernels/random/dispatch.ts: counter-based random numbers (Philox4x32-10, Salmon et al. 2011). Element i of a draw
// with (seed, stream) is a pure function of (seed, stream, i): the same on every adapter, in Node and the browser.
import { type Kernel, DeviceArray } from '../../runtime';
import { grid1d, main1d } from '../grid';

/** WGSL Philox4x32-10: 4 random u32 words from a 128-bit counter and a 64-bit key. */
export const PHILOX_WGSL = /* wgsl */ `
fn mulhilo(a: u32, b: u32) -> vec2u {
  // 32×32 → 64-bit product from 16-bit halves (WGSL has no 64-bit integers)
  let a0 = a & 0xffffu; let a1 = a >> 16u; let b0 = b & 0xffffu; let b1 = b >> 16u;
  let p00 = a0 * b0; let p01 = a0 * b1; let p10 = a1 * b0; let p11 = a1 * b1;
  let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  let hi = p11 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u);
  return vec2u(hi, a * b);
}
fn philox(ctr_in: vec4u, key_in: vec2u) -> vec4u {
  var c = ctr_in; var k = key_in;
  for (var r = 0; r < 10; r++) {
    let p0 = mulhilo(0xD2511F53u, c.x); let p1 = mulhilo(0xCD9E8D57u, c.z);
    c = vec4u(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
    k = k + vec2u(0x9E3779B9u, 0xBB67AE85u);
  }
  return c;
}
// uniform in (0, 1]: 24 random bits, never 0 (safe for log)
fn unit(w: u32) -> f32 { return (f32(w >> 8u) + 1.0) * 5.9604644775390625e-8; }
// ln(u) and cos(2πu) from + and × only: built-in log/cos differ between drivers by up to 1e-4, these agree to ULPs,
// so the same seed gives the same normals on every adapter.
fn lnUnit(u: f32) -> f32 {
  let bits = bitcast<u32>(u);
  var e = i32((bits >> 23u) & 0xffu) - 127;
  var m = bitcast<f32>((bits & 0x007fffffu) | 0x3f800000u); // [1, 2)
  if (m > 1.41421356) { m = m * 0.5; e = e + 1; }
  let s = (m - 1.0) / (m + 1.0); // |s| ≤ 0.172: atanh series converges fast
  let s2 = s * s;
  let atanh = s * (1.0 + s2 * (0.33333333 + s2 * (0.2 + s2 * (0.14285714 + s2 * (0.11111111 + s2 * 0.09090909)))));
  return f32(e) * 0.69314718 + 2.0 * atanh;
}
fn cos2pi(u: f32) -> f32 {
  let t = abs(u - round(u));  // [0, 0.5], exact
  let x = 6.2831853 * (0.25 - t); // cos(2πt) = sin(2π(¼ − t)), x ∈ [−π/2, π/2]
  let x2 = x * x;
  return x * (1.0 + x2 * (-0.16666667 + x2 * (0.0083333333 + x2 * (-0.00019841270 + x2 * (2.7557319e-6 + x2 * (-2.5052108e-8 + x2 * 1.6059044e-10))))));
}`;

export type Distribution = 'uniform' | 'normal';
const kernels = new Map<Distribution, Kernel>();

function randomKernel(dist: Distribution): Kernel {
  let k = kernels.get(dist);
  if (k) return k;
  const value =
    dist === 'uniform'
      ? 'unit(r.x) - 5.9604644775390625e-8' // [0, 1)
      : 'sqrt(-2.0 * lnUnit(unit(r.x))) * cos2pi(unit(r.y))'; // Box–Muller
  const code = /* wgsl */ `
struct U { n: u32, seedLo: u32, seedHi: u32, stream: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
${PHILOX_WGSL}
${main1d()}
  if (i >= u.n) { return; }
  let r = philox(vec4u(i, u.stream, 0u, 0u), vec2u(u.seedLo, u.seedHi));
  out[i] = ${value};
}`;
  k = { code, label: `random ${dist}` };
  kernels.set(dist, k);
  return k;
}

/** Fills a new tensor with draws of `dist` for (seed, stream). */
export function random(dist: Distribution, shape: readonly number[], seed: number, stream: number): DeviceArray {
  const out = DeviceArray.alloc(shape);
  if (out.size === 0) return out;
  const dev = out.device;
  dev.dispatch(randomKernel(dist), {
    buffers: [out.buffer],
    uniforms: [out.size, seed >>> 0, Math.floor(seed / 2 ** 32) >>> 0, stream >>> 0],
    workgroups: grid1d(dev, out.size),
  });
  return out;
}

// ---- plain-TS reference (tests check the GPU against it bit for bit on the integer words) ----------------------

function mulhilo32(a: number, b: number): [number, number] {
  const p = BigInt(a >>> 0) * BigInt(b >>> 0);
  return [Number(p >> 32n) >>> 0, Number(p & 0xffffffffn) >>> 0];
}

export function philoxRef(ctr: [number, number, number, number], key: [number, number]): number[] {
  let [c0, c1, c2, c3] = ctr.map((v) => v >>> 0);
  let [k0, k1] = key.map((v) => v >>> 0);
  for (let r = 0; r < 10; r++) {
    const [h0, l0] = mulhilo32(0xd2511f53, c0);
    const [h1, l1] = mulhilo32(0xcd9e8d57, c2);
    [c0, c1, c2, c3] = [(h1 ^ c1 ^ k0) >>> 0, l1, (h0 ^ c3 ^ k1) >>> 0, l0];
    k0 = (k0 + 0x9e3779b9) >>> 0;
    k1 = (k1 + 0xbb67ae85) >>> 0;
  }
  return [c0, c1, c2, c3];
}

/** What element i of random(dist, …, seed, stream) should be, computed on the host in float64. */
export function randomRef(dist: Distribution, i: number, seed: number, stream: number): number {
  const r = philoxRef([i, stream, 0, 0], [seed >>> 0, Math.floor(seed / 2 ** 32) >>> 0]);
  const unit = (w: number) => ((w >>> 8) + 1) * 2 ** -24;
  return dist === 'uniform' ? unit(r[0]) - 2 ** -24 : Math.sqrt(-2 * Math.log(unit(r[0]))) * Math.cos(2 * Math.PI * unit(r[1]));
}
