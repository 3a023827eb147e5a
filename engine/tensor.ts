// engine/tensor.ts: Tensor, a DeviceArray (runtime/array.ts) with a place in the autograd graph and in tidy scopes.
// Lifetime: a tensor's buffer is freed when the user is done with it (dispose, tidy, or GC) AND no live graph node
// still needs it for a backward pass. Op methods (x.add(y), …) are attached in engine/methods.ts; the graph itself
// (nodes, recording, grad mode, backward) lives in engine/autograd.ts.
import { DeviceArray, Storage, bufferBytes, device, shapeSize, type Device, type DType } from '../runtime';
import { GradError, ShapeError, ValueError, fmtShape } from '../runtime/errors';
import type { GraphNode } from './autograd';

export { DTYPES, checkShape, shapeSize, type DType } from '../runtime';

// ---- development-mode warnings -----------------------------------------------------------------------------------

/** Lifetime misuse that is not an error yet (double dispose, tidy returning a disposed tensor) warns unless
 *  NODE_ENV is 'production' or setDevWarnings(false); each kind warns at most DEV_WARN_LIMIT times. */
let devWarnings = !(typeof process !== 'undefined' && process.env?.NODE_ENV === 'production');
const DEV_WARN_LIMIT = 3;
const devWarnCounts = new Map<string, number>();

/** Turns development-mode warnings on or off; returns the previous setting. */
export function setDevWarnings(on: boolean): boolean {
  const prev = devWarnings;
  devWarnings = on;
  devWarnCounts.clear();
  return prev;
}

function devWarn(kind: string, message: string): void {
  if (!devWarnings) return;
  const n = (devWarnCounts.get(kind) ?? 0) + 1;
  devWarnCounts.set(kind, n);
  if (n > DEV_WARN_LIMIT) return;
  const more = n === DEV_WARN_LIMIT ? ' (further warnings of this kind are not shown)' : '';
  console.warn(`onestep (development): ${message}${more}. Set NODE_ENV=production to silence these warnings.`);
}

// ---- scopes (tidy) ------------------------------------------------------------------------------------------------

const scopes: Set<Tensor>[] = [];

/** Calls fn and disposes every tensor created inside it except those it returns (in arrays or objects too). */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  if (result instanceof Promise) {
    for (const t of scope) t.dispose();
    throw new ValueError('tidy: fn returned a Promise; tidy only tracks synchronous work. Await outside tidy, or dispose by hand.');
  }
  const kept = new Set<Tensor>();
  collectTensors(result, kept);
  for (const t of kept) {
    if (t.isDisposed) devWarn('tidy-returned-disposed', `tidy: fn returned tensor ${fmtShape(t.shape)} (id ${t.id}) that was already disposed; its caller gets a DisposedError on first use. Return it without disposing it, or do not return it`);
  }
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (kept.has(t)) {
      t.scope = parent ?? null;
      parent?.add(t);
    } else t.dispose();
  }
  return result;
}

/** Takes a tensor out of every tidy scope: it lives until disposed by hand. */
export function keep<T extends Tensor>(t: T): T {
  t.scope?.delete(t);
  t.scope = null;
  return t;
}

function collectTensors(x: unknown, out: Set<Tensor>, depth = 0): void {
  if (depth > 8 || x === null || typeof x !== 'object') return;
  if (x instanceof Tensor) out.add(x);
  else if (Array.isArray(x)) for (const v of x) collectTensors(v, out, depth + 1);
  else if (x instanceof Map) for (const v of x.values()) collectTensors(v, out, depth + 1);
  else if (Object.getPrototypeOf(x) === Object.prototype) for (const v of Object.values(x)) collectTensors(v, out, depth + 1);
}

// ---- Tensor ------------------------------------------------------------------------------------------------------

export class Tensor extends DeviceArray {
  /** The op that produced this tensor; null for leaves. */
  node: GraphNode | null = null;
  requiresGrad = false;
  /** Accumulated gradient of a leaf after backward(). */
  grad: Tensor | null = null;
  scope: Set<Tensor> | null = null;
  private userDisposed = false;
  /** Live graph nodes that saved this tensor for their backward. */
  private graphRefs = 0;

