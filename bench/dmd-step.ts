// bench/dmd-step.ts: the DMD2 iteration on 8gaussians (zoo teacher, batch 256, 3×128 MLPs, TTUR 5: one generator
// update per 5 iterations, a fake-score update every iteration), as `onestep distill --mode dmd2` runs it: iterations
// per second and dispatches per iteration, eager and compiled (os.compile: the trainer's `compiled` option; two
// trainers of the same teacher) timed alternately in one process, so load from other processes hits both alike.
// Each timed run is `--iters` iterations (a multiple of 5) then one sync; the table shows medians over rounds.
// `--profile` adds GPU time per kernel label (os.profile) over one run of each mode.
// Run: npx esbuild bench/dmd-step.ts --bundle --platform=node --format=esm --external:webgpu --outfile=/tmp/dmd-step.mjs
//      && ONESTEP_ADAPTER=lavapipe node /tmp/dmd-step.mjs [--rounds 7] [--iters 50] [--modes eager,compiled]
//      [--mode dmd|dmd2|recipe] [--config JSON (DMDConfig fields over the mode's)] [--epilogues auto|all] [--profile] [--json FILE (every round's figures)]
// (An outfile outside the repo finds `webgpu` through a node_modules beside it, e.g. ln -s <repo>/node_modules /tmp/.)
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as os from '../engine';
import { buildDenoiser, loadModel } from '../models/checkpoint';
import { DMDTrainer, type DMDConfig } from '../models/dmd';
import { HostRng } from '../models/data/rng';
import { toy2d } from '../models/data/toy2d';
import { TOY_RECIPE } from '../models/recipe';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const ROUNDS = Number(arg('rounds', '7'));
const ITERS = Math.max(5, Math.round(Number(arg('iters', '50')) / 5) * 5);
const MODES = arg('modes', 'eager,compiled').split(',') as Mode[];
/** dmd, dmd2 (the papers' settings at batch 256) or recipe (models/recipe.ts's 2-D recipe: regression, GAN head, EMA). */
const RECIPE = arg('mode', 'dmd2') as 'dmd' | 'dmd2' | 'recipe';
const PROFILE = process.argv.includes('--profile');
const JSON_OUT = arg('json', '');
/** Config fields merged over the mode's (e.g. '{"ganBatch": 64}'). */
const CONFIG = JSON.parse(arg('config', '{}')) as Partial<DMDConfig>;
/** eager: op by op; compiled: each kind of iteration one compiled step (a tree without os.compile runs it eagerly). */
type Mode = 'eager' | 'compiled';

/** The zoo teacher: next to this file's repo (bench/ or a bundle in /tmp run from the repo root). */
function teacherPath(): string {
  const rel = 'zoo/8gaussians-teacher.safetensors';
  for (const base of [process.cwd(), join(dirname(fileURLToPath(import.meta.url)), '..')]) {
    try {
      readFileSync(join(base, rel), { flag: 'r' });
      return join(base, rel);
    } catch {
      // try the next
    }
  }
  throw new Error(`dmd-step: ${rel} not found; run from the repository root`);
}

export interface DmdStepResult {
  mode: Mode;
  itPerSec: number;
  msPerIt: number;
  /** CPU time of this process (JS, Dawn and the software driver's threads) per iteration: steadier on a busy host. */
  cpuMsPerIt: number;
  dispatchesPerIt: number;
  submitsPerIt: number;
}

