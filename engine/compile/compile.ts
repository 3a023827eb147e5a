// engine/compile/compile.ts: os.compile(fn). The first two calls with a given set of argument shapes run fn eagerly
// while tracing it (engine/compile/trace.ts); the second must match the first (else a host value that changes per
// call would be baked in silently), and becomes a program: its buffers planned by liveness (./plan.ts), its commands
// resolved into a runtime Program (pipelines, bind groups, uniforms). Later calls replay it: copy the arguments in,
// re-run the dynamic regions' host side (RNG streams, optimiser step counts) in capture mode, and record the program
// into the device's open encoder (as eager ops are recorded), its outputs written straight into fresh tensors.
// Parameters and optimiser state are updated in place, exactly as in eager mode.
import { device as currentDevice, type Device } from '../../runtime';
import { OnestepError, ValueError, fmtShape } from '../../runtime/errors';
import { Program, type Copy } from '../../runtime/program';
import { Tensor, tidy } from '../tensor';
import { fuse, type Fused } from './fuse';
import type { EpilogueMode } from './epilogue';
import { hoistConstants, type Hoisted } from './hoist';
import { planMemory, placed, type MemoryPlan } from './plan';
import { Trace, Tracer, activeTracer } from './trace';

export interface CompileStats {
  /** Dispatches one replay submits. */
  dispatches: number;
  /** Distinct kernels among them. */
  kernels: number;
  /** Ops folded into fused kernels. */
  fusedOps: number;
  /** Bytes of the buffers the program owns (its temporaries, inputs and outputs). */
  peakBytes: number;
  /** Time spent turning the trace into a program. */
  compileMs: number;
  /** Eager traced calls so far (two per argument signature, more after a retrace). */
  traces: number;
  /** Replays so far. */
  replays: number;
}

export interface Compiled<A extends unknown[], R> {
  (...args: A): R;
  /** What the program of the most recent signature does. */
  stats(): CompileStats;
  /** Each kernel of that program, with the ops it runs. */
  explain(): string;
  /**
   * Traces a call without running it (nothing reaches the GPU, no kernel is compiled but the program's): two traces
   * build the program that later calls replay, with no eager call in between. The host side of fn does run (host RNG
   * draws, optimiser step counts), so put back what it advances; tensors are untouched. fn must not make state on
   * first use (optimiser moments): a dry call gives it no values. A no-op once the signature has a program.
   */
  trace(...args: A): void;
  /** Frees every program's buffers; the next call traces again. */
  dispose(): void;
}

/** Tensors found in a value (arguments, results): arrays and plain objects are walked; everything else is static. */
function tensorsIn(x: unknown, out: Tensor[] = [], depth = 0): Tensor[] {
  if (x instanceof Tensor) out.push(x);
  else if (depth < 8 && Array.isArray(x)) for (const v of x) tensorsIn(v, out, depth + 1);
  else if (depth < 8 && x !== null && typeof x === 'object' && Object.getPrototypeOf(x) === Object.prototype) for (const v of Object.values(x)) tensorsIn(v, out, depth + 1);
  return out;
}

/** The same structure with each tensor replaced, in the order tensorsIn found them. */
function rebuild(x: unknown, next: () => Tensor, depth = 0): unknown {
  if (x instanceof Tensor) return next();
  if (depth < 8 && Array.isArray(x)) return x.map((v) => rebuild(v, next, depth + 1));
  if (depth < 8 && x !== null && typeof x === 'object' && Object.getPrototypeOf(x) === Object.prototype) {
    return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, rebuild(v, next, depth + 1)]));
  }
  return x;
}

/** The cache key of a call: argument tensors' shapes and dtypes, and every other argument's value. */
function signature(args: unknown[]): string {
  return JSON.stringify(args, (_k, v) => (v instanceof Tensor ? `T${v.dtype}[${v.shape}]` : typeof v === 'function' ? 'fn' : v));
}

/** What must be equal between the two traced calls: the ops outside dynamic regions and the host data they write. */
function fingerprint(t: Trace): string[] {
  const escaped = new Set(t.values.filter((v) => v.allocated && !v.released && v.role === 'temp').map((v) => v.id));
  const lines: string[] = [];
  for (const op of t.ops) {
    if (op.region >= 0 || escaped.has(op.output)) continue; // state made on the first call (optimiser moments) is not part of a step
    lines.push(`${op.name} ${JSON.stringify(op.attrs)} ${op.inputShapes.map(fmtShape).join(' ')}`);
  }
  for (const tc of t.commands) {
    if (tc.c.kind !== 'write' || tc.region >= 0 || escaped.has(tc.values[0])) continue;
    lines.push(`write ${Array.from(tc.c.data).join(',')}`);
  }
  return lines;
}

