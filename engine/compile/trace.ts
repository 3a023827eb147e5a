// engine/compile/trace.ts: records one eager call of a function as data. The device reports every command and buffer
// event (runtime/commands.ts), the op table every op applied (engine/ops/op.ts); the tracer turns buffers into
// values (a buffer's contents between its allocation and its release), so that later passes can fuse ops and plan
// memory by liveness, and it marks dynamic regions: host work that must run again at every call (RNG streams,
// optimiser step counts), whose commands a replay captures afresh.
import type { Command, DeviceListener } from '../../runtime/commands';
import { commandBuffers } from '../../runtime/commands';
import type { Device, Kernel } from '../../runtime';
import { OnestepError, internal } from '../../runtime/errors';
import type { OpDef, OpObserver } from '../ops/op';
import { observeOps } from '../ops/op';
import type { Tensor } from '../tensor';

/** What a value is to the compiled program. */
export type ValueRole = 'input' | 'state' | 'temp' | 'output';

export interface TracedValue {
  id: number;
  buffer: GPUBuffer;
  /** Bytes asked for (allocated values) or the buffer's size (values that existed before the call). */
  bytes: number;
  /** Allocated during the call (else it existed before: an argument or state such as a parameter). */
  allocated: boolean;
  /** Released before the call ended. */
  released: boolean;
  role: ValueRole;
  /** Written by a host write (os.tensor of host data): gets a buffer of its own in the program. */
  written: boolean;
}

export interface TracedCommand {
  c: Command;
  /** The value each of the command's buffers holds (commandBuffers order). */
  values: number[];
  /** Index of the op that made it, or -1 (optimiser updates, copies outside ops). */
  op: number;
  /** Index of the dynamic region it belongs to, or -1. */
  region: number;
}

export interface TracedOp {
  name: string;
  def: OpDef<any>;
  attrs: unknown;
  inputs: number[];
  inputShapes: (readonly number[])[];
  output: number;
  shape: readonly number[];
  /** Commands [first, end) are this op's forward. */
  first: number;
  end: number;
  region: number;
}

export interface Region {
  fn: () => unknown;
  first: number;
  end: number;
}

export class Trace {
  readonly values: TracedValue[] = [];
  readonly commands: TracedCommand[] = [];
  readonly ops: TracedOp[] = [];
  readonly regions: Region[] = [];
  /** Per argument tensor: its value. */
  args: number[] = [];
  /** Per returned tensor: its value. */
  outputs: number[] = [];
}

let active: Tracer | null = null;

/** The tracer of the call in progress, if any. */
export const activeTracer = (): Tracer | null => active;

export class Tracer implements DeviceListener, OpObserver {
  readonly trace = new Trace();
  private readonly current = new Map<GPUBuffer, number>();
  private opStart = -1;
  private region = -1;
  private prevObserver: OpObserver | null = null;
  private readAttempted = false;

  constructor(private readonly device: Device) {}

  /** Runs fn(...args) while recording it: eagerly, or through `mode` (the device's dry mode: nothing runs). */
  run<R>(fn: () => R, args: Tensor[], mode?: (f: () => R) => R): R {
    if (active) throw internal('compile: a trace began inside another (os.compile refuses nested calls before tracing)');
    this.trace.args = args.map((t) => this.valueOf(t.storageOrThrow('compile').buffer, false));
    active = this;
    this.device.listener = this;
    this.prevObserver = observeOps(this);
    try {
      const r = mode ? mode(fn) : fn();
      // a readback is async: its rejection may have been dropped by fn, so the call fails here too
      if (this.readAttempted) this.read();
      return r;
    } finally {
      active = null;
      this.device.listener = null;
      observeOps(this.prevObserver);
    }
  }

  /** The value buffer holds now; a buffer first seen here existed before the call (state, or an argument). */
  valueOf(buf: GPUBuffer, allocated: boolean, bytes = buf.size): number {
    let id = this.current.get(buf);
    if (id === undefined) {
      id = this.trace.values.length;
      this.trace.values.push({ id, buffer: buf, bytes, allocated, released: false, role: allocated ? 'temp' : 'state', written: false });
      this.current.set(buf, id);
    }
    return id;
  }

  // ---- DeviceListener ----------------------------------------------------------------------------------------------

