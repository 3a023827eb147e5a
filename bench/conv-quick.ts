// bench/conv-quick.ts: conv2d GFLOP/s (forward, backward-data, backward-weight; every CONV_VARIANTS tile) at UNet
// shapes, next to matmul of the same GEMM size (M = N·OH·OW, N = Cout, K = Cin·kH·kW) in the same run. Median of
// several timed runs, each a few dispatches in one submit, after a warm-up.
// Run: npx esbuild bench/conv-quick.ts --bundle --platform=node --format=esm --external:webgpu --outfile=/tmp/conv-quick.mjs
//      && ONESTEP_ADAPTER=lavapipe node /tmp/conv-quick.mjs [--runs 7] [--only fwd]
// (/tmp/conv-quick.mjs finds `webgpu` through /tmp/node_modules → <repo>/node_modules, or bundle into the repo instead.)
import * as os from '../engine';
import { CONV_VARIANTS, conv2dBackwardData, conv2dBackwardWeight, conv2dForward, pickConvVariant, type ConvGeometry, type ConvVariant } from '../kernels/conv/dispatch';
import { MATMUL_TILES, matmulKernel, pickMatmulTile } from '../kernels/matmul/dispatch';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const RUNS = Number(arg('runs', '7'));
const ONLY = arg('only', 'fwd,bwd-data,bwd-weight').split(',');

// [N, Cin, H, W] → Cout, 3×3, padding 1, stride 1
const SHAPES: [number, number, number, number, number][] = [
  [16, 32, 32, 32, 32],
  [16, 64, 16, 16, 64],
  [16, 128, 8, 8, 128],
  [16, 64, 16, 16, 128],
  [8, 64, 32, 32, 64], // the peer comparison (jax-js: 12.1 GFLOP/s forward on lavapipe)
];

const ADAPTER = (process.env.ONESTEP_ADAPTER as os.AdapterChoice | undefined) ?? undefined;
await os.init({ adapter: ADAPTER });

/** Median ms of one call of fn, timed over enough repetitions per run (~150 ms). */
async function time(fn: () => os.Tensor): Promise<number> {
  fn().dispose();
  await os.sync(); // compile + warm up
  const t0 = performance.now();
  fn().dispose();
  await os.sync();
  const once = performance.now() - t0;
  const reps = Math.max(1, Math.min(20, Math.round(150 / once)));
  const times: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const t = performance.now();
    for (let i = 0; i < reps; i++) fn().dispose();
    await os.sync();
    times.push((performance.now() - t) / reps);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

const gflops = (flop: number, ms: number) => (flop / ms / 1e6).toFixed(2);
const rows: string[] = [];
const geom: ConvGeometry = { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 };
for (const [N, C, H, W, O] of SHAPES) {
  const x = os.randn([N, C, H, W], { seed: 1 }), w = os.randn([O, C, 3, 3], { seed: 2 }), dy = os.randn([N, O, H, W], { seed: 3 });
  const M = N * H * W, K = C * 9;
  const flop = 2 * M * O * K;
  const shape = `N${N} ${C}→${O} ${H}×${W} 3×3`;
  // matmul reference: the engine's default tile and the best of MATMUL_TILES
  const a = os.randn([M, K], { seed: 4 }), b = os.randn([K, O], { seed: 5 });
  const mmDefault = await time(() => matmulKernel(a, b));
  let mmBest = mmDefault, mmBestTile = pickMatmulTile(M, O);
  for (const tile of MATMUL_TILES) {
    const t = await time(() => matmulKernel(a, b, { config: tile }));
    if (t < mmBest) [mmBest, mmBestTile] = [t, tile];
  }
  a.dispose();
  b.dispose();
  const mmNote = `${gflops(flop, mmDefault)} (best ${gflops(flop, mmBest)}, ${mmBestTile.tm}×${mmBestTile.tn})`;
  const run = async (kind: string, variant: ConvVariant, f: (v: ConvVariant) => os.Tensor) => {
    if (!ONLY.includes(kind)) return;
    const ms = await time(() => f(variant));
    rows.push(`| ${shape} | ${kind} | ${variant}${variant === pickConvVariant(O) ? ' *' : ''} | ${ms.toFixed(1)} | ${gflops(flop, ms)} | ${mmNote} | ${((mmDefault / ms) * 100).toFixed(0)}% |`);
    console.error(rows.at(-1));
  };
  for (const v of CONV_VARIANTS) await run('fwd', v, (variant) => conv2dForward(x, w, undefined, geom, [H, W], { variant }));
  for (const v of CONV_VARIANTS) await run('bwd-data', v, (variant) => conv2dBackwardData(dy, w, undefined, geom, [H, W], { variant }));
  for (const v of CONV_VARIANTS) await run('bwd-weight', v, (variant) => conv2dBackwardWeight(x, dy, geom, [3, 3], { variant }));
  for (const t of [x, w, dy]) t.dispose();
}
console.log(
  `adapter: ${os.device().adapterLabel}; median of ${RUNS} runs; * = the dispatcher's default variant; matmul = same GEMM (M = N·H·W, N = Cout, K = Cin·9), engine default tile\n` +
    `| shape | kernel | variant | ms | GFLOP/s | matmul GFLOP/s | vs matmul |\n|---|---|---|---|---|---|---|\n${rows.join('\n')}`,
);
