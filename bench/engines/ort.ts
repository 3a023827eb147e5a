// bench/engines/ort.ts: ONNX Runtime Web's WebGPU provider (browser only: it does not run under Dawn in Node).
// ORT runs models, not ops, so each kernel is a one-node (or few-node) ONNX graph written here as protobuf bytes;
// inputs stay on the GPU (Tensor.fromGpuBuffer) and outputs too (preferredOutputLocation 'gpu-buffer').
/* eslint-disable @typescript-eslint/no-explicit-any -- ORT is loaded at run time from the served dist folder */
import { hostData, type Runner } from '../harness';
import type { Spec } from '../specs';
import type { Peer } from './peers';

// ---- a minimal ONNX protobuf writer (onnx.proto field numbers; proto2, so repeated scalars are written unpacked) --

type Bytes = number[];
const varint = (out: Bytes, v: number | bigint): void => {
  let x = BigInt.asUintN(64, BigInt(v));
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x) b |= 0x80;
    out.push(b);
  } while (x);
};
const tag = (out: Bytes, field: number, wire: number) => varint(out, (field << 3) | wire);
const int = (field: number, v: number): Bytes => {
  const o: Bytes = [];
  tag(o, field, 0);
  varint(o, v);
  return o;
};
const bytes = (field: number, b: Bytes | Uint8Array): Bytes => {
  const o: Bytes = [];
  tag(o, field, 2);
  varint(o, b.length);
  for (const x of b) o.push(x);
  return o;
};
const str = (field: number, s: string) => bytes(field, [...new TextEncoder().encode(s)]);
const f32 = (field: number, v: number): Bytes => {
  const o: Bytes = [];
  tag(o, field, 5);
  o.push(...new Uint8Array(new Float32Array([v]).buffer));
  return o;
};
const msg = (...parts: Bytes[]): Bytes => parts.flat();

const FLOAT = 1, INT64 = 7;
const valueInfo = (name: string, dims: number[]) => msg(str(1, name), bytes(2, bytes(1, msg(int(1, FLOAT), bytes(2, msg(...dims.map((d) => bytes(1, int(1, d)))))))));
const initializer = (name: string, dims: number[], type: number, data: Float32Array | BigInt64Array) => msg(...dims.map((d) => int(1, d)), int(2, type), str(8, name), bytes(9, new Uint8Array(data.buffer)));
type Attr = { name: string; i?: number; f?: number; ints?: number[] };
const attribute = (a: Attr) =>
  a.ints ? msg(str(1, a.name), ...a.ints.map((v) => int(8, v)), int(20, 7)) : a.f !== undefined ? msg(str(1, a.name), f32(2, a.f), int(20, 1)) : msg(str(1, a.name), int(3, a.i!), int(20, 2));
const node = (op: string, inputs: string[], outputs: string[], attrs: Attr[] = []) => msg(...inputs.map((x) => str(1, x)), ...outputs.map((x) => str(2, x)), str(3, `${op}_${outputs[0]}`), str(4, op), ...attrs.map((a) => bytes(5, attribute(a))));

interface Graph {
  nodes: Bytes[];
  inputs: [string, number[]][];
  output: [string, number[]];
  inits?: Bytes[];
}
/** ModelProto bytes: IR 8, opset 17. */
function model(g: Graph): Uint8Array {
  const graph = msg(...g.nodes.map((n) => bytes(1, n)), str(2, 'bench'), ...(g.inits ?? []).map((t) => bytes(5, t)), ...g.inputs.map(([n, d]) => bytes(11, valueInfo(n, d))), bytes(12, valueInfo(...g.output)));
  return new Uint8Array(msg(int(1, 8), str(2, 'onestep-bench'), bytes(7, graph), bytes(8, msg(str(1, ''), int(2, 17)))));
}

