// engine/ops/op.ts: what an op is, and the one place ops run. Every op is an OpDef in the table (engine/ops/table.ts):
// its inputs, its shape rule, the kernel family that runs it, its forward (kernels on DeviceArrays) and its backward
// (written with ops, told which input gradients are needed). `apply` runs the forward, wraps the outputs as tensors,
// and records the node on the tape: no op can forget to record, and a missing backward is a type error.
import { DeviceArray, type DType } from '../../runtime';
import type { Pointwise } from '../../kernels/elementwise/fused.wgsl';
import { fmtShape, internal } from '../../runtime/errors';
import { isGradEnabled, record, type Grads } from '../autograd';
import { Tensor } from '../tensor';

/** The kernels/<family>/ folder that runs an op (bench rows and tests use the same names). */
export type Family =
  | 'elementwise' | 'reduce' | 'layout' | 'matmul' | 'conv' | 'norm' | 'attention' | 'pool' | 'random' | 'cast' | 'view';

/** A forward's result: the output, plus tensors saved for the backward only (norm statistics, log-sum-exp). */
export interface Outputs {
  out: DeviceArray;
  saved: DeviceArray[];
}

/** What a backward rule sees. */
export interface BackwardContext<A> {
  inputs: Tensor[];
  out: Tensor;
  saved: Tensor[];
  attrs: A;
  /** need[i]: whether input i's gradient is wanted; return null where it is not (autograd checks). */
  need: boolean[];
}

export interface OpDef<A = void> {
  /** The tensor inputs' names, in order: `bias?` may be absent (only at the end), `xs...` is a list (cat). */
  inputs: readonly string[];
  family: Family;
  /** The output's shape from the inputs' shapes and the attributes (apply checks the forward against it). */
  shape: (inputs: readonly (readonly number[])[], attrs: A) => readonly number[];
  /** The output's dtype; f32 when absent. */
  dtype?: (inputs: readonly DType[], attrs: A) => DType;
  /** Runs the kernels. Inputs are validated by the op's public function before it calls apply. */
  forward: (inputs: DeviceArray[], attrs: A) => DeviceArray | Outputs;
  /** The vector-Jacobian product, or null for ops with no gradient (comparisons, random draws, creation). */
  backward: ((g: Tensor, c: BackwardContext<A>) => Grads) | null;
  /** Elementwise ops: each output element as a WGSL function of the inputs' elements (compiled steps fuse chains of these). */
  pointwise?: (attrs: A, inputs: number) => Pointwise;
  /**
   * Ops whose output is a strided window of their (contiguous) input, copied: out[c] = x[offset + Σ c_d·strides_d]
   * (slice, expand, permute). Compiled steps let an elementwise consumer read the window in place instead.
   */
  view?: (inputShape: readonly number[], attrs: A) => { strides: number[]; offset: number };
  /**
   * Ops whose input gradient is the output gradient placed at `starts` of the input's shape, zeros elsewhere (a slice
   * with unit steps), or null for attributes where it is not. The tape joins such pieces of one tensor with a cat
   * when they tile it (engine/autograd.ts) instead of adding zero-padded copies.
   */
  gradWindow?: (attrs: A) => readonly number[] | null;
}

/** Observes every op applied (the compiler's tracer); null when nothing traces. */
export interface OpObserver {
  /** Before the forward runs (what it dispatches belongs to this op). */
  begin?(name: string): void;
  applied(name: string, def: OpDef<any>, inputs: readonly Tensor[], attrs: unknown, out: Tensor, saved: readonly Tensor[]): void;
}
let observer: OpObserver | null = null;

/** Installs an observer of every apply (returns the previous one). */
export function observeOps(o: OpObserver | null): OpObserver | null {
  const prev = observer;
  observer = o;
  return prev;
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/** Runs op `name` on `inputs`: forward, wrap, record. Saved tensors live as long as the graph node needs them. */
export function apply<A>(name: string, def: OpDef<A>, inputs: Tensor[], attrs: A): Tensor {
  observer?.begin?.(name);
  const r = def.forward(inputs, attrs);
  const { out, saved } = r instanceof DeviceArray ? { out: r, saved: [] } : r;
  const want = def.shape(inputs.map((t) => t.shape), attrs);
  if (!sameShape(out.shape, want)) throw internal(`${name}: the forward made ${fmtShape(out.shape)} but the shape rule says ${fmtShape(want)}`);
  const t = Tensor.adopt(out);
  const kept = saved.map((s) => Tensor.adopt(s));
  if (def.backward && isGradEnabled()) {
    const backward = def.backward;
    const all = [...inputs, ...kept];
    record(name, t, all, (g, need) => {
      // a rule lists every input its op can take (`bias?`); entries past the ones given must be null
      const gs = backward(g, { inputs, out: t, saved: kept, attrs, need: need.slice(0, inputs.length) });
      if (gs.slice(inputs.length).some(Boolean)) throw internal(`${name} backward returned a gradient for an input it was not given`);
      return [...gs.slice(0, inputs.length), ...kept.map(() => null)];
    }, inputs.length);
    const window = def.gradWindow?.(attrs);
    if (window && t.node) t.node.window = window;
  }
  observer?.applied(name, def, inputs, attrs, t, kept);
  // the graph node (if any) holds the saved tensors until it is released; without one this frees them now
  for (const s of kept) s.dispose();
  return t;
}