  alloc(buf: GPUBuffer, bytes: number): void {
    this.current.delete(buf);
    this.valueOf(buf, true, bytes);
  }

  release(buf: GPUBuffer): void {
    const id = this.current.get(buf);
    if (id !== undefined) this.trace.values[id].released = true;
    this.current.delete(buf);
  }

  command(c: Command): void {
    const values = commandBuffers(c).map((b) => this.valueOf(b, false));
    if (c.kind === 'write') this.trace.values[values[0]].written = true;
    this.trace.commands.push({ c, values, op: this.opStart >= 0 ? this.trace.ops.length : -1, region: this.region });
  }

  read(): void {
    this.readAttempted = true;
    throw new OnestepError(
      'compile: a compiled step read a value back (data(), item(), …) while it was traced. A compiled step runs on the GPU without waiting for it; ' +
        'return the tensor from the function and read it after the call',
    );
  }

  // ---- OpObserver ------------------------------------------------------------------------------------------------------

  begin(): void {
    this.opStart = this.trace.commands.length;
  }

  applied(name: string, def: OpDef<any>, inputs: readonly Tensor[], attrs: unknown, out: Tensor): void {
    if (this.opStart < 0) throw internal(`compile: op ${name} applied without begin`);
    this.trace.ops.push({
      name, def, attrs,
      inputs: inputs.map((t) => this.valueOf(t.storageOrThrow(name).buffer, false)),
      inputShapes: inputs.map((t) => t.shape),
      output: this.valueOf(out.storageOrThrow(name).buffer, false),
      shape: out.shape,
      first: this.opStart,
      end: this.trace.commands.length,
      region: this.region,
    });
    this.opStart = -1;
  }

  // ---- dynamic regions ------------------------------------------------------------------------------------------------

  /** Runs fn as a dynamic region: a replay runs it again (in capture mode) for this call's uniforms and data. */
  dynamic<T>(fn: () => T): T {
    if (this.region >= 0) return fn(); // inside a region already: the outer one replays it
    const region = this.trace.regions.length;
    this.trace.regions.push({ fn, first: this.trace.commands.length, end: -1 });
    this.region = region;
    try {
      return fn();
    } finally {
      this.region = -1;
      this.trace.regions[region].end = this.trace.commands.length;
    }
  }

  /** Marks the values of the returned tensors as outputs; every other value made by the call must be gone. */
  finish(outputs: Tensor[]): Trace {
    const t = this.trace;
    t.outputs = outputs.map((o) => this.valueOf(o.storageOrThrow('compile').buffer, false));
    t.args.forEach((v) => (t.values[v].role = 'input'));
    for (const v of t.outputs) if (t.values[v].role === 'temp') t.values[v].role = 'output';
    return t;
  }
}

/** Runs fn as a dynamic region of the call being traced (a no-op wrapper otherwise). */
export function dynamic<T>(fn: () => T): T {
  return active ? active.dynamic(fn) : fn();
}

/** Per binding of a kernel: whether it is written (read_write), from its declarations. */
const access = new Map<string, boolean[]>();
function writtenBindings(k: Kernel): boolean[] {
  let w = access.get(k.code);
  if (!w) {
    w = [];
    for (const m of k.code.matchAll(/@binding\((\d+)\)\s*var<\s*storage\s*,\s*(read_write|read)\s*>/g)) w[Number(m[1]) - 1] = m[2] === 'read_write';
    access.set(k.code, w);
  }
  return w;
}

/** The values a command writes. */
export function writes(tc: TracedCommand): number[] {
  const c = tc.c;
  if (c.kind === 'dispatch') {
    const w = writtenBindings(c.kernel);
    return tc.values.filter((_, i) => w[i]);
  }
  return c.kind === 'copy' ? [tc.values[1]] : [tc.values[0]];
}

/** Whether a command kept in (from, to) writes any of `values`: what fusion must not move a read across. */
export function writtenBetween(cmds: readonly TracedCommand[], keep: readonly boolean[], from: number, to: number, values: readonly number[]): boolean {
  for (let p = from + 1; p < to; p++) if (keep[p] && writes(cmds[p]).some((w) => values.includes(w))) return true;
  return false;
}

/** An op's name in explain() and kernel labels: a user os.fused op by its label. */
export const opLabel = (op: TracedOp): string => (op.name === 'fused' ? (op.attrs as { label: string }).label : op.name);
