// engine/compile/fuse.ts: the passes between a trace and its program. Dead ops go (an op whose output nothing reads);
// chains of elementwise ops become one kernel (kernels/elementwise/fused.wgsl.ts): an op absorbs the group that made
// one of its inputs when that input is read by nothing else, so the intermediate never reaches memory. Groups then
// move into the kernels that alone read them: other groups, reductions' loads, matmuls' stores (./epilogue.ts), cats.
import { fusedKernel, fusedWords, fusedWorkgroups, type FusedArg, type FusedKernelSpec } from '../../kernels/elementwise/fused.wgsl';
import { broadcastStrides } from '../../kernels/elementwise/dispatch';
import { prologueWords, reducePrologueOf, withPrologue } from '../../kernels/reduce/dispatch';
import { broadcastShapes, stridesOf } from '../../kernels/grid';
import { shapeSize, type Device } from '../../runtime';
import { sameShape } from '../ops/validate';
import { fuseEpilogues, type EpilogueMode } from './epilogue';
import { opLabel, writes, writtenBetween, type Trace, type TracedCommand, type TracedOp } from './trace';

/** A fused kernel in the program, for explain(). */
export interface FusedGroup {
  command: number;
  ops: string[];
}

/** Elementwise ops that run as one kernel. */
export interface Group {
  /** Op indices, in evaluation order. */
  ops: number[];
  /** Original command index of each member's dispatch. */
  positions: number[];
  spec: FusedKernelSpec;
  /** The value of each input, in spec.inputs order. */
  inputValues: number[];
  /** Inputs read through a window (a slice, expand or permute read in place): their strides are not broadcasts. */
  windows: Set<number>;
  output: number;
}


/**
 * Adds input value x, read with `strides` over the group's shape from `offset`, to g's input table unless it is there
 * already (`index` holds the table's keys); returns its index.
 */
function addInput(g: Group, index: Map<string, number>, x: number, strides: readonly number[] | null, offset: number, window: boolean): number {
  const key = `${x}:${strides}:${offset}:${window}`;
  let k = index.get(key);
  if (k === undefined) {
    k = g.inputValues.length;
    index.set(key, k);
    g.inputValues.push(x);
    (g.spec.inputs as (readonly number[] | null)[]).push(strides);
    (g.spec.offsets as number[]).push(offset);
    if (window) g.windows.add(k);
  }
  return k;
}

/** Strides that read a tensor of shape `from` as broadcast to `to`; null when `from` is `to` (read at i). */
const inputStrides = (from: readonly number[], to: readonly number[]): number[] | null => (sameShape(from, to) ? null : broadcastStrides(from, to));

export interface Fused {
  commands: TracedCommand[];
  /** Per traced command: its index in `commands`, or -1 (fused away or dead). */
  index: number[];
  groups: FusedGroup[];
  fusedOps: number;
  deadOps: number;
}

