// bench/matmul-quick.ts: matmul GFLOP/s of every MATMUL_VARIANTS entry at 256³/512³/1024³ on the current adapter, the
// heuristic's choice and the tuner's choice (kernels/tune.ts; explicit tuning, winners cached on disk). Variants are
// timed round-robin (one timing of each per round, so load from other processes hits all alike); the table shows
// medians over the rounds: wall-clock GFLOP/s (best round in brackets) and GFLOP per CPU-second of this process (all
// driver threads; steadier on a busy host).
// Run: npx esbuild bench/matmul-quick.ts --bundle --platform=node --format=esm --external:webgpu --outfile=/tmp/mm.mjs
//      && ONESTEP_ADAPTER=lavapipe node /tmp/mm.mjs [--sizes 256,512,1024] [--rounds 5] [--variants r8x8,s32x8s8] [--retune] [--no-tune]
// (An outfile outside the repo finds `webgpu` through a node_modules beside it, e.g. ln -s <repo>/node_modules /tmp/.)
import * as os from '../engine';
import { MATMUL_VARIANTS, heuristicMatmulConfig, matmulConfigId, matmulKernel, resolveMatmulConfig, tuneMatmul } from '../kernels/matmul/dispatch';
import { setTuning } from '../kernels/tune';
import type { DeviceArray } from '../runtime';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const SIZES = arg('sizes', '256,512,1024').split(',').map(Number);
const ROUNDS = Number(arg('rounds', '5'));
const ONLY = arg('variants', '') ? new Set(arg('variants', '').split(',')) : null;
const RETUNE = process.argv.includes('--retune');
const TUNE = !process.argv.includes('--no-tune');
/** A variant slower than this per call is reported once and not timed further (workgroup memory on SwiftShader). */
const TOO_SLOW_MS = 5000;

await os.init({ adapter: process.env.ONESTEP_ADAPTER as os.AdapterChoice | undefined });
setTuning('cached'); // nothing tunes behind the bench's back; the "tuned" row tunes explicitly
const dev = os.device();

/** ms of wall clock and of process CPU per call, over `reps` calls in one submit. */
async function once(fn: () => DeviceArray, reps: number): Promise<{ wall: number; cpu: number }> {
  const c0 = process.cpuUsage(), t0 = performance.now();
  for (let i = 0; i < reps; i++) fn().dispose();
  await os.sync();
  const wall = (performance.now() - t0) / reps, c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1000 / reps };
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const lines: string[] = [];
const summary: string[] = [];
for (const n of SIZES) {
  const a = os.randn([n, n], { seed: 1 }), b = os.randn([n, n], { seed: 2 });
  const gf = (ms: number) => (2 * n ** 3) / ms / 1e6;
  const variants = MATMUL_VARIANTS.filter((v) => !ONLY || ONLY.has(v.name));
  const timed: { name: string; fn: () => DeviceArray; reps: number; wall: number[]; cpu: number[]; note?: string }[] = [];
  for (const v of variants) {
    const ran = resolveMatmulConfig(v.config, dev.features);
    const note = ran !== v.config ? `runs as ${matmulConfigId(ran)} (no subgroups)` : undefined;
    const fn = () => matmulKernel(a, b, { config: v.config });
    const t0 = performance.now();
    await once(fn, 1); // compile + warm up
    const compileMs = performance.now() - t0;
    const first = (await once(fn, 1)).wall;
    const row = { name: v.name, fn, reps: Math.max(1, Math.min(20, Math.round(100 / first))), wall: [] as number[], cpu: [] as number[], note: note ?? `compile+first ${(compileMs / 1000).toFixed(1)} s` };
    if (first > TOO_SLOW_MS) row.note = `${(first / 1000).toFixed(1)} s per call: not timed further`;
    timed.push(row);
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (const t of timed) {
      if (t.wall.length > 0 && t.wall[0] > TOO_SLOW_MS) continue;
      const s = await once(t.fn, t.reps);
      t.wall.push(s.wall);
      t.cpu.push(s.cpu);
    }
  }
  const heur = matmulConfigId(heuristicMatmulConfig(dev, { M: n, N: n, K: n, batch: 1, transA: false, transB: false }));
  let tuned = '';
  if (TUNE) {
    const res = await tuneMatmul({ M: n, N: n, K: n }, { force: RETUNE });
    tuned = res.winner;
    if (!res.cached) summary.push(`tuner ${n}³: ${res.timings.map((t) => `${t.id} ${t.ms === null ? `– (${t.note})` : gf(t.ms).toFixed(1)}`).join(', ')}`);
  }
  let best = { name: '', gf: 0 };
  for (const t of timed) {
    const wall = gf(median(t.wall)), peak = gf(Math.min(...t.wall)), cpu = gf(median(t.cpu));
    if (wall > best.gf) best = { name: t.name, gf: wall };
    const marks = [t.name === heur ? 'heuristic' : '', t.name === tuned ? 'tuned' : ''].filter(Boolean).join(', ');
    lines.push(`| ${n}³ | ${t.name}${marks ? ` (${marks})` : ''} | ${median(t.wall).toFixed(1)} | ${wall.toFixed(2)} (${peak.toFixed(2)}) | ${cpu.toFixed(2)} | ${t.note ?? ''} |`);
  }
  summary.push(`${n}³: fastest here ${best.name} ${best.gf.toFixed(2)} GFLOP/s; heuristic ${heur}; tuned ${tuned || '(not run)'}`);
  a.dispose();
  b.dispose();
}
console.log(
  `adapter: ${dev.adapterLabel} (subgroups: ${dev.features.has('subgroups')})\n` +
    `| size | variant | median ms | GFLOP/s wall (best) | GFLOP/CPU-s | note |\n|---|---|---|---|---|---|\n${lines.join('\n')}\n\n${summary.join('\n')}`,
);
