// runtime/capabilities.ts: what a device can do, asked by the kernel dispatchers to pick their variants.
import type { Device } from './device';

/** SwiftShader (Chromium's CPU Vulkan): kernel picks differ from lavapipe's (4-lane subgroups, SSE registers). */
export const isSwiftShader = (dev: Device): boolean => /swiftshader/i.test(`${dev.adapterLabel} ${dev.adapterInfo.description}`);

/** Whether the device has shader-f16 (native f16 in WGSL); without it f16 data is read from packed pairs. */
export const hasShaderF16 = (dev: Device): boolean => dev.features.has('shader-f16');

/** The adapter's smallest subgroup when the device has the `subgroups` feature, else 0. */
export const subgroupMinSize = (dev: Device): number => (dev.features.has('subgroups') ? (dev.gpu.adapterInfo?.subgroupMinSize ?? 0) : 0);

/**
 * Whether a gather or scatter of one contiguous range is better recorded as a buffer copy than as a dispatch. On
 * lavapipe a dispatch hands its workgroups to llvmpipe's thread pool (≥ 66 µs however small) and a copy is a memcpy on
 * the queue thread: a 512-row slice 87 → 25 µs. On SwiftShader copies cost more than the dispatches they replace (the
 * 2-D recipe iteration ran 6–8% slower with them). Real GPUs are not measured yet, so they keep the dispatch.
 */
export const prefersRangeCopies = (dev: Device): boolean => dev.isCpu && !isSwiftShader(dev);
