// bench/engines/peers.ts: the peer engines on the same adapter and shapes as onestep: jax-js (jit-compiled),
// TensorFlow.js WebGPU, webgpu-torch, each through its own public ops. A kernel a peer lacks is an n/a reason
// (a string), never a zero. Each runner says which peer ops compose the kernel where the peer has no fused one.
/* eslint-disable @typescript-eslint/no-explicit-any -- peers are driven through their untyped public surfaces */
import { hostData, waitGpu, type EngineName, type Runner } from '../harness';
import type { Spec } from '../specs';

export type PeerRunner = (spec: Spec) => Runner | string;
export interface Peer {
  name: EngineName;
  make: PeerRunner;
}

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
/** Iterator.prototype.map (Chrome 122+, Node 22+); jax-js's einsum parser needs it. */
const hasIteratorHelpers = typeof (globalThis as { Iterator?: { prototype?: { map?: unknown } } }).Iterator?.prototype?.map === 'function';

// ---- jax-js -----------------------------------------------------------------------------------------------------

export async function loadJax(): Promise<Peer | string> {
  const jax: any = await import('@jax-js/jax');
  const devices: string[] = await jax.init('webgpu');
  if (!devices.includes('webgpu')) return 'jax-js found no WebGPU device';
  jax.defaultDevice('webgpu');
  const np = jax.numpy;
  const device: GPUDevice = jax.getWebGPUDevice();
  const arr = (shape: number[], seed: number) => np.array(hostData(size(shape), seed)).reshape(shape);

  /** jit-compiled `f` on fixed inputs; jax-js arrays are lazy, so its dispatches happen inside wait(). */
  const runner = (f: (...xs: any[]) => any, inputs: any[], note?: string, jit = true): Runner => {
    const fn = jit ? jax.jit(f) : f;
    let outs: any[] = [];
    return {
      device,
      note,
      run() {
        outs.push(fn(...inputs.map((x) => x.ref)));
      },
      async wait() {
        await waitGpu(jax.blockUntilReady(outs));
        jax.tree.dispose(outs);
        outs = [];
      },
      dispose() {
        for (const x of inputs) x.dispose();
        fn.dispose?.();
      },
    };
  };
  /** fwd+bwd: value and gradients of sum(f(xs)·g) for every input, jit-compiled as one function. */
  const withGrad = (f: (...xs: any[]) => any, n: number) => {
    const argnums = [...Array(n).keys()];
    return (...args: any[]) => jax.valueAndGrad((...xs: any[]) => f(...xs).mul(args[n]).sum(), { argnums })(...args.slice(0, n));
  };
  const make = (spec: Spec, f: (...xs: any[]) => any, shapes: number[][], outShape: number[], note?: string): Runner => {
    const inputs = shapes.map((s, i) => arr(s, i + 1));
    if (spec.pass === 'fwd') return runner(f, inputs, note);
    return runner(withGrad(f, inputs.length), [...inputs, arr(outShape, 99)], note);
  };

  return {
    name: 'jax-js',
    make(spec) {
      switch (spec.op) {
        case 'matmul': {
          const b = spec.batch > 1 ? [spec.batch] : [];
          const bShape = spec.transB ? [spec.n, spec.k] : [spec.k, spec.n];
          const f = spec.transB ? (a: any, w: any) => np.matmul(a, np.matrixTranspose(w)) : (a: any, w: any) => np.matmul(a, w);
          return make(spec, f, [[...b, spec.m, spec.k], [...b, ...bShape]], [...b, spec.m, spec.n]);
        }
        case 'conv2d': {
          const p = spec.k >> 1;
          const f = (x: any, w: any) => jax.lax.convGeneralDilated(x, w, [1, 1], [[p, p], [p, p]]);
          return make(spec, f, [[spec.n, spec.cin, spec.h, spec.w], [spec.cout, spec.cin, spec.k, spec.k]], [spec.n, spec.cout, spec.h, spec.w], 'lax.convGeneralDilated, NCHW');
        }
        case 'groupNorm': {
          const { n, c, h, w, groups } = spec;
          const f = (x: any, g: any, b: any) =>
            jax.nn.standardize(x.reshape([n, groups, (c / groups) * h * w]), -1, { epsilon: 1e-5 }).reshape([n, c, h, w]).mul(g.reshape([1, c, 1, 1])).add(b.reshape([1, c, 1, 1]));
          return make(spec, f, [[n, c, h, w], [c], [c]], [n, c, h, w], 'composed: reshape + nn.standardize + affine (no group-norm op)');
        }
        case 'attention': {
          if (hasIteratorHelpers) {
            const shape = [1, spec.l, spec.bh, spec.d]; // [B, L, N, H], jax-js's layout
            const f = (q: any, k: any, v: any) => jax.nn.dotProductAttention(q, k, v);
            return make(spec, f, [shape, shape, shape], shape, 'nn.dotProductAttention, [B, L, N, H] layout');
          }
          // nn.dotProductAttention parses its einsum with JS iterator helpers (Node 22+): compose it on Node 20
          const shape = [spec.bh, spec.l, spec.d];
          const scale = 1 / Math.sqrt(spec.d);
          const f = (q: any, k: any, v: any) => np.matmul(jax.nn.softmax(np.matmul(q, np.matrixTranspose(k)).mul(scale), -1), v);
          return make(spec, f, [shape, shape, shape], shape, 'composed: matmul(q, kᵀ)·scale + nn.softmax + matmul (nn.dotProductAttention needs iterator helpers, absent in Node 20)');
        }
        case 'addChain': {
          const f = (x: any, c: any) => {
            let y = x.add(c.ref);
            for (let i = 1; i < spec.chain; i++) y = y.add(c.ref);
            c.dispose();
            return y;
          };
          // jit: jax-js fuses the chain into one kernel, the peer of onestep's compiled row (its eager ops sit beside ours)
          return runner(f, [arr([spec.size], 1), arr([spec.size], 2)], 'jit (fuses the chain)');
        }
        case 'sum':
          return runner((x: any) => np.sum(x, -1), [arr([spec.rows, spec.cols], 1)]);
        case 'adam':
          return 'jax-js has no optimizer in its core package (optax is separate)';
        default:
          return 'raw-WGSL ceiling row';
      }
    },
  };
}

