// engine/index.ts: the package root, `import * as os from 'onestep'` (DESIGN §2).
import './methods';
import { device, init as initDevice, type InitOptions, type MemoryStats } from './device';

export { Tensor, noGrad, tidy, keep, isGradEnabled, setGradEnabled, type DType } from './tensor';
export { backward, type BackwardOptions } from './autograd';
export * from './ops';
export * from './norm';
export * from './conv';
export * from './pool';
export * from './attention';
export * from './errors';
export { device, hasDevice, shutdown, f32bits, gpuWait, setWaitMode, Device, type InitOptions, type MemoryStats } from './device';
export { ADAPTER_CHOICES, type AdapterChoice } from './adapter';
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

/** GPU time per kernel label while fn runs (timestamp queries; each dispatch in its own pass), slowest first. */
export async function profile(fn: () => unknown | Promise<unknown>): Promise<{ label: string; ms: number; count: number }[]> {
  return device().profile(fn);
}
