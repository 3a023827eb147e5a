// runtime/bind-groups.ts: bind groups cached by pipeline, uniform size and buffers. createBindGroup costs ~15 µs
// through Dawn in Node, a third of a dispatch's host time; with the uniform slot bound at a dynamic offset and the pool
// handing out buffers in a fixed order, every bind group of a training step repeats from the step before.
import type { BufferPool } from './buffer-pool';
import type { PipelineInfo } from './pipelines';

const BIND_GROUP_CACHE = 8192; // a UNet training step binds ~650 distinct groups

export class BindGroupCache {
  private readonly groups = new Map<string, GPUBindGroup>();

  constructor(
    private readonly gpu: GPUDevice,
    private readonly pool: BufferPool,
  ) {}

  get size(): number {
    return this.groups.size;
  }

  /** The group for these buffers (binding 0: `uniform` at a dynamic offset, when the kernel has one). */
  get(info: PipelineInfo, uniform: GPUBuffer | null, uniformBytes: number, buffers: readonly GPUBuffer[]): GPUBindGroup {
    let key = `${info.no}:${uniformBytes}`;
    for (const b of buffers) key += `,${this.pool.numberOf(b)}`;
    let bg = this.groups.get(key);
    if (!bg) {
      const entries: GPUBindGroupEntry[] = [];
      if (uniformBytes) entries.push({ binding: 0, resource: { buffer: uniform!, offset: 0, size: uniformBytes } });
      buffers.forEach((buffer, i) => entries.push({ binding: i + 1, resource: { buffer } }));
      bg = this.gpu.createBindGroup({ layout: info.layout, entries });
      // a destroyed buffer's groups are never looked up again (numbers are not reused): bound the map, oldest out
      if (this.groups.size >= BIND_GROUP_CACHE) this.groups.delete(this.groups.keys().next().value!);
      this.groups.set(key, bg);
    }
    return bg;
  }

  /** Forgets every group (they hold buffers about to be destroyed). */
  clear(): void {
    this.groups.clear();
  }
}
