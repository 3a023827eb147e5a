// test/bench-harness.test.ts: the bench's measuring rule (bench/harness.ts) refuses to time work the device rejected.
// webgpu-torch's 1M-element add dispatches 131,072 workgroups in one dimension (the limit is 65,535): every command
// buffer it submits is invalid and does nothing, and wall clock credited it with 100 GB/s on a 2-core CPU.
import { describe, expect, it } from 'vitest';
import * as os from '../engine';
import { pipelineOf, rawRunner } from '../bench/engines/raw';
import { measure } from '../bench/harness';

const OPTS = { runs: 10, minRunMs: 1, maxReps: 4, budgetMs: 20_000, useTimestamps: true };

/** A runner that dispatches an empty kernel over `groups` workgroups on the engine's device. */
const emptyDispatches = (groups: number) => {
  const gpu = os.device().gpu;
  return rawRunner(gpu, pipelineOf(gpu, '@compute @workgroup_size(1) fn main() {}', 'empty'), [], [groups, 1, 1]);
};

describe('bench measure()', () => {
  it('reports a row the device rejected as failed, naming the error, instead of timing it', async () => {
    const tooMany = os.device().limits.maxComputeWorkgroupsPerDimension + 1;
    const m = await measure(emptyDispatches(tooMany), OPTS);
    expect(m.ok).toBe(false);
    expect(!m.ok && m.note).toMatch(/^failed: the device rejected its work \(.*workgroup/i);
  });

  it('times valid work', async () => {
    const m = await measure(emptyDispatches(4), OPTS);
    expect(m.ok).toBe(true);
    expect(m.ok && m.medianMs).toBeGreaterThan(0);
  });
});
