// runtime/index.ts: the layer under the kernels (DESIGN §1): the device and its queue, buffers, pipelines, bind groups,
// uniforms, the profiler, the wait, the current device, and DeviceArray. Kernels import this and nothing above it.
export { DeviceArray, Storage, DTYPES, bufferBytes, checkShape, readAll, shapeSize, type DType } from './array';
export { Device } from './device';
export type { MemoryStats } from './buffer-pool';
export { hasShaderF16, isSwiftShader, prefersRangeCopies, subgroupMinSize } from './capabilities';
export type { DispatchArgs } from './commands';
export { f32bits } from './uniforms';
export { device, hasDevice, init, shutdown, type InitOptions } from './current';
export { ADAPTER_CHOICES, type AdapterChoice } from './adapter';
export { type Kernel } from './pipelines';
export { type ProfileRow } from './profiler';
export { gpuWait, setWaitMode } from './wait';
export * from './errors';