  /** Internal: use os.tensor / os.zeros / ops. Takes ownership of one reference to `storage`. */
  constructor(storage: Storage, shape: readonly number[], dtype: DType = 'f32') {
    super(storage, shape, dtype);
    const scope = scopes[scopes.length - 1];
    if (scope) {
      scope.add(this);
      this.scope = scope;
    }
  }

  /** An uninitialised tensor of this shape on the current device (kernels write it). */
  static empty(shape: readonly number[], dev: Device = device(), dtype: DType = 'f32'): Tensor {
    return new Tensor(new Storage(dev, dev.alloc(bufferBytes(dtype, shapeSize(shape)))), shape, dtype);
  }

  /** A kernel's output as a tensor: takes over the array's buffer (the array is left empty). */
  static adopt(a: DeviceArray): Tensor {
    return a instanceof Tensor ? a : new Tensor(a.takeStorage(), a.shape, a.dtype);
  }

  get isDisposed(): boolean {
    return this.userDisposed;
  }

  /** Frees the buffer now (or once no pending backward needs it). A second call does nothing (and warns in development). */
  override dispose(): void {
    if (this.userDisposed) {
      devWarn('double-dispose', `dispose: tensor ${fmtShape(this.shape)} (id ${this.id}) was already disposed; two owners are freeing it, so one of them may still be using it`);
      return;
    }
    this.userDisposed = true;
    this.scope?.delete(this);
    this.scope = null;
    if (this.grad) {
      this.grad.dispose();
      this.grad = null;
    }
    if (this.graphRefs === 0) this.free();
  }

  private free(): void {
    if (!this.releaseStorage()) return;
    const node = this.node;
    if (node && !node.freed) node.release();
  }

  /** Internal: a graph node saved this tensor. */
  addGraphRef(): void {
    this.graphRefs++;
  }
  /** Internal: a graph node no longer needs this tensor. */
  dropGraphRef(): void {
    if (--this.graphRefs === 0 && this.userDisposed) this.free();
  }

  /** A new tensor viewing the same buffer with another shape (same size). */
  override viewAs(shape: readonly number[]): Tensor {
    return new Tensor(this.storageOrThrow('reshape').retain(), shape, this.dtype);
  }

  /** The value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new ShapeError(`item: tensor has shape ${fmtShape(this.shape)} (${this.size} elements); item() needs exactly one. Use data() or reduce first (sum/mean).`);
    return (await this.data())[0];
  }

  /** Nested arrays, like torch's tolist(). */
  async array(): Promise<unknown> {
    const d = await this.data();
    const build = (dim: number, off: number): unknown => {
      if (dim === this.shape.length) return d[off];
      const stride = shapeSize(this.shape.slice(dim + 1));
      return Array.from({ length: this.shape[dim] }, (_, i) => build(dim + 1, off + i * stride));
    };
    return build(0, 0);
  }

  /** Marks a leaf as needing a gradient (in place; returns this). */
  requiresGrad_(flag = true): this {
    if (flag && this.dtype !== 'f32') throw new GradError(`requiresGrad_: tensor ${fmtShape(this.shape)} is ${this.dtype}; gradients are f32. Keep f32 weights that require grad and cast them in the forward (w.half())`);
    if (this.node && !flag) throw new GradError(`requiresGrad_(false): tensor ${fmtShape(this.shape)} was produced by ${this.node.op}; call detach() to get a tensor without history`);
    this.requiresGrad = flag;
    return this;
  }

  /** The same values without history: shares the buffer, never requires grad. */
  detach(): Tensor {
    return this.viewAs(this.shape);
  }

  override toString(): string {
    return `Tensor(${fmtShape(this.shape)}, ${this.dtype}${this.requiresGrad ? ', requiresGrad' : ''}${this.userDisposed ? ', disposed' : ''})`;
  }
}
