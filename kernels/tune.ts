// kernels/tune.ts: the autotuner every kernel family shares (matmul and conv2d). A family
// describes one shape class as a Tunable: candidate configs, a heuristic, and a job that times a candidate on inputs
// of that shape. Winners are cached per adapter in memory and, in Node, on disk.
//
// Design: ops stay synchronous. `pick()` returns the cached winner for the shape class, else the heuristic; in
// 'background' mode a miss also queues a tuning job that runs between the caller's awaits (one job at a time), so later
// calls of that class get the winner. A job compiles each candidate (createComputePipelineAsync first, so the main
// thread is not blocked where the driver compiles at pipeline creation), then times them round-robin: by GPU
// timestamps where the adapter has timestamp-query (kernel time only: on a real GPU a 20 µs kernel costs more to issue
// than to run, so submit-to-done wall time ranked small kernels by host noise), else submit-to-done with
// `await dev.sync()`. Samples during which someone else dispatched are dropped, the best clean sample decides,
// hopeless candidates stop early. Between steps it yields with an unref'd timer, so a finished program exits instead of
// waiting for a half-timed class. `await tune(...)` (or a family wrapper such as `tuneMatmul`) tunes explicitly and
// `await whenTuned()` waits for queued jobs: warm-up paths and benches use these.
//
// Modes: 'background' (opt-in: ONESTEP_TUNE=1), 'cached' (default: use winners, never time anything implicitly), 'off' (heuristic only: tests;
// explicit tune() still runs). `ONESTEP_TUNE=0|off`, `=cached`, `=1|on` sets the initial mode in Node; under vitest
// (VITEST set) the default is 'off' so that tests are deterministic. `setTuning(false | true | mode)` changes it.
// Disk cache (Node only; the browser keeps winners in memory): `$ONESTEP_TUNE_CACHE` or `~/.cache/onestep`, file
// `tune-<adapter-hash>.json`, written atomically; node modules load through dynamic imports whose specifiers are
// variables, so browser bundles never see node:fs.
import { device, type Device, DeviceArray } from '../runtime';
import { load, save, slotOf, stateOf } from './tune-cache';

export { TUNE_FORMAT, adapterHash, clearTuneCache, setTuneCacheDir } from './tune-cache';

export type TuneMode = 'off' | 'cached' | 'background';

/** Times candidates on inputs of one shape; built lazily by the tuner (outside any tidy scope). */
export interface TuneJob<C> {
  /** Records one unit of work for candidate `c` (dispatches only; the tuner submits and waits). */
  run(c: C): void;
  /** Compiles `c` without blocking the main thread (Device.compileAsync, which keeps the pipeline); the tuner awaits it first. */
  prepare?(c: C): Promise<void>;
  /** Frees the job's inputs. */
  dispose(): void;
}

/** One shape class of one kernel family. */
export interface Tunable<C> {
  family: string; // 'matmul', 'conv2d', …
  key: string; // shape class, e.g. 'm512n512k512b1NNa4'
  candidates: readonly C[]; // configs that can run this class on this device
  id(c: C): string; // stable name, stored in the cache
  heuristic: C; // used when tuning is off or the winner is not known yet
  job(): TuneJob<C>;
  flops?: number; // work of one run(), for reports
}

export interface TuneTiming {
  id: string;
  ms: number | null; // best clean sample; null: failed or dropped
  note?: string;
}

export interface TuneResult {
  family: string;
  key: string;
  winner: string;
  heuristic: string; // what runs untuned
  timings: TuneTiming[]; // empty when the winner came from the cache
  cached: boolean;
  clock?: 'gpu' | 'wall'; // how the timings were taken: GPU timestamps or submit-to-done wall time
}

/** Part of the adapter hash: bump when kernels change so that old winners are ignored. */

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

// ---- mode ----------------------------------------------------------------------------------------------------------

function envMode(): TuneMode {
  // Implicit background tuning is opt-in. Measured inside a training run (train-teacher, mnist16, batch 64, lavapipe)
  // it tuned 3–5 of ~53 classes in 150 steps (a job advances only while the loop awaits, and each sample needs
  // several turns) and slowed the first steps; while the heuristics sit within 0–3% of the winners at UNet shapes on
  // lavapipe and an H100 (RESULTS.md).
  // By default winners come only from explicit tune() calls (and, in Node, their disk cache).
  if (!isNode) return 'cached';
  const v = process.env.ONESTEP_TUNE?.toLowerCase();
  if (v === '0' || v === 'off' || v === 'false') return 'off';
  if (v === 'cached') return 'cached';
  if (v === '1' || v === 'on' || v === 'true' || v === 'background') return 'background';
  return process.env.VITEST ? 'off' : 'cached';
}

