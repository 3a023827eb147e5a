// bench/unet-step.ts: one EDM training step of the UNet (forward, backward, Adam) on the current adapter, with the
// number of dispatches per step and the GPU time per kernel family (os.profile), for the MNIST-teacher config or one
// given as JSON. Compare with the PyTorch mirror on this CPU: python3 interop/pytorch/check.py time MODEL BATCH REPS.
// Run: npx esbuild bench/unet-step.ts --bundle --platform=node --format=esm --external:webgpu \
//        --outfile=/tmp/unet-step.mjs && ONESTEP_ADAPTER=lavapipe node /tmp/unet-step.mjs [--batch=64] [--profile]
import * as os from '../engine';
import { EDMDenoiser, edmLoss } from '../models/edm';
import { UNet, UNET_DEFAULTS } from '../models/unet';

await os.init();
const arg = (name: string, dflt: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? dflt;
const batch = Number(arg('batch', '64')), reps = Number(arg('reps', '10'));
const config = { ...UNET_DEFAULTS, ...JSON.parse(arg('config', '{}')) };
const den = new EDMDenoiser(new UNet(config));
const opt = new os.optim.Adam(den.parameters(), { lr: 1e-4 });
const params = den.parameters().reduce((s, p) => s + p.size, 0);
const S = config.resolution;
const step = () => {
  os.tidy(() => {
    const y = os.randn([batch, config.inChannels, S, S]);
    const labels = config.labelDim ? os.oneHot(os.randint(0, config.labelDim, [batch]), config.labelDim) : null;
    edmLoss(den, y, { labels, labelDropout: 0.1 }).backward();
  });
  opt.step();
  opt.zeroGrad();
};
for (let i = 0; i < 3; i++) step();
await os.sync();
const times: number[] = [];
const d0 = os.memory().dispatches;
for (let i = 0; i < reps; i++) {
  const t0 = performance.now();
  step();
  await os.sync();
  times.push(performance.now() - t0);
}
times.sort((a, b) => a - b);
const m0 = os.memory();
const out: Record<string, unknown> = { config, params, batch, msMedian: +times[reps >> 1].toFixed(1), msMin: +times[0].toFixed(1), dispatchesPerStep: Math.round((m0.dispatches - d0) / reps), samplesPerSec: +((1000 * batch) / times[reps >> 1]).toFixed(0) };
if (process.argv.includes('--profile')) {
  const p = await os.profile(async () => step());
  out.profile = p;
}
console.log(JSON.stringify(out, null, 1));
