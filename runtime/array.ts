// runtime/array.ts: DeviceArray, what kernels read and write: a shape and an element type over a pooled GPU buffer,
// with no autograd. Reshaped views share the buffer (a refcounted Storage); the buffer goes back to the pool when the
// last holder is disposed, or, as a safety net, when the array is garbage-collected. The engine's Tensor extends it.
import { device } from './current';
import type { Device } from './device';
import { DisposedError, ValueError, fmtShape, internal } from './errors';
import { halvesToFloats } from './half';

/**
 * Element types. f32 is what every op computes in; f16 arrays hold half the bytes and go through cast, reshape,
 * matmul / linear (read as halves, computed in f32), data() and safetensors F16.
 */
export type DType = 'f32' | 'f16';
export const DTYPES: readonly DType[] = ['f32', 'f16'];

/** Bytes of a buffer holding n elements: f16 pairs share a 32-bit word (storage buffers are sized in words). */
export const bufferBytes = (dtype: DType, n: number): number => (dtype === 'f16' ? Math.ceil(n / 2) * 4 : n * 4);

export const shapeSize = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

export function checkShape(op: string, shape: readonly number[]): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new ValueError(`${op}: shape ${fmtShape(shape)} has ${d}; every dim must be a non-negative integer`);
    }
  }
}

/** A GPU buffer shared by an array and its reshaped views. */
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

/** What the FinalizationRegistry keeps: enough to free the buffer, never the array itself. */
interface Lease {
  storage: Storage | null;
}

const finalizer =
  typeof FinalizationRegistry !== 'undefined'
    ? new FinalizationRegistry<Lease>((lease) => {
        const s = lease.storage;
        if (s) {
          lease.storage = null;
          s.device.liveTensors--;
          s.release();
        }
      })
    : null;

let nextId = 1;

export class DeviceArray {
  readonly id = nextId++;
  readonly shape: readonly number[];
  readonly size: number;
  readonly dtype: DType;
  readonly device: Device;
  private readonly lease: Lease;
  /** This array's stand-in buffer in capture mode, once it is gone (see storageOrThrow). */
  private phantom: GPUBuffer | null = null;

  /** Takes ownership of one reference to `storage`. */
  constructor(storage: Storage, shape: readonly number[], dtype: DType = 'f32') {
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.size = shapeSize(shape);
    this.device = storage.device;
    this.lease = { storage };
    this.device.liveTensors++;
    finalizer?.register(this, this.lease, this.lease);
  }

  /** An uninitialised array of this shape (kernels write it). */
  static alloc(shape: readonly number[], dev: Device = device(), dtype: DType = 'f32'): DeviceArray {
    return new DeviceArray(new Storage(dev, dev.alloc(bufferBytes(dtype, shapeSize(shape)))), shape, dtype);
  }

  get ndim(): number {
    return this.shape.length;
  }

  /** Whether the buffer is gone (disposed, or moved to another owner). */
  get isReleased(): boolean {
    return this.lease.storage === null;
  }

  /** The buffer of an f32 array; throws if it was disposed or is f16. Kernels that compute in f32 call this. */
  get buffer(): GPUBuffer {
    const s = this.storageOrThrow('use');
    if (this.dtype !== 'f32') throw new ValueError(`tensor ${fmtShape(this.shape)} (id ${this.id}) is ${this.dtype}; this op computes in f32. Cast it first: x.float()`);
    return s.buffer;
  }

  /** The buffer whatever the dtype (kernels that read halves). */
  rawBuffer(op: string): GPUBuffer {
    return this.storageOrThrow(op).buffer;
  }

  storageOrThrow(op: string): Storage {
    const s = this.lease.storage;
    // capture mode re-runs the host side of recorded work: the arrays it names may be gone, and no buffer is bound
    if (!s && this.device.capturing) return new Storage(this.device, (this.phantom ??= this.device.phantom(bufferBytes(this.dtype, this.size))));
    if (!s) throw new DisposedError(`${op}: tensor ${fmtShape(this.shape)} (id ${this.id}) was disposed; keep it alive (don't dispose it, or return it from tidy) until you are done with it`);
    return s;
  }

  /** A new array viewing the same buffer with another shape (same size). */
  viewAs(shape: readonly number[]): DeviceArray {
    return new DeviceArray(this.storageOrThrow('reshape').retain(), shape, this.dtype);
  }

  /** Frees the buffer now (back to the pool once queued work is done with it). */
  dispose(): void {
    this.releaseStorage();
  }

  /** Drops this array's hold on its buffer; false if it held none. */
  protected releaseStorage(): boolean {
    const s = this.lease.storage;
    if (!s) return false;
    this.lease.storage = null;
    finalizer?.unregister(this.lease);
    this.device.liveTensors--;
    s.release();
    return true;
  }

  /** Moves the buffer to a new owner (a kernel's output becoming a Tensor); this array is left empty. */
  takeStorage(): Storage {
    const s = this.storageOrThrow('take');
    this.lease.storage = null;
    finalizer?.unregister(this.lease);
    this.device.liveTensors--;
    return s;
  }

  /** Copies the values to the host (f16 converted to f32). The first sync point after a run of ops: submits them all. */
  async data(): Promise<Float32Array> {
    return asFloats(this, (await this.bytes('data')).buffer as ArrayBuffer);
  }

  /** The raw little-endian bytes of the elements (4 per f32, 2 per f16), e.g. for a safetensors file. */
  async bytes(op = 'bytes'): Promise<Uint8Array> {
    const s = this.storageOrThrow(op);
    if (this.size === 0) return new Uint8Array(0);
    const raw = await s.device.read(s.buffer, bufferBytes(this.dtype, this.size));
    return new Uint8Array(raw, 0, this.size * (this.dtype === 'f16' ? 2 : 4));
  }
}

/**
 * The values of several arrays (f16 converted to f32) in one readback: one submit and one wait for all of them, where
 * a data() each would wait once per array. All must live on one device.
 */
export async function readAll(arrays: readonly DeviceArray[]): Promise<Float32Array[]> {
  if (arrays.length === 0) return [];
  const storages = arrays.map((a) => a.storageOrThrow('readAll'));
  const dev = storages[0].device;
  if (storages.some((s) => s.device !== dev)) throw new ValueError('readAll: the arrays live on different devices (an os.init() came between them); read each with data()');
  const raws = await dev.readMany(arrays.map((a, i) => ({ buf: storages[i].buffer, bytes: bufferBytes(a.dtype, a.size) })));
  return arrays.map((a, i) => asFloats(a, raws[i]));
}

/** An array's elements read back as raw bytes, as f32 values (f16 converted). */
const asFloats = (a: DeviceArray, raw: ArrayBuffer): Float32Array => (a.dtype === 'f32' ? new Float32Array(raw, 0, a.size) : halvesToFloats(new Uint16Array(raw, 0, a.size)));