/** ONESTEP_DEBUG=compile prints every fused kernel's WGSL as it is generated. */
const debug = typeof process !== 'undefined' && /(^|,)compile(,|$)/.test(process.env?.ONESTEP_DEBUG ?? '');
let fusionEnabled = true;
let epilogueMode: EpilogueMode = 'auto';

/** Turns kernel fusion in compiled steps on or off (for measuring what it buys); returns the previous setting. */
export function setFusion(on: boolean): boolean {
  const prev = fusionEnabled;
  fusionEnabled = on;
  return prev;
}

/**
 * Which matmuls take elementwise epilogues in programs built from now on: 'auto' (every kind on GPUs; on CPU drivers,
 * whose cold shader caches compile a big matmul variant for seconds, only the smallest tiles) or 'all' (for a warm
 * cache, long runs and tests). Returns the previous setting.
 */
export function setEpilogues(mode: EpilogueMode): EpilogueMode {
  if (mode !== 'auto' && mode !== 'all') throw new ValueError(`setEpilogues: expected 'auto' or 'all', got ${JSON.stringify(mode)}`);
  const prev = epilogueMode;
  epilogueMode = mode;
  return prev;
}

/** The tensors a call made, kept and did not return (`op → [shape]`): state made on first use, or a leak. */
function leftAlive(t: Trace): string[] {
  return t.values
    .filter((v) => v.allocated && !v.released && v.role === 'temp')
    .map((v) => {
      const op = t.ops.find((o) => o.output === v.id);
      return op ? `${op.name} → ${fmtShape(op.shape)}` : `${v.bytes} bytes`;
    });
}

/** A program for one argument signature, with what a replay needs beside it. */
class Built {
  stale = false;
  replays = 0;
  private readonly onStateReleased = () => void (this.stale = true);
  private readonly state: GPUBuffer[];

  constructor(
    private readonly device: Device,
    readonly trace: Trace,
    readonly fused: Fused,
    readonly program: Program,
    readonly plan: MemoryPlan,
    /** Per output: shape, dtype, its recorded buffer, bytes, and whether the program may write it into the returned tensor. */
    private readonly outputs: { shape: readonly number[]; dtype: Tensor['dtype']; buffer: GPUBuffer; bytes: number; inPlace: boolean }[],
    /** The commands hoisted out as constants (run once at build), for explain(). */
    readonly constants: Hoisted['constants'],
    readonly compileMs: number,
  ) {
    this.state = trace.values.filter((v) => v.role === 'state').map((v) => v.buffer);
    for (const b of this.state) device.pin(b, this.onStateReleased);
  }

  run(args: Tensor[]): Tensor[] {
    const dev = this.device;
    const words = (n: number) => Math.ceil(n / 4) * 4;
    const before = this.trace.args.map((v, k) => ({ src: args[k].rawBuffer('compiled step'), dst: this.plan.buffers[v], bytes: words(this.trace.values[v].bytes) }));
    this.trace.regions.forEach((r) => {
      const cmds = dev.capture(() => tidy(() => void r.fn()));
      if (cmds.length !== r.end - r.first) {
        throw new OnestepError(`compiled step: a dynamic region made ${cmds.length} commands on replay but ${r.end - r.first} when traced; its host code must do the same GPU work every call`);
      }
      cmds.forEach((c, j) => {
        const i = this.fused.index[r.first + j];
        if (c.kind === 'dispatch' && c.words) this.program.setWords(i, c.words);
        else if (c.kind === 'write') this.program.setData(i, c.data);
        else if (c.kind === 'copy') this.program.setCopy(i, c.srcOffset, c.dstOffset, c.bytes);
      });
    });
    const outs = this.outputs.map((o) => Tensor.empty(o.shape, dev, o.dtype));
    const after: Copy[] = [];
    this.outputs.forEach((o, k) => {
      const dst = outs[k].rawBuffer('compiled step');
      // a value the step made goes straight into the tensor returned (the same size class as its slot); others
      // (state, arguments, a value returned twice) are copied out from where this run leaves them
      if (o.inPlace) this.program.setBuffer(o.buffer, dst);
      else after.push({ src: this.program.bufferFor(o.buffer), dst, bytes: words(o.bytes) });
    });
    this.program.run(before, after);
    this.replays++;
    return outs;
  }

