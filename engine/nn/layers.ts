// engine/nn/layers.ts: the basic layers; parameter names, shapes and default inits match torch.nn.
import { ValueError } from '../errors';
import * as ops from '../ops';
import { noGrad } from '../autograd';
import { Tensor, tidy } from '../tensor';
import { Module } from './module';

/** U(−bound, bound) from the global RNG (torch's kaiming_uniform(a=√5) gives bound = 1/√fanIn for Linear/Conv). */
export function uniformInit(shape: readonly number[], bound: number): Tensor {
  return noGrad(() => tidy(() => ops.mul(ops.sub(ops.mul(ops.rand(shape), 2), 1), bound)));
}

/** Sets every parameter of a module to zero (EDM zero-initialises the last layer of each residual branch). */
export function zeroInit(m: Module): void {
  noGrad(() => {
    for (const p of m.parameters()) tidy(() => ops.assign(p, ops.zeros(p.shape)));
  });
}

/** y = x·Wᵀ + b, W [out, in]. */
export class Linear extends Module {
  weight: Tensor;
  bias: Tensor | null;
  constructor(readonly inFeatures: number, readonly outFeatures: number, bias = true) {
    super();
    for (const [n, v] of [['inFeatures', inFeatures], ['outFeatures', outFeatures]] as const) {
      if (!Number.isInteger(v) || v <= 0) throw new ValueError(`Linear: ${n} must be a positive integer, got ${v}`);
    }
    const bound = 1 / Math.sqrt(inFeatures);
    this.weight = this.param(uniformInit([outFeatures, inFeatures], bound));
    this.bias = bias ? this.param(uniformInit([outFeatures], bound)) : null;
  }
  forward(x: Tensor): Tensor {
    return ops.linear(x, this.weight, this.bias ?? undefined);
  }
}

export class LayerNorm extends Module {
  weight: Tensor | null;
  bias: Tensor | null;
  readonly normalizedShape: number[];
  constructor(normalizedShape: number | readonly number[], readonly opts: { eps?: number; elementwiseAffine?: boolean } = {}) {
    super();
    this.normalizedShape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    const affine = opts.elementwiseAffine ?? true;
    this.weight = affine ? this.param(ops.ones(this.normalizedShape)) : null;
    this.bias = affine ? this.param(ops.zeros(this.normalizedShape)) : null;
  }
  forward(x: Tensor): Tensor {
    return ops.layerNorm(x, this.normalizedShape, this.weight ?? undefined, this.bias ?? undefined, this.opts.eps ?? 1e-5);
  }
}

export class SiLU extends Module {
  forward(x: Tensor): Tensor {
    return ops.silu(x);
  }
}
export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return ops.relu(x);
  }
}
export class GELU extends Module {
  forward(x: Tensor): Tensor {
    return ops.gelu(x);
  }
}
export class Tanh extends Module {
  forward(x: Tensor): Tensor {
    return ops.tanh(x);
  }
}
export class Sigmoid extends Module {
  forward(x: Tensor): Tensor {
    return ops.sigmoid(x);
  }
}
export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

/** Zeroes elements with probability p in training mode (scaling the rest by 1/(1−p)); identity in eval mode. */
export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
    if (!(p >= 0 && p < 1)) throw new ValueError(`Dropout: p must be in [0, 1), got ${p}`);
  }
  forward(x: Tensor): Tensor {
    return ops.dropout(x, this.p, this.training);
  }
}

/** Children applied in order; state-dict keys `0.weight`, `1.bias`, … as in torch.nn.Sequential. */
export class Sequential extends Module {
  readonly layers: Module[];
  constructor(...layers: Module[]) {
    super();
    this.layers = layers;
  }
  override namedChildren(): [string, Module][] {
    return this.layers.map((m, i) => [String(i), m]);
  }
  forward(x: Tensor): Tensor {
    return this.layers.reduce((h, m) => (m as unknown as { forward(t: Tensor): Tensor }).forward(h), x);
  }
  get length(): number {
    return this.layers.length;
  }
  at(i: number): Module {
    return this.layers[i];
  }
}

/** A list of modules whose parameters are registered (`0.weight`, …); call them yourself. */
export class ModuleList<M extends Module = Module> extends Module {
  readonly items: M[];
  constructor(items: M[] = []) {
    super();
    this.items = items;
  }
  override namedChildren(): [string, Module][] {
    return this.items.map((m, i) => [String(i), m]);
  }
  push(m: M): void {
    this.items.push(m);
  }
  get length(): number {
    return this.items.length;
  }
  at(i: number): M {
    return this.items[i];
  }
  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }
  forward(): never {
    throw new ValueError('ModuleList has no forward(): iterate over it and call each module');
  }
}

/** A lookup table: rows of `weight` [num, dim] for integer indices (N(0, 1) init, like torch). */
export class Embedding extends Module {
  weight: Tensor;
  constructor(readonly numEmbeddings: number, readonly embeddingDim: number) {
    super();
    this.weight = this.param(ops.randn([numEmbeddings, embeddingDim]));
  }
  /** indices: integers in [0, num) as an array or a tensor of any shape; output [...shape, dim]. */
  forward(indices: Tensor | readonly number[] | Int32Array): Tensor {
    return tidy(() => {
      const idx = indices instanceof Tensor ? indices : ops.tensor(Float32Array.from(indices), [indices.length]);
      if (!(indices instanceof Tensor)) {
        const bad = Array.from(indices).find((i) => !Number.isInteger(i) || i < 0 || i >= this.numEmbeddings);
        if (bad !== undefined) throw new ValueError(`Embedding: index ${bad} is out of range 0..${this.numEmbeddings - 1}`);
      }
      // one-hot × table: the gradient to the table is a plain matmul (a scatter-add without atomics)
      const flat = ops.reshape(idx, [-1]);
      const rows = ops.matmul(ops.oneHot(flat, this.numEmbeddings), this.weight);
      return ops.reshape(rows, [...idx.shape, this.embeddingDim]);
    });
  }
}

