// engine/methods.ts: the op functions as Tensor methods (x.add(y).mul(2).sum().backward()).
import { backward, type BackwardOptions } from './autograd';
import * as ops from './ops';
import { cast } from './ops/cast';
import { Tensor } from './tensor';

type TL = ops.TensorLike;
type Axes = ops.Axes;

declare module './tensor' {
  interface Tensor {
    add(b: TL): Tensor; sub(b: TL): Tensor; mul(b: TL): Tensor; div(b: TL): Tensor; pow(b: TL): Tensor;
    maximum(b: TL): Tensor; minimum(b: TL): Tensor;
    gt(b: TL): Tensor; lt(b: TL): Tensor; ge(b: TL): Tensor; le(b: TL): Tensor; eq(b: TL): Tensor;
    neg(): Tensor; exp(): Tensor; log(): Tensor; sqrt(): Tensor; rsqrt(): Tensor; abs(): Tensor; square(): Tensor;
    relu(): Tensor; silu(): Tensor; softplus(): Tensor; sigmoid(): Tensor; tanh(): Tensor; gelu(): Tensor; sin(): Tensor; cos(): Tensor;
    sign(): Tensor; clamp(min?: number, max?: number): Tensor; nanToNum(): Tensor;
    sum(axes?: Axes, keepdim?: boolean): Tensor; mean(axes?: Axes, keepdim?: boolean): Tensor;
    max(axes?: Axes, keepdim?: boolean): Tensor; min(axes?: Axes, keepdim?: boolean): Tensor;
    var(axes?: Axes, keepdim?: boolean, correction?: number): Tensor;
    softmax(axis?: number): Tensor; logSoftmax(axis?: number): Tensor;
    reshape(shape: readonly number[]): Tensor; view(shape: readonly number[]): Tensor; flatten(start?: number, end?: number): Tensor;
    permute(dims: readonly number[]): Tensor; transpose(d0?: number, d1?: number): Tensor; expand(shape: readonly number[]): Tensor;
    unsqueeze(dim: number): Tensor; squeeze(dim?: number): Tensor;
    slice(starts: readonly number[], ends?: readonly number[], steps?: readonly number[]): Tensor;
    split(sizes: number | readonly number[], dim?: number): Tensor[];
    pad(padding: readonly number[], value?: number): Tensor;
    matmul(b: Tensor): Tensor;
    /** A copy as f16 (storage at half the bytes) / as f32; a view when already that dtype. */
    half(): Tensor; float(): Tensor;
    /** Reverse-mode autodiff from this tensor (a scalar, or pass its gradient). */
    backward(grad?: Tensor, opts?: BackwardOptions): void;
  }
}

const P = Tensor.prototype;
for (const name of ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'gt', 'lt', 'ge', 'le', 'eq', 'matmul'] as const) {
  (P as any)[name] = function (this: Tensor, b: TL) { return (ops[name] as (a: Tensor, b: TL) => Tensor)(this, b); };
}
for (const name of ['neg', 'exp', 'log', 'sqrt', 'rsqrt', 'abs', 'square', 'relu', 'silu', 'softplus', 'sigmoid', 'tanh', 'gelu', 'sin', 'cos', 'sign', 'nanToNum'] as const) {
  (P as any)[name] = function (this: Tensor) { return ops[name](this); };
}
P.clamp = function (min, max) { return ops.clamp(this, min, max); };
P.half = function () { return cast(this, 'f16'); };
P.float = function () { return cast(this, 'f32'); };
P.sum = function (axes, keepdim) { return ops.sum(this, axes, keepdim); };
P.mean = function (axes, keepdim) { return ops.mean(this, axes, keepdim); };
P.max = function (axes, keepdim) { return ops.max(this, axes, keepdim); };
P.min = function (axes, keepdim) { return ops.min(this, axes, keepdim); };
P.var = function (axes, keepdim, correction) { return ops.variance(this, axes, keepdim, correction); };
P.softmax = function (axis) { return ops.softmax(this, axis); };
P.logSoftmax = function (axis) { return ops.logSoftmax(this, axis); };
P.reshape = function (shape) { return ops.reshape(this, shape); };
P.view = function (shape) { return ops.reshape(this, shape); };
P.flatten = function (start, end) { return ops.flatten(this, start, end); };
P.permute = function (dims) { return ops.permute(this, dims); };
P.transpose = function (d0, d1) { return ops.transpose(this, d0, d1); };
P.expand = function (shape) { return ops.expand(this, shape); };
P.unsqueeze = function (dim) { return ops.unsqueeze(this, dim); };
P.squeeze = function (dim) { return ops.squeeze(this, dim); };
P.slice = function (starts, ends, steps) { return ops.slice(this, starts, ends, steps); };
P.split = function (sizes, dim) { return ops.split(this, sizes, dim); };
P.pad = function (padding, value) { return ops.pad(this, padding, value); };
P.backward = function (grad, opts) { backward(this, grad, opts); };