let mode: TuneMode | null = null;

/** `false`: heuristic only. `true`: 'background'. Or a mode by name. */
export function setTuning(m: boolean | TuneMode): void {
  mode = m === true ? 'background' : m === false ? 'off' : m;
}

export function tuningMode(): TuneMode {
  return (mode ??= envMode());
}

// ---- the queue -----------------------------------------------------------------------------------------------------

let queue: Promise<unknown> = Promise.resolve();
let queued = 0;

function enqueue<T>(fn: () => Promise<T>): Promise<T> {
  queued++;
  const p = queue.then(fn).finally(() => queued--);
  queue = p.catch(() => undefined);
  return p;
}

/** Resolves once every queued tuning job has finished (jobs queued meanwhile included). */
export async function whenTuned(): Promise<void> {
  await explicitly(async () => {
    while (queued > 0) await queue;
  });
}

// ---- yielding ------------------------------------------------------------------------------------------------------

let explicitWaiters = 0;
/** A macrotask turn between timing steps. In Node its timer is unref'd while nobody awaits tuning explicitly, so a
 * background job never keeps a finished program alive: the process exits and the half-timed class stays untuned. */
function tick(): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, 0) as unknown as { unref?: () => void };
    if (explicitWaiters === 0) t.unref?.();
  });
}

async function explicitly<T>(fn: () => Promise<T>): Promise<T> {
  explicitWaiters++;
  try {
    return await fn();
  } finally {
    explicitWaiters--;
  }
}

// ---- timing --------------------------------------------------------------------------------------------------------

const ROUNDS = 3; // round-robin rounds: each times every live candidate once, so load drift hits all alike
const TRIES = 3; // attempts per round when other work pollutes a sample
const MIN_SAMPLE_MS = 8; // short runs are repeated within one sample up to this
const HOPELESS = 4; // after a round, candidates this many times slower than the best so far stop being timed

interface Entry<C> {
  c: C;
  id: string;
  runs: number; // job.run calls per sample
  clean: number[];
  polluted: number[];
  dropped: boolean;
}

/** Timestamps time kernels alone; an active os.profile owns the timestamp machinery, so then the wall clock does. */
const gpuClock = (dev: Device) => dev.features.has('timestamp-query') && !dev.profiling;

/** One sample: ms per run, and whether someone else dispatched meanwhile (the device's dispatch counter moved). */
async function sample<C>(dev: Device, job: TuneJob<C>, e: Entry<C>): Promise<{ ms: number; clean: boolean }> {
  await tick();
  if (gpuClock(dev)) {
    let ours = 0;
    const rows = await dev.profile(() => {
      const d0 = dev.dispatches;
      for (let r = 0; r < e.runs; r++) job.run(e.c);
      ours = dev.dispatches - d0;
    });
    const timed = rows.reduce((n, x) => n + x.count, 0);
    return { ms: rows.reduce((t, x) => t + x.ms, 0) / e.runs, clean: timed === ours };
  }
  await dev.sync(); // drain work queued by others
  const d0 = dev.dispatches;
  const t0 = performance.now();
  for (let r = 0; r < e.runs; r++) job.run(e.c);
  const ours = dev.dispatches - d0;
  await dev.sync();
  return { ms: (performance.now() - t0) / e.runs, clean: dev.dispatches - d0 === ours };
}

async function measure<C>(dev: Device, t: Tunable<C>): Promise<TuneResult> {
  const heuristicId = t.id(t.heuristic);
  const timings: TuneTiming[] = [];
  const live: Entry<C>[] = [];
  const clock = gpuClock(dev) ? 'gpu' : 'wall';
  const job = t.job();
  try {
    // compile and warm up every candidate (the heuristic first), sizing each sample from the first run
    const order = [...t.candidates].sort((a, b) => Number(t.id(b) === heuristicId) - Number(t.id(a) === heuristicId));
    for (const c of order) {
      const id = t.id(c);
      try {
        await tick();
        if (job.prepare) await job.prepare(c);
        const t0 = performance.now();
        job.run(c); // the synchronous compile hits the caches prepare() warmed
        await dev.sync();
        const first = performance.now() - t0;
        live.push({ c, id, runs: Math.max(1, Math.min(64, Math.ceil(MIN_SAMPLE_MS / Math.max(first, 0.01)))), clean: [], polluted: [], dropped: false });
      } catch (e) {
        timings.push({ id, ms: null, note: (e as Error).message.split('\n')[0] });
      }
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const e of live.filter((x) => !x.dropped)) {
        try {
          for (let k = 0; k < TRIES; k++) {
            const s = await sample(dev, job, e);
            (s.clean ? e.clean : e.polluted).push(s.ms);
            if (s.clean) break;
          }
        } catch (err) {
          e.dropped = true;
          timings.push({ id: e.id, ms: null, note: (err as Error).message.split('\n')[0] });
        }
      }
      const best = Math.min(...live.map(bestOf));
      for (const e of live) if (bestOf(e) > HOPELESS * best) e.dropped = true;
    }
  } finally {
    job.dispose();
  }
  let winner = heuristicId, best = Infinity;
  for (const e of live) {
    if (timings.some((x) => x.id === e.id)) continue; // failed while timing
    const ms = bestOf(e);
    timings.push({ id: e.id, ms: Number.isFinite(ms) ? ms : null, note: e.clean.length === 0 ? 'no clean sample: timed with other work' : undefined });
    if (ms < best) (best = ms), (winner = e.id);
  }
  return { family: t.family, key: t.key, winner, heuristic: heuristicId, timings, cached: false, clock };
}

