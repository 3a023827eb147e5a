// engine/pool.ts: placeholder until the kernels issue lands its ops here.
export {};
