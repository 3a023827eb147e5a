// runtime/device.ts: the GPU device under every kernel: one open command encoder that many dispatches share, submitted
// only when something must run (a readback, a sync, a full uniform batch). The pieces it composes each live in their
// own file: the buffer pool, the staging buffers, the pipeline cache, the bind-group cache, the uniform batch, the
// profiler, the wait; what it can do (capabilities.ts) and what it records (commands.ts) too.
import { isCpuAdapter } from './adapter';
import { BindGroupCache } from './bind-groups';
import { BufferPool, sizeClass, type MemoryStats } from './buffer-pool';
import type { Command, DeviceListener, DispatchArgs } from './commands';
import { DeviceError, DeviceLostError, fmtShape, internal } from './errors';
import { StagingPool } from './staging';
import { PipelineCache, type Kernel, type PipelineInfo } from './pipelines';
import { Profiler, type ProfileRow } from './profiler';
import { UniformBatch, uniformBytes } from './uniforms';
import { gpuWait, SUBMITS_WITHOUT_WAIT_WARNING, warnNoWait } from './wait';

/** Test hook: ONESTEP_TEST_LOSE_DEVICE_AT_SUBMIT=N destroys each new device at its N-th submit (device-loss tests of the CLI). */
const loseAtSubmit = (): number => {
  const v = typeof process !== 'undefined' ? Number(process.env?.ONESTEP_TEST_LOSE_DEVICE_AT_SUBMIT) : NaN;
  return Number.isInteger(v) && v > 0 ? v : 0;
};

export class Device {
  readonly gpu: GPUDevice;
  readonly adapterLabel: string;
  readonly adapterInfo: { vendor: string; architecture: string; device: string; description: string; backend: string };
  readonly isCpu: boolean;
  readonly features: ReadonlySet<string>;
  readonly limits: GPUSupportedLimits;
  readonly id: number;

  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  /** The pipeline last set in the open pass: a dispatch of the same kernel right after skips setPipeline (~1 µs in Dawn). */
  private passPipeline: GPUComputePipeline | null = null;
  private pendingCommands = 0;
  private readonly pool: BufferPool;
  private readonly pipelines: PipelineCache;
  private readonly bindGroups: BindGroupCache;
  private readonly uniforms: UniformBatch;
  /** The one dynamic offset of a uniform dispatch, as a plain array: Dawn's Node binding takes a sequence faster than its typed-array overload. */
  private readonly dynamicOffset: number[] = [0];
  private readonly staging: StagingPool;
  private profiler: Profiler | null = null;
  private pendingError: Error | null = null;
  /** Why the device was lost (`destroyed: …`, `unknown: …`), once it was; every later op throws DeviceLostError. */
  lostReason: string | null = null;
  private destroyed = false;
  private readonly loseAt = loseAtSubmit();
  private submitsSinceWait = 0;
  /** Waits begun and not yet over (sync, readbacks): submits made meanwhile are awaited, just not yet. */
  private waitsInFlight = 0;
  private warnedNoWait = false;

  dispatches = 0;
  submits = 0;
  liveTensors = 0;
  /** Sees every command and allocation as it happens (the compiler's tracer); null when nothing listens. */
  listener: DeviceListener | null = null;
  /** In capture mode (see capture): the commands collected instead of run. */
  private captured: Command[] | null = null;
  /** Dry mode (see dry): commands go to the listener only. */
  private dryDepth = 0;
  /** Stand-ins capture mode hands out for buffers (allocations, arrays that are gone): never bound, never read. */
  private readonly phantoms = new WeakSet<object>();

  private static nextId = 1;