/** Removes dead ops and fuses elementwise chains; returns the program's commands in order. */
export function fuse(device: Device, trace: Trace, opts: { fuse: boolean; epilogues?: EpilogueMode } = { fuse: true }): Fused {
  const cmds = trace.commands;
  const keep = cmds.map(() => true);
  // per value: the commands that name it (its producer, its readers, in-place updaters)
  const touches = trace.values.map(() => 0);
  cmds.forEach((tc) => new Set(tc.values).forEach((v) => touches[v]++));
  const kept = (v: number) => trace.values[v].role !== 'temp';

  // dead ops: only the op's own commands name its output, and they write nothing else (backwards: chains die too)
  let deadOps = 0;
  for (let o = trace.ops.length - 1; o >= 0; o--) {
    const op = trace.ops[o];
    if (op.region >= 0 || op.first === op.end || kept(op.output)) continue;
    const own = cmds.slice(op.first, op.end);
    if (touches[op.output] !== own.filter((tc) => tc.values.includes(op.output)).length) continue;
    if (!own.every((tc) => writes(tc).every((v) => v === op.output))) continue;
    for (let i = op.first; i < op.end; i++) {
      keep[i] = false;
      new Set(cmds[i].values).forEach((v) => touches[v]--);
    }
    deadOps++;
  }

  const groups = new Map<number, Group>(); // by output value: groups not yet absorbed
  const windows = new Map<number, number>(); // by output value: view ops (one gather each) a consumer may read in place
  const maxInputs = device.limits.maxStorageBuffersPerShaderStage - 1;
  if (opts.fuse) {
    trace.ops.forEach((op, o) => {
      const pos = op.first;
      if (op.def.view && op.region < 0 && op.end - op.first === 1 && keep[pos] && !kept(op.output)) windows.set(op.output, o);
      if (!op.def.pointwise || op.region >= 0 || op.end - op.first !== 1 || !keep[pos]) return;
      if (trace.values[op.output].role !== 'temp' && trace.values[op.output].role !== 'output') return;
      const shape = op.shape;
      const g: Group = { ops: [], positions: [], spec: { shape, inputs: [], offsets: [], steps: [], label: '' }, inputValues: [], windows: new Set(), output: op.output };
      const inputIndex = new Map<string, number>();
      /** Input v read with `strides` over the group's shape from `offset` (a window), or broadcast from `useShape`. */
      const external = (v: number, useShape: readonly number[], window?: { strides: readonly number[]; offset: number }): FusedArg => ({
        input: addInput(g, inputIndex, v, window ? [...window.strides] : inputStrides(useShape, shape), window?.offset ?? 0, !!window),
      });
      const args: FusedArg[] = op.inputs.map((v, i) => {
        const src = groups.get(v);
        const use = op.inputShapes[i];
        const w = windows.get(v);
        if (!src && w !== undefined && touches[v] === 2) {
          // a view's copy read only here: read its input in place (unless written between the copy and here)
          const view = trace.ops[w], from = trace.values[view.inputs[0]];
          if (!writtenBetween(cmds, keep, view.first, pos, [from.id])) {
            const win = view.def.view!(view.inputShapes[0], view.attrs);
            if (!g.ops.includes(w)) {
              g.ops.push(w);
              g.positions.push(view.first);
            }
            return external(from.id, use, { strides: broadcastStrides(use, shape, win.strides), offset: win.offset });
          }
        }
        // the intermediate must be named by its producer and this op only
        if (!src || touches[v] !== 2 || kept(v)) return external(v, use);
        // a group reading windows is absorbed only where it is read as made: its strides are not broadcasts
        if (src.windows.size && !sameShape(src.spec.shape, shape)) return external(v, use);
        // read as made, or through a reshape (a view) when the group reads nothing broadcast: element i is element i
        if (!sameShape(use, src.spec.shape) && (shapeSize(use) !== shapeSize(src.spec.shape) || src.spec.inputs.some((x) => x !== null))) return external(v, use);
        if (!sameShape(broadcastShapes('fuse', use, shape), shape)) return external(v, use);
        // nothing between the group and this op may write what the group reads
        if (writtenBetween(cmds, keep, Math.min(...src.positions), pos, src.inputValues)) return external(v, use);
        const grown = new Set([...g.inputValues, ...src.inputValues]).size;
        if (grown > maxInputs) return external(v, use);
        // absorb: its steps, reading our inputs
        const offset = g.spec.steps.length;
        const remap = src.spec.steps.map((s) => ({
          fn: s.fn,
          args: s.args.map((a): FusedArg => {
            if ('step' in a) return { step: a.step + offset };
            const x = src.inputValues[a.input];
            if (src.windows.has(a.input)) return external(x, use, { strides: src.spec.inputs[a.input]!, offset: src.spec.offsets?.[a.input] ?? 0 });
            return external(x, stridesShape(src.spec.inputs[a.input], src.spec.shape, use));
          }),
        }));
        (g.spec.steps as { fn: FusedKernelSpec['steps'][number]['fn']; args: FusedArg[] }[]).push(...remap);
        g.ops.push(...src.ops);
        g.positions.push(...src.positions);
        groups.delete(v);
        return { step: g.spec.steps.length - 1 };
      });
      (g.spec.steps as { fn: FusedKernelSpec['steps'][number]['fn']; args: FusedArg[] }[]).push({ fn: op.def.pointwise(op.attrs, op.inputs.length), args });
      g.ops.push(o);
      g.positions.push(pos);
      if (g.inputValues.length > maxInputs) return; // too many buffers to bind: keep the op as it is
      groups.set(op.output, g);
    });
  }

  if (opts.fuse) absorbRereadGroups(trace, cmds, keep, touches, groups, maxInputs);

  // a group only a reduction reads runs in its loads; a group that reads a matmul's result runs in the matmul's store;
  // other groups of ≥ 2 ops become fused kernels
  const placedAt = new Map<number, { tc: TracedCommand; ops: string[] }>();
  let fusedOps = 0;
  if (opts.fuse) {
    for (const r of fuseIntoReductions(trace, cmds, keep, touches, groups, maxInputs)) {
      placedAt.set(r.at, { tc: r.command, ops: r.ops });
      fusedOps += r.ops.length;
    }
  }
  const inMatmul = new Set<Group>();
  if (opts.fuse) {
    for (const e of fuseEpilogues(device, trace, keep, touches, [...groups.values()], opts.epilogues ?? 'auto')) {
      inMatmul.add(e.group);
      keep[e.matmul] = false;
      for (const p of e.group.positions) keep[p] = false;
      placedAt.set(e.at, { tc: e.command, ops: ['matmul', ...e.group.ops.map((o) => opLabel(trace.ops[o]))] });
      fusedOps += e.group.ops.length + 1;
    }
  }
  if (opts.fuse) for (const op of trace.ops) if (op.name === 'cat') writeIntoCat(trace, op, cmds, keep, touches, groups, inMatmul);
  for (const g of groups.values()) {
    if ((g.ops.length < 2 && !g.spec.output) || inMatmul.has(g)) continue;
    for (const p of g.positions) keep[p] = false;
    const names = [...g.ops.map((o) => opLabel(trace.ops[o])), ...(g.spec.output ? ['(into cat)'] : [])];
    const spec: FusedKernelSpec = { ...g.spec, label: names.join(' → ') };
    const buffers = [...g.inputValues, g.output].map((v) => trace.values[v].buffer);
    const tc: TracedCommand = { c: { kind: 'dispatch', kernel: fusedKernel(spec), buffers, words: fusedWords(spec), workgroups: [...fusedWorkgroups(device, spec), 1] }, values: [...g.inputValues, g.output], op: g.ops[g.ops.length - 1], region: -1 };
    placedAt.set(g.positions[g.positions.length - 1], { tc, ops: names });
    fusedOps += g.ops.length;
  }
  // the commands in order: each fused kernel at its place, the dispatches it replaces gone
  const commands: TracedCommand[] = [];
  const fusedGroups: FusedGroup[] = [];
  const index = cmds.map(() => -1);
  cmds.forEach((tc, i) => {
    const f = placedAt.get(i);
    if (f || keep[i]) index[i] = commands.length;
    if (f) {
      fusedGroups.push({ command: commands.length, ops: f.ops });
      commands.push(f.tc);
    } else if (keep[i]) commands.push(tc);
  });
  return { commands, index, groups: fusedGroups, fusedOps, deadOps };
}

