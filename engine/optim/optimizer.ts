// engine/optim/optimizer.ts: the Optimizer base class (torch.optim.Optimizer with one parameter group): parameter
// checks, lazily allocated per-parameter state tensors ("slots"), zeroGrad, and state()/restore() for checkpoints.
import { DisposedError, ShapeError, ValueError, fmtShape } from '../errors';
import { dynamic } from '../compile/trace';
import { Tensor, keep } from '../tensor';
import { zeros } from '../ops';

/**
 * What a checkpoint saves of an optimizer and `restore()` loads back:
 * ```
 * {
 *   step: 12,                       // step() calls so far
 *   lr: 0.001,                      // the current learning rate (a scheduler may have changed it)
 *   paramSteps: [12, 12, 0],        // per parameter, in `params` order: updates applied to it (torch's state[p].step;
 *                                   // 0 = never had a gradient, its slots are zeros and unused)
 *   slots: {                        // per slot name, one tensor per parameter, same order and shape as `params`
 *     exp_avg: [m0, m1, m2],        //   Adam/AdamW: exp_avg, exp_avg_sq; SGD with momentum: momentum_buffer;
 *     exp_avg_sq: [v0, v1, v2],     //   SGD without momentum: none
 *   },
 * }
 * ```
 * The slot tensors are the optimizer's own (not copies): save them (await their data) before the next step() and
 * never dispose them. Keys use torch's state names, so `slots.exp_avg[i]` is torch's `state[p_i]['exp_avg']`.
 */
export interface OptimizerState {
  step: number;
  lr: number;
  paramSteps: number[];
  slots: Record<string, Tensor[]>;
}

/** Fields every optimizer's options share. */
export interface OptimizerDefaults {
  lr: number;
}

/** One parameter's share of a step: what `update` gets, as a record (for multi-tensor updates). */
export interface StepItem {
  index: number;
  param: Tensor;
  grad: Tensor;
  /** 1-based updates of this parameter, this one included. */
  step: number;
}

let foreachDefault = true;

/**
 * The default of `foreach` for every optimizer, EMA and clipGradNorm that is not given one: true (the default) updates
 * all tensors of a step in a few multi-tensor dispatches (kernels/optim/dispatch.ts); false goes back to one dispatch per
 * tensor, like torch's `foreach=False` (for comparison and debugging: the updates are bit-identical; clipGradNorm's
 * norm is summed in another order, so it may differ in the last bits).
 */
export function setForeach(on: boolean): void {
  if (typeof on !== 'boolean') throw new ValueError(`setForeach: expected true or false, got ${String(on)}`);
  foreachDefault = on;
}

/** The current `foreach` default (see setForeach). */
export function foreachEnabled(): boolean {
  return foreachDefault;
}

/** Checks an optional `foreach` option. */
export function checkForeach(op: string, v: unknown): boolean | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'boolean') throw new ValueError(`${op}: foreach must be true, false or undefined, got ${String(v)}`);
  return v;
}

/** Checks a list of parameters: live leaf tensors, no duplicates. Shared by optimizers and EMA. */
export function checkParams(op: string, params: Iterable<Tensor>): Tensor[] {
  const list = [...params];
  if (list.length === 0) throw new ValueError(`${op}: got an empty parameter list; pass model.parameters() (or a non-empty array of tensors)`);
  const seen = new Set<Tensor>();
  list.forEach((p, i) => {
    if (!(p instanceof Tensor)) throw new ValueError(`${op}: parameter ${i} is not a Tensor (got ${typeof p})`);
    p.storageOrThrow(op);
    if (p.node) throw new ValueError(`${op}: parameter ${i} ${fmtShape(p.shape)} is not a leaf (it was produced by ${p.node.op}); optimise leaf tensors, e.g. x.detach().requiresGrad_()`);
    if (seen.has(p)) throw new ValueError(`${op}: parameter ${i} ${fmtShape(p.shape)} appears more than once in the parameter list`);
    seen.add(p);
  });
  return list;
}

/** Requires a finite number ≥ min (and < maxExclusive when given); the message names the optimizer and the option. */
export function checkNumber(op: string, name: string, v: number, min = 0, maxExclusive = Infinity): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v >= maxExclusive) {
    const range = maxExclusive === Infinity ? `≥ ${min}` : `in [${min}, ${maxExclusive})`;
    throw new ValueError(`${op}: ${name} must be a finite number ${range}, got ${v}`);
  }
}

/** `{...defaults, ...opts}` where an option given as undefined keeps its default. */
export function withDefaults<T extends object>(defaults: T, opts: object): T {
  const out = { ...defaults } as Record<string, unknown>;
  for (const [k, v] of Object.entries(opts)) if (v !== undefined) out[k] = v;
  return out as T;
}

/** Copies src's values into dst in place (same size), ordered with every recorded dispatch. */
export function copyValues(op: string, dst: Tensor, src: Tensor): void {
  if (dst === src) return;
  if (dst.size !== src.size) throw new ShapeError(`${op}: cannot copy ${fmtShape(src.shape)} into ${fmtShape(dst.shape)}; sizes differ`);
  if (dst.device !== src.device) throw new ValueError(`${op}: tensor ${fmtShape(src.shape)} lives on another device (from before a re-init?)`);
  dst.device.copy(src.storageOrThrow(op).buffer, 0, dst.storageOrThrow(op).buffer, 0, dst.size * 4);
}