  constructor(gpu: GPUDevice, adapter: GPUAdapter | null, label: string, backend: string) {
    this.gpu = gpu;
    this.id = Device.nextId++;
    this.adapterLabel = label;
    const i = adapter?.info;
    this.adapterInfo = {
      vendor: i?.vendor ?? '',
      architecture: i?.architecture ?? '',
      device: i?.device ?? '',
      description: i?.description ?? label,
      backend,
    };
    this.isCpu = adapter ? isCpuAdapter(adapter) : false;
    this.features = new Set(gpu.features as unknown as Iterable<string>);
    this.limits = gpu.limits;
    const report = (e: Error) => void (this.pendingError ??= e);
    this.pool = new BufferPool(gpu, report, () => this.liveTensors);
    this.staging = new StagingPool(gpu);
    this.pipelines = new PipelineCache(gpu, report);
    this.bindGroups = new BindGroupCache(gpu, this.pool);
    this.uniforms = new UniformBatch(gpu);
    gpu.onuncapturederror = (ev: GPUUncapturedErrorEvent) => report(new DeviceError(`WebGPU error: ${ev.error.message}`));
    void gpu.lost.then((info) => {
      if (info.reason === 'destroyed' && this.destroyed) return; // os.init() / os.shutdown() retired it on purpose
      this.lostReason = info.message ? `${info.reason}: ${info.message}` : String(info.reason);
    });
  }

  destroy(owned: boolean): void {
    this.destroyed = true;
    if (owned) this.gpu.destroy();
  }

  /** The error every op throws once the device is lost. */
  lostError(): DeviceLostError {
    return new DeviceLostError(
      this.lostReason ?? 'unknown',
      `device lost: ${this.lostReason}. The GPU device was lost (driver reset or crash, out of memory, or destroyed) and every tensor on it ` +
        'is gone; restart: call os.init() for a new device and recreate your tensors (from a checkpoint, if you have one)',
    );
  }

  /** Throws if the device is lost or was retired by os.init()/os.shutdown(); allocations and dispatches call it. */
  private checkUsable(): void {
    if (this.lostReason !== null) throw this.lostError();
    if (this.destroyed) {
      throw new DeviceError(`device #${this.id} was shut down (os.init() replaced it, or os.shutdown()); its tensors are gone: create them again on the current device`);
    }
  }

  /** Throws a recorded WebGPU error or device loss; called at every sync point. */
  checkHealthy(): void {
    if (this.lostReason !== null) throw this.lostError();
    if (this.pendingError) {
      const e = this.pendingError;
      this.pendingError = null;
      throw e;
    }
  }

  // ---- buffers --------------------------------------------------------------------------------------------------

  get bytesInUse(): number {
    return this.pool.bytesInUse;
  }
  get bytesPooled(): number {
    return this.pool.bytesPooled;
  }

  /** A storage buffer of at least `bytes`, from the pool when one of its size class is free. */
  alloc(bytes: number): GPUBuffer {
    this.checkUsable();
    if (this.captured) return this.phantom(bytes);
    const buf = this.pool.alloc(bytes);
    this.listener?.alloc(buf, bytes);
    return buf;
  }

  /** Back to the pool. Safe while queued commands still use it: later commands run after them. */
  release(buf: GPUBuffer): void {
    if (this.phantoms.has(buf)) return;
    this.listener?.release(buf);
    this.pool.release(buf, this.destroyed);
  }

  // ---- recording and capture ----------------------------------------------------------------------------------------

  /**
   * A stand-in for a buffer in capture mode: a distinct object per call, so code that tells buffers apart (the
   * optimiser's aliasing rule) behaves as it did on the real ones. It never reaches WebGPU.
   */
  phantom(bytes = 0): GPUBuffer {
    const p = { size: sizeClass(bytes), label: 'phantom' } as unknown as GPUBuffer;
    this.phantoms.add(p);
    return p;
  }

  /** Whether capture mode is on: allocations are phantoms, commands are collected, nothing runs. */
  get capturing(): boolean {
    return this.captured !== null;
  }

  /**
   * Runs fn in dry mode: its commands reach the listener (a compiled step's tracer) and nothing else. No pipeline is
   * compiled, nothing is encoded or written, and buffers keep what they held; allocations and releases are real, so
   * values keep their identities. Compiled.trace traces a call this way: a step's eager-only kernels (those that
   * fusion replaces) are never compiled.
   */
  dry<T>(fn: () => T): T {
    if (!this.listener) throw internal('dry: nothing listens to the commands');
    this.dryDepth++;
    try {
      return fn();
    } finally {
      this.dryDepth--;
    }
  }

