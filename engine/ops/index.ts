// engine/ops/index.ts: every op function (PyTorch semantics, NCHW). The table they apply is ./table.ts.
export * from './create';
export * from './elementwise';
export * from './reduce';
export * from './shape';
export * from './linalg';
export * from './losses';
export * from './fused';
export * from './cast';
export * from './conv';
export * from './norm';
export * from './pool';
export * from './attention';
export { checkInputs, type Axes } from './validate';
export { OPS, type OpName } from './table';
export { apply, observeOps, type OpDef, type OpObserver, type Family } from './op';

// the tape needs a few ops (engine/autograd.ts cannot import them: they import it)
import { autogradOps } from '../autograd';
import { ones } from './create';
import { add } from './elementwise';
import { sumTo } from './reduce';
import { cat } from './shape';
autogradOps.sumTo = sumTo;
autogradOps.add = (a, b) => add(a, b);
autogradOps.ones = (shape) => ones(shape);
autogradOps.cat = (xs, dim) => cat(xs, dim);
