// engine/nn/norm.ts: placeholder until the kernels issue lands its modules here.
export {};
