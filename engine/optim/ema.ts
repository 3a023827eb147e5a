// engine/optim/ema.ts: exponential moving average of parameters (torch.optim.swa_utils-style / EDM's ema):
// shadow ← decay·shadow + (1 − decay)·p, in a few multi-tensor dispatches (or one per tensor with foreach: false); the decay may be fixed or given per update
// (EDM's half-life schedule, see edmEmaDecay).
import { emaUpdate } from '../../kernels/optim/dispatch';
import { ShapeError, ValueError, fmtShape } from '../errors';
import { dynamic } from '../compile/trace';
import { Tensor, keep } from '../tensor';
import { checkForeach, checkNumber, checkParams, copyValues, foreachEnabled } from './optimizer';

export interface EMAOptions {
  /** Weight of the old average per update; 0.999 averages over ~1,000 updates. */
  decay?: number;
  /** Multi-tensor updates (default: setForeach's, true); false: one dispatch per tensor. */
  foreach?: boolean;
  /**
   * Warm the decay up: update n (counting from 1) uses min(decay, (1 + n) / (10 + n)), so a short run is not dragged
   * back to where it started (the schedule of DMD2's and EDM's EMAs).
   */
  warmup?: boolean;
}

/**
 * What a checkpoint saves of an EMA:
 * `{ updates: 120, decay: 0.999, slots: { shadow: [s0, s1, …] } }`: shadow[i] has params[i]'s shape. The shadow
 * tensors are the EMA's own (not copies): save them before the next update() and never dispose them.
 */
export interface EMAState {
  updates: number;
  decay: number;
  slots: { shadow: Tensor[] };
}

export class EMA {
  readonly params: Tensor[];
  /** The averaged copies, one per parameter, kept out of tidy scopes. */
  readonly shadow: Tensor[];
  private decayValue: number;
  private count = 0;
  readonly warmup: boolean;
  /** true: multi-tensor updates; false: one dispatch per tensor; null: follow setForeach (true unless changed). */
  foreach: boolean | null;

  constructor(params: Iterable<Tensor> | Tensor[], opts: EMAOptions = {}) {
    this.params = checkParams('EMA', params);
    this.decayValue = opts.decay ?? 0.999;
    this.foreach = checkForeach('EMA', opts.foreach);
    this.warmup = !!opts.warmup;
    checkNumber('EMA', 'decay', this.decayValue, 0, 1 + Number.EPSILON);
    this.shadow = this.params.map((p) => {
      const s = keep(Tensor.empty(p.shape, p.device));
      copyValues('EMA', s, p);
      return s;
    });
  }

  get decay(): number {
    return this.decayValue;
  }
  set decay(v: number) {
    checkNumber('EMA', 'decay', v, 0, 1 + Number.EPSILON);
    this.decayValue = v;
  }

  /** update() calls so far. */
  get updates(): number {
    return this.count;
  }

  /**
   * shadow ← decay·shadow + (1 − decay)·p for every parameter; `decay` overrides the default (and the warm-up) for this
   * call only. In a compiled step the default decay and the warm-up are worked out again at every call; a `decay`
   * argument is baked in.
   */
  update(decay?: number): void {
    if (decay !== undefined) checkNumber('EMA.update', 'decay', decay, 0, 1 + Number.EPSILON);
    dynamic(() => {
      const n = ++this.count;
      const d = decay ?? (this.warmup ? Math.min(this.decayValue, (1 + n) / (10 + n)) : this.decayValue);
      emaUpdate(this.params.map((p, i) => [this.shadow[i], p]), d, { perTensor: !(this.foreach ?? foreachEnabled()) });
    });
  }

  /** Copies the averaged values into `params` (default: the tracked parameters), e.g. before evaluation or export. */
  copyTo(params: Iterable<Tensor> | Tensor[] = this.params): void {
    const list = [...params];
    if (list.length !== this.shadow.length) throw new ValueError(`EMA.copyTo: got ${list.length} tensors but the EMA tracks ${this.shadow.length}`);
    list.forEach((p, i) => {
      if (p.size !== this.shadow[i].size) throw new ShapeError(`EMA.copyTo: tensor ${i} is ${fmtShape(p.shape)} but shadow ${i} is ${fmtShape(this.shadow[i].shape)}`);
      copyValues('EMA.copyTo', p, this.shadow[i]);
    });
  }

  state(): EMAState {
    return { updates: this.count, decay: this.decayValue, slots: { shadow: [...this.shadow] } };
  }

  /** Loads a state from state() (copies the values into this EMA's shadow tensors). */
  restore(s: EMAState): void {
    const list = s.slots?.shadow;
    if (!list || list.length !== this.shadow.length) throw new ValueError(`EMA.restore: state has ${list?.length ?? 0} shadow tensors but the EMA tracks ${this.shadow.length}`);
    list.forEach((t, i) => {
      if (t.size !== this.shadow[i].size) throw new ShapeError(`EMA.restore: shadow ${i} is ${fmtShape(t.shape)} but parameter ${i} is ${fmtShape(this.shadow[i].shape)}`);
    });
    list.forEach((t, i) => copyValues('EMA.restore', this.shadow[i], t));
    this.count = s.updates;
    this.decay = s.decay;
  }

  /** Frees the shadow tensors. */
  dispose(): void {
    for (const s of this.shadow) s.dispose();
  }
}

/**
 * EDM's EMA decay per update (Karras et al. 2022, training/training_loop.py): with a half-life of `halfLifeImages`
 * images, capped at `seenImages · rampupRatio` during the ramp-up, β = 0.5^(batchSize / max(halfLife, 1e-8)).
 * EDM's defaults: halfLife 500k images, rampupRatio 0.05. Pass the result to `ema.update(β)`.
 */
export function edmEmaDecay(batchSize: number, halfLifeImages: number, seenImages: number, rampupRatio?: number): number {
  let h = halfLifeImages;
  if (rampupRatio !== undefined) h = Math.min(h, seenImages * rampupRatio);
  return 0.5 ** (batchSize / Math.max(h, 1e-8));
}
