// bench/unet-step.ts: one EDM training step of the UNet (forward, backward, Adam) on the current adapter: wall and
// host-issue ms per step, dispatches per step, and GPU ms per step and per kernel label (os.profile, where the adapter
// has timestamps), for UNET_DEFAULTS or a config given as JSON. `--tune` adds what tuning the step's shape classes
// costs and buys (below). `--compiled` adds the same figures for the step under os.compile (one traced program replayed:
// its host issue µs per dispatch, and its dispatches and GPU ms against eager mode's). Compare with the PyTorch
// mirror: python3 interop/pytorch/check.py time MODEL BATCH REPS.
// Run: npx esbuild bench/unet-step.ts --bundle --platform=node --format=esm --external:webgpu \
//        --outfile=/tmp/unet-step.mjs && ONESTEP_ADAPTER=lavapipe node /tmp/unet-step.mjs [--batch=64] [--reps=10]
//        [--config=JSON] [--tune] [--compiled]
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
const measure = async (step: () => void) => {
  for (let i = 0; i < 3; i++) step();
  await os.sync();
  const times: number[] = [], issue: number[] = [];
  const d0 = os.memory().dispatches;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    step();
    issue.push(performance.now() - t0);
    await os.sync();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  issue.sort((a, b) => a - b);
  const dispatchesPerStep = Math.round((os.memory().dispatches - d0) / reps);
  // kernel time of one step by GPU timestamps (each dispatch in its own pass; best of 3): what tuning changes, without
  // the host's noise
  let gpuMs: number | null = null, kernels: Record<string, number> = {};
  if (os.device().features.has('timestamp-query')) {
    for (let i = 0; i < 3; i++) {
      const rows = await os.profile(() => step());
      const ms = rows.reduce((t, r) => t + r.ms, 0);
      if (ms < (gpuMs ?? Infinity)) (gpuMs = +ms.toFixed(2)), (kernels = Object.fromEntries(rows.map((r) => [`${r.label} ×${r.count}`, +r.ms.toFixed(3)])));
    }
  }
  return { gpuMs, kernels, issueMsMedian: +issue[reps >> 1].toFixed(1), msMedian: +times[reps >> 1].toFixed(1), msMin: +times[0].toFixed(1), dispatchesPerStep, samplesPerSec: +((1000 * batch) / times[reps >> 1]).toFixed(0) };
};
const tuneToo = process.argv.includes('--tune');
// --tune: what a first run on this adapter pays and gains. From an empty cache (heuristics only), every shape class
// the step uses is timed, then the step is measured again with the winners.
// (ONESTEP_TUNE_CACHE names the folder instead, e.g. to compare tuned and untuned steps in separate processes later)
if (tuneToo && !process.env.ONESTEP_TUNE_CACHE) os.setTuneCacheDir(mkdtempSync(join(tmpdir(), 'onestep-unet-tune-')));
const eager = await measure(step);
const out: Record<string, unknown> = { config, params, batch, tuning: os.tuningMode(), ...eager };
if (process.argv.includes('--compiled')) {
  const compiled = os.compile(step);
  const c = await measure(compiled);
  const { compileMs, peakBytes } = compiled.stats();
  out.compiled = {
    ...c, compileMs, peakBytes,
    issueUsPerDispatch: +((1000 * c.issueMsMedian) / c.dispatchesPerStep).toFixed(1),
    dispatchesVsEager: +(c.dispatchesPerStep / eager.dispatchesPerStep).toFixed(3),
    gpuVsEager: c.gpuMs !== null && eager.gpuMs !== null ? +(c.gpuMs / eager.gpuMs).toFixed(3) : null,
    speedupVsEager: +(eager.msMedian / c.msMedian).toFixed(2),
  };
}
if (tuneToo) {
  os.setTuning('background');
  const t0 = performance.now();
  step();
  await os.whenTuned();
  os.setTuning('cached');
  const seconds = +((performance.now() - t0) / 1000).toFixed(1);
  // per class: the heuristic's and the winner's kernel ms (one call), where they differ
  const at = (r: os.TuneResult, id: string) => r.timings.find((x) => x.id === id)?.ms ?? NaN;
  const log = os.tuneLog().map((r) => ({ class: `${r.family}|${r.key}`, heuristic: r.heuristic, heuristicMs: +at(r, r.heuristic).toPrecision(3), winner: r.winner, winnerMs: +at(r, r.winner).toPrecision(3) }));
  const changed = log.filter((r) => r.winner !== r.heuristic);
  const timings = Object.fromEntries(os.tuneLog().map((r) => [`${r.family}|${r.key}`, Object.fromEntries(r.timings.map((x) => [x.id, x.ms === null ? null : +x.ms.toPrecision(3)]))]));
  out.tune = { seconds, clock: os.tuneLog()[0]?.clock, classes: log.length, changed: changed.length, changedClasses: changed, after: await measure(step), timings };
}
console.log(JSON.stringify(out, null, 1));
