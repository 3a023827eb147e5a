// models/recipe.ts: the distillation recipes `onestep distill`, `npm run demo` and the web page start from, so the
// three cannot drift. What each part buys, measured by time to quality, is in bench/RESULTS.md.
import type { DMDConfig } from './dmd';

export type Recipe = Partial<DMDConfig> & { mode: 'dmd' | 'dmd2' };

/** Iterations of `npm run demo` on 2-D data (about 2 minutes of training on lavapipe). */
export const TOY_DEMO_STEPS = 4000;

/**
 * 2-D data: DMD (one fake-score update per generator update) with a strong regression loss on teacher pairs, DMD2's
 * GAN head on the fake score's bottleneck — fed only lightly noised samples (Karras levels ≤ 100, σ ≤ 0.017) and trained
 * at full weight, which is what sharpens the mode edges — a learning-rate warm-up into rates 30× (generator) and 50×
 * (fake score) the paper's and a cosine decay to 10% over the demo's 4,000 updates, and a short warmed-up EMA of the
 * generator: 0.98, because averaging the weights of a generator that moves this fast narrows its modes (at iteration
 * 1,000 the 0.99 EMA's blobs had a std of 0.023 against the data's 0.035, and that cost more SWD than its stray
 * samples). The regression loss takes 128 pairs per update, half the batch: as many iterations to the teacher's quality
 * over four seeds, each ~12% cheaper (64 pairs took more iterations; a smaller GAN batch many more). bench/RESULTS.md has
 * the runs behind each choice.
 */
export const TOY_RECIPE: Recipe = {
  mode: 'dmd',
  batch: 256,
  lr: 3e-3,
  fakeLr: 5e-3,
  warmup: 100,
  lrDecay: TOY_DEMO_STEPS,
  regWeight: 10,
  regBatch: 128,
  ganWeight: 0.3,
  ganDWeight: 1,
  ganMaxStep: 100,
  emaDecay: 0.98,
};

/**
 * 25gaussians (25 modes of std 0.025, 0.35 apart; its teacher is a 4×256 MLP): the 2-D recipe at lr 1e-3, without the
 * decay, with a lighter GAN head: weight 0.1 on samples noised at Karras levels ≤ 20 (σ ≤ 0.0032). At the 2-D
 * recipe's weight 0.3 the head dropped modes (20/25 after 2,000 iterations, at levels ≤ 100 or ≤ 20); at 0.1 it keeps
 * all 25 and lifts the near-mode fraction from 0.89× the teacher's to the 0.95× of time to quality (iteration 3,250;
 * without the head it stayed at 0.89× through 4,000). The regression loss keeps the whole batch of pairs: with 128,
 * the near-mode fraction trailed at every evaluation to 2,000.
 */
export const GRID_RECIPE: Recipe = { ...TOY_RECIPE, lr: 1e-3, fakeLr: 1e-3, ganWeight: 0.1, ganMaxStep: 20, lrDecay: 0, emaDecay: 0.99, regBatch: 0 };

/** Teacher (Heun-18) pairs of the regression loss made at the start of a 2-D run. */
export const TOY_PAIRS = 5000;


/** Class-conditional MNIST: DMD2 (no regression pairs), batch 32, TTUR 5, the GAN head at 3e-3, generator EMA 0.99. */
export const MNIST_RECIPE: Recipe = { mode: 'dmd2', batch: 32, ganWeight: 3e-3, emaDecay: 0.99 };

/** The recipe for a data set, for `mode` when given (the other method keeps the batch, rates and EMA; its TTUR and regression are its paper's). */
export function recipeFor(data: string, mode?: 'dmd' | 'dmd2'): Recipe {
  const base = /^mnist/.test(data) ? MNIST_RECIPE : data === '25gaussians' ? GRID_RECIPE : TOY_RECIPE;
  if (!mode || mode === base.mode) return base;
  return mode === 'dmd2' ? { ...base, mode, ttur: 5, regWeight: 0 } : { ...base, mode, ttur: 1, regWeight: /^mnist/.test(data) ? 0 : 0.25 };
}