/**
 * A group whose result only other groups read runs inside each of them: its steps are evaluated there (once per way
 * a reader reads it), and its result never reaches memory. The chain pass moves a group only into its single reading
 * op; this one takes what that rule cannot see: one group reading the result in several places (c in c·f + φ and in
 * where(…, c, …); σ² + σ_d² in both c_skip and c_out), and a cheap coefficient read by the forward and the backward
 * kernels alike. Only producers that read every input as made (no broadcast, no window) move, so each input is read
 * with the strides the reader read the result with; at most MAX_COPIES readers take a copy.
 */
function absorbRereadGroups(trace: Trace, cmds: readonly TracedCommand[], keep: readonly boolean[], touches: number[], groups: Map<number, Group>, maxInputs: number): void {
  const MAX_COPIES = 3;
  const owner = new Map<number, Group>(); // command position -> the group it belongs to
  for (const g of groups.values()) for (const p of g.positions) owner.set(p, g);
  const named = new Map<number, number[]>(); // value -> the kept commands that name it
  cmds.forEach((tc, i) => {
    if (keep[i]) for (const x of new Set(tc.values)) (named.get(x) ?? named.set(x, []).get(x)!).push(i);
  });
  for (const [v, P] of [...groups]) {
    if (trace.values[v].role !== 'temp' || P.windows.size || P.spec.inputs.some((x) => x !== null)) continue;
    const own = new Set(P.positions);
    const readers = (named.get(v) ?? []).filter((i) => !own.has(i));
    const owners = new Set(readers.map((i) => owner.get(i)));
    if (!readers.length || owners.has(undefined) || owners.has(P) || owners.size > MAX_COPIES) continue;
    const readersOf = [...owners] as Group[];
    if (!readersOf.every((G) => canRunInside(P, v, G, cmds, keep, maxInputs))) continue;
    for (const G of readersOf) runInside(P, v, G);
    // each copy beyond the first is one more kernel reading P's inputs (a matmul epilogue then keeps its C)
    for (const x of new Set(P.inputValues)) touches[x] += readersOf.length - 1;
    for (const p of P.positions) owner.set(p, readersOf[readersOf.length - 1]);
    groups.delete(v);
  }
}

