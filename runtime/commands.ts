// runtime/commands.ts: what a device does, as data: the commands it records (dispatch, buffer copy, host write) and
// the allocation events around them. A listener sees them while they run (the compiler's tracer); capture mode
// (Device.capture) collects them instead of running them, to rebuild one part of a recorded program.
import type { Kernel } from './pipelines';

export interface DispatchArgs {
  /** Storage buffers in binding order 1, 2, …; binding 0 is the uniform block when `uniforms` is given. */
  buffers: GPUBuffer[];
  /** Raw 32-bit words of the kernel's uniform struct (use `f32bits` for floats). */
  uniforms?: ArrayLike<number>;
  workgroups: [number, number?, number?];
}

export type Command =
  | { kind: 'dispatch'; kernel: Kernel; buffers: GPUBuffer[]; words: Uint32Array | null; workgroups: [number, number, number] }
  | { kind: 'copy'; src: GPUBuffer; srcOffset: number; dst: GPUBuffer; dstOffset: number; bytes: number }
  | { kind: 'write'; dst: GPUBuffer; offset: number; data: Uint8Array };

/** Sees every command and every buffer handed out or returned, as it happens. */
export interface DeviceListener {
  command(c: Command): void;
  alloc(buf: GPUBuffer, bytes: number): void;
  release(buf: GPUBuffer): void;
  /** A readback was asked for (the tracer refuses it). */
  read(): void;
}

/** The buffers a command reads and writes, in binding order for dispatches. */
export const commandBuffers = (c: Command): GPUBuffer[] => (c.kind === 'dispatch' ? c.buffers : c.kind === 'copy' ? [c.src, c.dst] : [c.dst]);
