// cli/demo.ts: `onestep demo` — trains an EDM denoiser MLP (DMD-SPEC §7.2's teacher net) on the 8-gaussians toy set
// on the GPU and prints the loss falling. The full distillation demo replaces this once DMD lands.
import * as os from '../engine';
import { HostRng } from '../models/data/rng';
import { toy2d } from '../models/data/toy2d';
import { Progress, fmtTime } from './progress';

const SIGMA_DATA = 0.5;
const FREQS = 6;
const IN_FEATURES = 2 + 1 + 2 * FREQS;

/** EDM training inputs built on the host: features [B, 15] = (c_in·x_t, c_noise, sin/cos(2^k c_noise)) and F-target. */
function edmBatch(x0: Float32Array, rng: HostRng): { features: Float32Array; target: Float32Array } {
  const B = x0.length / 2;
  const features = new Float32Array(B * IN_FEATURES), target = new Float32Array(B * 2);
  for (let i = 0; i < B; i++) {
    const sigma = Math.exp(-1.2 + 1.2 * rng.normal()); // EDM: ln σ ~ N(P_mean, P_std²)
    const s2 = sigma * sigma, sd2 = SIGMA_DATA * SIGMA_DATA;
    const cSkip = sd2 / (s2 + sd2), cOut = (sigma * SIGMA_DATA) / Math.sqrt(s2 + sd2), cIn = 1 / Math.sqrt(s2 + sd2);
    const cNoise = Math.log(sigma) / 4;
    const f = features.subarray(i * IN_FEATURES, (i + 1) * IN_FEATURES);
    for (let d = 0; d < 2; d++) {
      const y = x0[2 * i + d];
      const xt = y + sigma * rng.normal();
      f[d] = cIn * xt;
      target[2 * i + d] = (y - cSkip * xt) / cOut; // ‖F − target‖² is EDM's weighted loss
    }
    f[2] = cNoise;
    for (let k = 0; k < FREQS; k++) {
      f[3 + 2 * k] = Math.sin(2 ** k * cNoise);
      f[4 + 2 * k] = Math.cos(2 ** k * cNoise);
    }
  }
  return { features, target };
}

export async function demo(args: { steps: number; batch: number; seed: number; lr: number }): Promise<void> {
  await os.init();
  os.manualSeed(args.seed);
  const rng = new HostRng(args.seed);
  const data = toy2d('8gaussians');
  const net = new os.nn.Sequential(
    new os.nn.Linear(IN_FEATURES, 128), new os.nn.SiLU(),
    new os.nn.Linear(128, 128), new os.nn.SiLU(),
    new os.nn.Linear(128, 128), new os.nn.SiLU(),
    new os.nn.Linear(128, 2),
  );
  const opt = new os.optim.Adam(net.parameters(), { lr: args.lr });
  console.log(`demo: EDM denoiser MLP (${net.numParameters()} params) on 8gaussians, batch ${args.batch}, ${args.steps} Adam steps`);
  const progress = new Progress(args.steps);
  const losses: number[] = [];
  let pending: os.Tensor[] = [];
  const t0 = performance.now();
  let d0 = 0, w0 = 0;
  const timedFrom = Math.floor(args.steps / 2);
  for (let step = 1; step <= args.steps; step++) {
    if (step === timedFrom) {
      await os.sync();
      d0 = os.memory().dispatches;
      w0 = performance.now();
    }
    const { features, target } = edmBatch(data.sample(args.batch, rng), rng);
    const loss = os.tidy(() => {
      const f = os.tensor(features, [args.batch, IN_FEATURES]);
      const t = os.tensor(target, [args.batch, 2]);
      const l = os.mseLoss(net.forward(f), t);
      l.backward();
      return l;
    });
    opt.step();
    opt.zeroGrad();
    pending.push(loss);
    // read losses back in groups: a readback per step would serialise CPU and GPU
    if (pending.length === 50 || step === args.steps) {
      for (const l of pending) {
        losses.push(await l.item());
        l.dispose();
      }
      pending = [];
      const recent = losses.slice(-50);
      progress.update(step, { loss: recent.reduce((a, b) => a + b, 0) / recent.length });
    }
  }
  await os.sync();
  const wall = progress.done();
  const timedSteps = args.steps - timedFrom + 1;
  const perStepMs = (performance.now() - w0) / timedSteps;
  const perStepDispatches = (os.memory().dispatches - d0) / timedSteps;
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const first = avg(losses.slice(0, 50)), last = avg(losses.slice(-200));
  console.log(`loss: first 50 steps ${first.toFixed(4)} → last 200 steps ${last.toFixed(4)}`);
  console.log(`per Adam step: ${perStepMs.toFixed(2)} ms wall, ${perStepDispatches.toFixed(0)} dispatches; total ${fmtTime(wall)} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  console.log(`adapter: ${os.device().adapterLabel}`);
  if (!(last < first * 0.95)) {
    console.error('demo: the loss did not fall; something is wrong with this adapter or build');
    process.exitCode = 1;
  }
}
