// bench/matmul-quick.ts: matmul GFLOP/s at 256³/512³/1024³ on the current adapter (median of 10 timed runs, each
// several dispatches in one submit, after a warm-up). Run: node dist-bench/matmul-quick.js (see bench/README).
import * as os from '../engine';
import { MATMUL_TILES, matmulKernel } from '../kernels/matmul/dispatch';

await os.init();
const rows: string[] = [];
for (const n of [256, 512, 1024]) {
  const a = os.randn([n, n], { seed: 1 }), b = os.randn([n, n], { seed: 2 });
  for (const tile of MATMUL_TILES) {
    const reps = n <= 256 ? 20 : n <= 512 ? 5 : 2;
    const run = async () => {
      const t0 = performance.now();
      for (let r = 0; r < reps; r++) matmulKernel(a, b, { config: tile }).dispose();
      await os.sync();
      return (performance.now() - t0) / reps;
    };
    await run(); // compile + warm up
    const times: number[] = [];
    for (let i = 0; i < 10; i++) times.push(await run());
    times.sort((x, y) => x - y);
    const med = times[5];
    rows.push(`| ${n}³ | ${tile.tm}×${tile.tn} per inv, wg ${tile.wgX}×${tile.wgY} | ${med.toFixed(2)} | ${((2 * n ** 3) / med / 1e6).toFixed(2)} |`);
  }
}
console.log(`adapter: ${os.device().adapterLabel}\n| size | tile | median ms | GFLOP/s |\n|---|---|---|---|\n${rows.join('\n')}`);
