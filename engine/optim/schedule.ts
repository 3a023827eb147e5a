// engine/optim/schedule.ts: learning-rate schedules as pure functions of the step, step ↦ factor of the base rate,
// and LRScheduler, which applies one to an optimizer (opt.lr = baseLr · factor(step)).
import { ValueError } from '../errors';
import type { Optimizer } from './optimizer';

/** step (0-based: the step the factor is used for) ↦ factor of the base learning rate. */
export type Schedule = (step: number) => number;

function checkSteps(op: string, name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new ValueError(`${op}: ${name} must be an integer ≥ ${min}, got ${v}`);
}

/** Factor 1 at every step. */
export const constantLR = (): Schedule => () => 1;

/**
 * Linear warm-up over `steps` steps: factor (s + 1) / steps for s < steps (so the first step is not wasted at 0),
 * then `after(s − steps)` (default constant 1).
 */
export function warmup(steps: number, after: Schedule = constantLR()): Schedule {
  checkSteps('warmup', 'steps', steps, 0);
  return (s) => (s < steps ? (s + 1) / steps : after(s - steps));
}

/** Linear warm-up, then constant: warmup(w). */
export const constantWithWarmup = (warmupSteps: number): Schedule => warmup(warmupSteps);

export interface CosineOptions {
  /** Linear warm-up steps at the start (counted in totalSteps). */
  warmup?: number;
  /** Factor at the end of the decay (and after it). */
  minFactor?: number;
}

/**
 * Cosine decay from 1 to minFactor over totalSteps (after an optional linear warm-up):
 * factor = minFactor + (1 − minFactor) · ½(1 + cos(π · t)), t = (s − warmup) / (totalSteps − warmup), clamped to [0, 1].
 */
export function cosine(totalSteps: number, opts: CosineOptions = {}): Schedule {
  const w = opts.warmup ?? 0, minFactor = opts.minFactor ?? 0;
  checkSteps('cosine', 'totalSteps', totalSteps, 1);
  checkSteps('cosine', 'warmup', w, 0);
  if (w >= totalSteps && w > 0) throw new ValueError(`cosine: warmup (${w}) must be shorter than totalSteps (${totalSteps})`);
  if (!Number.isFinite(minFactor) || minFactor < 0 || minFactor > 1) throw new ValueError(`cosine: minFactor must be in [0, 1], got ${minFactor}`);
  const decaySteps = totalSteps - w;
  return warmup(w, (s) => {
    const t = Math.min(1, Math.max(0, s / decaySteps));
    return minFactor + (1 - minFactor) * 0.5 * (1 + Math.cos(Math.PI * t));
  });
}

/** Drives an optimizer's lr by a schedule: lr = baseLr · factor(step), baseLr = the optimizer's lr at construction. */
export class LRScheduler {
  readonly baseLr: number;
  private current = 0;

  constructor(
    readonly optimizer: Optimizer,
    readonly schedule: Schedule,
  ) {
    this.baseLr = optimizer.lr;
    this.apply();
  }

  /** The step whose factor is applied now (0 before the first step()). */
  get lastStep(): number {
    return this.current;
  }

  /** Advances one step (call after optimizer.step()). */
  step(): void {
    this.current++;
    this.apply();
  }

  /** For checkpoints: `{ step }`; restore() reapplies the factor of that step. */
  state(): { step: number } {
    return { step: this.current };
  }
  restore(s: { step: number }): void {
    checkSteps('LRScheduler.restore', 'step', s.step, 0);
    this.current = s.step;
    this.apply();
  }

  private apply(): void {
    const f = this.schedule(this.current);
    if (!Number.isFinite(f) || f < 0) throw new ValueError(`LRScheduler: schedule gave factor ${f} at step ${this.current}; factors must be finite and ≥ 0`);
    this.optimizer.lr = this.baseLr * f;
  }
}
