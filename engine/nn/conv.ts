// engine/nn/conv.ts: placeholder until the kernels issue lands its modules here.
export {};
