// bench/norm-quick.ts: group norm (G = 32 on 8×64×32×32, affine) forward and backward per kernel variant, against a
// plain vec4 copy kernel's bandwidth in the same run (the raw ceiling). Median and best of 15 timed runs, each `reps`
// dispatches in one submit, after a warm-up; no timestamp queries (lavapipe has none), so submit-to-done. On a shared
// machine the best run is the steadier figure (other processes steal the driver's threads), so GB/s and the ratio
// to copy are given for both.
// Run: npx esbuild bench/norm-quick.ts --bundle --platform=node --format=esm --external:webgpu \
//        --outfile=/tmp/norm-quick.mjs && ONESTEP_ADAPTER=lavapipe node /tmp/norm-quick.mjs
import { loadavg } from 'node:os';
import * as os from '../engine';
import type { Kernel } from '../runtime';
import { grid1d, main1d } from '../kernels/grid';
import { NORM_VARIANTS, normBackward, normForward, pickNormVariant, type NormDims } from '../kernels/norm/dispatch';

await os.init();
const dev = os.device();
const [N, C, H, W, G] = [8, 64, 32, 32, 32];
const shape = [N, C, H, W];
const elems = N * C * H * W, MB = (elems * 4) / 2 ** 20;
const dims: NormDims = { N, G, Cg: C / G, S: H * W };

async function time(reps: number, body: () => void): Promise<[number, number]> {
  const run = async () => {
    const t0 = performance.now();
    for (let r = 0; r < reps; r++) body();
    await os.sync();
    return (performance.now() - t0) / reps;
  };
  await run(); // compile + warm up
  const ts: number[] = [];
  for (let i = 0; i < 15; i++) ts.push(await run());
  ts.sort((a, b) => a - b);
  return [ts[7], ts[0]];
}

const copyKernel: Kernel = {
  label: 'copy vec4',
  code: /* wgsl */ `
struct U { n: u32, p0: u32, p1: u32, p2: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> src: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4f>;
${main1d()}
  if (i < u.n) { dst[i] = src[i]; }
}`,
};

const x = os.randn(shape, { seed: 1 }), dy = os.randn(shape, { seed: 2 });
const w = os.rand([C], { seed: 3 }), b = os.randn([C], { seed: 4 });
const rows: string[] = [];
const gbs = (bytesMB: number, ms: number) => (bytesMB / 1024) / (ms / 1000);

const [copyMs, copyBest] = await time(20, () => {
  const out = os.Tensor.empty(shape);
  dev.dispatch(copyKernel, { buffers: [x.buffer, out.buffer], uniforms: [elems / 4, 0, 0, 0], workgroups: grid1d(dev, elems / 4) });
  out.dispose();
});
const copyGBs = gbs(2 * MB, copyMs), copyBestGBs = gbs(2 * MB, copyBest);
const row = (what: string, variant: string, mb: number, med: number, best: number) => {
  const [gm, gb] = [gbs(mb, med), gbs(mb, best)];
  const pct = (a: number, b: number) => `${((100 * a) / b).toFixed(0)}%`;
  rows.push(`| ${what} | ${variant} | ${med.toFixed(3)} / ${best.toFixed(3)} | ${gm.toFixed(2)} / ${gb.toFixed(2)} | ${pct(gm, copyGBs)} / ${pct(gb, copyBestGBs)} |`);
};
row('copy (vec4, read + write)', '—', 2 * MB, copyMs, copyBest);

for (const variant of [undefined, ...NORM_VARIANTS]) {
  const name = variant ?? `auto (${pickNormVariant(dims, dev.isCpu)})`;
  const [fwd, fwdBest] = await time(10, () => {
    const { y, stats } = normForward(x, dims, w, b, 1e-5, { variant, silu: true });
    y.dispose();
    stats.dispose();
  });
  const { y, stats } = normForward(x, dims, w, b, 1e-5, { variant, silu: true });
  const [bwd, bwdBest] = await time(10, () => {
    const { dx, dw, db } = normBackward(dy, x, stats, dims, w, b, { variant, silu: true });
    for (const t of [dx, dw, db]) t?.dispose();
  });
  y.dispose();
  stats.dispose();
  row('groupNorm fwd (affine + SiLU), 1 dispatch', name, 2 * MB, fwd, fwdBest);
  row('groupNorm bwd (dx, dw, db), 2 dispatches', name, 3 * MB, bwd, bwdBest);
}

console.log(`adapter: ${dev.adapterLabel}; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}
groupNorm G=${G} on [${shape}] (${MB} MiB per tensor); GB/s counts the minimum traffic: fwd x + y, bwd x + dy + dx
| kernel | variant | ms (median / best) | GB/s (median / best) | of copy (median / best) |
|---|---|---|---|---|
${rows.join('\n')}`);
