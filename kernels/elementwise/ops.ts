// kernels/elementwise/ops.ts: every elementwise function once, as a WGSL expression and as its float64 reference.
// Unary expressions read `x` and the scalars `p0`, `p1`; binary read `a`, `b`; ternary (where) reads `c`, `a`, `b`.

export interface UnaryDef {
  wgsl: string;
  ref: (x: number, p0: number, p1: number) => number;
}
export interface BinaryDef {
  wgsl: string;
  ref: (a: number, b: number) => number;
}

const erf = (x: number): number => {
  // Abramowitz & Stegun 7.1.26 in float64 is too coarse for a reference; use a series/continued fraction instead.
  const t = Math.abs(x);
  if (t < 2.5) {
    let sum = t, term = t;
    for (let n = 1; n < 80; n++) {
      term *= (-t * t) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * ((2 / Math.sqrt(Math.PI)) * sum);
  }
  // erfc continued fraction for large |x|
  let f = 0;
  for (let n = 60; n >= 1; n--) f = n / 2 / (t + f);
  const erfc = Math.exp(-t * t) / Math.sqrt(Math.PI) / (t + f);
  return Math.sign(x) * (1 - erfc);
};
const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
const powRef = (x: number, p: number): number => Math.pow(x, p);
const gelu = (x: number): number => 0.5 * x * (1 + erf(x / Math.SQRT2));
const geluGrad = (x: number): number => 0.5 * (1 + erf(x / Math.SQRT2)) + (x * Math.exp((-x * x) / 2)) / Math.sqrt(2 * Math.PI);

export const UNARY = {
  copy: { wgsl: 'x', ref: (x) => x },
  neg: { wgsl: '-x', ref: (x) => -x },
  exp: { wgsl: 'exp(x)', ref: Math.exp },
  log: { wgsl: 'log(x)', ref: Math.log },
  sqrt: { wgsl: 'sqrt(x)', ref: Math.sqrt },
  rsqrt: { wgsl: 'inverseSqrt(x)', ref: (x) => 1 / Math.sqrt(x) },
  abs: { wgsl: 'abs(x)', ref: Math.abs },
  sign: { wgsl: 'sign(x)', ref: Math.sign },
  square: { wgsl: 'x * x', ref: (x) => x * x },
  relu: { wgsl: 'max(x, 0.0)', ref: (x) => Math.max(x, 0) },
  sigmoid: { wgsl: 'sigmoid_(x)', ref: sigmoid },
  silu: { wgsl: 'x * sigmoid_(x)', ref: (x) => x * sigmoid(x) },
  // log(1 + eˣ) without overflow
  softplus: { wgsl: 'max(x, 0.0) + log(1.0 + exp(-abs(x)))', ref: (x) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x))) },
  tanh: { wgsl: 'tanh_(x)', ref: Math.tanh },
  gelu: { wgsl: '0.5 * x * (1.0 + erf_(x * 0.70710678118654752))', ref: gelu },
  floor: { wgsl: 'floor(x)', ref: Math.floor },
  isFinite: { wgsl: 'select(0.0, 1.0, isFinite_(x))', ref: (x) => (Number.isFinite(x) ? 1 : 0) },
  sin: { wgsl: 'sin(x)', ref: Math.sin },
  cos: { wgsl: 'cos(x)', ref: Math.cos },
  // scalar-parameter ops: p0, p1 come from the uniform block
  addScalar: { wgsl: 'x + p0', ref: (x, p0) => x + p0 },
  mulScalar: { wgsl: 'x * p0', ref: (x, p0) => x * p0 },
  rsubScalar: { wgsl: 'p0 - x', ref: (x, p0) => p0 - x },
  divScalar: { wgsl: 'x / p0', ref: (x, p0) => x / p0 },
  rdivScalar: { wgsl: 'p0 / x', ref: (x, p0) => p0 / x },
  powScalar: { wgsl: 'pow_(x, p0)', ref: (x, p0) => powRef(x, p0) },
  rpowScalar: { wgsl: 'pow_(p0, x)', ref: (x, p0) => powRef(p0, x) },
  maxScalar: { wgsl: 'max_(x, p0)', ref: (x, p0) => (Number.isNaN(x) ? x : Math.max(x, p0)) },
  minScalar: { wgsl: 'min_(x, p0)', ref: (x, p0) => (Number.isNaN(x) ? x : Math.min(x, p0)) },
  clamp: { wgsl: 'min_(max_(x, p0), p1)', ref: (x, p0, p1) => (Number.isNaN(x) ? x : Math.min(Math.max(x, p0), p1)) },
  // 1 where lo <= x <= hi (clamp's backward mask)
  inRange: { wgsl: 'select(0.0, 1.0, x >= p0 && x <= p1)', ref: (x, p0, p1) => (x >= p0 && x <= p1 ? 1 : 0) },
  gtScalar: { wgsl: 'select(0.0, 1.0, x > p0)', ref: (x, p0) => (x > p0 ? 1 : 0) },
  ltScalar: { wgsl: 'select(0.0, 1.0, x < p0)', ref: (x, p0) => (x < p0 ? 1 : 0) },
  // NaN/Inf → 0 (DMD's nan_to_num guard), else x
  finiteOr0: { wgsl: 'select(0.0, x, isFinite_(x))', ref: (x) => (Number.isFinite(x) ? x : 0) },
} satisfies Record<string, UnaryDef>;

