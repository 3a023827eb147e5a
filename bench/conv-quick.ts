// bench/conv-quick.ts: conv2d GFLOP/s (forward, backward-data, backward-weight) at UNet shapes next to matmul of the
// same GEMM size (M = N·OH·OW, N = Cout, K = Cin·kH·kW) in the same run. Every kernel is timed round-robin (one
// timing of each per round, so load from other processes hits all of them alike); the table shows medians over the
// rounds: wall-clock GFLOP/s, and GFLOP per CPU-second of this process (all driver threads; steadier on a busy host).
// Run: npx esbuild bench/conv-quick.ts --bundle --platform=node --format=esm --external:webgpu --outfile=/tmp/conv-quick.mjs
//      && ONESTEP_ADAPTER=lavapipe node /tmp/conv-quick.mjs [--rounds 7] [--all] [--shapes peer] [--matmul pick]
// --all times every CONV_VARIANTS tile (default: the dispatcher's pick); --shapes peer runs only N8 64→64 32×32;
// --matmul pick times only the engine's matmul (the baseline of the % columns), not every MATMUL_VARIANTS entry.
// (An outfile outside the repo finds `webgpu` through a node_modules beside it, e.g. ln -s <repo>/node_modules /tmp/.)
import * as os from '../engine';
import { CONV_LANE_VARIANTS, CONV_VARIANTS, conv2dBackwardData, conv2dBackwardWeight, conv2dForward, type ConvGeometry, type ConvVariant } from '../kernels/conv/dispatch';
import { MATMUL_TILES, matmulKernel, pickMatmulTile } from '../kernels/matmul/dispatch';
import type { DeviceArray } from '../runtime';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const ROUNDS = Number(arg('rounds', '7'));
const ALL = process.argv.includes('--all');
const EVERY_MATMUL = arg('matmul', 'all') !== 'pick';

// [N, Cin, H, W, Cout], 3×3, padding 1, stride 1
const UNET: [number, number, number, number, number][] = [
  [16, 32, 32, 32, 32],
  [16, 64, 16, 16, 64],
  [16, 128, 8, 8, 128],
  [16, 64, 16, 16, 128],
  [16, 3, 32, 32, 32], // an RGB input layer
  [8, 64, 32, 32, 64], // the peer comparison (jax-js: 12.1 GFLOP/s forward on lavapipe)
];
const SHAPES = arg('shapes', 'unet') === 'peer' ? UNET.slice(-1) : UNET;

await os.init({ adapter: process.env.ONESTEP_ADAPTER as os.AdapterChoice | undefined });

interface Timing {
  wall: number[];
  cpu: number[];
}
/** ms of wall clock and of process CPU per call, over `reps` calls in one submit. */
async function once(fn: () => DeviceArray, reps: number): Promise<{ wall: number; cpu: number }> {
  const c0 = process.cpuUsage(), t0 = performance.now();
  for (let i = 0; i < reps; i++) fn().dispose();
  await os.sync();
  const c = process.cpuUsage(c0);
  return { wall: (performance.now() - t0) / reps, cpu: (c.user + c.system) / 1000 / reps };
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const geom: ConvGeometry = { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 };
const out: string[] = [];
for (const [N, C, H, W, O] of SHAPES) {
  const x = os.randn([N, C, H, W], { seed: 1 }), w = os.randn([O, C, 3, 3], { seed: 2 }), dy = os.randn([N, O, H, W], { seed: 3 });
  const M = N * H * W, K = C * 9;
  const a = os.randn([M, K], { seed: 4 }), b = os.randn([K, O], { seed: 5 });
  const flop = 2 * M * O * K;
  const mmName = (t: object) => JSON.stringify(t).replace(/[{}"]/g, '');
  const mmTile = mmName(pickMatmulTile(M, O, K));
  const fns: [string, () => DeviceArray][] = [[`matmul (engine pick: ${mmTile})`, () => matmulKernel(a, b)]];
  for (const tile of EVERY_MATMUL ? MATMUL_TILES : []) if (mmName(tile) !== mmTile) fns.push([`matmul ${mmName(tile)}`, () => matmulKernel(a, b, { config: tile })]);
  // every tile (p16x8 is forward-only), or the dispatcher's own pick (no variant: its heuristic, as tests and a fresh install run)
  const variants = (all: readonly ConvVariant[]): (ConvVariant | undefined)[] => (ALL ? [...all] : [undefined]);
  const named = (v: ConvVariant | undefined) => v ?? 'default';
  for (const v of variants(CONV_VARIANTS)) fns.push([`fwd ${named(v)}`, () => conv2dForward(x, w, undefined, geom, [H, W], { variant: v })]);
  for (const v of variants(CONV_LANE_VARIANTS)) fns.push([`bwd-data ${named(v)}`, () => conv2dBackwardData(dy, w, undefined, geom, [H, W], { variant: v })]);
  for (const v of variants(CONV_LANE_VARIANTS)) fns.push([`bwd-weight ${named(v)}`, () => conv2dBackwardWeight(x, dy, geom, [3, 3], { variant: v })]);
  // warm up (compile) and size the repetitions: ~100 ms per timing
  const reps = new Map<string, number>();
  for (const [name, fn] of fns) {
    await once(fn, 1);
    reps.set(name, Math.max(1, Math.min(20, Math.round(100 / (await once(fn, 1)).wall))));
  }
  const times = new Map<string, Timing>(fns.map(([n]) => [n, { wall: [], cpu: [] }]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, fn] of fns) {
      const t = await once(fn, reps.get(name)!);
      times.get(name)!.wall.push(t.wall);
      times.get(name)!.cpu.push(t.cpu);
    }
  }
  const gf = (ms: number) => flop / ms / 1e6;
  const mmWall = median(times.get(fns[0][0])!.wall);
  const mmBest = Math.min(...fns.filter(([n]) => n.startsWith('matmul')).map(([n]) => median(times.get(n)!.wall)));
  out.push(`\n### N${N} ${C}→${O} ${H}×${W} 3×3 (GEMM M ${M}, N ${O}, K ${K}; ${(flop / 1e9).toFixed(2)} GFLOP)`);
  out.push('| kernel | median ms | GFLOP/s | GFLOP/cpu-s | vs engine matmul | vs best matmul |\n|---|---|---|---|---|---|');
  for (const [name] of fns) {
    const t = times.get(name)!;
    const ms = median(t.wall);
    out.push(`| ${name} | ${ms.toFixed(1)} | ${gf(ms).toFixed(2)} | ${gf(median(t.cpu)).toFixed(2)} | ${((mmWall / ms) * 100).toFixed(0)}% | ${((mmBest / ms) * 100).toFixed(0)}% |`);
  }
  console.error(out.slice(-2 - fns.length).join('\n'));
  for (const t of [x, w, dy, a, b]) t.dispose();
}
console.log(`adapter: ${os.device().adapterLabel}; ${ROUNDS} rounds, medians; conv variants: ${ALL ? 'all' : "the dispatcher's pick"}\n${out.join('\n')}`);