/** Builds a trainer per mode; `run(mode, iters)` times iterations (then one sync) and counts dispatches. */
export async function makeDmdBench(batch = 256, recipe: 'dmd' | 'dmd2' | 'recipe' = 'dmd2', config: Partial<DMDConfig> = {}) {
  const { den: teacher, meta } = await loadModel(new Uint8Array(readFileSync(teacherPath())));
  const data = toy2d('8gaussians');
  const realData = (B: number, rng: HostRng) => ({ x: os.tensor(data.sample(B, rng), [B, 2]), labels: null });
  const pairs = recipe !== 'dmd2' ? { z: os.randn([5000, 2], { seed: 1 }), y: os.randn([5000, 2], { seed: 2 }) } : null;
  const trainers = Object.fromEntries((['eager', 'compiled'] as const).map((m) => {
    os.manualSeed(0);
    return [m, new DMDTrainer({ teacher, makeDenoiser: () => buildDenoiser(meta), sampleShape: [2], pairs, realData, config: { ...(recipe === 'recipe' ? TOY_RECIPE : { mode: recipe }), batch, ...config, compiled: m === 'compiled' } as never })];
  })) as Record<Mode, DMDTrainer>;
  const run = async (mode: Mode, iters: number): Promise<DmdStepResult> => {
    const tr = trainers[mode];
    await os.sync();
    const m0 = os.memory(), c0 = process.cpuUsage(), t0 = performance.now();
    for (let i = 0; i < iters; i++) {
      const l = tr.step();
      for (const t of Object.values(l)) t?.dispose();
    }
    await os.sync();
    const ms = (performance.now() - t0) / iters, m1 = os.memory(), cpu = process.cpuUsage(c0);
    return { mode, itPerSec: 1000 / ms, msPerIt: ms, cpuMsPerIt: (cpu.user + cpu.system) / 1000 / iters, dispatchesPerIt: (m1.dispatches - m0.dispatches) / iters, submitsPerIt: (m1.submits - m0.submits) / iters };
  };
  return { trainers, run };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const info = await os.init({ adapter: process.env.ONESTEP_ADAPTER as os.AdapterChoice | undefined, quiet: true });
  os.setEpilogues(arg('epilogues', 'auto') as 'auto' | 'all');
  const { run, trainers } = await makeDmdBench(256, RECIPE, CONFIG);
  for (const mode of MODES) await run(mode, 10); // compile + warm up both paths
  const res = new Map<Mode, DmdStepResult[]>(MODES.map((m) => [m, []]));
  const load0 = loadavg()[0];
  for (let r = 0; r < ROUNDS; r++) {
    // alternate which mode goes first
    const order = r % 2 === 0 ? MODES : [...MODES].reverse();
    for (const mode of order) res.get(mode)!.push(await run(mode, ITERS));
  }
  console.log(`${RECIPE.toUpperCase()} iteration, 8gaussians, batch 256 — ${info.adapter}; ${ROUNDS} rounds × ${ITERS} iterations; load ${load0.toFixed(1)} → ${loadavg()[0].toFixed(1)}`);
  console.log('| mode | it/s median (best) | ms/it median | CPU ms/it median | dispatches/it | submits/it |');
  console.log('|---|---|---|---|---|---|');
  for (const mode of MODES) {
    const rs = res.get(mode)!;
    const its = rs.map((x) => x.itPerSec);
    console.log(`| ${mode} | ${median(its).toFixed(1)} (${Math.max(...its).toFixed(1)}) | ${median(rs.map((x) => x.msPerIt)).toFixed(2)} | ${median(rs.map((x) => x.cpuMsPerIt)).toFixed(2)} | ${rs[0].dispatchesPerIt.toFixed(1)} | ${rs[0].submitsPerIt.toFixed(3)} |`);
  }
  if (JSON_OUT) writeFileSync(JSON_OUT, JSON.stringify({ adapter: info.adapter, rounds: Object.fromEntries(res) }, null, 1));
  if (MODES.length === 2) {
    const ratios = res.get(MODES[0])!.map((x, i) => x.itPerSec / res.get(MODES[1])![i].itPerSec);
    console.log(`\n${MODES[1]} / ${MODES[0]}: ×${(1 / median(ratios)).toFixed(2)} it/s (median of per-round ratios)`);
  }
  if (PROFILE) {
    for (const mode of MODES) {
      const prof = await os.profile(() => {
        for (let i = 0; i < ITERS; i++) for (const t of Object.values(trainers[mode].step())) t?.dispose();
      });
      const total = prof.reduce((s, p) => s + p.ms, 0);
      console.log(`\nGPU time per iteration, ${mode}: ${(total / ITERS).toFixed(2)} ms (timestamps around each dispatch)`);
      console.log('| kernel | ms/it | dispatches/it |');
      console.log('|---|---|---|');
      for (const p of prof.slice(0, 14)) console.log(`| ${p.label} | ${(p.ms / ITERS).toFixed(3)} | ${(p.count / ITERS).toFixed(1)} |`);
    }
  }
}