export const BINARY = {
  add: { wgsl: 'a + b', ref: (a, b) => a + b },
  sub: { wgsl: 'a - b', ref: (a, b) => a - b },
  mul: { wgsl: 'a * b', ref: (a, b) => a * b },
  div: { wgsl: 'a / b', ref: (a, b) => a / b },
  pow: { wgsl: 'pow_(a, b)', ref: powRef },
  // d/da of a^b times g is built from these in engine/ops.ts
  powGradBase: { wgsl: 'b * pow_(a, b - 1.0)', ref: (a, b) => b * powRef(a, b - 1) },
  maximum: { wgsl: 'max_(a, b)', ref: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b)) },
  minimum: { wgsl: 'min_(a, b)', ref: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b)) },
  gt: { wgsl: 'select(0.0, 1.0, a > b)', ref: (a, b) => (a > b ? 1 : 0) },
  lt: { wgsl: 'select(0.0, 1.0, a < b)', ref: (a, b) => (a < b ? 1 : 0) },
  ge: { wgsl: 'select(0.0, 1.0, a >= b)', ref: (a, b) => (a >= b ? 1 : 0) },
  le: { wgsl: 'select(0.0, 1.0, a <= b)', ref: (a, b) => (a <= b ? 1 : 0) },
  eq: { wgsl: 'select(0.0, 1.0, a == b)', ref: (a, b) => (a === b ? 1 : 0) },
  // fused backward rules: a = forward input (or output), b = incoming gradient
  reluGrad: { wgsl: 'select(0.0, b, a > 0.0)', ref: (a, b) => (a > 0 ? b : 0) },
  siluGrad: { wgsl: 'b * sigmoid_(a) * (1.0 + a * (1.0 - sigmoid_(a)))', ref: (a, b) => b * sigmoid(a) * (1 + a * (1 - sigmoid(a))) },
  sigmoidGradFromOut: { wgsl: 'b * a * (1.0 - a)', ref: (a, b) => b * a * (1 - a) },
  tanhGradFromOut: { wgsl: 'b * (1.0 - a * a)', ref: (a, b) => b * (1 - a * a) },
  geluGrad: { wgsl: 'b * (0.5 * (1.0 + erf_(a * 0.70710678118654752)) + a * exp(-0.5 * a * a) * 0.3989422804014327)', ref: (a, b) => b * geluGrad(a) },
  absGrad: { wgsl: 'b * sign(a)', ref: (a, b) => b * Math.sign(a) },
} satisfies Record<string, BinaryDef>;

export type UnaryOp = keyof typeof UNARY;
export type BinaryOp = keyof typeof BINARY;

/** WGSL helpers the expressions above call (PyTorch semantics: NaN propagates through max/min; pow of negatives). */
export const WGSL_MATH = /* wgsl */ `
// private vars, not consts: WGSL rejects NaN and Inf in constant expressions
var<private> NAN_BITS: u32 = 0x7fc00000u;
var<private> INF_BITS: u32 = 0x7f800000u;
fn inf_() -> f32 { return bitcast<f32>(INF_BITS); }
fn sigmoid_(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn tanh_(x: f32) -> f32 { let e = exp(-2.0 * abs(x)); return sign(x) * (1.0 - e) / (1.0 + e); }
fn isNan_(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn isFinite_(x: f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u; }
fn nan_() -> f32 { return bitcast<f32>(NAN_BITS); }
fn max_(a: f32, b: f32) -> f32 { if (isNan_(a) || isNan_(b)) { return nan_(); } return max(a, b); }
fn min_(a: f32, b: f32) -> f32 { if (isNan_(a) || isNan_(b)) { return nan_(); } return min(a, b); }
fn pow_(x: f32, p: f32) -> f32 {
  if (p == 0.0) { return 1.0; }
  if (x > 0.0) { return exp2(p * log2(x)); }
  if (x == 0.0) { return select(0.0, inf_(), p < 0.0); }
  if (fract(p) != 0.0) { return nan_(); }
  let r = exp2(p * log2(-x));
  return select(r, -r, (i32(p) & 1) == 1);
}
// erf with |error| < 1.2e-7 (Numerical Recipes erfc Chebyshev fit)
fn erf_(x: f32) -> f32 {
  let z = abs(x);
  let t = 1.0 / (1.0 + 0.5 * z);
  let r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
          t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return sign(x) * (1.0 - r);
}`;