  /**
   * Runs fn in capture mode and returns the commands it made, in order, without running them: allocations return a
   * phantom buffer (never bound), releases of it are ignored. A compiled program re-runs the host side of a dynamic
   * region this way to get this call's uniforms and data.
   */
  capture(fn: () => unknown): Command[] {
    if (this.captured) throw internal('capture: already capturing');
    const out: Command[] = (this.captured = []);
    try {
      fn();
    } finally {
      this.captured = null;
    }
    return out;
  }

  /** Keeps buf out of reuse while a compiled program runs on it in place; onRelease runs if its owner releases it. */
  pin(buf: GPUBuffer, onRelease: () => void): void {
    this.pool.pin(buf, onRelease);
  }

  unpin(buf: GPUBuffer, onRelease: () => void): void {
    this.pool.unpin(buf, onRelease);
  }

  /** Frees every pooled buffer (the pool refills on demand). */
  trimPool(): void {
    this.bindGroups.clear(); // they hold the buffers destroyed below
    this.pool.trim();
  }

  /** Writes host data into a buffer, ordered after every command recorded so far. */
  write(buf: GPUBuffer, data: ArrayBufferView, offsetBytes = 0): void {
    if (this.lostReason !== null) throw this.lostError();
    const bytes = () => new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
    if (this.captured) return void this.captured.push({ kind: 'write', dst: buf, offset: offsetBytes, data: bytes() });
    this.listener?.command({ kind: 'write', dst: buf, offset: offsetBytes, data: bytes() });
    if (this.dryDepth) return;
    // queue.writeBuffer runs before the not-yet-submitted encoder; a recycled buffer may still be read there.
    if (this.pendingCommands > 0) this.flush();
    this.gpu.queue.writeBuffer(buf, offsetBytes, data.buffer, data.byteOffset, data.byteLength);
  }

  // ---- kernels --------------------------------------------------------------------------------------------------

  pipeline(kernel: Kernel): GPUComputePipeline {
    return this.pipelines.get(kernel);
  }

  /** A compiled kernel's bind-group layout and whether binding 0 is the uniform slot. */
  pipelineInfo(p: GPUComputePipeline): PipelineInfo {
    return this.pipelines.infoOf(p);
  }

  /** Compiles a kernel off the main thread (tuners warm candidates up with it); pipeline() then finds it. */
  compileAsync(kernel: Kernel): Promise<void> {
    return this.pipelines.compileAsync(kernel);
  }

  /** Bind groups cached (diagnostics: in a steady training loop this stops growing after the first steps). */
  get bindGroupCount(): number {
    return this.bindGroups.size;
  }

  get pipelineCount(): number {
    return this.pipelines.size;
  }