/** The best clean sample (the least disturbed by load), else the best polluted one. */
const bestOf = (e: Entry<unknown>) => Math.min(...(e.clean.length ? e.clean : e.polluted), Infinity);

const log: TuneResult[] = [];

/** Every class timed in this process, oldest first (explicit and background jobs): what was compared, how, and won. */
export function tuneLog(): readonly TuneResult[] {
  return log;
}

async function measureAndStore<C>(dev: Device, t: Tunable<C>): Promise<TuneResult> {
  const st = stateOf(dev);
  const r = await measure(dev, t);
  log.push(r);
  st.winners.set(slotOf(t), r.winner);
  await save(st);
  return r;
}

// ---- the API families use ------------------------------------------------------------------------------------------

/** Below this much work (FLOPs) dispatch overhead dominates: families use their heuristic without tuning. */
export const TUNE_MIN_FLOPS = 2 ** 24;

/** A shape-class size: n to the nearest power of two (keys of conv, attention and norm classes). */
export const nearestPow2 = (n: number): number => 2 ** Math.round(Math.log2(Math.max(1, n)));

/** A tensor of `shape` holding `v` everywhere (tuning inputs: no denormals or NaNs to skew CPU drivers). */
export function filled(dev: Device, shape: number[], v: number): DeviceArray {
  const t = DeviceArray.alloc(shape, dev);
  dev.write(t.buffer, new Float32Array(t.size).fill(v));
  return t;
}

/** The config to run now: the cached winner for this shape class, else the heuristic (queuing a tuning job in
 * 'background' mode). Synchronous; never waits for the GPU. */
export function pick<C>(dev: Device, t: Tunable<C>): C {
  const m = tuningMode();
  if (m === 'off') return t.heuristic;
  const st = stateOf(dev);
  void load(st);
  const slot = slotOf(t);
  const id = st.winners.get(slot);
  if (id !== undefined) return t.candidates.find((c) => t.id(c) === id) ?? t.heuristic;
  if (m === 'background' && !st.pending.has(slot) && t.candidates.length > 1) {
    st.pending.add(slot);
    void enqueue(async () => {
      await load(st);
      if (!st.winners.has(slot)) await measureAndStore(dev, t);
    }).catch(() => st.winners.set(slot, t.id(t.heuristic)));
  }
  return t.heuristic;
}

/** Options of an explicit tune: re-time a cached class (`force`), or time only the candidates with these ids. */
export interface TuneOptions {
  force?: boolean;
  variants?: readonly string[];
}

/** Tunes one shape class now (or returns its cached winner unless `force`). Runs after queued background jobs. */
export async function tune<C>(dev: Device, tunable: Tunable<C>, o: TuneOptions = {}): Promise<TuneResult> {
  const only = o.variants;
  const t = only ? { ...tunable, candidates: tunable.candidates.filter((c) => only.includes(tunable.id(c))) } : tunable;
  const st = stateOf(dev);
  await load(st);
  const known = st.winners.get(slotOf(t));
  if (known !== undefined && !o.force) return { family: t.family, key: t.key, winner: known, heuristic: t.id(t.heuristic), timings: [], cached: true };
  return explicitly(() => enqueue(() => measureAndStore(dev, t)));
}

/** The winners known for this device's adapter (`family|key` → id; default: the current device), after loading the disk cache. */
export async function tuneCacheEntries(dev: Device = device()): Promise<Record<string, string>> {
  const st = stateOf(dev);
  await load(st);
  return Object.fromEntries(st.winners);
}

/** The winner known right now for one shape class, if any (no disk access). */
export function cachedWinner(dev: Device, family: string, key: string): string | undefined {
  return stateOf(dev).winners.get(slotOf({ family, key }));
}
