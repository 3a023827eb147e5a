// engine/errors.ts: the error classes users catch live in runtime/errors.ts (kernels throw them too); the engine
// re-exports them so models and commands need not reach below it.
export * from '../runtime/errors';