  dispose(): void {
    for (const b of this.state) this.device.unpin(b, this.onStateReleased);
    for (const b of this.plan.owned) this.device.release(b);
  }
}

/** Turns the second traced call into a program. */
function build(device: Device, trace: Trace, outputs: Tensor[]): Built {
  const t0 = performance.now();
  for (const v of trace.values) {
    if (!v.allocated || v.released || v.role !== 'temp') continue;
    const op = trace.ops.find((o) => o.output === v.id);
    throw new OnestepError(
      `compile: the step leaves a tensor alive that it does not return${op ? ` (${op.name} → ${fmtShape(op.shape)})` : ''}: a compiled step may only ` +
        'return tensors and update existing ones in place. Return it, or dispose it inside the step (call zeroGrad inside the step too)',
    );
  }
  const { fused, constants, values: constantValues } = hoistConstants(trace, fuse(device, trace, { fuse: fusionEnabled, epilogues: epilogueMode }));
  const plan = planMemory(device, trace, fused.commands, constantValues);
  // the constants, made once into their own slots, ahead of every replay in the queue
  if (constants.length) new Program(device, constants.map((c) => placed(c.tc, plan.buffers))).run();
  const program = new Program(device, fused.commands.map((tc) => placed(tc, plan.buffers)));
  // a value the step made (not state, not an argument), returned once, is written straight into the tensor returned
  const outs = trace.outputs.map((v, k) => ({
    shape: outputs[k].shape, dtype: outputs[k].dtype, buffer: plan.buffers[v], bytes: trace.values[v].bytes,
    inPlace: trace.values[v].role === 'output' && trace.outputs.indexOf(v) === k,
  }));
  if (debug) {
    for (const g of fused.groups) console.info(`--- onestep compile: ${g.ops.join(' → ')}\n${(fused.commands[g.command].c as { kernel: { code: string } }).kernel.code}`);
  }
  return new Built(device, trace, fused, program, plan, outs, constants, performance.now() - t0);
}

/**
 * Compiles a function of tensors (a training step: forward, backward, optimiser steps, EMA, clipping, RNG draws) into a
 * program that replays with one submit and no per-op host work. fn runs inside tidy (what it does not return is
 * freed); what it keeps (optimiser state, parameters) it may only update in place. Tensors may come in arrays and plain objects;
 * other arguments are part of the cache key. Values read inside fn are an error; host values fn computes are baked in
 * at the trace, except inside os.dynamic regions (and the RNG, optimisers and EMA, which use them).
 */
