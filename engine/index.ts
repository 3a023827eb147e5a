// engine/index.ts: the package root, `import * as os from 'onestep'` (DESIGN §2).
import './methods';
import { device, init as initDevice, type InitOptions, type MemoryStats } from '../runtime';

export { Tensor, tidy, keep, DTYPES, type DType } from './tensor';
export { backward, noGrad, isGradEnabled, setGradEnabled, type BackwardOptions } from './autograd';
export * from './ops';
export * from '../runtime/errors';
export { device, hasDevice, shutdown, f32bits, gpuWait, setWaitMode, Device, ADAPTER_CHOICES, type AdapterChoice, type InitOptions, type MemoryStats } from '../runtime';
/** The values of several tensors in one readback (one wait for all: a loss per iteration over a batch of iterations). */
export { readAll } from '../runtime';
/**
 * Kernel autotuning (kernels/tune.ts): kernels with several variants (matmul, conv2d, attention, norm) time candidates per shape class and
 * cache the winner per adapter, in memory and in Node on disk (`$ONESTEP_TUNE_CACHE` or `~/.cache/onestep`, see
 * setTuneCacheDir). Modes: 'cached' (default: use known winners, never time anything implicitly), 'background' (a miss
 * queues a tuning job that runs between your awaits; `ONESTEP_TUNE=1`), 'off' (heuristics only; the default under
 * vitest). Warm up explicitly with `await os.tuneMatmul({M, N, K})`, `await os.tuneConv({kind, x, w, …})`, `await os.tuneAttention({pass, BH, L, D})`, `await os.tuneNorm({pass, dims})` (or `os.tune(os.device(), tunable)` for a family
 * of your own) and `await os.whenTuned()`; `os.tuneCacheEntries()` lists the winners known for this adapter, `os.tuneLog()` what this process timed.
 */
export {
  setTuning,
  tuningMode,
  tune,
  whenTuned,
  clearTuneCache,
  setTuneCacheDir,
  tuneCacheEntries,
  tuneLog,
  type TuneMode,
  type Tunable,
  type TuneJob,
  type TuneResult,
  type TuneOptions,
  type TuneTiming,
} from '../kernels/tune';
/** The matmul variants the tuner chooses between (names are what `tuneCacheEntries` stores) and its explicit warm-up. */
export { MATMUL_VARIANTS, tuneMatmul, type MatmulVariant, type MatmulConfig, type MatmulShape } from '../kernels/matmul/dispatch';
/** The conv2d tiles the tuner chooses between and its explicit warm-up (kind 'forward' | 'backwardData' | 'backwardWeight'). */
export { CONV_VARIANTS, tuneConv, type ConvVariant, type ConvShape } from '../kernels/conv/dispatch';
/** The attention variants the tuner chooses between (per pass: 'forward' | 'backward') and its explicit warm-up. */
export { ATTENTION_VARIANTS, tuneAttention, type AttentionVariant } from '../kernels/attention/dispatch';
/** The group/layer norm variants the tuner chooses between (per pass) and its explicit warm-up. */
export { NORM_VARIANTS, tuneNorm, type NormVariant, type NormDims } from '../kernels/norm/dispatch';
export { compile, dynamic, setFusion, setEpilogues, type Compiled, type CompileStats } from './compile';
export * as nn from './nn';
export * as optim from './optim';
export * as io from './io';

/** Picks a WebGPU adapter (browser: navigator.gpu; Node: Dawn with a real GPU, lavapipe or SwiftShader) and makes its device current. */
export async function init(opts: InitOptions = {}): Promise<{ adapter: string; features: string[] }> {
  const dev = await initDevice(opts);
  return { adapter: dev.adapterLabel, features: [...dev.features] };
}

/** Live tensors, bytes held by them and by the pool, and dispatch/submit counts since init. */
export function memory(): MemoryStats {
  return device().memory();
}

/** Waits until every queued kernel has finished (for timing). */
export async function sync(): Promise<void> {
  await device().sync();
}

/** Waits for the GPU if many submits are outstanding (call it every step of a long loop; a no-op otherwise). */
export async function relieve(maxSubmits = 64): Promise<void> {
  await device().relieve(maxSubmits);
}

/** GPU time per kernel label while fn runs (timestamp queries; each dispatch in its own pass), slowest first. */
export async function profile(fn: () => unknown | Promise<unknown>): Promise<{ label: string; ms: number; count: number }[]> {
  return device().profile(fn);
}
