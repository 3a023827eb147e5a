// runtime/adapter.ts: finds a WebGPU adapter: navigator.gpu in the browser, Dawn (npm `webgpu`) in Node.
// Node order: a real GPU, then Mesa lavapipe, then SwiftShader; ONESTEP_ADAPTER=system|lavapipe|swiftshader forces one.
import { DeviceError } from './errors';

export type AdapterChoice = 'system' | 'lavapipe' | 'swiftshader';
export const ADAPTER_CHOICES: readonly AdapterChoice[] = ['system', 'lavapipe', 'swiftshader'];

/** Vulkan ICD files of the two software drivers (Debian paths). */
export const ICD_FILES: Record<Exclude<AdapterChoice, 'system'>, string[]> = {
  lavapipe: ['/usr/share/vulkan/icd.d/lvp_icd.json', '/usr/share/vulkan/icd.d/lvp_icd.x86_64.json'],
  swiftshader: ['/usr/lib/chromium/vk_swiftshader_icd.json', '/usr/lib/chromium-browser/vk_swiftshader_icd.json'],
};

export const INSTALL_HINT = 'bash scripts/setup.sh   (installs Mesa lavapipe from bookworm-backports and chromium with SwiftShader)';

export interface FoundAdapter {
  adapter: GPUAdapter;
  /** Which path found it: 'browser', or the Node choice. */
  kind: 'browser' | AdapterChoice;
  /** One line for logs: `lavapipe (llvmpipe: Mesa 25.0.7 …)`. */
  label: string;
}

// Dawn instances must outlive their adapters and devices: a collected instance takes the device down with it.
const liveInstances = new WeakMap<GPUAdapter, GPU>();
const pinned: GPU[] = [];

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

export function describeAdapter(adapter: GPUAdapter): string {
  const i = adapter.info;
  return i.description || [i.vendor, i.architecture, i.device].filter(Boolean).join(' ') || 'unknown adapter';
}

/** A software adapter (lavapipe, SwiftShader, WARP): on these, register tiles beat workgroup memory. */
export function isCpuAdapter(adapter: GPUAdapter): boolean {
  const i = adapter.info;
  return i.isFallbackAdapter || /llvmpipe|lavapipe|swiftshader|software|warp/i.test(`${i.architecture} ${i.device} ${i.description}`);
}

export async function findAdapter(choice?: AdapterChoice): Promise<FoundAdapter> {
  if (!isNode) {
    const gpu = (globalThis as { navigator?: Navigator }).navigator?.gpu;
    if (!gpu) {
      throw new DeviceError(
        'init: this browser has no WebGPU (navigator.gpu is undefined). Use Chrome/Edge 113+ or Firefox 141+ on a ' +
          'secure origin (https or http://127.0.0.1); headless Chromium needs --enable-unsafe-webgpu ' +
          '--use-webgpu-adapter=swiftshader --enable-unsafe-swiftshader.',
      );
    }
    const adapter = (await gpu.requestAdapter({ powerPreference: 'high-performance' })) ?? (await gpu.requestAdapter());
    if (!adapter) throw new DeviceError('init: navigator.gpu.requestAdapter() returned null: WebGPU is disabled or blocklisted on this device (see chrome://gpu).');
    return { adapter, kind: 'browser', label: describeAdapter(adapter) };
  }
  return findNodeAdapter(choice);
}

async function findNodeAdapter(choice?: AdapterChoice): Promise<FoundAdapter> {
  const fromEnv = process.env.ONESTEP_ADAPTER as AdapterChoice | undefined;
  const forced = choice ?? (fromEnv || undefined);
  if (forced && !ADAPTER_CHOICES.includes(forced)) {
    throw new DeviceError(`init: unknown adapter "${forced}"; use one of ${ADAPTER_CHOICES.join(', ')} (ONESTEP_ADAPTER or init({adapter}))`);
  }
  // Dawn's Vulkan backend needs a runtime dir; set it when the shell did not.
  process.env.XDG_RUNTIME_DIR ||= (await import('node:os')).tmpdir();
  const fs = await import('node:fs');
  let dawn: { create: (o: string[]) => GPU; globals: object };
  try {
    dawn = (await import('webgpu')) as unknown as typeof dawn;
  } catch (e) {
    throw new DeviceError(`init: could not load the npm package "webgpu" (Dawn for Node): ${(e as Error).message}. Run: npm install`);
  }
  Object.assign(globalThis, dawn.globals); // GPUBufferUsage, GPUShaderStage, … as in a browser
  const userIcd = process.env.VK_ICD_FILENAMES;
  const tried: string[] = [];
  const order: AdapterChoice[] = forced ? [forced] : ['system', 'lavapipe', 'swiftshader'];
  for (const kind of order) {
    if (kind === 'system') {
      // Whatever Vulkan finds by itself (or what VK_ICD_FILENAMES names); only a real GPU counts unless forced.
      if (userIcd) process.env.VK_ICD_FILENAMES = userIcd;
      else delete process.env.VK_ICD_FILENAMES;
    } else {
      const icd = ICD_FILES[kind].find((f) => fs.existsSync(f));
      if (!icd) {
        tried.push(`${kind}: no ICD file (looked for ${ICD_FILES[kind].join(', ')})`);
        continue;
      }
      process.env.VK_ICD_FILENAMES = icd;
    }
    let adapter: GPUAdapter | null = null;
    try {
      // Dawn rounds timestamps down to 65.5 µs by default: a real GPU's kernels would all profile as 0 ms
      const gpu = dawn.create(['disable-dawn-features=timestamp_quantization']);
      adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
      if (adapter) liveInstances.set(adapter, gpu);
    } catch (e) {
      tried.push(`${kind}: ${(e as Error).message}`);
      continue;
    }
    if (!adapter) {
      tried.push(`${kind}: Dawn found no adapter`);
      continue;
    }
    if (kind === 'system' && !forced && isCpuAdapter(adapter)) {
      tried.push(`system: only a software adapter (${describeAdapter(adapter)})`);
      continue;
    }
    pinned.push(liveInstances.get(adapter)!);
    return { adapter, kind, label: `${kind} (${describeAdapter(adapter)})` };
  }
  throw new DeviceError(
    `init: no WebGPU adapter works in Node. Tried:\n  - ${tried.join('\n  - ')}\n` +
      `Install a software driver with:\n  ${INSTALL_HINT}`,
  );
}
