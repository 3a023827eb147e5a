// runtime/program.ts: a recorded command stream that runs again with no per-command host work beyond encoding:
// pipelines, bind groups (over the program's own uniform buffer, one 256-byte slot per dispatch) and workgroup counts
// are resolved once; a run uploads the uniforms and the host data, encodes, and submits once. Dynamic parts (this
// call's RNG stream, an optimiser's step count) are patched by the caller between runs (setWords, setData).
import type { Command } from './commands';
import type { Device } from './device';
import { internal } from './errors';
import { UNIFORM_SLOT, uniformBytes } from './uniforms';

const UNIFORM = 0x40, COPY_DST = 0x08;

/** A whole-buffer copy of `bytes` (rounded up to 4) around a run. */
export interface Copy {
  src: GPUBuffer;
  dst: GPUBuffer;
  bytes: number;
}

interface Encoded {
  c: Command;
  pipeline?: GPUComputePipeline;
  bindGroup?: GPUBindGroup;
  /** Byte offset of the dispatch's uniform slot. */
  slot: number;
}

export class Program {
  private readonly steps: Encoded[];
  private readonly uniformHost: Uint32Array;
  private readonly uniformBuffer: GPUBuffer | null;
  readonly dispatchCount: number;

  /** `commands` name the buffers they run on; the caller keeps those alive (and exclusive) while the program lives. */
  constructor(
    private readonly device: Device,
    commands: readonly Command[],
  ) {
    const dispatches = commands.filter((c) => c.kind === 'dispatch');
    this.dispatchCount = dispatches.length;
    const withWords = dispatches.filter((c) => c.kind === 'dispatch' && c.words).length;
    this.uniformHost = new Uint32Array((withWords * UNIFORM_SLOT) / 4);
    this.uniformBuffer = withWords ? device.gpu.createBuffer({ size: Math.max(UNIFORM_SLOT, withWords * UNIFORM_SLOT), usage: UNIFORM | COPY_DST }) : null;
    let slot = 0;
    this.steps = commands.map((c) => {
      if (c.kind !== 'dispatch') return { c, slot: 0 };
      const pipeline = device.pipeline(c.kernel);
      const info = device.pipelineInfo(pipeline);
      if (!!c.words !== info.uniform) throw internal(`program: ${c.kernel.label} uniforms do not match its layout`);
      const entries: GPUBindGroupEntry[] = [];
      if (c.words) entries.push({ binding: 0, resource: { buffer: this.uniformBuffer!, offset: 0, size: uniformBytes(c.words.length) } });
      c.buffers.forEach((buffer, i) => entries.push({ binding: i + 1, resource: { buffer } }));
      const bindGroup = device.gpu.createBindGroup({ layout: info.layout, entries });
      const step: Encoded = { c, pipeline, bindGroup, slot };
      if (c.words) {
        this.uniformHost.set(c.words, slot / 4);
        slot += UNIFORM_SLOT;
      }
      return step;
    });
  }

  /** Replaces the uniform words of command i (a dispatch) for the next runs. */
  setWords(i: number, words: ArrayLike<number>): void {
    const s = this.steps[i];
    if (s.c.kind !== 'dispatch' || !s.c.words || words.length !== s.c.words.length) throw internal(`program: command ${i} takes no ${words.length} uniform words`);
    this.uniformHost.set(words, s.slot / 4);
  }

  /** Replaces the bytes command i (a host write) writes, for the next runs. */
  setData(i: number, data: Uint8Array): void {
    const s = this.steps[i];
    if (s.c.kind !== 'write' || s.c.data.byteLength !== data.byteLength) throw internal(`program: command ${i} writes no ${data.byteLength} bytes`);
    s.c = { ...s.c, data };
  }

  /**
   * Uploads the uniforms and host data, then encodes every command into one submit after all earlier work, between
   * `before` and `after` copies (a compiled step's arguments in, its outputs out: buffers that change per call).
   */
  run(before: readonly Copy[] = [], after: readonly Copy[] = []): void {
    const q = this.device.gpu.queue;
    // queue writes land at once, ahead of any commands not yet submitted: submit the device's pending work first (it
    // may still use the buffers this program writes), so they land after it and before the program
    this.device.flush();
    for (const s of this.steps) if (s.c.kind === 'write') q.writeBuffer(s.c.dst, s.c.offset, s.c.data.buffer, s.c.data.byteOffset, s.c.data.byteLength);
    if (this.uniformBuffer) q.writeBuffer(this.uniformBuffer, 0, this.uniformHost.buffer, 0, this.uniformHost.byteLength);
    this.device.submitProgram((enc, timed) => {
      for (const c of before) enc.copyBufferToBuffer(c.src, 0, c.dst, 0, c.bytes);
      let pass: GPUComputePassEncoder | null = null;
      const offset = new Uint32Array(1);
      for (const s of this.steps) {
        const c = s.c;
        if (c.kind === 'dispatch') {
          const timing = timed(c.kernel.label);
          if (timing) {
            pass?.end();
            pass = enc.beginComputePass(timing);
          } else pass ??= enc.beginComputePass();
          pass.setPipeline(s.pipeline!);
          if (c.words) {
            offset[0] = s.slot;
            pass.setBindGroup(0, s.bindGroup!, offset, 0, 1);
          } else pass.setBindGroup(0, s.bindGroup!);
          pass.dispatchWorkgroups(...c.workgroups);
          if (timing) {
            pass.end();
            pass = null;
          }
        } else if (c.kind === 'copy') {
          pass?.end();
          pass = null;
          enc.copyBufferToBuffer(c.src, c.srcOffset, c.dst, c.dstOffset, c.bytes);
        }
      }
      pass?.end();
      for (const c of after) enc.copyBufferToBuffer(c.src, 0, c.dst, 0, c.bytes);
      return this.dispatchCount;
    });
  }

  /** Frees the uniform buffer (the caller owns the others). */
  destroy(): void {
    this.uniformBuffer?.destroy();
  }
}