/** Whether group P (output v) can be evaluated inside G, which reads v: see absorbRereadGroups. */
function canRunInside(P: Group, v: number, G: Group, cmds: readonly TracedCommand[], keep: readonly boolean[], maxInputs: number): boolean {
  const reads = G.inputValues.flatMap((x, k) => (x === v ? [k] : []));
  if (!reads.length || reads.some((k) => G.windows.has(k))) return false;
  // read as made (P's size) or broadcast from P's shape (zero strides)
  if (reads.some((k) => G.spec.inputs[k] === null && shapeSize(G.spec.shape) !== shapeSize(P.spec.shape))) return false;
  if (writtenBetween(cmds, keep, Math.min(...P.positions), Math.max(...G.positions), P.inputValues)) return false;
  return new Set([...G.inputValues.filter((x) => x !== v), ...P.inputValues]).size <= maxInputs;
}

/** Rewrites G to compute P's result (v) itself: P's steps first, reading P's inputs with the strides G read v with. */
function runInside(P: Group, v: number, G: Group): void {
  // the new input table: G's other inputs, then P's as each read of v needs them
  const table: Group = { ...G, spec: { ...G.spec, inputs: [], offsets: [] }, inputValues: [], windows: new Set() };
  const index = new Map<string, number>();
  const input = (x: number, strides: readonly number[] | null, offset: number, window: boolean) => addInput(table, index, x, strides, offset, window);
  const kept = G.inputValues.map((x, k) => (x === v ? -1 : input(x, G.spec.inputs[k], G.spec.offsets?.[k] ?? 0, G.windows.has(k))));
  const steps: { fn: FusedKernelSpec['steps'][number]['fn']; args: FusedArg[] }[] = [];
  const resultOf = new Map<number, number>(); // G's input k (a read of v) -> the step that now computes it
  G.inputValues.forEach((x, k) => {
    if (x !== v) return;
    const base = steps.length;
    for (const st of P.spec.steps) steps.push({ fn: st.fn, args: st.args.map((a): FusedArg => ('step' in a ? { step: a.step + base } : { input: input(P.inputValues[a.input], G.spec.inputs[k], 0, false) })) });
    resultOf.set(k, steps.length - 1);
  });
  const shift = steps.length;
  for (const st of G.spec.steps) steps.push({ fn: st.fn, args: st.args.map((a): FusedArg => ('step' in a ? { step: a.step + shift } : resultOf.has(a.input) ? { step: resultOf.get(a.input)! } : { input: kept[a.input] })) });
  G.spec = { ...table.spec, steps };
  G.inputValues = table.inputValues;
  G.windows = table.windows;
  G.ops = [...P.ops, ...G.ops];
  G.positions = [...P.positions, ...G.positions];
}

/**
 * A group whose result only a reduction reads is evaluated in the reduction's loads (kernels/reduce's prologue), so
 * its result never reaches memory: a loss's |a − b| or square before its mean, a gradient's square before its norm.
 * Only groups that read every input as made move (a reduction reads all its inputs at one offset), and only into
 * reductions outside the optimisers' dynamic regions. Returns each rewritten reduction with the ops now inside it.
 */
