// runtime/buffer-pool.ts: storage buffers in size classes, recycled in a fixed order. Handing out the free buffer
// created first (not the last one returned) gives a training step the same buffers for the same tensors every step,
// so its bind groups repeat (runtime/bind-groups.ts); a stack permuted them from step to step.
import { DeviceError, OutOfMemoryError, fmtBytes } from './errors';

const STORAGE_USAGE = 0x80 | 0x04 | 0x08; // STORAGE | COPY_SRC | COPY_DST (constants: GPUBufferUsage may not exist yet)

/** Pool size class: powers of two split in quarters, so waste stays under 25% (≥ 256 bytes). */
export function sizeClass(bytes: number): number {
  const b = Math.max(256, bytes);
  const p = 2 ** Math.floor(Math.log2(b));
  const quarter = p / 4;
  return p >= 1024 ? Math.ceil(b / quarter) * quarter : 2 ** Math.ceil(Math.log2(b));
}

/** What an allocation failure reports: the request, what onestep holds, and the adapter's per-buffer limits. */
export interface AllocState {
  requested: number;
  sizeClass: number;
  bytesInUse: number;
  bytesPooled: number;
  liveTensors: number;
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
  /** The driver's own words, when it gave any. */
  driver?: string;
}

/** The message of an OutOfMemoryError (exported for its tests). */
export function outOfMemoryMessage(s: AllocState): string {
  return (
    `alloc: the GPU is out of memory: a buffer of ${fmtBytes(s.requested)} (${s.requested} bytes, size class ${s.sizeClass}) could not be allocated` +
    (s.driver ? ` (driver: ${s.driver})` : '') +
    `. onestep holds ${fmtBytes(s.bytesInUse)} in ${s.liveTensors} live tensors (bytesInUse ${s.bytesInUse}) and ${fmtBytes(s.bytesPooled)} of free buffers in its pool ` +
    `(bytesPooled ${s.bytesPooled}); adapter limits: maxBufferSize ${s.maxBufferSize}, maxStorageBufferBindingSize ${s.maxStorageBufferBindingSize}. ` +
    'Dispose tensors you no longer need, free the pool with os.device().trimPool(), or use a smaller batch'
  );
}

export class BufferPool {
  bytesInUse = 0;
  bytesPooled = 0;
  /** Free buffers per size class, highest creation number first: alloc takes the lowest (see release). */
  private readonly free = new Map<number, GPUBuffer[]>();
  private readonly numbers = new WeakMap<GPUBuffer, number>();
  private created = 0;
  /** Buffers a compiled program runs on in place (parameters, optimiser state): who to tell when one is released. */
  private readonly pins = new Map<GPUBuffer, { holders: Set<() => void>; released: boolean }>();

  constructor(
    private readonly gpu: GPUDevice,
    /** Where an allocation error goes (error scopes answer asynchronously: it is thrown at the next sync point). */
    private readonly report: (e: Error) => void,
    /** Live tensors, for the out-of-memory message. */
    private readonly liveTensors: () => number,
  ) {}

  /** A storage buffer of at least `bytes`, from the pool when one of its size class is free. */
  alloc(bytes: number): GPUBuffer {
    const size = sizeClass(bytes);
    const { maxBufferSize, maxStorageBufferBindingSize } = this.gpu.limits;
    if (size > maxStorageBufferBindingSize || size > maxBufferSize) {
      throw new DeviceError(
        `alloc: ${bytes} bytes (${fmtBytes(bytes)}) exceeds this adapter's limit of ${Math.min(maxStorageBufferBindingSize, maxBufferSize)} bytes per buffer ` +
          `(maxBufferSize ${maxBufferSize}, maxStorageBufferBindingSize ${maxStorageBufferBindingSize}; in use ${this.bytesInUse}, pooled ${this.bytesPooled}); ` +
          'split the tensor or use a smaller batch',
      );
    }
    let buf = this.free.get(size)?.pop();
    if (buf) this.bytesPooled -= size;
    else buf = this.create(bytes, size);
    this.bytesInUse += size;
    return buf;
  }

  /**
   * A fresh buffer (pool misses only: the hot path never gets here in a steady training loop). An out-of-memory error
   * scope around it turns a driver refusal into an OutOfMemoryError naming the request and the pool's state then.
   */
  private create(bytes: number, size: number): GPUBuffer {
    this.gpu.pushErrorScope('out-of-memory');
    const buf = this.gpu.createBuffer({ size, usage: STORAGE_USAGE });
    this.numbers.set(buf, this.created++);
    const state: AllocState = {
      requested: bytes, sizeClass: size, bytesInUse: this.bytesInUse, bytesPooled: this.bytesPooled, liveTensors: this.liveTensors(),
      maxBufferSize: this.gpu.limits.maxBufferSize, maxStorageBufferBindingSize: this.gpu.limits.maxStorageBufferBindingSize,
    };
    this.gpu.popErrorScope().then(
      (err) => {
        if (err) this.report(new OutOfMemoryError(outOfMemoryMessage({ ...state, driver: err.message || undefined }), bytes));
      },
      () => {}, // the scope stack is gone with a lost device; the loss itself is reported
    );
    return buf;
  }

  /** Back to the pool. Safe while queued commands still use it: later commands run after them. */
  release(buf: GPUBuffer, destroyed: boolean): void {
    const size = buf.size;
    this.bytesInUse -= size;
    if (destroyed) return;
    const pin = this.pins.get(buf);
    if (pin) {
      // a program still names it: tell the program (it is stale now) and keep the buffer out of reuse until unpinned
      pin.released = true;
      for (const h of [...pin.holders]) h();
      return;
    }
    this.recycle(buf);
  }

  /** `onRelease` runs if buf is released while pinned; the buffer is not reused before unpin. */
  pin(buf: GPUBuffer, onRelease: () => void): void {
    let pin = this.pins.get(buf);
    if (!pin) this.pins.set(buf, (pin = { holders: new Set(), released: false }));
    pin.holders.add(onRelease);
  }

  unpin(buf: GPUBuffer, onRelease: () => void): void {
    const pin = this.pins.get(buf);
    if (!pin || !pin.holders.delete(onRelease) || pin.holders.size) return;
    this.pins.delete(buf);
    if (pin.released) this.recycle(buf);
  }

  private recycle(buf: GPUBuffer): void {
    const size = buf.size;
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    // kept sorted, highest number first, so that pop() hands out the buffer created first
    const n = this.numberOf(buf);
    let lo = 0, hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.numberOf(list[mid]) > n) lo = mid + 1;
      else hi = mid;
    }
    list.splice(lo, 0, buf);
    this.bytesPooled += size;
  }

  /** A buffer's creation number (stable, never reused): bind-group cache keys use it. */
  numberOf(buf: GPUBuffer): number {
    let n = this.numbers.get(buf);
    if (n === undefined) this.numbers.set(buf, (n = this.created++));
    return n;
  }

  /** Destroys every pooled buffer (the pool refills on demand). */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.bytesPooled = 0;
  }
}

/** What os.memory() reports: the pool's figures with the device's counters. */
export interface MemoryStats {
  liveTensors: number;
  bytesInUse: number;
  bytesPooled: number;
  /** Kernel dispatches since init. */
  dispatches: number;
  /** Queue submits since init. */
  submits: number;
}
