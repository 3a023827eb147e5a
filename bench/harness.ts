// bench/harness.ts: the timing rules every engine shares (compile call, warm-up, ≥ 10 timed runs, median/min/max),
// GPU timestamps injected into every compute pass of an engine's device, and the result row of the JSON schema.
import { gpuWait } from '../engine';

export const ENGINES = ['onestep', 'onestep-compiled', 'jax-js', 'tfjs-webgpu', 'onnxruntime-web', 'webgpu-torch', 'raw-wgsl'] as const;
export type EngineName = (typeof ENGINES)[number];
export const PASSES = ['fwd', 'bwd', 'fwd+bwd'] as const;
export type Pass = (typeof PASSES)[number];
export type Backend = 'node' | 'browser';
export type SuiteName = 'quick' | 'full';

/** One line of `results` (issue 5's schema, plus backend/timing/runs/note). A row that could not be measured has medianMs null and a note. */
export interface Row {
  suite: string; // kernel family: matmul, conv2d, groupNorm, attention, elementwise, reduce, optim, ceiling
  kernel: string;
  shape: string;
  engine: EngineName;
  pass: Pass;
  backend: Backend;
  adapter: string; // 'lavapipe' | 'swiftshader' | 'system' (which driver ran it)
  medianMs: number | null;
  minMs: number | null;
  maxMs: number | null;
  gflops: number | null;
  gbps: number | null;
  timing: 'timestamp' | 'wall' | null; // GPU timestamps around the engine's passes, or host submit-to-done
  runs: number; // timed runs (0 when not measured)
  reps: number; // calls per timed run (amortises the dispatch floor)
  note?: string; // why n/a, which peer ops compose the kernel, layout notes
}

export interface AdapterInfoOut {
  vendor: string;
  architecture: string;
  description: string;
  backend: string;
}

/** What a backend (one Node child or the page) hands back. */
export interface BackendResult {
  adapter: AdapterInfoOut;
  rows: Row[];
  seconds: number;
}

/** One call of a kernel in one engine. run() enqueues it; wait() returns once the GPU has finished everything enqueued. */
export interface Runner {
  run(): void | Promise<void>;
  wait(): Promise<void>;
  dispose?(): void;
  /** The GPUDevice the engine dispatches on (for timestamps). */
  device?: GPUDevice;
  /** Divides the measured time (e.g. 1000 empty dispatches per call → per-dispatch time). */
  perCall?: number;
  /** Host submit-to-done even where timestamps exist (dispatch overhead is a host cost). */
  wallOnly?: boolean;
  note?: string;
}

export const isNode = typeof process !== 'undefined' && !!process.versions?.node;

/** Awaits a GPU promise without spinning a core in Node (os.gpuWait); a plain await in the browser. */
export const waitGpu = <T>(p: Promise<T>): Promise<T> => (isNode ? gpuWait(p) : p);

export const now = (): number => performance.now();

// ---- GPU timestamps ---------------------------------------------------------------------------------------------

const QUERY_RESOLVE = 0x200, COPY_SRC = 0x04, COPY_DST = 0x08, MAP_READ = 0x01;

/**
 * Wraps one GPUDevice so that, while armed, every compute pass it encodes gets timestamp writes: the first pass
 * writes query 0 at its start, every pass writes query 1 at its end. Query 1 − query 0 is then the GPU time from the
 * first kernel of a timed run to the last, gaps included (a gap is the GPU waiting for the host: dispatch overhead).
 */
export class Stamp {
  private armed = false;
  private stamped = 0;
  private readonly qs: GPUQuerySet;
  private readonly resolveBuf: GPUBuffer;
  private readonly readBuf: GPUBuffer;
  private readonly createEncoder: (d?: GPUCommandEncoderDescriptor) => GPUCommandEncoder;

  constructor(readonly device: GPUDevice) {
    this.qs = device.createQuerySet({ type: 'timestamp', count: 2 });
    this.resolveBuf = device.createBuffer({ size: 16, usage: QUERY_RESOLVE | COPY_SRC });
    this.readBuf = device.createBuffer({ size: 16, usage: MAP_READ | COPY_DST });
    this.createEncoder = device.createCommandEncoder.bind(device);
    const self = this;
    (device as { createCommandEncoder: GPUDevice['createCommandEncoder'] }).createCommandEncoder = function (d?: GPUCommandEncoderDescriptor) {
      const enc = self.createEncoder(d);
      const begin = enc.beginComputePass.bind(enc);
      (enc as { beginComputePass: GPUCommandEncoder['beginComputePass'] }).beginComputePass = (pd?: GPUComputePassDescriptor) => {
        if (!self.armed || pd?.timestampWrites) return begin(pd);
        const first = self.stamped++ === 0;
        return begin({ ...pd, timestampWrites: { querySet: self.qs, ...(first ? { beginningOfPassWriteIndex: 0 } : {}), endOfPassWriteIndex: 1 } });
      };
      return enc;
    };
  }

  arm(): void {
    this.armed = true;
    this.stamped = 0;
  }

  /** Call after the engine's wait: GPU ms between the first pass start and the last pass end, or null if no pass ran. */
  async read(): Promise<number | null> {
    this.armed = false;
    if (this.stamped === 0) return null;
    const enc = this.createEncoder();
    enc.resolveQuerySet(this.qs, 0, 2, this.resolveBuf, 0);
    enc.copyBufferToBuffer(this.resolveBuf, 0, this.readBuf, 0, 16);
    this.device.queue.submit([enc.finish()]);
    await waitGpu(this.readBuf.mapAsync(MAP_READ));
    const t = new BigUint64Array(this.readBuf.getMappedRange().slice(0));
    this.readBuf.unmap();
    const ns = Number(t[1] - t[0]);
    return ns > 0 ? ns / 1e6 : null;
  }
}

