// runtime/current.ts: the current device: init() picks an adapter (a real GPU, lavapipe, then SwiftShader in Node;
// navigator.gpu in the browser), creates the device with the features onestep uses, and makes it current.
import { findAdapter, type AdapterChoice } from './adapter';
import { Device } from './device';
import { DeviceError } from './errors';
import { isNode } from './wait';

export interface InitOptions {
  /** Force an adapter in Node: 'system' (real GPU), 'lavapipe' or 'swiftshader'. Default: the best that works. */
  adapter?: AdapterChoice | GPUAdapter;
  /** Bring your own GPUDevice (the engine then never destroys it). */
  device?: GPUDevice;
  /** No "onestep: using …" line. */
  quiet?: boolean;
}

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

