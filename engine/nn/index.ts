// engine/nn/index.ts: os.nn, layers with torch.nn names, shapes and state-dict keys.
export { Module, type LoadResult } from './module';
export { Linear, LayerNorm, SiLU, ReLU, GELU, Tanh, Sigmoid, Identity, Dropout, Sequential, ModuleList, Embedding, uniformInit, zeroInit } from './layers';
export * from './conv';
export * from './norm';
export * from './attention';