const stamps = new WeakMap<GPUDevice, Stamp | null>();
/** The Stamp of a device (created once), or null where the device lacks 'timestamp-query'. */
export function stampFor(device: GPUDevice | undefined): Stamp | null {
  if (!device) return null;
  let s = stamps.get(device);
  if (s === undefined) {
    s = device.features.has('timestamp-query') ? new Stamp(device) : null;
    stamps.set(device, s);
  }
  return s;
}

// ---- the measurement --------------------------------------------------------------------------------------------

export interface MeasureOptions {
  runs: number; // timed runs (≥ 10)
  minRunMs: number; // each timed run lasts at least this long (reps calls), so the dispatch floor is amortised
  maxReps: number;
  budgetMs: number; // skip (n/a with a note) when the timed runs would take longer than this
  useTimestamps: boolean;
}

export type Measured =
  | { ok: true; medianMs: number; minMs: number; maxMs: number; timing: 'timestamp' | 'wall'; runs: number; reps: number }
  | { ok: false; note: string; oneMs?: number };

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** The first validation or internal error the device raised while `fn` ran (its first line), or null. */
async function gpuErrorOf(device: GPUDevice | undefined, fn: () => Promise<void>): Promise<string | null> {
  if (!device) {
    await fn();
    return null;
  }
  device.pushErrorScope('internal');
  device.pushErrorScope('validation');
  await fn();
  const [validation, internal] = [await device.popErrorScope(), await device.popErrorScope()];
  const err = validation ?? internal;
  return err ? err.message.split('\n')[0] : null;
}

async function callN(r: Runner, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await r.run();
  await r.wait();
}

/**
 * The shared rule: one compiling call (never timed), one warm-up call that sizes `reps`, another warm-up of `reps`
 * calls when reps > 1, then `runs` timed runs of `reps` calls each. Times are per call (÷ reps ÷ perCall).
 */
export async function measure(r: Runner, o: MeasureOptions): Promise<Measured> {
  let t0 = now();
  const failed = await gpuErrorOf(r.device, () => callN(r, 1)); // compile
  const first = now() - t0;
  // a call the device rejected did no work: timing it would credit the engine with work it never did
  if (failed) return { ok: false, note: `failed: the device rejected its work (${failed})` };
  if (first > o.budgetMs) return { ok: false, note: `not timed: the first (compiling) call took ${(first / 1000).toFixed(1)} s, over the ${(o.budgetMs / 1000).toFixed(0)} s this row may take in this suite (run --suite full)` };
  t0 = now();
  await callN(r, 1); // warm-up, and an estimate of one call
  let one = Math.max(now() - t0, 0.001);
  if (o.runs * Math.ceil(o.minRunMs / one) * one > o.budgetMs && one < o.budgetMs / 8) {
    // one slow call may be a stall (another process on the cores): a second warm-up, and the faster of the two
    t0 = now();
    await callN(r, 1);
    one = Math.max(Math.min(one, now() - t0), 0.001);
  }
  const reps = Math.max(1, Math.min(o.maxReps, Math.ceil(o.minRunMs / one)));
  const estimate = o.runs * reps * one;
  if (estimate > o.budgetMs) {
    return { ok: false, oneMs: one, note: `not timed: one call takes ≈${fmtMs(one)} ms, so ${o.runs} timed runs need ≈${(estimate / 1000).toFixed(1)} s, over the ${(o.budgetMs / 1000).toFixed(0)} s this row may take in this suite (run --suite full)` };
  }
  if (reps > 1) await callN(r, reps);
  const stamp = o.useTimestamps && !r.wallOnly ? stampFor(r.device) : null;
  const times: number[] = [];
  let usedStamp = !!stamp;
  const div = reps * (r.perCall ?? 1);
  for (let i = 0; i < o.runs; i++) {
    stamp?.arm();
    t0 = now();
    await callN(r, reps);
    const wall = now() - t0;
    const gpu = stamp ? await stamp.read() : null;
    if (gpu === null) usedStamp = false;
    times.push(gpu ?? wall);
  }
  // a run without a stamp (no compute pass seen) makes the whole row wall-clock, so one row never mixes clocks
  if (stamp && !usedStamp) return measureWallOnly(r, o, reps, div);
  return { ok: true, medianMs: median(times) / div, minMs: Math.min(...times) / div, maxMs: Math.max(...times) / div, timing: usedStamp ? 'timestamp' : 'wall', runs: o.runs, reps };
}

async function measureWallOnly(r: Runner, o: MeasureOptions, reps: number, div: number): Promise<Measured> {
  const times: number[] = [];
  for (let i = 0; i < o.runs; i++) {
    const t0 = now();
    await callN(r, reps);
    times.push(now() - t0);
  }
  return { ok: true, medianMs: median(times) / div, minMs: Math.min(...times) / div, maxMs: Math.max(...times) / div, timing: 'wall', runs: o.runs, reps };
}

export const fmtMs = (ms: number): string => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms >= 1 ? ms.toFixed(2) : ms.toPrecision(2));

/** Deterministic host data (an LCG in [-1, 1)): every engine gets the same numbers. */
export function hostData(n: number, seed = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}
