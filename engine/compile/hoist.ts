// engine/compile/hoist.ts: constants leave the replay. A command outside the dynamic regions that reads only constants
// (or nothing: a `full`, the seed of a loss's gradient and its scalings) and is the one writer of a small temporary
// makes the same bits at every call, so it runs once, when the program is built, into a buffer of its own; replays
// skip it. On a CPU driver every dispatch costs tens of microseconds however little it computes.
import type { Fused, FusedGroup } from './fuse';
import { writes, type Trace, type TracedCommand } from './trace';

/** Constants above this size keep being recomputed: a buffer held for the program's life would raise its peak. */
const MAX_CONSTANT_BYTES = 64 * 1024;

export interface Hoisted {
  /** The program's commands without the constants, `index` and `groups` renumbered. */
  fused: Fused;
  /** The commands that make the constants, in order (run once), each with the ops fused into it (for explain()). */
  constants: { tc: TracedCommand; fusedOps: string[] | undefined }[];
  /** The values they make: each needs a buffer of its own for the program's life. */
  values: Set<number>;
}

export function hoistConstants(trace: Trace, fused: Fused): Hoisted {
  const writers = trace.values.map(() => 0);
  for (const tc of fused.commands) for (const v of new Set(writes(tc))) writers[v]++;
  const values = new Set<number>();
  const hoisted = new Set<number>();
  fused.commands.forEach((tc, i) => {
    if (tc.region >= 0) return;
    const out = writes(tc);
    if (out.length !== 1) return;
    const v = trace.values[out[0]];
    if (v.role !== 'temp' || writers[v.id] !== 1 || v.bytes > MAX_CONSTANT_BYTES) return;
    if (!tc.values.every((x) => x === v.id || values.has(x))) return;
    values.add(v.id);
    hoisted.add(i);
  });
  if (!hoisted.size) return { fused, constants: [], values };

  const renumber = fused.commands.map(() => -1);
  const commands: TracedCommand[] = [];
  fused.commands.forEach((tc, i) => {
    if (!hoisted.has(i)) (renumber[i] = commands.length), commands.push(tc);
  });
  const fusedAt = new Map(fused.groups.map((g) => [g.command, g.ops]));
  const groups: FusedGroup[] = fused.groups.filter((g) => !hoisted.has(g.command)).map((g) => ({ ...g, command: renumber[g.command] }));
  return {
    fused: { ...fused, commands, index: fused.index.map((i) => (i < 0 ? -1 : renumber[i])), groups },
    constants: [...hoisted].map((i) => ({ tc: fused.commands[i], fusedOps: fusedAt.get(i) })),
    values,
  };
}
