// bench/suite.ts: runs one suite on one adapter in this process (a Node child or the browser page): every spec in
// every engine, timed by the harness rules, with an n/a row (medianMs null + note) wherever an engine cannot run it.
import * as os from '../engine';
import { fmtMs, measure, now, type AdapterInfoOut, type Backend, type BackendResult, type EngineName, type MeasureOptions, type Row, type Runner, type SuiteName } from './harness';
import { COMPILED_OPS, onestepRunner } from './engines/onestep';
import { RAW_MATMUL_CONFIGS, rawCeilingRunner, rawMatmulRunner } from './engines/raw';
import { loadJax, loadTfjs, loadTorch, type Peer } from './engines/peers';
import { caseOf, suiteSpecs, type Case, type Spec } from './specs';

export interface SuiteOptions {
  suite: SuiteName;
  backend: Backend;
  adapter: string; // lavapipe | swiftshader | system
  /** performance.now() after which a quick run stops measuring (the remaining rows become n/a). */
  deadline: number;
  log: (line: string) => void;
  /** Extra peers only this backend has (onnxruntime-web in the browser). */
  extraPeers?: (() => Promise<Peer | string>)[];
  /** Only specs whose kernel name includes one of these (tests, debugging). */
  only?: string[];
}

const PEER_ORDER: EngineName[] = ['jax-js', 'tfjs-webgpu', 'onnxruntime-web', 'webgpu-torch'];
const CORE_OPS = new Set<Spec['op']>(['matmul', 'conv2d', 'groupNorm', 'attention']);

export function measureOptions(suite: SuiteName): Omit<MeasureOptions, 'budgetMs'> & { rowBudgetMs: number } {
  return suite === 'quick'
    ? { runs: 10, minRunMs: 8, maxReps: 64, rowBudgetMs: 4_000, useTimestamps: true }
    : { runs: 15, minRunMs: 40, maxReps: 256, rowBudgetMs: 90_000, useTimestamps: true };
}

export async function runSuite(o: SuiteOptions): Promise<BackendResult> {
  const t0 = now();
  if (!os.hasDevice()) await os.init({ quiet: true });
  const dev = os.device();
  const adapter: AdapterInfoOut = { vendor: dev.adapterInfo.vendor, architecture: dev.adapterInfo.architecture, description: dev.adapterInfo.description || dev.adapterLabel, backend: dev.adapterInfo.backend };
  o.log(`[bench ${o.backend}] ${dev.adapterLabel}; timestamp-query: ${dev.features.has('timestamp-query')}`);

  const peers = new Map<EngineName, Peer | string>();
  const loaders: [EngineName, () => Promise<Peer | string>][] = [['jax-js', loadJax], ['tfjs-webgpu', loadTfjs], ['webgpu-torch', loadTorch]];
  for (const l of o.extraPeers ?? []) loaders.push(['onnxruntime-web', l]);
  for (const [name, load] of loaders) {
    try {
      const p = await load();
      peers.set(name, p);
      o.log(`[bench ${o.backend}] ${name}: ${typeof p === 'string' ? `n/a (${p})` : 'ready'}`);
    } catch (e) {
      peers.set(name, `failed to start: ${String((e as Error)?.message ?? e).split('\n')[0]}`);
      o.log(`[bench ${o.backend}] ${name}: ${peers.get(name)}`);
    }
  }
  if (!peers.has('onnxruntime-web')) peers.set('onnxruntime-web', 'onnxruntime-web does not run under Dawn in Node (its WebGPU provider needs a browser): browser backend only');

  const mo = measureOptions(o.suite);
  const paces = new Map<string, number>(); // engine|op|pass → ms per FLOP (or byte) seen so far
  const rows: Row[] = [];
  // --only matches "kernel shape", e.g. "group norm" or "matmul 1024×1024×1024"
  const specs = suiteSpecs(o.suite).filter((s) => !o.only || o.only.some((k) => `${caseOf(s).kernel} ${caseOf(s).shape}`.includes(k)));
  for (const spec of specs) {
    const c = caseOf(spec);
    // a string: the engine cannot run here at all (its reason is the row's note, whatever the time left)
    const engines: [EngineName, (() => Runner | string) | string][] = [];
    if (spec.op === 'rawMatmul') {
      for (const cfg of RAW_MATMUL_CONFIGS) engines.push(['raw-wgsl', () => rawMatmulRunner(spec.m, spec.k, spec.n, cfg)]);
    } else if (spec.op === 'copy' || spec.op === 'dispatch') {
      engines.push(['raw-wgsl', () => rawCeilingRunner(spec)]);
    } else if (spec.op === 'dmdStep' || spec.op === 'unetStep') {
      // ours only: the peers have no DMD trainer or UNet
      engines.push(['onestep', () => onestepRunner(spec)], ['onestep-compiled', () => onestepRunner(spec, true)]);
    } else {
      engines.push(['onestep', () => onestepRunner(spec)]);
      if (COMPILED_OPS.has(spec.op)) engines.push(['onestep-compiled', () => onestepRunner(spec, true)]);
      for (const name of PEER_ORDER) {
        const p = peers.get(name)!;
        // ORT has rows only for the four kernels the issue compares (it has no eager ops to chain or optimise)
        if (name === 'onnxruntime-web' && !CORE_OPS.has(spec.op)) continue;
        engines.push([name, typeof p === 'string' ? p : () => p.make(spec)]);
      }
    }
    const best = new Map<EngineName, Row>();
    for (const [engine, make] of engines) {
      // a larger shape of a kernel that was already too slow at a smaller one is not compiled at all
      const units = c.flops ?? c.bytes;
      const pace = units ? paces.get(`${engine}|${spec.op}|${spec.pass}`) : undefined;
      const predicted = pace && units ? pace * units : 0;
      const row =
        typeof make === 'string'
          ? naRow(o, c, engine, make)
          : pace && o.deadline - now() > 0 && predicted * (mo.runs + 2) > Math.min(mo.rowBudgetMs, o.deadline - now())
          ? naRow(o, c, engine, `not timed: one call would take ≈${fmtMs(predicted)} ms (scaled from a smaller shape of this kernel), so ${mo.runs} timed runs would not fit in the ${(Math.min(mo.rowBudgetMs, o.deadline - now()) / 1000).toFixed(1)} s this row may take (run --suite full)`)
          : await measureRow(o, c, engine, make, mo, (oneMs) => units && paces.set(`${engine}|${spec.op}|${spec.pass}`, Math.max(paces.get(`${engine}|${spec.op}|${spec.pass}`) ?? 0, oneMs / units)));
      const prev = best.get(engine);
      // several raw variants measure the same row: keep the fastest (its note names the tile)
      if (!prev || (row.medianMs !== null && (prev.medianMs === null || row.medianMs < prev.medianMs))) best.set(engine, row);
    }
    for (const row of best.values()) {
      rows.push(row);
      o.log(`[bench ${o.backend}] ${c.kernel} ${c.shape} ${c.pass} ${row.engine}: ${row.medianMs === null ? `n/a (${row.note})` : `${row.medianMs.toPrecision(3)} ms${row.gflops !== null ? `, ${row.gflops.toFixed(2)} GFLOP/s` : ''}${row.gbps !== null ? `, ${row.gbps.toFixed(2)} GB/s` : ''} (${row.timing})`}`);
    }
  }
  return { adapter, rows, seconds: (now() - t0) / 1000 };
}

