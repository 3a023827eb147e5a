// models/recipe.ts: the distillation recipes `onestep distill`, `npm run demo` and the web page start from, so the
// three cannot drift. What each part buys, measured by time to quality, is in bench/RESULTS.md.
import type { DMDConfig } from './dmd';

export type Recipe = Partial<DMDConfig> & { mode: 'dmd' | 'dmd2' };

/**
 * 2-D data: DMD with the regression loss on teacher pairs (it converges fastest on the toys, DMD-SPEC §7.2), a
 * learning-rate warm-up into rates 10–30× the paper's, and a short warmed-up EMA of the generator.
 */
export const TOY_RECIPE: Recipe = {
  mode: 'dmd',
  batch: 256,
  lr: 3e-3,
  fakeLr: 1e-3,
  warmup: 100,
  regWeight: 3,
  emaDecay: 0.99,
};

/** Teacher (Heun-18) pairs of the regression loss made at the start of a 2-D run. */
export const TOY_PAIRS = 5000;

/** Iterations of `npm run demo` on 2-D data (about three minutes of training on lavapipe). */
export const TOY_DEMO_STEPS = 4000;

/** Class-conditional MNIST: DMD2 (no regression pairs), batch 32, TTUR 5, the GAN head at 3e-3, generator EMA 0.99. */
export const MNIST_RECIPE: Recipe = { mode: 'dmd2', batch: 32, ganWeight: 3e-3, emaDecay: 0.99 };

/** The recipe for a data set, for `mode` when given (the other method keeps the batch, rates and EMA; its TTUR and regression are its paper's). */
export function recipeFor(data: string, mode?: 'dmd' | 'dmd2'): Recipe {
  const base = /^mnist/.test(data) ? MNIST_RECIPE : TOY_RECIPE;
  if (!mode || mode === base.mode) return base;
  return mode === 'dmd2' ? { ...base, mode, ttur: 5, regWeight: 0 } : { ...base, mode, ttur: 1, regWeight: /^mnist/.test(data) ? 0 : 0.25 };
}
