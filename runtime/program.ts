// runtime/program.ts: a recorded command stream that runs again with no per-command host work beyond encoding:
// pipelines, bind groups (binding the device's uniform batch at a dynamic offset) and workgroup counts are resolved
// once. A run queues its host data, then records its commands into the device's open encoder exactly as eager
// dispatches are recorded, so replays with nothing to upload batch into one submit with their neighbours. Dynamic
// parts (this call's RNG stream, an optimiser's step count, a slice's start) are patched by the caller between runs
// (setWords, setData, setCopy).
import type { Command } from './commands';
import type { Device } from './device';
import { internal } from './errors';
import type { PipelineInfo } from './pipelines';

/** A whole-buffer copy of `bytes` (rounded up to 4) around a run. */
export interface Copy {
  src: GPUBuffer;
  dst: GPUBuffer;
  bytes: number;
}

type Step =
  | { kind: 'dispatch'; label: string; pipeline: GPUComputePipeline; info: PipelineInfo; buffers: GPUBuffer[]; bindGroup: GPUBindGroup; words: Uint32Array | null; workgroups: [number, number, number] }
  | Extract<Command, { kind: 'copy' }>
  | Extract<Command, { kind: 'write' }>;

export class Program {
  private readonly steps: Step[];
  /** The host writes, queued at the start of every run. */
  private readonly writes: Extract<Step, { kind: 'write' }>[];
  /** Per buffer of the recorded commands that setBuffer has moved: where it is bound, and what is bound there now. */
  private readonly moved = new Map<GPUBuffer, { uses: { step: number; at: number }[]; current: GPUBuffer }>();
  readonly dispatchCount: number;

  /** `commands` name the buffers they run on; the caller keeps those alive (and exclusive) while the program lives. */
  constructor(
    private readonly device: Device,
    commands: readonly Command[],
  ) {
    this.dispatchCount = commands.filter((c) => c.kind === 'dispatch').length;
    this.steps = commands.map((c): Step => {
      if (c.kind !== 'dispatch') return { ...c };
      const pipeline = device.pipeline(c.kernel);
      const info = device.pipelineInfo(pipeline);
      if (!!c.words !== info.uniform) throw internal(`program: ${c.kernel.label} uniforms do not match its layout`);
      const buffers = [...c.buffers];
      const bindGroup = device.bindGroup(info, c.words?.length ?? 0, buffers);
      return { kind: 'dispatch', label: c.kernel.label, pipeline, info, buffers, bindGroup, words: c.words && Uint32Array.from(c.words), workgroups: c.workgroups };
    });
    this.writes = this.steps.filter((s): s is Extract<Step, { kind: 'write' }> => s.kind === 'write');
  }

  /**
   * From the next run on, every command recorded on `recorded` (a buffer of the constructor's commands) uses `buffer`
   * instead: a compiled step writes its outputs straight into the tensors it returns, with no copy. `buffer` must be
   * at least as large. Bind groups come from the device's cache, so a buffer seen before costs a lookup.
   */
  setBuffer(recorded: GPUBuffer, buffer: GPUBuffer): void {
    if (buffer.size < recorded.size) throw internal(`program: a ${buffer.size}-byte buffer cannot stand in for a ${recorded.size}-byte one`);
    let m = this.moved.get(recorded);
    if (!m) {
      const uses: { step: number; at: number }[] = [];
      this.steps.forEach((s, step) => {
        if (s.kind === 'dispatch') s.buffers.forEach((b, at) => b === recorded && uses.push({ step, at }));
        else if (s.kind === 'copy') [s.src, s.dst].forEach((b, at) => b === recorded && uses.push({ step, at }));
        else if (s.dst === recorded) uses.push({ step, at: 0 });
      });
      this.moved.set(recorded, (m = { uses, current: recorded }));
    }
    if (m.current === buffer) return;
    m.current = buffer;
    for (const { step, at } of m.uses) {
      const s = this.steps[step];
      if (s.kind === 'dispatch') s.buffers[at] = buffer;
      else if (s.kind === 'copy') at === 0 ? (s.src = buffer) : (s.dst = buffer);
      else s.dst = buffer;
    }
    for (const step of new Set(m.uses.map((u) => u.step))) {
      const s = this.steps[step];
      if (s.kind === 'dispatch') s.bindGroup = this.device.bindGroup(s.info, s.words?.length ?? 0, s.buffers);
    }
  }

  /** The buffer the commands recorded on `recorded` use now (see setBuffer). */
  bufferFor(recorded: GPUBuffer): GPUBuffer {
    return this.moved.get(recorded)?.current ?? recorded;
  }

  /** Replaces the uniform words of command i (a dispatch) for the next runs. */
  setWords(i: number, words: ArrayLike<number>): void {
    const s = this.steps[i];
    if (s.kind !== 'dispatch' || !s.words || words.length !== s.words.length) throw internal(`program: command ${i} takes no ${words.length} uniform words`);
    s.words.set(words);
  }

  /** Replaces where command i (a buffer copy) reads and writes, for the next runs: a slice whose start is host state. */
  setCopy(i: number, srcOffset: number, dstOffset: number, bytes: number): void {
    const s = this.steps[i];
    if (s.kind !== 'copy' || s.bytes !== bytes) throw internal(`program: command ${i} copies no ${bytes} bytes`);
    s.srcOffset = srcOffset;
    s.dstOffset = dstOffset;
  }

  /** Replaces the bytes command i (a host write) writes, for the next runs. */
  setData(i: number, data: Uint8Array): void {
    const s = this.steps[i];
    if (s.kind !== 'write' || s.data.byteLength !== data.byteLength) throw internal(`program: command ${i} writes no ${data.byteLength} bytes`);
    s.data = data;
  }

  /**
   * Queues the host data, then records every command after all earlier work, between `before` and `after` copies (a
   * compiled step's arguments in, its outputs out: buffers that change per call). Nothing runs until the device's next
   * flush (a readback, a sync, a host write), as with eager ops.
   */
  run(before: readonly Copy[] = [], after: readonly Copy[] = []): void {
    const dev = this.device;
    if (this.writes.length) {
      // queue writes land at once, ahead of commands not yet submitted (an earlier run of this program among them,
      // which may still read these buffers): submit those first, so the writes land after them and before this run
      dev.flush();
      for (const s of this.writes) dev.gpu.queue.writeBuffer(s.dst, s.offset, s.data.buffer, s.data.byteOffset, s.data.byteLength);
    }
    for (const c of before) dev.recordCopy(c.src, 0, c.dst, 0, c.bytes);
    for (const s of this.steps) {
      if (s.kind === 'dispatch') dev.recordDispatch(s.label, s.pipeline, s.bindGroup, s.words, s.workgroups);
      else if (s.kind === 'copy') dev.recordCopy(s.src, s.srcOffset, s.dst, s.dstOffset, s.bytes);
    }
    for (const c of after) dev.recordCopy(c.src, 0, c.dst, 0, c.bytes);
  }
}