// ---- TensorFlow.js WebGPU -----------------------------------------------------------------------------------------

export async function loadTfjs(): Promise<Peer | string> {
  const tf: any = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-core/dist/register_all_gradients'); // tfjs-core alone has no gradients registered
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!(await tf.setBackend('webgpu'))) return 'tfjs could not start its WebGPU backend';
  await tf.ready();
  const backend: any = tf.backend();
  const device: GPUDevice = backend.device;
  const t = (shape: number[], seed: number) => tf.tensor(hostData(size(shape), seed), shape);

  /** Ends tfjs's open compute pass and submits its batched commands, then waits for the queue. */
  const wait = async () => {
    backend.endComputePassEncoder();
    if (backend.commandEncoder) backend.submitQueue();
    await waitGpu(device.queue.onSubmittedWorkDone());
  };
  const runner = (f: (...xs: any[]) => any, inputs: any[], note?: string): Runner => ({
    device,
    note,
    run() {
      tf.dispose(tf.tidy(() => f(...inputs)));
    },
    wait,
    dispose: () => tf.dispose(inputs),
  });
  const make = (spec: Spec, f: (...xs: any[]) => any, shapes: number[][], outShape: number[], note?: string): Runner => {
    const inputs = shapes.map((s, i) => t(s, i + 1));
    if (spec.pass === 'fwd') return runner(f, inputs, note);
    const dy = t(outShape, 99);
    const g = tf.grads(f);
    return { ...runner(() => g(inputs, dy), inputs, note), dispose: () => tf.dispose([...inputs, dy]) };
  };

  return {
    name: 'tfjs-webgpu',
    make(spec) {
      switch (spec.op) {
        case 'matmul': {
          const b = spec.batch > 1 ? [spec.batch] : [];
          const bShape = spec.transB ? [spec.n, spec.k] : [spec.k, spec.n];
          return make(spec, (a: any, w: any) => tf.matMul(a, w, false, spec.transB), [[...b, spec.m, spec.k], [...b, ...bShape]], [...b, spec.m, spec.n]);
        }
        case 'conv2d':
          return make(spec, (x: any, w: any) => tf.conv2d(x, w, 1, 'same'), [[spec.n, spec.h, spec.w, spec.cin], [spec.k, spec.k, spec.cin, spec.cout]], [spec.n, spec.h, spec.w, spec.cout], 'tf.conv2d, NHWC (its native layout)');
        case 'groupNorm': {
          const { n, c, h, w, groups } = spec;
          // functional calls only: tfjs-core alone registers no chained methods (x.reshape, …)
          const f = (x: any, g: any, b: any) => {
            const xr = tf.reshape(x, [n, groups, (c / groups) * h * w]);
            const { mean, variance } = tf.moments(xr, 2, true);
            const y = tf.reshape(tf.mul(tf.sub(xr, mean), tf.rsqrt(tf.add(variance, 1e-5))), [n, c, h, w]);
            return tf.add(tf.mul(y, tf.reshape(g, [1, c, 1, 1])), tf.reshape(b, [1, c, 1, 1]));
          };
          return make(spec, f, [[n, c, h, w], [c], [c]], [n, c, h, w], 'composed: reshape + tf.moments + rsqrt + affine (no group-norm op)');
        }
        case 'attention': {
          const shape = [spec.bh, spec.l, spec.d];
          const scale = 1 / Math.sqrt(spec.d);
          const f = (q: any, k: any, v: any) => tf.matMul(tf.softmax(tf.mul(tf.matMul(q, k, false, true), scale)), v);
          return make(spec, f, [shape, shape, shape], shape, 'composed: matMul(q, kᵀ)·scale + softmax + matMul(·, v); materialises L×L');
        }
        case 'addChain': {
          const f = (x: any, c: any) => {
            let y = tf.add(x, c);
            for (let i = 1; i < spec.chain; i++) y = tf.add(y, c);
            return y;
          };
          return runner(f, [t([spec.size], 1), t([spec.size], 2)], 'eager');
        }
        case 'sum':
          return runner((x: any) => tf.sum(x, -1), [t([spec.rows, spec.cols], 1)]);
        case 'adam': {
          const p = tf.variable(t([spec.size], 1), true, `bench_adam_${spec.size}`);
          const g = t([spec.size], 2);
          const opt = tf.train.adam(1e-3);
          return {
            device,
            note: 'tf.train.adam applyGradients',
            run: () => opt.applyGradients({ [p.name]: g }),
            wait,
            dispose: () => (tf.dispose([p, g]), opt.dispose()),
          };
        }
        default:
          return 'raw-WGSL ceiling row';
      }
    },
  };
}

