// engine/device.ts: the GPU runtime under every op: one open command encoder that many dispatches share, a pipeline
// cache keyed by WGSL source, per-dispatch uniforms packed into one buffer per submit (bound at a dynamic offset), a
// size-bucketed buffer pool that hands buffers out in a fixed order, bind groups cached by pipeline and buffers (so a
// training step's repeat every step), and readbacks whose waits sleep instead of spinning a core (Node).
import { findAdapter, isCpuAdapter, type AdapterChoice } from './adapter';
import { DeviceError, DeviceLostError, DisposedError, OutOfMemoryError, fmtShape, internal } from './errors';

export interface InitOptions {
  /** Force an adapter in Node: 'system' (real GPU), 'lavapipe' or 'swiftshader'. Default: the best that works. */
  adapter?: AdapterChoice | GPUAdapter;
  /** Bring your own GPUDevice (the engine then never destroys it). */
  device?: GPUDevice;
  /** No "onestep: using …" line. */
  quiet?: boolean;
}

/** A compiled kernel: WGSL source plus the label that names it in errors. */
export interface Kernel {
  code: string;
  label: string;
}

export interface DispatchArgs {
  /** Storage buffers in binding order 1, 2, …; binding 0 is the uniform block when `uniforms` is given. */
  buffers: GPUBuffer[];
  /** Raw 32-bit words of the kernel's uniform struct (use `f32bits` for floats). */
  uniforms?: ArrayLike<number>;
  workgroups: [number, number?, number?];
}

export interface MemoryStats {
  liveTensors: number;
  bytesInUse: number;
  bytesPooled: number;
  /** Kernel dispatches since init. */
  dispatches: number;
  /** Queue submits since init. */
  submits: number;
}

/** Measured: ~1,000 submits (70 dispatches each) without an await crashed dawn.node; warn well before. */
const SUBMITS_WITHOUT_WAIT_WARNING = 200;
const UNIFORM_SLOT = 256; // minUniformBufferOffsetAlignment on every adapter we know
const UNIFORM_BATCH_BYTES = 1 << 20; // one uniform buffer per submit; a fuller batch submits early
const BIND_GROUP_CACHE = 8192; // a UNet training step binds ~650 distinct groups
const STORAGE_USAGE = 0x80 | 0x04 | 0x08; // STORAGE | COPY_SRC | COPY_DST (constants: GPUBufferUsage may not exist yet)
const MAP_READ = 0x01, COPY_DST = 0x08, UNIFORM = 0x40;

const f32view = new Float32Array(1), u32view = new Uint32Array(f32view.buffer);
/** Bit pattern of a float, for the uniform word list. */
export function f32bits(x: number): number {
  f32view[0] = x;
  return u32view[0];
}

/** `1.50 GiB`: byte counts in messages. */
export function fmtBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) (n /= 1024), i++;
  return i === 0 ? `${n} bytes` : `${n.toFixed(2)} ${units[i]}`;
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

/** Test hook: ONESTEP_TEST_LOSE_DEVICE_AT_SUBMIT=N destroys each new device at its N-th submit (device-loss tests of the CLI). */
const loseAtSubmit = (): number => {
  const v = typeof process !== 'undefined' ? Number(process.env?.ONESTEP_TEST_LOSE_DEVICE_AT_SUBMIT) : NaN;
  return Number.isInteger(v) && v > 0 ? v : 0;
};

/** Pool size class: powers of two split in quarters, so waste stays under 25% (≥ 256 bytes). */
export function sizeClass(bytes: number): number {
  const b = Math.max(256, bytes);
  const p = 2 ** Math.floor(Math.log2(b));
  const quarter = p / 4;
  return p >= 1024 ? Math.ceil(b / quarter) * quarter : 2 ** Math.ceil(Math.log2(b));
}

/** SwiftShader (Chromium's CPU Vulkan): kernel picks differ from lavapipe's (4-lane subgroups, SSE registers). */
export const isSwiftShader = (dev: Device): boolean => /swiftshader/i.test(`${dev.adapterLabel} ${dev.adapterInfo.description}`);

/** Whether the device has shader-f16 (native f16 in WGSL); without it f16 data is read from packed pairs. */
export const hasShaderF16 = (dev: Device): boolean => dev.features.has('shader-f16');