export function compile<A extends unknown[], R>(fn: (...args: A) => R): Compiled<A, R> {
  if (typeof fn !== 'function') throw new ValueError(`compile: expected a function, got ${typeof fn}`);
  /** Per argument signature: the first trace's fingerprint, the program, the result's structure. */
  type Entry = { first: string[] | null; leftAlive: string[]; built: Built | null; traces: number; result: unknown };
  const entries = new Map<string, Entry>();
  let last: { built: Built | null; traces: number } | null = null;

  /** The entry of this call's signature, its stale program dropped. */
  const entryFor = (args: A) => {
    if (activeTracer()) throw new OnestepError('compile: a compiled function was called inside another one while it was being traced; compile the outer function only');
    const key = signature(args);
    let e = entries.get(key);
    if (!e) entries.set(key, (e = { first: null, leftAlive: [], built: null, traces: 0, result: undefined }));
    last = e;
    if (e.built?.stale) {
      e.built.dispose();
      e.built = null;
      e.first = null;
    }
    return e;
  };

  /** Traces one call of fn, eagerly or dry (nothing runs); the second trace of a signature builds its program. */
  const traceCall = (e: Entry, args: A, dry: boolean): unknown => {
    const dev = currentDevice();
    const tracer = new Tracer(dev);
    // inside tidy: temporaries fn does not return are freed, as they would be by a tidy around an eager step
    const result = tracer.run(() => tidy(() => fn(...args)), tensorsIn(args), dry ? (f) => dev.dry(f) : undefined);
    if (result instanceof Promise) throw new ValueError('compile: fn returned a Promise; a compiled step must be synchronous (no await inside: read values after the call)');
    const outputs = tensorsIn(result);
    const trace = tracer.finish(outputs);
    e.traces++;
    const kept = leftAlive(trace);
    if (dry && kept.length) {
      throw new OnestepError(
        `compile: trace() ran a call that makes tensors it keeps (${kept.join(', ')}): a dry trace runs nothing, so they hold no values now ` +
          '(make their owner afresh, or restore its state). Make them before tracing (an optimiser\'s state() allocates its moments), or let the first calls run (call the function instead)',
      );
    }
    const print = fingerprint(trace);
    if (!e.first) {
      e.first = print;
      e.leftAlive = kept;
    }
    else {
      const i = print.findIndex((line, j) => line !== e!.first![j]);
      if (i >= 0 || print.length !== e.first.length) {
        const at = i >= 0 ? i : Math.min(print.length, e.first.length);
        const left = e.leftAlive.length
          ? ` The first call left tensors alive that it did not return (${e.leftAlive.join(', ')}): if one is a gradient, the second call accumulated into it; call zeroGrad inside the step.`
          : '';
        throw new OnestepError(
          `compile: the second call did different work than the first at step ${at} (first: ${e.first[at] ?? 'nothing'}; second: ${print[at] ?? 'nothing'}). ` +
            'A compiled step must do the same work every call: a host value that changes per call (a counter, Math.random, a schedule) must come from a tensor argument, or from code wrapped in os.dynamic.' +
            left,
        );
      }
      e.built = build(dev, trace, outputs);
      e.result = result;
    }
    return result;
  };

  const call = (...args: A): R => {
    const e = entryFor(args);
    if (e.built) {
      const outs = e.built.run(tensorsIn(args));
      let k = 0;
      return rebuild(e.result, () => outs[k++]) as R;
    }
    return traceCall(e, args, false) as R;
  };

  const compiled = call as Compiled<A, R>;
  const this_stats = (): CompileStats => compiled.stats();
  compiled.stats = () => {
    const b = last?.built;
    const kernels = new Set(b ? b.fused.commands.filter((c) => c.c.kind === 'dispatch').map((c) => (c.c as { kernel: { code: string } }).kernel.code) : []);
    return {
      dispatches: b?.program.dispatchCount ?? 0,
      kernels: kernels.size,
      fusedOps: b?.fused.fusedOps ?? 0,
      peakBytes: b?.plan.peakBytes ?? 0,
      compileMs: b?.compileMs ?? 0,
      traces: last?.traces ?? 0,
      replays: b?.replays ?? 0,
    };
  };
  compiled.explain = () => {
    const b = last?.built;
    if (!b) return 'not compiled yet: the first two calls trace';
    const fusedAt = new Map(b.fused.groups.map((g) => [g.command, g.ops]));
    /** A command as explain() lists it: its kernel (a fused one names its ops), or the op that made it. */
    const describe = (tc: (typeof b.fused.commands)[number], fusedOps: string[] | undefined) => {
      const what = tc.c.kind === 'dispatch' ? tc.c.kernel.label : tc.c.kind;
      const ops = fusedOps ?? (tc.op >= 0 ? [b.trace.ops[tc.op].name] : tc.region >= 0 ? ['(dynamic: rebuilt every call)'] : []);
      return `${what}${ops.length && !fusedOps ? `  ← ${ops.join(', ')}` : ''}`;
    };
    const lines = b.fused.commands.map((tc, i) => `${String(i).padStart(4)} ${describe(tc, fusedAt.get(i))}`);
    const s = this_stats();
    const constants = b.constants.length ? `\nconstants, made once when the program was built:\n${b.constants.map((c) => `     ${describe(c.tc, c.fusedOps)}`).join('\n')}` : '';
    return `${s.dispatches} dispatches, ${s.kernels} kernels, ${s.fusedOps} ops fused into ${b.fused.groups.length} kernels, ${b.fused.deadOps} dead ops dropped, ${b.constants.length} constants hoisted, ${s.peakBytes} bytes of buffers\n${lines.join('\n')}${constants}`;
  };
  compiled.trace = (...args: A): void => {
    const e = entryFor(args);
    if (e.built) return;
    const inputs = tensorsIn(args);
    for (const t of tensorsIn(traceCall(e, args, true))) if (!inputs.includes(t)) t.dispose();
  };
  compiled.dispose = () => {
    for (const e of entries.values()) e.built?.dispose();
    entries.clear();
  };
  return compiled;
}