export abstract class Optimizer<D extends OptimizerDefaults = OptimizerDefaults> {
  /** The optimised tensors, in the order of state()'s per-parameter lists. */
  readonly params: Tensor[];
  /** The options after defaults were applied. */
  readonly defaults: D;
  protected stepCount = 0;
  /** Per parameter: updates applied to it (torch's per-parameter `step`). */
  protected paramSteps: number[];
  /** Per slot name: the per-parameter state tensors, allocated on first use (zeros) and kept out of tidy scopes. */
  protected slots: Record<string, (Tensor | null)[]> = {};
  private currentLr: number;
  /**
   * true: a step updates all parameters in a few multi-tensor dispatches (4 parameters per dispatch for Adam on 16
   * storage bindings); false: one dispatch per parameter; null (default): follow `setForeach` (true unless changed).
   */
  foreach: boolean | null = null;

  constructor(params: Iterable<Tensor> | Tensor[], defaults: D) {
    const name = new.target.name;
    this.params = checkParams(name, params);
    checkNumber(name, 'lr', defaults.lr);
    this.defaults = defaults;
    this.currentLr = defaults.lr;
    this.paramSteps = this.params.map(() => 0);
  }

  /** The state slots this optimizer keeps per parameter (torch names). */
  protected abstract slotNames(): readonly string[];

  /**
   * Records the update of these parameters (in place, no autograd, no readback); `perTensor`: one per dispatch. A
   * compiled step calls it again at every replay with the same `items` (their steps advanced).
   */
  protected abstract update(items: readonly StepItem[], perTensor: boolean): void;

  get lr(): number {
    return this.currentLr;
  }
  set lr(v: number) {
    checkNumber(this.constructor.name, 'lr', v);
    this.currentLr = v;
  }

  /** step() calls so far. */
  get steps(): number {
    return this.stepCount;
  }

  /** Records one update of every parameter that has a gradient; params whose .grad is null are skipped. */
  step(): void {
    const items: StepItem[] = [];
    this.params.forEach((p, i) => {
      const g = p.grad;
      if (!g) return;
      if (g.size !== p.size) throw new ShapeError(`${this.constructor.name}.step: parameter ${i} ${fmtShape(p.shape)} has a gradient of shape ${fmtShape(g.shape)}`);
      items.push({ index: i, param: p, grad: g, step: 0 });
    });
    // the step counts and the lr are host state: a compiled step runs this again at every call (os.dynamic), with the
    // same items, so that `update` can keep what it derives from them
    dynamic(() => {
      this.stepCount++;
      for (const it of items) it.step = ++this.paramSteps[it.index];
      this.update(items, !(this.foreach ?? foreachDefault));
    });
  }

  /** Disposes and clears every parameter's .grad (backward accumulates into .grad, so call this between steps). */
  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** Parameter i's state tensor `name`, zeros on first use, owned by the optimizer (never in a tidy scope). */
  protected slot(name: string, i: number): Tensor {
    const list = (this.slots[name] ??= this.params.map(() => null));
    let t = list[i];
    if (t && t.isDisposed) throw new DisposedError(`${this.constructor.name}: its ${name} state of parameter ${i} was disposed; do not dispose the tensors that state() returns`);
    if (!t) list[i] = t = keep(zeros(this.params[i].shape));
    return t;
  }

  /** The optimizer's state for a checkpoint (see OptimizerState); allocates any slot not yet used, as zeros. */
  state(): OptimizerState {
    const slots: Record<string, Tensor[]> = {};
    for (const name of this.slotNames()) slots[name] = this.params.map((_, i) => this.slot(name, i));
    return { step: this.stepCount, lr: this.lr, paramSteps: [...this.paramSteps], slots };
  }

  /** Loads a state from state() (of this optimizer or one over parameters of the same shapes): copies the values. */
  restore(s: OptimizerState): void {
    const name = `${this.constructor.name}.restore`;
    const n = this.params.length;
    const paramSteps = s.paramSteps ?? this.params.map(() => s.step);
    if (paramSteps.length !== n) throw new ValueError(`${name}: state has ${paramSteps.length} parameter steps but the optimizer has ${n} parameters`);
    for (const slotName of this.slotNames()) {
      const list = s.slots?.[slotName];
      if (!list) throw new ValueError(`${name}: state has no "${slotName}" slot (has: ${Object.keys(s.slots ?? {}).join(', ') || 'none'}); was it saved from another kind of optimizer?`);
      if (list.length !== n) throw new ValueError(`${name}: state's "${slotName}" has ${list.length} tensors but the optimizer has ${n} parameters`);
      list.forEach((t, i) => {
        const p = this.params[i];
        if (t.size !== p.size) throw new ShapeError(`${name}: "${slotName}" tensor ${i} is ${fmtShape(t.shape)} but parameter ${i} is ${fmtShape(p.shape)}`);
      });
    }
    for (const slotName of this.slotNames()) s.slots[slotName].forEach((t, i) => copyValues(name, this.slot(slotName, i), t));
    this.stepCount = s.step;
    this.paramSteps = [...paramSteps];
    this.lr = s.lr;
  }

  /** Frees the state tensors (the optimizer must not step again). */
  dispose(): void {
    for (const list of Object.values(this.slots)) for (const t of list) t?.dispose();
    this.slots = {};
  }
}
