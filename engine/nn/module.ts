// engine/nn/module.ts: Module, the base of every layer; parameter discovery, train/eval, and state dicts whose keys
// match PyTorch's (`layers.0.weight`), so weights move between the two through safetensors.
import { StateDictError, fmtShape } from '../errors';
import { assign } from '../ops';
import { noGrad } from '../autograd';
import { Tensor, keep } from '../tensor';

const PARAMS = new WeakSet<Tensor>();

export interface LoadResult {
  missing: string[];
  unexpected: string[];
  mismatched: { key: string; expected: number[]; got: number[] }[];
}

export abstract class Module {
  training = true;
  private readonly bufferNames = new Set<string>();

  /** Registers a trainable tensor (kept out of tidy scopes; requiresGrad on). */
  protected param(t: Tensor): Tensor {
    keep(t);
    t.requiresGrad = true;
    PARAMS.add(t);
    return t;
  }

  /** Registers a non-trainable tensor that belongs in the state dict (running statistics, fixed tables). */
  protected registerBuffer(name: string, t: Tensor): Tensor {
    keep(t);
    this.bufferNames.add(name);
    (this as unknown as Record<string, Tensor>)[name] = t;
    return t;
  }

  abstract forward(...args: never[]): unknown;

  /** Direct sub-modules with their names (properties, and arrays of modules as `name.i`). */
  namedChildren(): [string, Module][] {
    const out: [string, Module][] = [];
    for (const [k, v] of Object.entries(this)) {
      if (v instanceof Module) out.push([k, v]);
      else if (Array.isArray(v)) v.forEach((m, i) => m instanceof Module && out.push([`${k}.${i}`, m]));
    }
    return out;
  }
  children(): Module[] {
    return this.namedChildren().map(([, m]) => m);
  }

  private namedOwn(kind: 'param' | 'buffer'): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [k, v] of Object.entries(this)) {
      if (!(v instanceof Tensor)) continue;
      if (kind === 'param' ? PARAMS.has(v) : this.bufferNames.has(k)) out.push([k, v]);
    }
    return out;
  }

  private walk(kind: 'param' | 'buffer', prefix = ''): [string, Tensor][] {
    const out = this.namedOwn(kind).map(([k, t]): [string, Tensor] => [prefix + k, t]);
    for (const [name, child] of this.namedChildren()) out.push(...child.walk(kind, `${prefix}${name}.`));
    return out;
  }

  namedParameters(): [string, Tensor][] {
    return this.walk('param');
  }
  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }
  namedBuffers(): [string, Tensor][] {
    return this.walk('buffer');
  }
  /** Total number of parameter elements. */
  numParameters(): number {
    return this.parameters().reduce((n, p) => n + p.size, 0);
  }

  train(mode = true): this {
    this.training = mode;
    for (const c of this.children()) c.train(mode);
    return this;
  }
  eval(): this {
    return this.train(false);
  }

  /** Freezes (false) or unfreezes every parameter. */
  requiresGrad_(flag = true): this {
    for (const p of this.parameters()) p.requiresGrad = flag;
    return this;
  }

  zeroGrad(): void {
    for (const p of this.parameters()) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** Parameters and buffers by their dotted names (the tensors themselves, not copies). */
  stateDict(): Record<string, Tensor> {
    return Object.fromEntries([...this.namedParameters(), ...this.namedBuffers()]);
  }

  /**
   * Copies values from `state` into this module's tensors. Strict (default): throws a StateDictError listing missing,
   * unexpected and mis-shaped keys, and copies nothing. Non-strict: copies what matches and returns the rest.
   */
  loadStateDict(state: Record<string, Tensor>, opts: { strict?: boolean } = {}): LoadResult {
    const own = this.stateDict();
    const result: LoadResult = { missing: [], unexpected: [], mismatched: [] };
    for (const k of Object.keys(own)) if (!(k in state)) result.missing.push(k);
    for (const k of Object.keys(state)) if (!(k in own)) result.unexpected.push(k);
    for (const [k, t] of Object.entries(own)) {
      const s = state[k];
      if (s && s.shape.join(',') !== t.shape.join(',')) result.mismatched.push({ key: k, expected: [...t.shape], got: [...s.shape] });
    }
    const bad = result.missing.length + result.unexpected.length + result.mismatched.length;
    if (bad && opts.strict !== false) {
      const parts = [
        result.missing.length ? `missing keys: ${result.missing.join(', ')}` : '',
        result.unexpected.length ? `unexpected keys: ${result.unexpected.join(', ')}` : '',
        result.mismatched.length ? `shape mismatches: ${result.mismatched.map((m) => `${m.key} expected ${fmtShape(m.expected)} got ${fmtShape(m.got)}`).join(', ')}` : '',
      ].filter(Boolean);
      throw new StateDictError(
        `loadStateDict(${this.constructor.name}): ${parts.join('; ')}. Check that the checkpoint was saved from the same model config, or pass {strict: false} to load what matches.`,
        result.missing, result.unexpected, result.mismatched,
      );
    }
    noGrad(() => {
      for (const [k, t] of Object.entries(own)) {
        const s = state[k];
        if (s && !result.mismatched.some((m) => m.key === k)) assign(t, s);
      }
    });
    return result;
  }

  /** Frees every parameter and buffer. */
  dispose(): void {
    for (const t of Object.values(this.stateDict())) t.dispose();
  }
}