// ---- webgpu-torch -------------------------------------------------------------------------------------------------

export async function loadTorch(): Promise<Peer | string> {
  const mod: any = await import('webgpu-torch');
  const torch: any = mod.initWebGPUAsync ? mod : mod.default;
  const log = console.log;
  console.log = () => {}; // it prints "Found WebGPU device" on init
  let ok: boolean;
  try {
    ok = await torch.initWebGPUAsync();
  } finally {
    console.log = log;
  }
  if (!ok) return 'webgpu-torch found no WebGPU device';
  // it builds tensors from nested JS arrays only
  const nest = (flat: Float32Array, shape: number[], at = 0): unknown =>
    shape.length === 1 ? Array.from(flat.subarray(at, at + shape[0])) : [...Array(shape[0]).keys()].map((i) => nest(flat, shape.slice(1), at + i * size(shape.slice(1))));
  const t = (shape: number[], seed: number) => torch.tensor({ data: nest(hostData(size(shape), seed), shape), device: 'webgpu' });
  const device: GPUDevice = t([4], 1).device.gpuDevice;
  const runner = (f: (...xs: any[]) => any, inputs: any[], note?: string): Runner => ({
    device,
    note,
    run() {
      f(...inputs); // it submits every kernel as it goes; outputs are garbage-collected (it has no dispose)
    },
    wait: () => waitGpu(device.queue.onSubmittedWorkDone()),
  });
  const noGrad = 'webgpu-torch has no gradient for this op (it throws "… gradient not supported yet")';

  return {
    name: 'webgpu-torch',
    make(spec) {
      switch (spec.op) {
        case 'matmul':
          if (spec.pass !== 'fwd') return noGrad;
          if (spec.batch > 1) return 'webgpu-torch mm is 2-D only (no bmm/matmul)';
          if (spec.transB) return runner((a: any, b: any) => torch.mm(a, b.t()), [t([spec.m, spec.k], 1), t([spec.n, spec.k], 2)], 'mm(a, b.t())');
          return runner((a: any, b: any) => torch.mm(a, b), [t([spec.m, spec.k], 1), t([spec.k, spec.n], 2)], 'torch.mm');
        case 'conv2d': {
          if (spec.pass !== 'fwd') return noGrad;
          const p = spec.k >> 1;
          // its conv2d ignores padding: give it the input already padded, so it does the same work
          return runner((x: any, w: any) => torch.conv2d(x, w), [t([spec.n, spec.cin, spec.h + 2 * p, spec.w + 2 * p], 1), t([spec.cout, spec.cin, spec.k, spec.k], 2)], 'torch.conv2d on a pre-padded input (it has no padding)');
        }
        case 'groupNorm':
          return 'webgpu-torch has no group norm (nn.GroupNorm is an empty stub) and no per-axis mean/var to compose one';
        case 'attention':
          return 'webgpu-torch has no softmax and no batched matmul to compose attention';
        case 'addChain': {
          const f = (x: any, c: any) => {
            let y = x.add(c);
            for (let i = 1; i < spec.chain; i++) y = y.add(c);
            return y;
          };
          return runner(f, [t([spec.size], 1), t([spec.size], 2)], 'eager');
        }
        case 'sum':
          return runner((x: any) => x.sum(1), [t([spec.rows, spec.cols], 1)], 'Tensor.sum(1)');
        case 'adam':
          return 'webgpu-torch has no optimizers';
        default:
          return 'raw-WGSL ceiling row';
      }
    },
  };
}
