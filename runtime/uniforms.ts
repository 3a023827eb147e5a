// runtime/uniforms.ts: per-dispatch uniforms packed into one buffer per submit, each dispatch's at its own 256-byte
// slot bound at a dynamic offset. One buffer serves every submit: its writeBuffer is queued after the previous submit
// and before this one, so a slot is never overwritten while a queued dispatch may still read it.

const f32view = new Float32Array(1), u32view = new Uint32Array(f32view.buffer);
/** Bit pattern of a float, for the uniform word list. */
export function f32bits(x: number): number {
  f32view[0] = x;
  return u32view[0];
}

export const UNIFORM_SLOT = 256; // minUniformBufferOffsetAlignment on every adapter we know
const UNIFORM_BATCH_BYTES = 1 << 20; // a fuller batch submits early
const UNIFORM = 0x40, COPY_DST = 0x08;

export class UniformBatch {
  private readonly host = new Uint32Array(UNIFORM_BATCH_BYTES / 4);
  private used = 0;
  private buf: GPUBuffer | null = null;

  constructor(private readonly gpu: GPUDevice) {}

  get buffer(): GPUBuffer {
    return (this.buf ??= this.gpu.createBuffer({ size: UNIFORM_BATCH_BYTES, usage: UNIFORM | COPY_DST }));
  }

  /** Whether another slot fits before the batch must be submitted. */
  get hasRoom(): boolean {
    return this.used + UNIFORM_SLOT <= UNIFORM_BATCH_BYTES;
  }

  /** Copies a dispatch's words into the next slot; returns its byte offset. */
  push(words: ArrayLike<number>): number {
    const offset = this.used;
    const base = offset / 4;
    for (let i = 0; i < words.length; i++) this.host[base + i] = words[i];
    this.used += UNIFORM_SLOT;
    return offset;
  }

  /** Queues the batch's upload (before the submit that reads it) and starts a new batch. */
  upload(): void {
    if (this.used > 0) this.gpu.queue.writeBuffer(this.buffer, 0, this.host.buffer, 0, this.used);
    this.used = 0;
  }
}

/** Bytes a binding of n uniform words covers (a whole number of 16-byte rows, at least one). */
export const uniformBytes = (n: number): number => Math.max(16, Math.ceil(n / 4) * 16);