/** The adapter's smallest subgroup when the device has the `subgroups` feature, else 0. */
export const subgroupMinSize = (dev: Device): number => (dev.features.has('subgroups') ? (dev.gpu.adapterInfo?.subgroupMinSize ?? 0) : 0);

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
  private pendingCommands = 0;
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly compiling = new Map<string, Promise<GPUComputePipeline>>();
  /** Per pipeline: its explicit bind-group layout, a number for cache keys, whether binding 0 is the uniform slot. */
  private readonly layouts = new WeakMap<GPUComputePipeline, { layout: GPUBindGroupLayout; no: number; uniform: boolean }>();
  /** Bind-group layouts by signature (e.g. 'u r r w'): pipelines with the same bindings share one. */
  private readonly layoutsBySignature = new Map<string, { layout: GPUBindGroupLayout; pipelineLayout: GPUPipelineLayout }>();
  /**
   * Bind groups by pipeline, uniform size and buffers. createBindGroup costs ~15 µs through Dawn in Node, a third of a
   * dispatch's host time; with the uniform slot as a dynamic offset and the pool handing out buffers in a fixed order,
   * every bind group of a training step repeats from the step before.
   */
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private readonly dynamicOffset = new Uint32Array(1);
  private uniformHost = new Uint32Array(UNIFORM_BATCH_BYTES / 4);
  private uniformUsed = 0;
  private uniformBuf: GPUBuffer | null = null;
  /** Free buffers per size class, highest creation number first: alloc takes the lowest (see release). */
  private readonly free = new Map<number, GPUBuffer[]>();
  private readonly bufferNumbers = new WeakMap<GPUBuffer, number>();
  private buffersCreated = 0;
  private readonly stagingFree = new Map<number, GPUBuffer[]>();
  private pendingError: Error | null = null;
  /** Why the device was lost (`destroyed: …`, `unknown: …`), once it was; every later op throws DeviceLostError. */
  lostReason: string | null = null;
  private readonly loseAt = loseAtSubmit();

  dispatches = 0;
  submits = 0;
  liveTensors = 0;
  bytesInUse = 0;
  bytesPooled = 0;

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
    gpu.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
      this.pendingError ??= new DeviceError(`WebGPU error: ${ev.error.message}`);
    };
    void gpu.lost.then((info) => {
      if (info.reason === 'destroyed' && this.destroyed) return; // os.init() / os.shutdown() retired it on purpose
      this.lostReason = info.message ? `${info.reason}: ${info.message}` : String(info.reason);
    });
  }

  private destroyed = false;
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

  /** A storage buffer of at least `bytes`, from the pool when one of its size class is free. */
  alloc(bytes: number): GPUBuffer {
    this.checkUsable();
    const size = sizeClass(bytes);
    const { maxBufferSize, maxStorageBufferBindingSize } = this.limits;
    if (size > maxStorageBufferBindingSize || size > maxBufferSize) {
      throw new DeviceError(
        `alloc: ${bytes} bytes (${fmtBytes(bytes)}) exceeds this adapter's limit of ${Math.min(maxStorageBufferBindingSize, maxBufferSize)} bytes per buffer ` +
          `(maxBufferSize ${maxBufferSize}, maxStorageBufferBindingSize ${maxStorageBufferBindingSize}; in use ${this.bytesInUse}, pooled ${this.bytesPooled}); ` +
          'split the tensor or use a smaller batch',
      );
    }
    const list = this.free.get(size);
    let buf = list?.pop();
    if (buf) this.bytesPooled -= size;
    else buf = this.createStorage(bytes, size);
    this.bytesInUse += size;
    return buf;
  }

  /**
   * A fresh buffer (pool misses only: the hot path never gets here in a steady training loop). An out-of-memory error
   * scope around it turns a driver refusal into an OutOfMemoryError, thrown at the next sync point (error scopes
   * answer asynchronously), naming the request and the pool's state at the time of the request.
   */
  private createStorage(bytes: number, size: number): GPUBuffer {
    this.gpu.pushErrorScope('out-of-memory');
    const buf = this.gpu.createBuffer({ size, usage: STORAGE_USAGE });
    this.bufferNumbers.set(buf, this.buffersCreated++);
    const state: AllocState = {
      requested: bytes, sizeClass: size, bytesInUse: this.bytesInUse, bytesPooled: this.bytesPooled, liveTensors: this.liveTensors,
      maxBufferSize: this.limits.maxBufferSize, maxStorageBufferBindingSize: this.limits.maxStorageBufferBindingSize,
    };
    this.gpu.popErrorScope().then(
      (err) => {
        if (err) this.pendingError ??= new OutOfMemoryError(outOfMemoryMessage({ ...state, driver: err.message || undefined }), bytes);
      },
      () => {}, // the scope stack is gone with a lost device; the loss itself is reported
    );
    return buf;
  }

  /** Back to the pool. Safe while queued commands still use it: later commands run after them. */
  release(buf: GPUBuffer): void {
    const size = buf.size;
    this.bytesInUse -= size;
    if (this.destroyed) return;
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    // Kept sorted, so that alloc hands out the free buffer created first whatever order buffers came back in: a
    // training step then gets the same buffers for the same tensors every step (a stack permuted them from step to
    // step), and its bind groups repeat (see bindGroup).
    const n = this.bufferNumbers.get(buf) ?? -1;
    let lo = 0, hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.bufferNumbers.get(list[mid]) ?? -1) > n) lo = mid + 1;
      else hi = mid;
    }
    list.splice(lo, 0, buf);
    this.bytesPooled += size;
  }

  /** Frees every pooled buffer (the pool refills on demand). */
  trimPool(): void {
    this.bindGroups.clear(); // they hold the buffers destroyed below
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.bytesPooled = 0;
  }

  /** Writes host data into a buffer, ordered after every command recorded so far. */
  write(buf: GPUBuffer, data: ArrayBufferView, offsetBytes = 0): void {
    if (this.lostReason !== null) throw this.lostError();
    // queue.writeBuffer runs before the not-yet-submitted encoder; a recycled buffer may still be read there.
    if (this.pendingCommands > 0) this.flush();
    this.gpu.queue.writeBuffer(buf, offsetBytes, data.buffer, data.byteOffset, data.byteLength);
  }

  // ---- kernels --------------------------------------------------------------------------------------------------

  pipeline(kernel: Kernel): GPUComputePipeline {
    let p = this.pipelines.get(kernel.code);
    if (!p) {
      const layout = this.layoutOf(kernel);
      p = this.gpu.createComputePipeline(this.pipelineDescriptor(kernel, layout.pipelineLayout));
      this.keep(kernel, p, layout);
    }
    return p;
  }

  private pipelinesMade = 0;
  private keep(kernel: Kernel, p: GPUComputePipeline, l: { layout: GPUBindGroupLayout; uniform: boolean }): void {
    this.pipelines.set(kernel.code, p);
    this.layouts.set(p, { layout: l.layout, uniform: l.uniform, no: this.pipelinesMade++ });
  }

  /**
   * The bind-group layout the kernel declares (group 0; binding 0 may be the uniform slot, which binds at a dynamic
   * offset). Explicit rather than 'auto' because auto layouts have no dynamic offsets; every declared binding must
   * then be bound, used or not.
   */
  private layoutOf(kernel: Kernel): { layout: GPUBindGroupLayout; pipelineLayout: GPUPipelineLayout; uniform: boolean } {
    const decl = /@binding\((\d+)\)\s*var<\s*(uniform|storage)\s*(?:,\s*(read_write|read))?\s*>/g;
    const kinds: string[] = [];
    for (const m of kernel.code.matchAll(decl)) kinds[Number(m[1])] = m[2] === 'uniform' ? 'u' : m[3] === 'read_write' ? 'w' : 'r';
    const signature = kinds.map((k, i) => `${i}${k}`).join(' ');
    let known = this.layoutsBySignature.get(signature);
    if (!known) {
      const entries: GPUBindGroupLayoutEntry[] = [];
      kinds.forEach((k, binding) => {
        if (!k) return;
        const buffer: GPUBufferBindingLayout = k === 'u' ? { type: 'uniform', hasDynamicOffset: true } : { type: k === 'w' ? 'storage' : 'read-only-storage' };
        entries.push({ binding, visibility: 4 /* GPUShaderStage.COMPUTE */, buffer });
      });
      const layout = this.gpu.createBindGroupLayout({ entries, label: signature });
      known = { layout, pipelineLayout: this.gpu.createPipelineLayout({ bindGroupLayouts: [layout] }) };
      this.layoutsBySignature.set(signature, known);
    }
    return { ...known, uniform: kinds[0] === 'u' };
  }

  /** The kernel's shader module (compile errors surface at the next sync, with the offending lines) in a pipeline descriptor. */
  private pipelineDescriptor(kernel: Kernel, layout: GPUPipelineLayout): GPUComputePipelineDescriptor {
    const module = this.gpu.createShaderModule({ code: kernel.code, label: kernel.label });
    void module.getCompilationInfo().then((info) => {
      const errs = info.messages.filter((m) => m.type === 'error');
      if (errs.length) {
        const lines = kernel.code.split('\n');
        const msg = errs.map((m) => `  ${m.lineNum}:${m.linePos} ${m.message}\n    ${lines[m.lineNum - 1] ?? ''}`).join('\n');
        this.pendingError ??= new DeviceError(`internal: kernel "${kernel.label}" failed to compile:\n${msg}`);
      }
    });
    return { layout, compute: { module, entryPoint: 'main' }, label: kernel.label };
  }

  /**
   * Compiles a kernel without blocking the main thread (createComputePipelineAsync; tuners warm candidates up with it)
   * and keeps the pipeline for pipeline(): Dawn does not reuse an async-created pipeline for a later synchronous create, which compiled it again
   * (5.1 s more for an unrolled attention kernel on SwiftShader).
   */
  async compileAsync(kernel: Kernel): Promise<void> {
    if (this.pipelines.has(kernel.code)) return;
    const layout = this.layoutOf(kernel);
    let job = this.compiling.get(kernel.code);
    if (!job) {
      job = this.gpu.createComputePipelineAsync(this.pipelineDescriptor(kernel, layout.pipelineLayout));
      this.compiling.set(kernel.code, job);
    }
    try {
      const p = await job;
      if (!this.pipelines.has(kernel.code)) this.keep(kernel, p, layout);
    } finally {
      this.compiling.delete(kernel.code);
    }
  }

  /** Bind groups cached (diagnostics: in a steady training loop this stops growing after the first steps). */
  get bindGroupCount(): number {
    return this.bindGroups.size;
  }

  get pipelineCount(): number {
    return this.pipelines.size;
  }

  // One buffer serves every submit: its writeBuffer is queued after the previous submit and before this one.
  private uniformBuffer(): GPUBuffer {
    return (this.uniformBuf ??= this.gpu.createBuffer({ size: UNIFORM_BATCH_BYTES, usage: UNIFORM | COPY_DST }));
  }

  private bufferNumber(buf: GPUBuffer): number {
    let n = this.bufferNumbers.get(buf);
    if (n === undefined) this.bufferNumbers.set(buf, (n = this.buffersCreated++));
    return n;
  }

  /** The cached bind group for these buffers (binding 0: the uniform buffer at a dynamic offset, when the kernel has one). */
  private bindGroup(info: { layout: GPUBindGroupLayout; no: number; uniform: boolean }, uniformBytes: number, buffers: readonly GPUBuffer[]): GPUBindGroup {
    let key = `${info.no}:${uniformBytes}`;
    for (const b of buffers) key += `,${this.bufferNumber(b)}`;
    let bg = this.bindGroups.get(key);
    if (!bg) {
      const entries: GPUBindGroupEntry[] = [];
      if (uniformBytes) entries.push({ binding: 0, resource: { buffer: this.uniformBuffer(), offset: 0, size: uniformBytes } });
      buffers.forEach((buffer, i) => entries.push({ binding: i + 1, resource: { buffer } }));
      bg = this.gpu.createBindGroup({ layout: info.layout, entries });
      // a destroyed buffer's groups are never looked up again (numbers are not reused): bound the map, oldest out
      if (this.bindGroups.size >= BIND_GROUP_CACHE) this.bindGroups.delete(this.bindGroups.keys().next().value!);
      this.bindGroups.set(key, bg);
    }
    return bg;
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
    if (args.uniforms && this.uniformUsed + UNIFORM_SLOT > UNIFORM_BATCH_BYTES) this.flush();
    const pipeline = this.pipeline(kernel);
    const info = this.layouts.get(pipeline)!;
    let uniformBytes = 0;
    if (args.uniforms) {
      const words = args.uniforms;
      if (words.length * 4 > UNIFORM_SLOT) throw internal(`${kernel.label}: ${words.length} uniform words exceed one ${UNIFORM_SLOT}-byte slot`);
      if (!info.uniform) throw internal(`${kernel.label}: uniforms given, but the kernel declares no var<uniform> at binding 0`);
      const base = this.uniformUsed / 4;
      for (let i = 0; i < words.length; i++) this.uniformHost[base + i] = words[i];
      uniformBytes = Math.max(16, Math.ceil(words.length / 4) * 16);
    } else if (info.uniform) throw internal(`${kernel.label}: the kernel declares a var<uniform> at binding 0, but no uniforms were given`);
    const bindGroup = this.bindGroup(info, uniformBytes, args.buffers);
    if (this.profiler) {
      // profiling: one pass per dispatch, timestamps around it
      this.endPass();
      this.encoder ??= this.gpu.createCommandEncoder();
      const slot = this.profiler.next(kernel.label);
      this.pass = this.encoder.beginComputePass({ timestampWrites: { querySet: this.profiler.querySet, beginningOfPassWriteIndex: slot, endOfPassWriteIndex: slot + 1 } });
    } else if (!this.pass) {
      this.encoder ??= this.gpu.createCommandEncoder();
      this.pass = this.encoder.beginComputePass();
    }
    this.pass!.setPipeline(pipeline);
    if (uniformBytes) {
      this.dynamicOffset[0] = this.uniformUsed;
      this.pass!.setBindGroup(0, bindGroup, this.dynamicOffset, 0, 1);
      this.uniformUsed += UNIFORM_SLOT;
    } else this.pass!.setBindGroup(0, bindGroup);
    this.pass!.dispatchWorkgroups(x, y, z);
    if (this.profiler) this.endPass();
    this.pendingCommands++;
    this.dispatches++;
    if (this.profiler?.full) this.flush();
  }

  private profiler: Profiler | null = null;

  /** Whether a profile() is in progress (its dispatches get timestamps). */
  get profiling(): boolean {
    return this.profiler !== null;
  }

  /**
   * Runs fn with every dispatch timed by GPU timestamps (each in its own pass, so totals include a little pass
   * overhead) and returns milliseconds per kernel label, slowest first. Needs the adapter's `timestamp-query`.
   */
  async profile(fn: () => unknown | Promise<unknown>): Promise<{ label: string; ms: number; count: number }[]> {
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
    return prof.collect(this);
  }

  /** Records a buffer copy (ends the open compute pass). */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    if (bytes === 0) return;
    this.endPass();
    this.encoder ??= this.gpu.createCommandEncoder();
    this.encoder.copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
    this.pendingCommands++;
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  /** Submits everything recorded so far in one queue submit. */
  flush(): void {
    this.checkHealthy();
    if (!this.encoder) return;
    this.endPass();
    this.profiler?.resolve(this.encoder);
    if (this.uniformUsed > 0) {
      this.gpu.queue.writeBuffer(this.uniformBuffer(), 0, this.uniformHost.buffer, 0, this.uniformUsed);
    }
    this.gpu.queue.submit([this.encoder.finish()]);
    this.encoder = null;
    this.uniformUsed = 0;
    this.pendingCommands = 0;
    this.submits++;
    if (this.submits === this.loseAt) this.gpu.destroy();
    if (++this.submitsSinceWait === SUBMITS_WITHOUT_WAIT_WARNING && isNode && !this.warnedNoWait) {
      this.warnedNoWait = true;
      process.stderr.write(
        `onestep: ${SUBMITS_WITHOUT_WAIT_WARNING} submits without awaiting the GPU. Dawn (Node) frees finished work only between ` +
          'event-loop turns, and a long synchronous loop eventually crashes it: await os.sync() or a readback (loss.item()) every few dozen steps.\n',
      );
    }
  }

  private submitsSinceWait = 0;
  private warnedNoWait = false;

  /** Waits until the GPU has finished all submitted work. */
  /**
   * Waits for the GPU only when `maxSubmits` or more submits are outstanding: cheap to call every step of a long
   * loop. Dawn (Node) frees finished work only while the host waits; an MNIST DMD2 run that went 50 iterations
   * (≈ 300 submits of heavy work) without a wait crashed it.
   */
  async relieve(maxSubmits = 64): Promise<void> {
    if (this.submitsSinceWait >= maxSubmits) await this.sync();
  }

  async sync(): Promise<void> {
    this.flush();
    await gpuWait(this.gpu.queue.onSubmittedWorkDone());
    this.submitsSinceWait = 0;
    this.checkHealthy();
  }

  /** Reads `bytes` from a buffer back to the host (one submit, one wait). */
  async read(buf: GPUBuffer, bytes: number, offsetBytes = 0): Promise<ArrayBuffer> {
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    const cls = sizeClass(size);
    const staging = this.stagingFree.get(cls)?.pop() ?? this.gpu.createBuffer({ size: cls, usage: MAP_READ | COPY_DST });
    this.copy(buf, offsetBytes, staging, 0, Math.ceil(bytes / 4) * 4);
    this.flush();
    try {
      await gpuWait(staging.mapAsync(1 /* GPUMapMode.READ */, 0, size));
    } catch (e) {
      // a device lost during the wait rejects the map (Dawn: with an empty message); report the loss instead
      await Promise.race([this.gpu.lost, new Promise((r) => setTimeout(r, 100))]);
      this.checkHealthy();
      throw new DeviceError(`read: mapping a ${bytes}-byte readback failed (${(e as Error)?.name ?? 'Error'}: ${(e as Error)?.message || 'no message'}); the device may be unusable: call os.init() for a new one`);
    }
    this.submitsSinceWait = 0;
    this.checkHealthy();
    const out = staging.getMappedRange(0, size).slice(0, bytes);
    staging.unmap();
    let list = this.stagingFree.get(cls);
    if (!list) this.stagingFree.set(cls, (list = []));
    if (list.length < 4) list.push(staging);
    else staging.destroy();
    return out;
  }

  memory(): MemoryStats {
    return { liveTensors: this.liveTensors, bytesInUse: this.bytesInUse, bytesPooled: this.bytesPooled, dispatches: this.dispatches, submits: this.submits };
  }
}

