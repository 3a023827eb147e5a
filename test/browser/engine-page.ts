// test/browser/engine-page.ts: runs in headless Chromium: the engine on navigator.gpu, forward + backward + RNG.
import * as os from '../../engine';

async function run() {
  const info = await os.init();
  const x = os.tensor([[1, 2, 3], [4, 5, 6]], undefined, { requiresGrad: true });
  const w = os.tensor([[1, 0], [0, 1], [1, 1]], undefined, { requiresGrad: true });
  const loss = os.matmul(x, w).square().sum();
  loss.backward();
  const r = os.randn([4], { seed: 7 });
  return {
    adapter: info.adapter,
    loss: await loss.item(),
    gradX: Array.from(await x.grad!.data()),
    randn: Array.from(await r.data()),
    softmax: Array.from(await os.softmax(x, 1).data()),
  };
}

run().then(
  (r) => ((window as unknown as { __result: unknown }).__result = r),
  (e) => ((window as unknown as { __result: unknown }).__result = { error: String(e?.stack ?? e) }),
);
