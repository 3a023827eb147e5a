// test/engine/profile.test.ts: os.profile times every dispatch with GPU timestamps and sums them per kernel, the
// dispatches of compiled steps' replays included.
import { describe, expect, it } from 'vitest';
import * as os from '../../engine';

describe('os.profile', () => {
  it('reports each kernel label with its call count and a positive time', async () => {
    if (!os.device().features.has('timestamp-query')) {
      await expect(os.profile(() => {})).rejects.toThrow(os.DeviceError);
      return;
    }
    const a = os.randn([64, 64], { seed: 1 }), b = os.randn([64, 64], { seed: 2 });
    const rows = await os.profile(() => {
      for (let i = 0; i < 3; i++) os.matmul(a, b).dispose();
      os.add(a, b).dispose();
    });
    const mm = rows.find((r) => r.label.startsWith('matmul'));
    const add = rows.find((r) => r.label.startsWith('elementwise add'));
    expect(mm?.count).toBe(3);
    expect(add?.count).toBe(1);
    for (const r of rows) expect(r.ms).toBeGreaterThan(0);
    // ordinary batching resumes afterwards
    const before = os.memory().submits;
    for (let i = 0; i < 5; i++) os.add(a, b).dispose();
    await os.sync();
    expect(os.memory().submits - before).toBe(1);
  });

  it("times a compiled step's replays kernel by kernel, a program longer than the query set included", async () => {
    if (!os.device().features.has('timestamp-query')) return;
    const x = os.randn([5, 3], { seed: 4 }), w = os.randn([3, 3], { seed: 5 });
    // matmul, then a sum (a reduction: no fusion across it): 2 dispatches a round, past the profiler's 2,048 slot pairs
    const f = os.compile((a: os.Tensor) => {
      let h = a;
      for (let i = 0; i < 1100; i++) h = os.sum(os.matmul(h, w), [1], true).mul(0.1).add(h);
      return h;
    });
    for (let i = 0; i < 3; i++) f(x).dispose();
    const perCall = f.stats().dispatches;
    expect(perCall).toBeGreaterThan(2048);
    const rows = await os.profile(() => f(x).dispose());
    expect(rows.reduce((n, r) => n + r.count, 0)).toBe(perCall);
    expect(rows.some((r) => r.label.startsWith('matmul'))).toBe(true);
    for (const r of rows) expect(r.ms).toBeGreaterThan(0);
    f.dispose();
    x.dispose();
    w.dispose();
  });

  it('profiles do not nest: a second one while the first runs is refused, naming the fix', async () => {
    if (!os.device().features.has('timestamp-query')) return; // the first test checks the refusal without the feature
    const a = os.randn([16, 16], { seed: 3 });
    const inner: Promise<unknown>[] = [];
    const rows = await os.profile(async () => {
      expect(os.device().profiling).toBe(true);
      inner.push(os.profile(() => os.add(a, a).dispose()).then(() => null, (e: Error) => e));
      os.add(a, a).dispose();
    });
    const err = await inner[0];
    expect(err).toBeInstanceOf(os.DeviceError);
    expect((err as Error).message).toMatch(/profiles do not nest/);
    expect(rows.reduce((n, r) => n + r.count, 0)).toBe(1);
    expect(os.device().profiling).toBe(false);
    a.dispose();
  });
});
