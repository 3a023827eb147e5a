// bench/node-child.ts: the node backend for one adapter (one process holds one Vulkan ICD choice): onestep on Dawn,
// a navigator.gpu on the same ICD for the peers, then the suite; the result goes to BENCH_RESULT_FILE as JSON.
import { writeFileSync } from 'node:fs';
import * as os from '../engine';
import type { SuiteName } from './harness';
import { runSuite } from './suite';

/** Gives the peers (written for browsers) a navigator.gpu from Dawn, asking for 'timestamp-query' where offered. */
async function installNavigator(): Promise<void> {
  const dawn = (await import('webgpu')) as unknown as { create: (o: string[]) => GPU; globals: object };
  Object.assign(globalThis, dawn.globals);
  const gpu = dawn.create([]); // VK_ICD_FILENAMES was set by os.init: the peers get the same driver
  const keep: GPU[] = [gpu]; // a collected Dawn instance takes its devices down with it
  (globalThis as { __benchDawn?: GPU[] }).__benchDawn = keep;
  const wrapped = {
    async requestAdapter(opts?: GPURequestAdapterOptions) {
      const a = await gpu.requestAdapter(opts);
      if (!a) return a;
      const requestDevice = a.requestDevice.bind(a);
      (a as { requestDevice: GPUAdapter['requestDevice'] }).requestDevice = (d: GPUDeviceDescriptor = {}) => {
        const req = new Set([...(d.requiredFeatures ?? [])].filter((f) => typeof f === 'string'));
        if (a.features.has('timestamp-query')) req.add('timestamp-query');
        return requestDevice({ ...d, requiredFeatures: [...req] as GPUFeatureName[] });
      };
      return a;
    },
    getPreferredCanvasFormat: () => 'rgba8unorm' as GPUTextureFormat,
    wgslLanguageFeatures: gpu.wgslLanguageFeatures,
  };
  Object.defineProperty(globalThis, 'navigator', { value: { gpu: wrapped, userAgent: 'Node.js', hardwareConcurrency: 2, language: 'en-US' }, configurable: true, writable: true });
}

const out = process.env.BENCH_RESULT_FILE;
const suite = (process.env.BENCH_SUITE ?? 'quick') as SuiteName;
const adapter = process.env.ONESTEP_ADAPTER ?? 'system';
const deadline = performance.now() + Number(process.env.BENCH_SECONDS ?? 1e9) * 1000;
const only = process.env.BENCH_ONLY ? process.env.BENCH_ONLY.split(',') : undefined;

try {
  await os.init({ quiet: true });
  await installNavigator();
  const r = await runSuite({ suite, backend: 'node', adapter, deadline, only, log: (l) => process.stderr.write(l + '\n') });
  if (out) writeFileSync(out, JSON.stringify(r));
  else process.stdout.write(JSON.stringify(r) + '\n');
  process.exit(0);
} catch (e) {
  process.stderr.write(`[bench node] failed: ${(e as Error)?.stack ?? e}\n`);
  process.exit(1);
}
