// test/engine/swiftshader.test.ts: the smoke test on the second software driver (SwiftShader, from Debian's
// chromium): init picks it when asked, and a forward/backward/RNG run matches the host.
import { describe, expect, it } from 'vitest';
import * as os from '../../engine';

describe('SwiftShader adapter', () => {
  it('runs matmul, softmax, backward and randn', async () => {
    await os.init({ adapter: 'swiftshader', quiet: true });
    expect(os.device().adapterLabel).toMatch(/swiftshader/i);
    const x = os.tensor([[1, 2, 3], [4, 5, 6]], undefined, { requiresGrad: true });
    const w = os.tensor([[1, 0], [0, 1], [1, 1]], undefined, { requiresGrad: true });
    const loss = os.matmul(x, w).square().sum();
    loss.backward();
    expect(await loss.item()).toBe(262);
    expect(Array.from(await x.grad!.data())).toEqual([8, 10, 18, 20, 22, 42]);
    const r = await os.randn([1 << 14], { seed: 3 }).data();
    const mean = r.reduce((a, b) => a + b, 0) / r.length;
    expect(Math.abs(mean)).toBeLessThan(0.05);
  });
});
