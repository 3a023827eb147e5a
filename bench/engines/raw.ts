// bench/engines/raw.ts: the adapter's ceilings, in hand-written WGSL on the same GPUDevice onestep uses: a
// register-blocked vec4 matmul (several TM×TN tiles per invocation, 8×8 workgroups; the best one is reported), a vec4
// copy kernel (bandwidth) and an empty kernel (dispatch overhead).
import * as os from '../../engine';
import { hostData, waitGpu, type Runner } from '../harness';
import type { Spec } from '../specs';

const STORAGE = 0x80, UNIFORM = 0x40, COPY_DST = 0x08;

/** Output tile of one invocation: TM rows × TN columns (TN a multiple of 4: vec4 columns). */
export interface RawMatmulConfig {
  tm: 4 | 8;
  tn: 4 | 8;
}
export const RAW_MATMUL_CONFIGS: RawMatmulConfig[] = [
  { tm: 4, tn: 4 },
  { tm: 4, tn: 8 },
  { tm: 8, tn: 8 },
];

/** C[M,N] = A[M,K]·B[K,N], row-major, M % TM = 0, N % TN = 0, K % 4 = 0 (the bench's shapes). */
export const rawMatmulWgsl = (c: RawMatmulConfig): string => {
  const tn4 = c.tn / 4;
  const rows = [...Array(c.tm).keys()], cols = [...Array(tn4).keys()];
  const acc = rows.flatMap((r) => cols.map((j) => `var acc${r}_${j} = vec4<f32>(0.0);`)).join('\n  ');
  const loadB = [0, 1, 2, 3].flatMap((kk) => cols.map((j) => `let b${kk}_${j} = B[(k4 * 4u + ${kk}u) * N4 + col4 + ${j}u];`)).join('\n    ');
  const body = rows
    .map((r) => `let a${r} = A[(row + ${r}u) * K4 + k4];\n    ` + cols.map((j) => `acc${r}_${j} = fma(vec4<f32>(a${r}.x), b0_${j}, fma(vec4<f32>(a${r}.y), b1_${j}, fma(vec4<f32>(a${r}.z), b2_${j}, fma(vec4<f32>(a${r}.w), b3_${j}, acc${r}_${j}))));`).join('\n    '))
    .join('\n    ');
  const store = rows.flatMap((r) => cols.map((j) => `C[(row + ${r}u) * N4 + col4 + ${j}u] = acc${r}_${j};`)).join('\n  ');
  return /* wgsl */ `
struct Dims { M: u32, K: u32, N: u32, pad: u32 }
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> B: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> C: array<vec4<f32>>;
@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let K4 = dims.K / 4u;
  let N4 = dims.N / 4u;
  let col4 = gid.x * ${tn4}u;
  let row = gid.y * ${c.tm}u;
  if (row >= dims.M || col4 >= N4) { return; }
  ${acc}
  for (var k4 = 0u; k4 < K4; k4 = k4 + 1u) {
    ${loadB}
    ${body}
  }
  ${store}
}`;
};

const COPY_WGSL = /* wgsl */ `
@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i < arrayLength(&src)) { dst[i] = src[i]; }
}`;

const EMPTY_WGSL = /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(1)
fn main() {
  if (arrayLength(&out) == 0u) { out[0] = 1.0; } // never true: uses the binding so the layout keeps it
}`;

function gpuBuffer(dev: GPUDevice, data: Float32Array | Uint32Array | number, usage = STORAGE | COPY_DST): GPUBuffer {
  const size = typeof data === 'number' ? data : data.byteLength;
  const buf = dev.createBuffer({ size: Math.max(16, Math.ceil(size / 16) * 16), usage });
  if (typeof data !== 'number') dev.queue.writeBuffer(buf, 0, data.buffer, data.byteOffset, data.byteLength);
  return buf;
}

export function pipelineOf(dev: GPUDevice, code: string, label: string): GPUComputePipeline {
  return dev.createComputePipeline({ layout: 'auto', compute: { module: dev.createShaderModule({ code, label }), entryPoint: 'main' }, label });
}

/** One dispatch (or `count`) per call, each call its own submit, as an engine would. */
export function rawRunner(dev: GPUDevice, pipeline: GPUComputePipeline, buffers: GPUBuffer[], groups: [number, number, number], count = 1): Runner {
  const bind = dev.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: buffers.map((buffer, i) => ({ binding: i, resource: { buffer } })) });
  return {
    device: dev,
    run() {
      const enc = dev.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      for (let i = 0; i < count; i++) pass.dispatchWorkgroups(...groups);
      pass.end();
      dev.queue.submit([enc.finish()]);
    },
    wait: () => waitGpu(dev.queue.onSubmittedWorkDone()),
    dispose: () => buffers.forEach((b) => b.destroy()),
  };
}

export function rawMatmulRunner(m: number, k: number, n: number, c: RawMatmulConfig): Runner {
  const dev = os.device().gpu;
  const pipeline = pipelineOf(dev, rawMatmulWgsl(c), `raw matmul ${c.tm}x${c.tn}`);
  const bufs = [gpuBuffer(dev, new Uint32Array([m, k, n, 0]), UNIFORM | COPY_DST), gpuBuffer(dev, hostData(m * k, 1)), gpuBuffer(dev, hostData(k * n, 2)), gpuBuffer(dev, m * n * 4)];
  const r = rawRunner(dev, pipeline, bufs, [Math.ceil(n / c.tn / 8), Math.ceil(m / c.tm / 8), 1]);
  return { ...r, note: `register tile ${c.tm}×${c.tn} per invocation, vec4, 8×8 workgroups` };
}

export function rawCeilingRunner(spec: Spec): Runner | string {
  const dev = os.device().gpu;
  switch (spec.op) {
    case 'copy': {
      const n4 = spec.bytes / 16;
      const groups = Math.ceil(n4 / 64);
      const x = Math.min(groups, 32768);
      const bufs = [gpuBuffer(dev, hostData(spec.bytes / 4, 3)), gpuBuffer(dev, spec.bytes)];
      return { ...rawRunner(dev, pipelineOf(dev, COPY_WGSL, 'raw copy'), bufs, [x, Math.ceil(groups / x), 1]), note: 'vec4 copy kernel; GB/s counts read + write' };
    }
    case 'dispatch': {
      const bufs = [gpuBuffer(dev, 16)];
      return { ...rawRunner(dev, pipelineOf(dev, EMPTY_WGSL, 'raw empty'), bufs, [1, 1, 1], spec.count), perCall: spec.count, wallOnly: true, note: `${spec.count} empty dispatches in one pass and submit, host submit-to-done ÷ ${spec.count}` };
    }
    default:
      return 'not a raw-WGSL ceiling';
  }
}