/** Timestamp slots for Device.profile: resolved into a buffer at each flush, summed per kernel label. */
class Profiler {
  static readonly SLOTS = 4096;
  readonly querySet: GPUQuerySet;
  private labels: string[] = [];
  private resolved: { buf: GPUBuffer; labels: string[] }[] = [];
  constructor(private readonly gpu: GPUDevice) {
    this.querySet = gpu.createQuerySet({ type: 'timestamp', count: Profiler.SLOTS });
  }
  next(label: string): number {
    this.labels.push(label);
    return 2 * (this.labels.length - 1);
  }
  get full(): boolean {
    return 2 * this.labels.length >= Profiler.SLOTS;
  }
  resolve(enc: GPUCommandEncoder): void {
    if (!this.labels.length) return;
    const n = 2 * this.labels.length;
    const buf = this.gpu.createBuffer({ size: n * 8, usage: 0x0200 /* QUERY_RESOLVE */ | 0x04 /* COPY_SRC */ });
    enc.resolveQuerySet(this.querySet, 0, n, buf, 0);
    this.resolved.push({ buf, labels: this.labels });
    this.labels = [];
  }
  async collect(dev: Device): Promise<{ label: string; ms: number; count: number }[]> {
    const totals = new Map<string, { ms: number; count: number }>();
    for (const { buf, labels } of this.resolved) {
      const t = new BigInt64Array(await dev.read(buf, labels.length * 16));
      labels.forEach((l, i) => {
        const e = totals.get(l) ?? { ms: 0, count: 0 };
        e.ms += Number(t[2 * i + 1] - t[2 * i]) / 1e6;
        e.count++;
        totals.set(l, e);
      });
      buf.destroy();
    }
    this.querySet.destroy();
    return [...totals].map(([label, e]) => ({ label, ...e })).sort((a, b) => b.ms - a.ms);
  }
}

