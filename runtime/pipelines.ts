// runtime/pipelines.ts: compiled kernels, cached by their WGSL source (no hand-written key can drift from the code),
// with explicit bind-group layouts read from the kernel's declarations and shared between kernels of one signature.
// Explicit rather than 'auto' because auto layouts have no dynamic offsets (the uniform slot binds at one).
import { DeviceError } from './errors';

/** A kernel: WGSL source plus the label that names it in errors and profiles. */
export interface Kernel {
  code: string;
  label: string;
}

/** What a dispatch needs of a compiled kernel: its layout, a number for cache keys, whether binding 0 is the uniform slot. */
export interface PipelineInfo {
  layout: GPUBindGroupLayout;
  no: number;
  uniform: boolean;
}

interface Layout {
  layout: GPUBindGroupLayout;
  pipelineLayout: GPUPipelineLayout;
  uniform: boolean;
}

export class PipelineCache {
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly compiling = new Map<string, Promise<GPUComputePipeline>>();
  private readonly info = new WeakMap<GPUComputePipeline, PipelineInfo>();
  /** Bind-group layouts by signature (e.g. '0u 1r 2w'): pipelines with the same bindings share one. */
  private readonly layouts = new Map<string, { layout: GPUBindGroupLayout; pipelineLayout: GPUPipelineLayout }>();
  private made = 0;

  constructor(
    private readonly gpu: GPUDevice,
    /** Where a compile error goes (compilation info answers asynchronously: it is thrown at the next sync point). */
    private readonly report: (e: Error) => void,
  ) {}

  get size(): number {
    return this.pipelines.size;
  }

  /** The pipeline of a kernel, compiled on first use. */
  get(kernel: Kernel): GPUComputePipeline {
    let p = this.pipelines.get(kernel.code);
    if (!p) {
      const layout = this.layoutOf(kernel);
      p = this.gpu.createComputePipeline(this.descriptor(kernel, layout.pipelineLayout));
      this.keep(kernel, p, layout);
    }
    return p;
  }

  infoOf(p: GPUComputePipeline): PipelineInfo {
    return this.info.get(p)!;
  }

  /**
   * Compiles a kernel without blocking the main thread (createComputePipelineAsync; tuners warm candidates up with it)
   * and keeps the pipeline for get(): Dawn does not reuse an async-created pipeline for a later synchronous create,
   * which compiled it again (5.1 s more for an unrolled attention kernel on SwiftShader).
   */
  async compileAsync(kernel: Kernel): Promise<void> {
    if (this.pipelines.has(kernel.code)) return;
    const layout = this.layoutOf(kernel);
    let job = this.compiling.get(kernel.code);
    if (!job) {
      job = this.gpu.createComputePipelineAsync(this.descriptor(kernel, layout.pipelineLayout));
      this.compiling.set(kernel.code, job);
    }
    try {
      const p = await job;
      if (!this.pipelines.has(kernel.code)) this.keep(kernel, p, layout);
    } finally {
      this.compiling.delete(kernel.code);
    }
  }

  private keep(kernel: Kernel, p: GPUComputePipeline, l: Layout): void {
    this.pipelines.set(kernel.code, p);
    this.info.set(p, { layout: l.layout, uniform: l.uniform, no: this.made++ });
  }

  /** The bind-group layout the kernel declares (group 0; binding 0 may be the uniform slot). Every declared binding must be bound. */
  private layoutOf(kernel: Kernel): Layout {
    const decl = /@binding\((\d+)\)\s*var<\s*(uniform|storage)\s*(?:,\s*(read_write|read))?\s*>/g;
    const kinds: string[] = [];
    for (const m of kernel.code.matchAll(decl)) kinds[Number(m[1])] = m[2] === 'uniform' ? 'u' : m[3] === 'read_write' ? 'w' : 'r';
    const signature = kinds.map((k, i) => `${i}${k}`).join(' ');
    let known = this.layouts.get(signature);
    if (!known) {
      const entries: GPUBindGroupLayoutEntry[] = [];
      kinds.forEach((k, binding) => {
        if (!k) return;
        const buffer: GPUBufferBindingLayout = k === 'u' ? { type: 'uniform', hasDynamicOffset: true } : { type: k === 'w' ? 'storage' : 'read-only-storage' };
        entries.push({ binding, visibility: 4 /* GPUShaderStage.COMPUTE */, buffer });
      });
      const layout = this.gpu.createBindGroupLayout({ entries, label: signature });
      known = { layout, pipelineLayout: this.gpu.createPipelineLayout({ bindGroupLayouts: [layout] }) };
      this.layouts.set(signature, known);
    }
    return { ...known, uniform: kinds[0] === 'u' };
  }

  /** The kernel's shader module in a pipeline descriptor; compile errors are reported with the offending lines. */
  private descriptor(kernel: Kernel, layout: GPUPipelineLayout): GPUComputePipelineDescriptor {
    const module = this.gpu.createShaderModule({ code: kernel.code, label: kernel.label });
    void module.getCompilationInfo().then((info) => {
      const errs = info.messages.filter((m) => m.type === 'error');
      if (errs.length) {
        const lines = kernel.code.split('\n');
        const msg = errs.map((m) => `  ${m.lineNum}:${m.linePos} ${m.message}\n    ${lines[m.lineNum - 1] ?? ''}`).join('\n');
        this.report(new DeviceError(`internal: kernel "${kernel.label}" failed to compile:\n${msg}`));
      }
    });
    return { layout, compute: { module, entryPoint: 'main' }, label: kernel.label };
  }
}
