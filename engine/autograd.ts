// engine/autograd.ts: the autograd graph and reverse-mode backward. Ops are recorded in one place (engine/ops/op.ts,
// `apply`), as GraphNodes holding their inputs and a need-aware backward rule. The tape, not the ops, sums a gradient
// back to its input's shape (broadcasting) and adds up the gradients of a tensor used twice.
import { GradError, ShapeError, fmtShape, internal } from '../runtime/errors';
import { Tensor, keep, tidy } from './tensor';

// ---- grad mode ----------------------------------------------------------------------------------------------------

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn with gradient recording off (sampling, EMA updates, evaluation). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Sets grad mode, returns the previous one (for code that cannot use a callback). */
export function setGradEnabled(on: boolean): boolean {
  const prev = gradEnabled;
  gradEnabled = on;
  return prev;
}

// ---- the graph ----------------------------------------------------------------------------------------------------

/** The gradients a node's rule returns, one per input (null: not needed, or not differentiable). */
export type Grads = (Tensor | null)[];

/** One recorded op: how `out` was made, and the rule that maps its gradient back to `inputs`. */
export class GraphNode {
  /** Set once a backward pass without retainGraph has released the saved inputs. */
  freed = false;
  /** Where the output sits in the input when the op is a slice with unit steps (OpDef.gradWindow), else null. */
  window: readonly number[] | null = null;
  constructor(
    readonly op: string,
    public inputs: Tensor[],
    /** Which inputs need a gradient (the rule computes only those). */
    readonly need: boolean[],
    public backward: (g: Tensor) => Grads,
  ) {}

  /** Drops the node's hold on its inputs (after backward, or when its output dies unused). */
  release(): void {
    if (this.freed) return;
    this.freed = true;
    const inputs = this.inputs;
    this.inputs = [];
    this.backward = () => {
      throw internal(`backward through freed node ${this.op}`);
    };
    for (const t of inputs) t.dropGraphRef();
  }
}

/**
 * Attaches a graph node to `out` if grad mode is on and any of the first `differentiable` inputs requires grad (the
 * rest are saved for the backward, never differentiated). Returns whether it did.
 */
export function record(op: string, out: Tensor, inputs: Tensor[], backward: (g: Tensor, need: boolean[]) => Grads, differentiable = inputs.length): boolean {
  if (!gradEnabled) return false;
  const need = inputs.map((t, i) => i < differentiable && t.requiresGrad);
  if (!need.some(Boolean)) return false;
  for (const t of inputs) t.addGraphRef();
  out.node = new GraphNode(op, inputs, need, (g) => backward(g, need));
  out.requiresGrad = true;
  return true;
}

/** Hooks set by engine/ops (autograd needs a few ops; ops need record()). */
export const autogradOps = {
  sumTo: null as unknown as (g: Tensor, shape: readonly number[]) => Tensor,
  add: null as unknown as (a: Tensor, b: Tensor) => Tensor,
  ones: null as unknown as (shape: readonly number[]) => Tensor,
  cat: null as unknown as (xs: readonly Tensor[], dim: number) => Tensor,
};

/** A slice's output gradient, waiting to be placed in its input's gradient. */
interface Piece {
  g: Tensor;
  starts: readonly number[];
  node: GraphNode;
}

/**
 * The dimension along which windows tile `shape` (each spans every other dimension, together they cover this one
 * without gaps or overlaps), sorting them along it; null when they do not.
 */
function tiling(pieces: Piece[], shape: readonly number[]): number | null {
  for (let d = 0; d < shape.length; d++) {
    if (!pieces.every((p) => p.g.shape.every((n, e) => e === d || (p.starts[e] === 0 && n === shape[e])))) continue;
    pieces.sort((a, b) => a.starts[d] - b.starts[d]);
    let at = 0;
    for (const p of pieces) at = p.starts[d] === at ? at + p.g.shape[d] : NaN;
    if (at === shape[d]) return d;
  }
  return null;
}

export interface BackwardOptions {
  /** Keep the graph so backward can run through it again (costs memory until the outputs are disposed). */
  retainGraph?: boolean;
}