// ---- waiting without spinning -----------------------------------------------------------------------------------

const isNode = typeof process !== 'undefined' && !!process.versions?.node;
let waitMode: 'sleep' | 'spin' = 'sleep';
/** 'spin' restores a plain await (for measuring what sleeping buys; the bench reports both). */
export function setWaitMode(mode: 'sleep' | 'spin'): void {
  waitMode = mode;
}
const sleeper = typeof SharedArrayBuffer !== 'undefined' ? new Int32Array(new SharedArrayBuffer(4)) : null;

/**
 * Awaits a GPU promise. In Node, dawn.node pumps its events on every event-loop turn, which keeps the main thread at
 * 100% and starves the software driver's threads; so between turns we block ~1 ms in Atomics.wait (measured: the same
 * kernel ran 40% faster on SwiftShader). In the browser, a plain await.
 */
export async function gpuWait<T>(p: Promise<T>): Promise<T> {
  if (!isNode || !sleeper || waitMode === 'spin') return p;
  let done = false;
  let value: T | undefined;
  let error: unknown;
  let failed = false;
  p.then(
    (v) => ((done = true), (value = v)),
    (e) => ((done = true), (failed = true), (error = e)),
  );
  // the first turn without sleeping: short waits stay short
  await new Promise<void>((r) => setImmediate(r));
  while (!done) {
    Atomics.wait(sleeper, 0, 0, 1);
    await new Promise<void>((r) => setImmediate(r));
  }
  if (failed) throw error;
  return value as T;
}

