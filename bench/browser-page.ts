// bench/browser-page.ts: the browser backend, bundled by bench/cli.ts and run in headless Chromium (SwiftShader
// WebGPU): the same suites as Node, reported through functions the CLI exposes with page.exposeFunction.
import type { BackendResult, SuiteName } from './harness';
import { loadOrt } from './engines/ort';
import { runSuite } from './suite';

interface BenchWindow {
  __benchLog?: (line: string) => Promise<void>;
  __benchDone?: (json: string) => Promise<void>;
}
const w = window as unknown as BenchWindow;
const q = new URLSearchParams(location.search);

// every device the peers create also gets 'timestamp-query', so their passes can be timed like onestep's
const requestDevice = GPUAdapter.prototype.requestDevice;
GPUAdapter.prototype.requestDevice = function (this: GPUAdapter, d: GPUDeviceDescriptor = {}) {
  const req = new Set([...(d.requiredFeatures ?? [])].filter((f) => typeof f === 'string'));
  if (this.features.has('timestamp-query')) req.add('timestamp-query');
  return requestDevice.call(this, { ...d, requiredFeatures: [...req] as GPUFeatureName[] });
};

async function main(): Promise<BackendResult> {
  return runSuite({
    suite: (q.get('suite') ?? 'quick') as SuiteName,
    backend: 'browser',
    adapter: 'swiftshader',
    deadline: performance.now() + Number(q.get('seconds') ?? 1e9) * 1000,
    only: q.get('only') ? q.get('only')!.split(',') : undefined,
    extraPeers: [() => loadOrt(q.get('ortBase') ?? '/ort/')],
    log: (line) => void w.__benchLog?.(line),
  });
}

main().then(
  (r) => w.__benchDone?.(JSON.stringify(r)),
  (e) => w.__benchDone?.(JSON.stringify({ error: String((e as Error)?.stack ?? e) })),
);
