// engine/compile/epilogue.ts: elementwise work on a matmul's result runs in the matmul's store (kernels/matmul's
// MatmulEpilogue) rather than in a kernel of its own: one dispatch fewer, and C is never read back (nor written, when
// nothing else reads it). A linear layer's bias + SiLU, a residual h + silu(W·h + b), a backward silu′(u)·(W·g) or a
// gradient sum g + W·g each become one matmul.
//
// Only where the new pipeline is worth its compile: every matmul kind on GPUs, the smallest tiles on CPU drivers
// (kernels/matmul/dispatch.ts: matmulEpilogueKernel has the measurements).
//
// Where the fused kernel runs: at the group's place when C dies there (so the matmul's operands must not change in
// between), or at the matmul's place when other ops read C too (so the group's other inputs must be ready by then).
import { epilogueInputs, epilogueWords, matmulEpilogueKernel, type MatmulEpilogue } from '../../kernels/matmul/dispatch';
import type { Device } from '../../runtime';
import type { Group } from './fuse';
import { sameShape } from '../ops/validate';
import { opLabel, writtenBetween, type Trace, type TracedCommand } from './trace';

/** Which matmuls take epilogues: 'auto' weighs the new pipeline's compile on this adapter; 'all' fuses every one. */
export type EpilogueMode = 'auto' | 'all';

export interface FusedEpilogue {
  group: Group;
  /** The matmul op and the position of its dispatch in the trace. */
  op: number;
  matmul: number;
  /** Position at which the fused kernel runs. */
  at: number;
  command: TracedCommand;
}

/**
 * For each group that reads a matmul's result (as a whole: same shape, not broadcast), the matmul kernel with the
 * group in its store, where the dependences allow; one group per matmul. `keep`: the trace's commands still in the
 * program; `touches`: per value, how many commands name it.
 */
export function fuseEpilogues(device: Device, trace: Trace, keep: readonly boolean[], touches: readonly number[], groups: readonly Group[], mode: EpilogueMode = 'auto'): FusedEpilogue[] {
  const cmds = trace.commands;
  const producer = new Map<number, number>(); // value → the matmul op that made it
  trace.ops.forEach((op, o) => {
    if (op.name === 'matmul' && op.region < 0 && op.end - op.first === 1 && keep[op.first] && cmds[op.first].c.kind === 'dispatch') producer.set(op.output, o);
  });
  const maxBuffers = device.limits.maxStorageBuffersPerShaderStage;
  const claimed = new Set<number>();
  const out: FusedEpilogue[] = [];
  for (const g of groups) {
    if (g.windows.size) continue; // windows start at offsets the matmul store does not take
    const at = Math.max(...g.positions);
    let best: FusedEpilogue | null = null;
    for (const [self, v] of g.inputValues.entries()) {
      const o = producer.get(v);
      if (o === undefined || claimed.has(o) || g.spec.inputs[self] !== null || g.inputValues.indexOf(v) !== self) continue;
      const op = trace.ops[o], mm = cmds[op.first];
      if (mm.c.kind !== 'dispatch' || mm.values[3] !== v || !sameShape(op.shape, g.spec.shape)) continue;
      // C's offsets cover batched shapes; broadcast inputs are read by row and column, so only over a 2-D C
      if (g.spec.shape.length > 2 && g.spec.inputs.some((s) => s !== null)) continue;
      if (op.first >= at || (best && best.matmul > op.first)) continue;
      const readers = g.positions.filter((p) => cmds[p].values.includes(v)).length;
      const keepC = trace.values[v].role !== 'temp' || touches[v] > 1 + readers;
      const e: MatmulEpilogue = { spec: { ...g.spec, label: g.ops.map((i) => opLabel(trace.ops[i])).join(' → ') }, self, keepC };
      const extra = epilogueInputs(e).map((k) => g.inputValues[k]);
      if (4 + extra.length + (keepC ? 1 : 0) > maxBuffers) continue;
      // keepC: the group's inputs must hold their values at the matmul; else A, B and the bias must still hold theirs at the group
      if (writtenBetween(cmds, keep, op.first, at, keepC ? extra : mm.values.slice(0, 3))) continue;
      const kernel = matmulEpilogueKernel(mm.c.kernel, e, mode === 'all' ? null : device);
      if (!kernel) continue;
      const values = keepC ? [...mm.values, ...extra, g.output] : [...mm.values.slice(0, 3), g.output, ...extra];
      const command: TracedCommand = { c: { ...mm.c, kernel, buffers: values.map((x) => trace.values[x].buffer), words: epilogueWords(mm.c.words!, e) }, values, op: g.ops[g.ops.length - 1], region: -1 };
      best = { group: g, op: o, matmul: op.first, at: keepC ? op.first : at, command };
    }
    if (best) {
      claimed.add(best.op);
      out.push(best);
    }
  }
  return out;
}
