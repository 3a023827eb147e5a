// bench/dispatch-counts.ts: dispatches per DMD2 iteration (generator + fake-score update, and fake-score update alone)
// on the zoo's 8gaussians MLP (no GAN) and MNIST UNet (GAN head, batch 8), and per UNet EDM training step (mnist16
// teacher config, batch 16), counted through os.memory(). Public names only, so the same file runs on any tree
// (before/after comparisons of engine changes). Dispatch counts do not depend on the adapter or the load.
// Run: npx esbuild bench/dispatch-counts.ts --bundle --platform=node --format=esm --external:webgpu \
//        --outfile=/tmp/dispatch-counts.mjs && ONESTEP_ADAPTER=lavapipe node /tmp/dispatch-counts.mjs [--root DIR]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as os from '../engine';
import { loadModel, buildDenoiser } from '../models/checkpoint';
import { DMDTrainer } from '../models/dmd';
import { EDMDenoiser, edmLoss } from '../models/edm';
import { UNet, type UNetConfig } from '../models/unet';

const root = process.argv.includes('--root') ? process.argv[process.argv.indexOf('--root') + 1] : process.cwd();
await os.init({ quiet: true });
os.setTuning?.('off');

/** Dispatches `fn` records (after a warm-up call), and the GPU work is drained before returning. */
async function count(fn: () => void): Promise<number> {
  fn();
  await os.sync();
  const before = os.memory().dispatches;
  fn();
  const n = os.memory().dispatches - before;
  await os.sync();
  return n;
}

async function dmd(file: string, config: Record<string, unknown>, gan: boolean): Promise<{ gen: number; fake: number }> {
  const { den: teacher, meta } = await loadModel(new Uint8Array(readFileSync(join(root, 'zoo', file))));
  const shape = meta.net === 'unet' ? [meta.netConfig.inChannels, meta.netConfig.resolution, meta.netConfig.resolution] : [2];
  const labelDim = meta.net === 'unet' ? meta.netConfig.labelDim : 0;
  const realData = (B: number) => ({ x: os.randn([B, ...shape]), labels: labelDim ? os.oneHot(os.randint(0, labelDim, [B]), labelDim) : null });
  const tr = new DMDTrainer({ teacher, makeDenoiser: () => buildDenoiser(meta), sampleShape: shape, realData: gan ? realData : null, config: { mode: 'dmd2', ttur: 2, ...config } });
  const step = () => {
    const l = tr.step();
    for (const t of Object.values(l)) t?.dispose();
  };
  // iterations alternate generator+fake, fake only (ttur 2); count each kind after a warm-up of both
  step();
  step();
  const gen = await count(() => {
    step();
    step();
  });
  const fake = await count(step);
  return { gen: gen - fake, fake };
}

const mlp = await dmd('8gaussians-teacher.safetensors', { batch: 256 }, false);
const unet = await dmd('mnist16-teacher.safetensors', { batch: 8, ganWeight: 3e-3, cfg: 2 }, true);

const { meta } = await loadModel(new Uint8Array(readFileSync(join(root, 'zoo', 'mnist16-teacher.safetensors'))));
const cfg = meta.netConfig as UNetConfig;
const den = new EDMDenoiser(new UNet(cfg));
const opt = new os.optim.Adam(den.parameters(), { lr: 1e-4 });
const unetStep = await count(() => {
  os.tidy(() => {
    const y = os.randn([16, cfg.inChannels, cfg.resolution, cfg.resolution]);
    const labels = cfg.labelDim ? os.oneHot(os.randint(0, cfg.labelDim, [16]), cfg.labelDim) : null;
    edmLoss(den, y, { labels, labelDropout: 0.1 }).backward();
  });
  opt.step();
  opt.zeroGrad();
});

console.log(JSON.stringify({ dmd2Mlp: { generatorStep: mlp.gen, fakeStep: mlp.fake }, dmd2UnetGan: { generatorStep: unet.gen, fakeStep: unet.fake }, unetTrainingStep: unetStep }, null, 1));