/** Nodes reachable from `root`, outputs before inputs (iterative DFS: deep graphs do not overflow the stack). */
function reverseTopo(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    const inputs = t.node?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const x = inputs[i];
      if ((x.node || x.requiresGrad) && !seen.has(x)) {
        seen.add(x);
        stack.push([x, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order.reverse();
}

/** Computes d(root)/d(leaf) for every leaf that requires grad and adds it to leaf.grad. */
export function backward(root: Tensor, gradOut?: Tensor, opts: BackwardOptions = {}): void {
  root.storageOrThrow('backward');
  if (!root.requiresGrad) {
    throw new GradError(`backward: tensor ${fmtShape(root.shape)} does not require grad; create leaves with {requiresGrad: true} (or requiresGrad_()) before the forward pass`);
  }
  if (root.node?.freed) {
    throw new GradError(`backward: the graph of this ${fmtShape(root.shape)} tensor was already freed by an earlier backward(); pass {retainGraph: true} to the first backward to run it twice`);
  }
  if (!gradOut && root.size !== 1) {
    throw new GradError(`backward: tensor ${fmtShape(root.shape)} is not a scalar; pass a gradient of the same shape (t.backward(g)) or reduce it first (t.sum().backward())`);
  }
  if (gradOut && gradOut.shape.join(',') !== root.shape.join(',')) {
    throw new ShapeError(`backward: gradient has shape ${fmtShape(gradOut.shape)} but the tensor has ${fmtShape(root.shape)}`);
  }
  noGrad(() => {
    const order = reverseTopo(root);
    const grads = new Map<Tensor, Tensor>();
    // every gradient in the map is owned here; the caller's gradOut is viewed, never disposed
    grads.set(root, gradOut ? gradOut.viewAs(root.shape) : autogradOps.ones(root.shape));
    const accumulate = (x: Tensor, g: Tensor): void => {
      const prev = grads.get(x);
      if (prev) {
        grads.set(x, autogradOps.add(prev, g));
        prev.dispose();
        g.dispose();
      } else grads.set(x, g);
    };
    // slices' output gradients per input: pieces that tile it become one cat, not zero-padded copies added up
    const pieces = new Map<Tensor, Piece[]>();
    const gradOf = (t: Tensor): Tensor | undefined => {
      const ps = pieces.get(t);
      if (!ps) return grads.get(t);
      pieces.delete(t);
      const d = grads.has(t) ? null : tiling(ps, t.shape);
      if (d !== null) {
        const g = ps.length === 1 ? ps[0].g.viewAs(t.shape) : autogradOps.cat(ps.map((p) => p.g), d);
        for (const p of ps) p.g.dispose();
        return g;
      }
      for (const p of ps) {
        const [placed] = tidy(() => p.node.backward(p.g));
        p.g.dispose();
        accumulate(t, placed!);
      }
      return grads.get(t);
    };
    const visited: GraphNode[] = [];
    for (const t of order) {
      const g = gradOf(t);
      grads.delete(t);
      const node = t.node;
      if (!node) {
        // a leaf: add into .grad (gradient accumulation across backward calls)
        if (g && t.requiresGrad && !t.isDisposed) {
          const prev = t.grad;
          t.grad = keep(prev ? autogradOps.add(prev, g) : g);
          if (prev) {
            prev.dispose();
            g.dispose();
          }
        } else g?.dispose();
        continue;
      }
      if (node.freed) throw new GradError(`backward: part of this graph (${node.op}) was already freed by an earlier backward(); use {retainGraph: true}`);
      visited.push(node);
      if (!g) continue;
      if (node.window && node.need[0]) {
        const x = node.inputs[0];
        if (!pieces.has(x)) pieces.set(x, []);
        pieces.get(x)!.push({ g, starts: node.window, node });
        continue;
      }
      const gs = tidy(() => node.backward(g)); // a rule's temporaries die here
      if (gs.length !== node.inputs.length) throw internal(`${node.op} backward returned ${gs.length} grads for ${node.inputs.length} inputs`);
      node.inputs.forEach((x, i) => {
        const gi = gs[i];
        if (!gi) return;
        if (!node.need[i]) throw internal(`${node.op} backward computed the gradient of input ${i}, which nobody needs`);
        const owned = gi === g ? g.viewAs(g.shape) : gi;
        const shaped = owned.shape.join(',') === x.shape.join(',') ? owned : autogradOps.sumTo(owned, x.shape);
        if (shaped !== owned) owned.dispose();
        accumulate(x, shaped);
      });
      g.dispose();
    }
    for (const g of grads.values()) g.dispose();
    for (const ps of pieces.values()) for (const p of ps) p.g.dispose();
    if (!opts.retainGraph) for (const node of visited) node.release();
  });
}
