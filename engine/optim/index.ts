// engine/optim/index.ts: os.optim: SGD, Adam, AdamW (fused multi-tensor updates: a few dispatches per step for all
// parameters; `foreach: false` for one per parameter), EMA, gradient clipping by global norm and learning-rate
// schedules; torch.optim semantics.
export { Optimizer, setForeach, foreachEnabled, type OptimizerState, type OptimizerDefaults, type StepItem } from './optimizer';
export { SGD, Adam, AdamW, type SGDOptions, type AdamOptions } from './optimizers';
export { EMA, edmEmaDecay, type EMAOptions, type EMAState } from './ema';
export { clipGradNorm } from './clip';
export { LRScheduler, constantLR, warmup, constantWithWarmup, cosine, type Schedule, type CosineOptions } from './schedule';