// ---- the current device -----------------------------------------------------------------------------------------

let current: Device | null = null;
let currentOwned = false;
let announced = '';

/** Picks an adapter, creates the device (with shader-f16 / subgroups / timestamp-query where offered) and makes it current. */
export async function init(opts: InitOptions = {}): Promise<Device> {
  let gpuDevice: GPUDevice;
  let adapter: GPUAdapter | null = null;
  let label: string;
  let backend: string;
  if (opts.device) {
    gpuDevice = opts.device;
    label = 'injected device';
    backend = 'injected';
  } else {
    let kind: string;
    if (opts.adapter && typeof opts.adapter === 'object') {
      adapter = opts.adapter;
      label = adapter.info.description || 'injected adapter';
      kind = 'injected';
    } else {
      const found = await findAdapter(opts.adapter as AdapterChoice | undefined);
      adapter = found.adapter;
      label = found.label;
      kind = found.kind;
    }
    backend = kind === 'browser' ? 'browser' : `node-dawn/${kind}`;
    const wanted: GPUFeatureName[] = ['shader-f16', 'subgroups', 'timestamp-query'];
    const requiredFeatures = wanted.filter((f) => adapter!.features.has(f));
    const a = adapter.limits;
    try {
      gpuDevice = await adapter.requestDevice({
        requiredFeatures,
        requiredLimits: {
          maxStorageBufferBindingSize: a.maxStorageBufferBindingSize,
          maxBufferSize: a.maxBufferSize,
          maxComputeWorkgroupStorageSize: a.maxComputeWorkgroupStorageSize,
          maxComputeInvocationsPerWorkgroup: a.maxComputeInvocationsPerWorkgroup,
          maxComputeWorkgroupSizeX: a.maxComputeWorkgroupSizeX,
          maxComputeWorkgroupSizeY: a.maxComputeWorkgroupSizeY,
          maxStorageBuffersPerShaderStage: a.maxStorageBuffersPerShaderStage,
        },
      });
    } catch (e) {
      throw new DeviceError(`init: ${label} refused to create a device: ${(e as Error).message}`);
    }
  }
  if (current && currentOwned) current.destroy(true);
  current = new Device(gpuDevice, adapter, label, backend);
  currentOwned = !opts.device;
  if (!opts.quiet && announced !== label) {
    announced = label;
    const line = `onestep: using ${label}`;
    if (isNode) process.stderr.write(line + '\n');
    else console.info(line);
  }
  return current;
}

/** The current device; throws a clear error before init(). */
export function device(): Device {
  if (!current) throw new DeviceError('no device: call `await os.init()` before creating tensors');
  return current;
}

export function hasDevice(): boolean {
  return current !== null;
}

/** Destroys the current device (tests, long-lived pages that want the memory back). */
export function shutdown(): void {
  if (current) current.destroy(currentOwned);
  current = null;
}

export { DisposedError };