function naRow(o: SuiteOptions, c: Case, engine: EngineName, note: string): Row {
  return { suite: c.suite, kernel: c.kernel, shape: c.shape, engine, pass: c.pass, backend: o.backend, adapter: o.adapter, medianMs: null, minMs: null, maxMs: null, gflops: null, gbps: null, timing: null, runs: 0, reps: 0, note };
}

async function measureRow(o: SuiteOptions, c: Case, engine: EngineName, make: () => Runner | string, mo: ReturnType<typeof measureOptions>, seen: (oneMs: number) => void): Promise<Row> {
  const base: Row = naRow(o, c, engine, '');
  delete base.note;
  const left = o.deadline - now();
  // a row starts only with its whole budget left: its compiling call cannot be interrupted
  if (left < Math.min(mo.rowBudgetMs, 2_000) || left <= 0) return { ...base, note: `not timed: the ${o.suite} suite's time limit was reached (run --suite full, or --only fewer kernels)` };
  let r: Runner | string;
  try {
    r = make();
  } catch (e) {
    return { ...base, note: `error: ${errText(e)}` };
  }
  if (typeof r === 'string') return { ...base, note: r };
  try {
    const m = await measure(r, { ...mo, budgetMs: Math.min(mo.rowBudgetMs, left) });
    if (!m.ok) {
      if (m.oneMs) seen(m.oneMs);
      return { ...base, note: m.note };
    }
    seen(m.medianMs * m.reps > 0 ? m.medianMs : 0);
    const sec = m.medianMs / 1000;
    return {
      ...base,
      medianMs: m.medianMs,
      minMs: m.minMs,
      maxMs: m.maxMs,
      gflops: c.flops !== null ? c.flops / sec / 1e9 : null,
      gbps: c.bytes !== null ? c.bytes / sec / 1e9 : null,
      timing: m.timing,
      runs: m.runs,
      reps: m.reps,
      ...(r.note ? { note: r.note } : {}),
    };
  } catch (e) {
    return { ...base, note: `error: ${errText(e)}` };
  } finally {
    try {
      r.dispose?.();
    } catch {
      /* a failed runner may not free cleanly; the process ends soon */
    }
  }
}

const errText = (e: unknown): string => String((e as Error)?.message ?? e).split('\n')[0].slice(0, 300);
