// runtime/staging.ts: mappable buffers that readbacks copy into, kept per size class (a few each) so a training
// loop that reads its loss every step does not create and destroy a buffer per read.
import { sizeClass } from './buffer-pool';

const MAP_READ = 0x01, COPY_DST = 0x08;
/** Free staging buffers kept per size class; more are destroyed on return. */
const KEEP_PER_CLASS = 4;

export class StagingPool {
  private readonly free = new Map<number, GPUBuffer[]>();

  constructor(private readonly gpu: GPUDevice) {}

  /** An unmapped MAP_READ | COPY_DST buffer of at least `bytes`. */
  take(bytes: number): GPUBuffer {
    const cls = sizeClass(bytes);
    return this.free.get(cls)?.pop() ?? this.gpu.createBuffer({ size: cls, usage: MAP_READ | COPY_DST });
  }

  /** Back to the pool, unmapped. */
  give(buf: GPUBuffer): void {
    let list = this.free.get(buf.size);
    if (!list) this.free.set(buf.size, (list = []));
    if (list.length < KEEP_PER_CLASS) list.push(buf);
    else buf.destroy();
  }
}