function fuseIntoReductions(trace: Trace, cmds: readonly TracedCommand[], keep: boolean[], touches: readonly number[], groups: Map<number, Group>, maxInputs: number): { at: number; command: TracedCommand; ops: string[] }[] {
  const rewritten: { at: number; command: TracedCommand; ops: string[] }[] = [];
  cmds.forEach((tc, i) => {
    if (!keep[i] || tc.c.kind !== 'dispatch' || tc.region >= 0) return;
    const kernel = tc.c.kernel;
    const prologue = reducePrologueOf(kernel);
    if (!prologue) return;
    const n = prologue.inputs.length;
    const out = tc.values[n];
    // the reduction's loads as a group (its shape: any input's, as every input has the reduced array's): the identity
    // reads its one input as a step, so readers can be rewritten
    const steps = prologue.steps.length ? prologue.steps : [{ fn: { args: ['x'], expr: 'x' }, args: [{ input: 0 }] }];
    const R: Group = { ops: [], positions: [i], spec: { shape: [], inputs: [...prologue.inputs], offsets: prologue.inputs.map(() => 0), steps, label: '' }, inputValues: tc.values.slice(0, n), windows: new Set(), output: out };
    let absorbed = false;
    for (const v of new Set(R.inputValues)) {
      const G = groups.get(v);
      if (!G || touches[v] !== 2 || trace.values[v].role !== 'temp' || G.windows.size || G.spec.output) continue;
      if (G.spec.inputs.some((x) => x !== null)) continue;
      R.spec = { ...R.spec, shape: G.spec.shape };
      if (!canRunInside(G, v, R, cmds, keep, maxInputs)) continue;
      runInside(G, v, R);
      for (const p of G.positions) keep[p] = false;
      groups.delete(v);
      absorbed = true;
    }
    if (!absorbed) return;
    const ops = R.ops.map((o) => opLabel(trace.ops[o]));
    const through = { inputs: R.spec.inputs, steps: R.spec.steps, label: ops.join(' → ') };
    const values = [...R.inputValues, out];
    keep[i] = false;
    const c = { ...tc.c, kernel: withPrologue(kernel, through)!, buffers: values.map((x) => trace.values[x].buffer), words: prologueWords(tc.c.words!, through) };
    rewritten.push({ at: i, command: { c, values, op: tc.op, region: -1 }, ops: [...ops, opLabel(trace.ops[tc.op])] });
  });
  return rewritten;
}

/**
 * A group whose result only a cat copies writes it into its slice of the cat's output instead, and the copy (a scatter
 * dispatch) goes: the cat output then starts life at the group's kernel, before the cat.
 */
function writeIntoCat(trace: Trace, op: TracedOp, cmds: readonly TracedCommand[], keep: boolean[], touches: readonly number[], groups: Map<number, Group>, taken: Set<Group>): void {
  const dim = (op.attrs as { dim: number }).dim;
  const strides = stridesOf(op.shape);
  let at = 0;
  op.inputs.forEach((v, i) => {
    const offset = at * strides[dim];
    at += op.inputShapes[i][dim];
    const g = groups.get(v);
    if (!g || taken.has(g) || op.region >= 0 || touches[v] !== 2 || trace.values[v].role !== 'temp' || !sameShape(g.spec.shape, op.inputShapes[i])) return;
    const copy = cmds.findIndex((tc, p) => p >= op.first && p < op.end && keep[p] && tc.values[0] === v && tc.values[1] === op.output);
    if (copy < 0 || g.positions.some((p) => p > copy)) return;
    keep[copy] = false;
    g.spec = { ...g.spec, output: { strides, offset } };
    g.output = op.output;
  });
}

/**
 * An absorbed group read its input with `strides` over its own shape; this returns the shape to read that input as
 * (its use inside the group, which has the absorbing op's input shape `use` = the group's shape).
 */
function stridesShape(strides: readonly number[] | null, groupShape: readonly number[], use: readonly number[]): readonly number[] {
  if (strides === null) return use;
  // the input was broadcast to the group's shape with these strides: its own shape has 1 where the stride is 0
  return groupShape.map((n, d) => (strides[d] === 0 ? 1 : n));
}
