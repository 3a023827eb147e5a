// engine/tensor.ts: Tensor (a shape over a pooled GPU buffer), its lifetime rules and the autograd graph records.
// Lifetime: a tensor's buffer is freed when the user is done with it (dispose, tidy, or GC) AND no live graph node
// still needs it for a backward pass. Op methods (x.add(y), …) are attached in engine/methods.ts.
import { device, type Device } from './device';
import { DisposedError, GradError, ShapeError, ValueError, fmtShape, internal } from './errors';
import { halvesToFloats } from './half';

/**
 * Element types. f32 is what every op computes in; f16 tensors hold half the bytes and go through os.cast, reshape,
 * matmul / linear (read as halves, computed in f32), data() and safetensors F16: other ops name the cast when handed f16.
 */
export type DType = 'f32' | 'f16';
export const DTYPES: readonly DType[] = ['f32', 'f16'];

/** Bytes of a buffer holding n elements: f16 pairs share a 32-bit word (storage buffers are sized in words). */
export const bufferBytes = (dtype: DType, n: number): number => (dtype === 'f16' ? Math.ceil(n / 2) * 4 : n * 4);

/** A GPU buffer shared by a tensor and its reshaped views. */
export class Storage {
  refs = 1;
  constructor(
    readonly device: Device,
    readonly buffer: GPUBuffer,
  ) {}
  retain(): this {
    this.refs++;
    return this;
  }
  release(): void {
    if (--this.refs === 0) this.device.release(this.buffer);
    else if (this.refs < 0) throw internal('storage released twice');
  }
}

/** One recorded op: how `out` was made, and the rule that maps its gradient back to `inputs`. */
export interface GraphNode {
  op: string;
  inputs: Tensor[];
  /** Which inputs need a gradient. */
  need: boolean[];
  backward: (g: Tensor) => (Tensor | null)[];
  /** Set once a backward pass without retainGraph has released the saved inputs. */
  freed: boolean;
}

/** What the FinalizationRegistry keeps: enough to free the buffer, never the tensor itself. */
interface Lease {
  storage: Storage | null;
}

const finalizer =
  typeof FinalizationRegistry !== 'undefined'
    ? new FinalizationRegistry<Lease>((lease) => {
        if (lease.storage) {
          const s = lease.storage;
          lease.storage = null;
          s.device.liveTensors--;
          s.release();
        }
      })
    : null;

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

// ---- scopes (tidy) and grad mode ---------------------------------------------------------------------------------

const scopes: Set<Tensor>[] = [];
let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn with gradient recording off (sampling, EMA updates, evaluation). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Sets grad mode, returns the previous one (for code that cannot use a callback). */
export function setGradEnabled(on: boolean): boolean {
  const prev = gradEnabled;
  gradEnabled = on;
  return prev;
}

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

export function checkShape(op: string, shape: readonly number[]): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new ValueError(`${op}: shape ${fmtShape(shape)} has ${d}; every dim must be a non-negative integer`);
    }
  }
}

export const shapeSize = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

let nextTensorId = 1;

export class Tensor {
  readonly id = nextTensorId++;
  readonly shape: readonly number[];
  readonly size: number;
  readonly dtype: DType;
  readonly device: Device;
  /** The op that produced this tensor; null for leaves. */
  node: GraphNode | null = null;
  requiresGrad = false;
  /** Accumulated gradient of a leaf after backward(). */
  grad: Tensor | null = null;
  scope: Set<Tensor> | null = null;
  private readonly lease: Lease;
  private userDisposed = false;
  /** Live graph nodes that saved this tensor for their backward. */
  private graphRefs = 0;

  /** Internal: use os.tensor / os.zeros / ops. Takes ownership of one reference to `storage`. */
  constructor(storage: Storage, shape: readonly number[], dtype: DType = 'f32') {
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.size = shapeSize(shape);
    this.device = storage.device;
    this.lease = { storage };
    this.device.liveTensors++;
    finalizer?.register(this, this.lease, this.lease);
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

  get ndim(): number {
    return this.shape.length;
  }

  get isDisposed(): boolean {
    return this.userDisposed;
  }

  /** The GPU buffer of an f32 tensor; throws if the tensor was disposed or is f16. Kernels call this. */
  get buffer(): GPUBuffer {
    const s = this.storageOrThrow('use');
    if (this.dtype !== 'f32') throw new ValueError(`tensor ${fmtShape(this.shape)} (id ${this.id}) is ${this.dtype}; this op computes in f32. Cast it first: x.float()`);
    return s.buffer;
  }

  storageOrThrow(op: string): Storage {
    const s = this.lease.storage;
    if (!s || (this.userDisposed && this.graphRefs === 0)) {
      throw new DisposedError(`${op}: tensor ${fmtShape(this.shape)} (id ${this.id}) was disposed; keep it alive (don't dispose it, or return it from tidy) until you are done with it`);
    }
    return s;
  }

  /** Frees the buffer now (or once no pending backward needs it). A second call does nothing (and warns in development). */
  dispose(): void {
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
    const s = this.lease.storage;
    if (!s) return;
    this.lease.storage = null;
    finalizer?.unregister(this.lease);
    this.device.liveTensors--;
    s.release();
    const node = this.node;
    if (node && !node.freed) releaseNode(node);
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
  viewAs(shape: readonly number[]): Tensor {
    return new Tensor(this.storageOrThrow('reshape').retain(), shape, this.dtype);
  }

  /** Copies the values to the host (f16 converted to f32). The first sync point after a run of ops: submits them all. */
  async data(): Promise<Float32Array> {
    if (this.dtype === 'f32') return new Float32Array((await this.bytes('data')).buffer);
    return halvesToFloats(new Uint16Array((await this.bytes('data')).buffer, 0, this.size));
  }

  /** The raw little-endian bytes of the elements (4 per f32, 2 per f16), e.g. for a safetensors file. */
  async bytes(op = 'bytes'): Promise<Uint8Array> {
    const s = this.storageOrThrow(op);
    if (this.size === 0) return new Uint8Array(0);
    const raw = await s.device.read(s.buffer, bufferBytes(this.dtype, this.size));
    return new Uint8Array(raw, 0, this.size * (this.dtype === 'f16' ? 2 : 4));
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

  toString(): string {
    return `Tensor(${fmtShape(this.shape)}, ${this.dtype}${this.requiresGrad ? ', requiresGrad' : ''}${this.userDisposed ? ', disposed' : ''})`;
  }
}

/** Drops a node's hold on its inputs (after backward, or when its output dies unused). */
export function releaseNode(node: GraphNode): void {
  if (node.freed) return;
  node.freed = true;
  const inputs = node.inputs;
  node.inputs = [];
  node.backward = () => {
    throw internal(`backward through freed node ${node.op}`);
  };
  for (const t of inputs) t.dropGraphRef();
}

/** Attaches a graph node to `out` if grad mode is on and any input requires grad. */
export function record(op: string, out: Tensor, inputs: Tensor[], backward: (g: Tensor) => (Tensor | null)[]): Tensor {
  if (!gradEnabled) return out;
  const need = inputs.map((t) => t.requiresGrad);
  if (!need.some(Boolean)) return out;
  for (const t of inputs) t.addGraphRef();
  out.node = { op, inputs, need, backward, freed: false };
  out.requiresGrad = true;
  return out;
}