  /** Records one dispatch into the open compute pass. Nothing runs until a flush. */
  dispatch(kernel: Kernel, args: DispatchArgs): void {
    if (this.lostReason !== null) throw this.lostError();
    const [x, y = 1, z = 1] = args.workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    const maxWg = this.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxWg || y > maxWg || z > maxWg) {
      throw internal(`${kernel.label}: dispatch ${fmtShape([x, y, z])} exceeds ${maxWg} workgroups per dimension`);
    }
    if (this.captured || this.listener) {
      const c: Command = { kind: 'dispatch', kernel, buffers: [...args.buffers], words: args.uniforms ? Uint32Array.from(args.uniforms) : null, workgroups: [x, y, z] };
      if (this.captured) return void this.captured.push(c);
      this.listener!.command(c);
      if (this.dryDepth) return;
    }
    const pipeline = this.pipelines.get(kernel);
    const info = this.pipelines.infoOf(pipeline);
    const words = args.uniforms;
    if (words && words.length * 4 > 256) throw internal(`${kernel.label}: ${words.length} uniform words exceed one 256-byte slot`);
    if (!!words !== info.uniform) {
      throw internal(`${kernel.label}: ${words ? 'uniforms given, but the kernel declares no var<uniform> at binding 0' : 'the kernel declares a var<uniform> at binding 0, but no uniforms were given'}`);
    }
    this.encodeDispatch(kernel.label, pipeline, this.bindGroup(info, words?.length ?? 0, args.buffers), words ?? null, x, y, z);
  }

  /**
   * The bind group of a kernel over these storage buffers (binding 0: `uniformWords` words of the uniform batch at a
   * dynamic offset, when it has uniforms), from the cache eager dispatches use.
   */
  bindGroup(info: PipelineInfo, uniformWords: number, buffers: readonly GPUBuffer[]): GPUBindGroup {
    return this.bindGroups.get(info, uniformWords ? this.uniforms.buffer : null, uniformWords ? uniformBytes(uniformWords) : 0, buffers);
  }

  /**
   * Records a resolved dispatch (a program's: pipeline and bind group made once) after everything recorded so far,
   * exactly as an eager dispatch is recorded: its words go into this submit's uniform batch, and nothing runs until a
   * flush. Not seen by listeners or capture (a replay is one call of a compiled step, not a stream of ops).
   */
  recordDispatch(label: string, pipeline: GPUComputePipeline, bindGroup: GPUBindGroup, words: ArrayLike<number> | null, workgroups: readonly [number, number, number]): void {
    this.checkUsable();
    this.encodeDispatch(label, pipeline, bindGroup, words, workgroups[0], workgroups[1], workgroups[2]);
  }

  /** Records a buffer copy for a program (not seen by listeners or capture). */
  recordCopy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.checkUsable();
    if (bytes > 0) this.encodeCopy(src, srcOffset, dst, dstOffset, bytes);
  }

  private encodeDispatch(label: string, pipeline: GPUComputePipeline, bindGroup: GPUBindGroup, words: ArrayLike<number> | null, x: number, y: number, z: number): void {
    if (words && !this.uniforms.hasRoom) this.flush();
    const pass = this.openPass(label);
    if (pipeline !== this.passPipeline) {
      pass.setPipeline(pipeline);
      this.passPipeline = pipeline;
    }
    if (words) {
      this.dynamicOffset[0] = this.uniforms.push(words);
      pass.setBindGroup(0, bindGroup, this.dynamicOffset);
    } else pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    if (this.profiler) this.endPass();
    this.pendingCommands++;
    this.dispatches++;
    if (this.profiler?.full) this.flush();
  }

  /** The compute pass to record into: shared by every dispatch, or one per dispatch with timestamps while profiling. */
  private openPass(label: string): GPUComputePassEncoder {
    this.encoder ??= this.gpu.createCommandEncoder();
    if (this.profiler) {
      this.endPass();
      const slot = this.profiler.next(label);
      this.pass = this.encoder.beginComputePass({ timestampWrites: { querySet: this.profiler.querySet, beginningOfPassWriteIndex: slot, endOfPassWriteIndex: slot + 1 } });
    } else this.pass ??= this.encoder.beginComputePass();
    return this.pass;
  }

  /** Whether a profile() is in progress (its dispatches get timestamps). */
  get profiling(): boolean {
    return this.profiler !== null;
  }

  /** Runs fn with every dispatch timed by GPU timestamps; milliseconds per kernel label, slowest first. Needs `timestamp-query`. */
  async profile(fn: () => unknown | Promise<unknown>): Promise<ProfileRow[]> {
    if (!this.features.has('timestamp-query')) throw new DeviceError(`profile: ${this.adapterLabel} has no timestamp-query feature`);
    // checked again after the sync: another profile may have started while it was awaited
    const busy = () => {
      if (this.profiler) throw new DeviceError('profile: another profile() is in progress on this device; await it first (profiles do not nest)');
    };
    busy();
    await this.sync();
    busy();
    const prof = new Profiler(this.gpu);
    this.profiler = prof;
    try {
      await fn();
      this.flush();
    } finally {
      this.profiler = null;
    }
    return prof.collect((buf, bytes) => this.read(buf, bytes));
  }

  /** Records a buffer copy (ends the open compute pass). */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    if (this.lostReason !== null) throw this.lostError(); // as dispatch: slices and cats may be copies
    if (bytes === 0) return;
    if (this.captured) return void this.captured.push({ kind: 'copy', src, srcOffset, dst, dstOffset, bytes });
    this.listener?.command({ kind: 'copy', src, srcOffset, dst, dstOffset, bytes });
    if (this.dryDepth) return;
    this.encodeCopy(src, srcOffset, dst, dstOffset, bytes);
  }

  private encodeCopy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.endPass();
    this.encoder ??= this.gpu.createCommandEncoder();
    this.encoder.copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
    this.pendingCommands++;
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
      this.passPipeline = null;
    }
  }

  /** Submits everything recorded so far in one queue submit. */
  flush(): void {
    this.checkHealthy();
    if (!this.encoder) return;
    this.endPass();
    this.profiler?.resolve(this.encoder);
    this.uniforms.upload();
    this.gpu.queue.submit([this.encoder.finish()]);
    this.encoder = null;
    this.pendingCommands = 0;
    this.submitted();
  }

  /** What follows every submit: the counters, the device-loss test hook, the no-wait warning. */
  private submitted(): void {
    this.submits++;
    if (this.submits === this.loseAt) this.gpu.destroy();
    // (Promise.all over many readbacks submits once per read before any wait ends: no warning while one is in flight)
    if (++this.submitsSinceWait >= SUBMITS_WITHOUT_WAIT_WARNING && this.waitsInFlight === 0 && !this.warnedNoWait) this.warnedNoWait = warnNoWait();
  }

  /**
   * Waits for the GPU only when `maxSubmits` or more submits are outstanding: cheap to call every step of a long
   * loop. Dawn (Node) frees finished work only while the host waits; an MNIST DMD2 run that went 50 iterations
   * (≈ 300 submits of heavy work) without a wait crashed it.
   */
  async relieve(maxSubmits = 64): Promise<void> {
    if (this.submitsSinceWait >= maxSubmits) await this.sync();
  }

  /** Waits until the GPU has finished all submitted work. */
  async sync(): Promise<void> {
    this.waitsInFlight++;
    try {
      this.flush();
      await gpuWait(this.gpu.queue.onSubmittedWorkDone());
    } finally {
      this.waitsInFlight--;
    }
    this.submitsSinceWait = 0;
    this.checkHealthy();
  }

  /** Reads `bytes` from a buffer back to the host (one submit, one wait). */
  async read(buf: GPUBuffer, bytes: number, offsetBytes = 0): Promise<ArrayBuffer> {
    return (await this.readMany([{ buf, bytes, offsetBytes }]))[0];
  }

  /**
   * Reads several buffers back in one submit and one wait: each is copied into its own word-aligned range of one
   * staging buffer. A wait costs far more than a copy (a round trip to the GPU process in a browser), so many small
   * values — a batch of iterations' losses — read together cost about what one does.
   */
  async readMany(parts: readonly { buf: GPUBuffer; bytes: number; offsetBytes?: number }[]): Promise<ArrayBuffer[]> {
    this.listener?.read();
    if (this.captured) throw internal('read: a readback in capture mode');
    const at: number[] = [];
    let end = 0;
    for (const p of parts) {
      at.push(end);
      end += Math.ceil(p.bytes / 16) * 16;
    }
    const size = Math.max(16, end);
    const staging = this.staging.take(size);
    parts.forEach((p, i) => p.bytes > 0 && this.copy(p.buf, p.offsetBytes ?? 0, staging, at[i], Math.ceil(p.bytes / 4) * 4));
    this.waitsInFlight++;
    try {
      this.flush();
      await gpuWait(staging.mapAsync(1 /* GPUMapMode.READ */, 0, size));
    } catch (e) {
      // a device lost during the wait rejects the map (Dawn: with an empty message); report the loss instead
      await Promise.race([this.gpu.lost, new Promise((r) => setTimeout(r, 100))]);
      this.checkHealthy();
      throw new DeviceError(`read: mapping a ${end}-byte readback failed (${(e as Error)?.name ?? 'Error'}: ${(e as Error)?.message || 'no message'}); the device may be unusable: call os.init() for a new one`);
    } finally {
      this.waitsInFlight--;
    }
    this.submitsSinceWait = 0;
    this.checkHealthy();
    const mapped = staging.getMappedRange(0, size);
    const out = parts.map((p, i) => mapped.slice(at[i], at[i] + p.bytes));
    staging.unmap();
    this.staging.give(staging);
    return out;
  }

  memory(): MemoryStats {
    return { liveTensors: this.liveTensors, bytesInUse: this.bytesInUse, bytesPooled: this.bytesPooled, dispatches: this.dispatches, submits: this.submits };
  }
}
