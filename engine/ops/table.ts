// engine/ops/table.ts: the closed list of ops. Every op is one entry (engine/ops/op.ts: inputs, shape rule, kernel
// family, forward, need-aware backward); everything else (silu's methods, linear, variance, oneHot, …) composes them.
// test/engine/grad.test.ts walks this table: an entry without a reference and a gradient check fails the suite.
import { ATTENTION_OPS } from './attention';
import { CAST_OPS } from './cast';
import { CONV_OPS } from './conv';
import { CREATE_OPS } from './create';
import { BINARY_OPS, UNARY_OPS, WHERE_OPS } from './elementwise';
import { FUSED_OPS } from './fused';
import { LINALG_OPS } from './linalg';
import { LOSS_OPS } from './losses';
import { NORM_OPS } from './norm';
import type { OpDef } from './op';
import { POOL_OPS } from './pool';
import { GRAD_OPS, REDUCE_OPS } from './reduce';
import { SHAPE_OPS } from './shape';

export const OPS = {
  ...CREATE_OPS,
  ...UNARY_OPS,
  ...BINARY_OPS,
  ...WHERE_OPS,
  ...FUSED_OPS,
  ...REDUCE_OPS,
  ...GRAD_OPS,
  ...SHAPE_OPS,
  ...CAST_OPS,
  ...LINALG_OPS,
  ...CONV_OPS,
  ...NORM_OPS,
  ...POOL_OPS,
  ...ATTENTION_OPS,
  ...LOSS_OPS,
} satisfies Record<string, OpDef<any>>;

export type OpName = keyof typeof OPS;