function graphOf(spec: Spec): { graph: Graph; note: string } | string {
  if (spec.pass !== 'fwd') return 'onnxruntime-web has no autograd (inference only)';
  switch (spec.op) {
    case 'matmul': {
      const b = spec.batch > 1 ? [spec.batch] : [];
      const out: [string, number[]] = ['y', [...b, spec.m, spec.n]];
      if (spec.transB) {
        const perm = b.length ? [0, 2, 1] : [1, 0];
        return { graph: { nodes: [node('Transpose', ['b'], ['bt'], [{ name: 'perm', ints: perm }]), node('MatMul', ['a', 'bt'], ['y'])], inputs: [['a', [...b, spec.m, spec.k]], ['b', [...b, spec.n, spec.k]]], output: out }, note: 'Transpose + MatMul' };
      }
      return { graph: { nodes: [node('MatMul', ['a', 'b'], ['y'])], inputs: [['a', [...b, spec.m, spec.k]], ['b', [...b, spec.k, spec.n]]], output: out }, note: 'MatMul' };
    }
    case 'conv2d': {
      const p = spec.k >> 1;
      return {
        graph: { nodes: [node('Conv', ['x', 'w'], ['y'], [{ name: 'pads', ints: [p, p, p, p] }, { name: 'kernel_shape', ints: [spec.k, spec.k] }])], inputs: [['x', [spec.n, spec.cin, spec.h, spec.w]], ['w', [spec.cout, spec.cin, spec.k, spec.k]]], output: ['y', [spec.n, spec.cout, spec.h, spec.w]] },
        note: 'Conv, NCHW',
      };
    }
    case 'groupNorm': {
      const { n, c, h, w, groups } = spec;
      const inits = [
        initializer('s1', [3], INT64, new BigInt64Array([BigInt(n), BigInt(groups), -1n])),
        initializer('s2', [4], INT64, new BigInt64Array([BigInt(n), BigInt(c), BigInt(h), BigInt(w)])),
        initializer('one', [groups], FLOAT, new Float32Array(groups).fill(1)),
        initializer('zero', [groups], FLOAT, new Float32Array(groups)),
        initializer('cs', [4], INT64, new BigInt64Array([1n, BigInt(c), 1n, 1n])),
      ];
      const nodes = [
        node('Reshape', ['x', 's1'], ['xr']),
        node('InstanceNormalization', ['xr', 'one', 'zero'], ['xn'], [{ name: 'epsilon', f: 1e-5 }]),
        node('Reshape', ['xn', 's2'], ['xb']),
        node('Reshape', ['g', 'cs'], ['gr']),
        node('Reshape', ['b', 'cs'], ['br']),
        node('Mul', ['xb', 'gr'], ['xg']),
        node('Add', ['xg', 'br'], ['y']),
      ];
      return { graph: { nodes, inits, inputs: [['x', [n, c, h, w]], ['g', [c]], ['b', [c]]], output: ['y', [n, c, h, w]] }, note: 'composed: Reshape + InstanceNormalization over groups + affine' };
    }
    case 'attention': {
      const shape = [spec.bh, spec.l, spec.d];
      const inits = [initializer('scale', [], FLOAT, new Float32Array([1 / Math.sqrt(spec.d)]))];
      const nodes = [
        node('Transpose', ['k'], ['kt'], [{ name: 'perm', ints: [0, 2, 1] }]),
        node('MatMul', ['q', 'kt'], ['s']),
        node('Mul', ['s', 'scale'], ['ss']),
        node('Softmax', ['ss'], ['p'], [{ name: 'axis', i: -1 }]),
        node('MatMul', ['p', 'v'], ['y']),
      ];
      return { graph: { nodes, inits, inputs: [['q', shape], ['k', shape], ['v', shape]], output: ['y', shape] }, note: 'composed: Transpose + MatMul + Mul + Softmax + MatMul (no fused attention in standard ONNX)' };
    }
    default:
      return 'onnxruntime-web runs models, not eager ops';
  }
}

/** Loads ORT's WebGPU build from `base` (the CLI serves node_modules/onnxruntime-web/dist there). */
export async function loadOrt(base: string): Promise<Peer | string> {
  const url = `${base}ort.webgpu.min.mjs`;
  const ort: any = await import(/* @vite-ignore */ url);
  ort.env.wasm.wasmPaths = base;
  ort.env.wasm.numThreads = 1; // no cross-origin isolation on the bench page: no threads
  ort.env.logLevel = 'error';
  const sessions: any[] = [];
  const open = async (bytes: Uint8Array) => {
    const s = await ort.InferenceSession.create(bytes, { executionProviders: ['webgpu'], preferredOutputLocation: 'gpu-buffer', graphOptimizationLevel: 'all' });
    sessions.push(s);
    return s;
  };
  // a first session makes ORT create its GPUDevice
  const probe = graphOf({ op: 'matmul', batch: 1, m: 4, k: 4, n: 4, transB: false, pass: 'fwd' });
  if (typeof probe === 'string') return probe;
  await open(model(probe.graph));
  const device: GPUDevice = await ort.env.webgpu.device;
  if (!device) return 'onnxruntime-web started without a WebGPU device';

  return {
    name: 'onnxruntime-web',
    make(spec): Runner | string {
      const g = graphOf(spec);
      if (typeof g === 'string') return g;
      let session: any = null;
      const buffers: GPUBuffer[] = [];
      const feeds: Record<string, any> = {};
      g.graph.inputs.forEach(([name, dims], i) => {
        const data = hostData(dims.reduce((a, b) => a * b, 1), i + 1);
        const buf = device.createBuffer({ size: Math.ceil(data.byteLength / 16) * 16, usage: 0x80 | 0x08 | 0x04 });
        device.queue.writeBuffer(buf, 0, data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
        buffers.push(buf);
        feeds[name] = ort.Tensor.fromGpuBuffer(buf, { dataType: 'float32', dims });
      });
      const bytes = model(g.graph);
      return {
        device,
        note: g.note,
        async run() {
          session ??= await open(bytes);
          const out = await session.run(feeds);
          for (const t of Object.values(out)) (t as any).dispose();
        },
        wait: () => device.queue.onSubmittedWorkDone(),
        dispose() {
          for (const b of buffers) b.destroy();
          void session?.release();
        },
      };
    },
  };
}
