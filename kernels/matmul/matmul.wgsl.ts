// kernels/matmul/matmul.wgsl.ts: C[b] = op(A[b]) · op(B[b]) (+ bias) with op = identity or transpose, read in place.
// Register blocking: each invocation owns a TM×TN block of C and keeps it in registers; no workgroup memory, which
// CPU Vulkan drivers emulate slowly. Edge tiles clamp their loads and guard their stores.

export interface MatmulConfig {
  tm: 1 | 2 | 4 | 8; // rows of C per invocation
  tn: 4 | 8; // columns of C per invocation
  wgX: 8 | 16; // invocations per workgroup along N
  wgY: 4 | 8 | 16; // … along M
  transA: boolean; // A stored [K, M] instead of [M, K]
  transB: boolean; // B stored [N, K] instead of [K, N]
}

export const matmulWgsl = (c: MatmulConfig): string => {
  const aAt = c.transA ? (m: string, k: string) => `A[aBase + (${k}) * u.M + (${m})]` : (m: string, k: string) => `A[aBase + (${m}) * u.K + (${k})]`;
  const bAt = c.transB ? (k: string, n: string) => `B[bBase + (${n}) * u.K + (${k})]` : (k: string, n: string) => `B[bBase + (${k}) * u.N + (${n})]`;
  const rows = Array.from({ length: c.tm }, (_, i) => i);
  const cols = Array.from({ length: c.tn }, (_, j) => j);
  return /* wgsl */ `
// TM, TN are baked in: they size the register arrays
const TM = ${c.tm}u;
const TN = ${c.tn}u;
struct U { M: u32, N: u32, K: u32, hasBias: u32, aBatch: u32, bBatch: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> C: array<f32>;

@compute @workgroup_size(${c.wgX}, ${c.wgY}, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let row0 = gid.y * TM;
  let col0 = gid.x * TN;
  if (row0 >= u.M || col0 >= u.N) { return; }
  let b = gid.z;
  let aBase = b * u.aBatch;
  let bBase = b * u.bBatch;
  // clamped indices: loads stay in bounds, out-of-range results are never stored
  ${rows.map((i) => `let m${i} = min(row0 + ${i}u, u.M - 1u);`).join(' ')}
  ${cols.map((j) => `let n${j} = min(col0 + ${j}u, u.N - 1u);`).join(' ')}
  ${rows.map((i) => `var acc${i}: array<f32, ${c.tn}>;`).join(' ')}
  for (var k = 0u; k < u.K; k++) {
    ${rows.map((i) => `let a${i} = ${aAt(`m${i}`, 'k')};`).join(' ')}
    ${cols.map((j) => `let b${j} = ${bAt('k', `n${j}`)};`).join(' ')}
    ${rows.map((i) => cols.map((j) => `acc${i}[${j}] = fma(a${i}, b${j}, acc${i}[${j}]);`).join(' ')).join('\n    ')}
  }
  let cBase = b * u.M * u.N;
  ${rows
    .map(
      (i) => `if (row0 + ${i}u < u.M) {
    ${cols.map((j) => `if (col0 + ${j}u < u.N) { C[cBase + (row0 + ${i}u) * u.N + col0 + ${j}u] = acc${i}[${j}] + select(0.0, bias[n${j}], u.hasBias != 0u); }`).join('\n    ')}
  }`,
    )
    .join('\n  ')}
}`;
};
