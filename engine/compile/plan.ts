// engine/compile/plan.ts: a traced call's buffers, planned for replay. Temporaries and outputs share slots by liveness
// (a slot is reused once its value is dead: the peak is at most what the eager call held); arguments and host-written
// values and hoisted constants (./hoist.ts) get slots of their own; state (parameters, optimiser moments) stays in
// its own buffers, which the program updates in place.
import type { Device } from '../../runtime';
import { sizeClass } from '../../runtime/buffer-pool';
import { commandBuffers, type Command } from '../../runtime/commands';
import type { Trace, TracedCommand } from './trace';

export interface MemoryPlan {
  /** Per value: the buffer it lives in during a replay. */
  buffers: GPUBuffer[];
  /** The buffers the program owns (slots), with their sizes. */
  owned: GPUBuffer[];
  /** Bytes the owned slots hold. */
  peakBytes: number;
}

/** [first, last] command index at which each value is used; outputs stay live to the end. */
function liveRanges(trace: Trace, commands: readonly TracedCommand[]): [number, number][] {
  const range: [number, number][] = trace.values.map(() => [Infinity, -Infinity]);
  commands.forEach((tc, i) => {
    for (const v of tc.values) {
      range[v][0] = Math.min(range[v][0], i);
      range[v][1] = Math.max(range[v][1], i);
    }
  });
  for (const v of trace.outputs) range[v][1] = commands.length;
  return range;
}

/**
 * Assigns every value of `commands` a buffer: slots from the device's pool for temporaries, outputs and inputs;
 * `constants` (made once, read by every replay) each keep a slot for the program's life.
 */
export function planMemory(device: Device, trace: Trace, commands: readonly TracedCommand[], constants: ReadonlySet<number> = new Set()): MemoryPlan {
  const values = trace.values;
  const range = liveRanges(trace, commands);
  const buffers: GPUBuffer[] = values.map((v) => v.buffer);
  const owned: GPUBuffer[] = [];
  const fresh = (bytes: number) => {
    const b = device.alloc(bytes);
    owned.push(b);
    return b;
  };
  // arguments, host-written values and constants: a slot each for the whole program
  const own = (v: (typeof values)[number]) => v.role === 'input' || ((v.role === 'temp' || v.role === 'output') && v.written) || constants.has(v.id);
  for (const v of values) if (own(v)) buffers[v.id] = fresh(v.bytes);
  // temporaries and outputs: by liveness, reusing dead slots of the same size class
  const free = new Map<number, GPUBuffer[]>();
  const starts = new Map<number, number[]>(), ends = new Map<number, number[]>();
  for (const v of values) {
    if ((v.role !== 'temp' && v.role !== 'output') || own(v) || range[v.id][0] === Infinity) continue;
    (starts.get(range[v.id][0]) ?? starts.set(range[v.id][0], []).get(range[v.id][0])!).push(v.id);
    (ends.get(range[v.id][1]) ?? ends.set(range[v.id][1], []).get(range[v.id][1])!).push(v.id);
  }
  for (let i = 0; i <= commands.length; i++) {
    for (const id of starts.get(i) ?? []) {
      const cls = sizeClass(values[id].bytes);
      buffers[id] = free.get(cls)?.pop() ?? fresh(values[id].bytes);
    }
    for (const id of ends.get(i) ?? []) {
      const cls = sizeClass(values[id].bytes);
      (free.get(cls) ?? free.set(cls, []).get(cls)!).push(buffers[id]);
    }
  }
  return { buffers, owned, peakBytes: owned.reduce((s, b) => s + b.size, 0) };
}

/** The command with each buffer replaced by its value's planned buffer. */
export function placed(tc: TracedCommand, buffers: readonly GPUBuffer[]): Command {
  const b = tc.values.map((v) => buffers[v]);
  const c = tc.c;
  if (c.kind === 'dispatch') return { ...c, buffers: b };
  if (c.kind === 'copy') return { ...c, src: b[0], dst: b[1] };
  return { ...c, dst: b[0] };
}

export { commandBuffers };
