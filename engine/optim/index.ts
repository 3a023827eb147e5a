// engine/optim/index.ts: os.optim: SGD, Adam, AdamW (one fused kernel per parameter update), EMA, gradient clipping
// by global norm and learning-rate schedules; torch.optim semantics.
export { Optimizer, type OptimizerState, type OptimizerDefaults } from './optimizer';
export { SGD, Adam, AdamW, type SGDOptions, type AdamOptions } from './optimizers';
export { EMA, edmEmaDecay, type EMAOptions, type EMAState } from './ema';
export { clipGradNorm } from './clip';
export { LRScheduler, constantLR, warmup, constantWithWarmup, cosine, type Schedule, type CosineOptions } from './schedule';
