// engine/autograd.ts: reverse-mode backward over the recorded graph. The tape, not the ops, sums a gradient back to
// its input's shape (broadcasting) and adds up the gradients of a tensor used twice.
import { GradError, ShapeError, fmtShape, internal } from './errors';
import { Tensor, keep, noGrad, releaseNode, tidy, type GraphNode } from './tensor';

/** Hooks set by engine/ops.ts (autograd needs a few ops; ops need record()). */
export const autogradOps = {
  sumTo: null as unknown as (g: Tensor, shape: readonly number[]) => Tensor,
  add: null as unknown as (a: Tensor, b: Tensor) => Tensor,
  ones: null as unknown as (shape: readonly number[]) => Tensor,
};

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
    const visited: GraphNode[] = [];
    for (const t of order) {
      const g = grads.get(t);
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
      const gs = tidy(() => node.backward(g)); // a rule's temporaries die here
      if (gs.length !== node.inputs.length) throw internal(`${node.op} backward returned ${gs.length} grads for ${node.inputs.length} inputs`);
      node.inputs.forEach((x, i) => {
        const gi = gs[i];
        if (!gi) return;
        if (!node.need[i]) {
          if (gi !== g) gi.dispose();
          return;
        }
        const owned = gi === g ? g.viewAs(g.shape) : gi;
        const shaped = owned.shape.join(',') === x.shape.join(',') ? owned : autogradOps.sumTo(owned, x.shape);
        if (shaped !== owned) owned.dispose();
        accumulate(x, shaped);
      });
      g.dispose();
    }
    for (const g of grads.values()) g.dispose();
    if (!opts.retainGraph) for (const node of visited) releaseNode(node);
  });
}
