// bench/attention-quick.ts: fused attention (os.attention) against the same computation composed from this engine's
// matmul + softmax + matmul, at B·H = 8 (B 2, H 4), L = 256, D = 64, forward, backward and forward + backward through
// autograd, in one run on the current adapter. Each cell: the best wall time per call over 7 timed batches (each
// several calls in one submit, after a warm-up) and 2 rounds that alternate the implementations, so that a burst of
// other load on a shared machine hits them alike; in brackets the median process CPU time per call (the software
// adapters run on this process's threads, so CPU time is less sensitive to other load than wall time).
// Run: npx esbuild bench/attention-quick.ts --bundle --platform=node --format=esm --external:webgpu \
//        --outfile=/tmp/attn-quick.mjs && ONESTEP_ADAPTER=lavapipe node /tmp/attn-quick.mjs [--variants=a,b]
import * as os from '../engine';
import { ATTENTION_VARIANTS, variantWorthTiming } from '../kernels/attention/dispatch';

await os.init();
// defaults B 2, H 4, L 256, D 64; `--L=1024 --D=32 --causal` change them
const arg = (name: string, dflt: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? dflt);
const [B, H, L, D] = [arg('B', 2), arg('H', 4), arg('L', 256), arg('D', 64)];
const causal = process.argv.includes('--causal');
// `--variants=subgroup-r4,plain-r4`: only these fused variants (default: every one worth timing here)
const only = process.argv.find((a) => a.startsWith('--variants='))?.split('=')[1].split(',');
const shape = [B, H, L, D];
const q = os.randn(shape, { seed: 1 }), k = os.randn(shape, { seed: 2 }), v = os.randn(shape, { seed: 3 }), gOut = os.randn(shape, { seed: 4 });
const scale = 1 / Math.sqrt(D);

interface Timing {
  wall: number; // best ms per call
  cpu: number; // median process-CPU ms per call
}
async function time(fn: () => void, reps: number): Promise<Timing> {
  fn();
  await os.sync();
  const walls: number[] = [], cpus: number[] = [];
  for (let i = 0; i < 7; i++) {
    const c0 = process.cpuUsage(), t0 = performance.now();
    for (let r = 0; r < reps; r++) fn();
    await os.sync();
    walls.push((performance.now() - t0) / reps);
    const c = process.cpuUsage(c0);
    cpus.push((c.user + c.system) / 1000 / reps);
  }
  cpus.sort((a, b) => a - b);
  return { wall: Math.min(...walls), cpu: cpus[3] };
}
const better = (a: Timing | undefined, b: Timing): Timing => (a && a.wall <= b.wall ? a : b);

/** softmax(q·kᵀ·scale (+ mask))·v from matmul, mul, softmax (and a −1e9 upper-triangle mask when causal). */
let mask: os.Tensor | null = null;
if (causal) {
  const m = new Float32Array(L * L);
  for (let i = 0; i < L; i++) for (let j = i + 1; j < L; j++) m[i * L + j] = -1e9;
  mask = os.tensor(m, [L, L]);
}
const composed = (q: os.Tensor, k: os.Tensor, v: os.Tensor) => {
  let s = os.mul(os.matmul(q, k, { transB: true }), scale);
  if (mask) s = os.add(s, mask);
  return os.matmul(os.softmax(s, -1), v);
};
const fused = (variant?: string) => (q: os.Tensor, k: os.Tensor, v: os.Tensor) => os.attention(q, k, v, { scale, causal, variant });

const clearGrads = () => {
  for (const t of [q, k, v]) {
    t.grad?.dispose();
    t.grad = null;
  }
};
type Impl = (q: os.Tensor, k: os.Tensor, v: os.Tensor) => os.Tensor;
async function measure(impl: Impl) {
  const fwd = await time(() => os.noGrad(() => os.tidy(() => void impl(q, k, v))), 10);
  for (const t of [q, k, v]) t.requiresGrad_(true);
  // backward alone: the forward graph is built once and kept (retainGraph), each call runs only the backward
  const out = impl(q, k, v);
  const bwd = await time(() => {
    out.backward(gOut, { retainGraph: true });
    clearGrads();
  }, 5);
  out.dispose();
  const both = await time(() => {
    os.tidy(() => impl(q, k, v).backward(gOut));
    clearGrads();
  }, 5);
  for (const t of [q, k, v]) t.requiresGrad_(false);
  return { fwd, bwd, both };
}

const impls: [string, Impl][] = [
  ['composed matmul + softmax + matmul', composed],
  ['fused os.attention (default)', fused()],
  // the variants this adapter runs (subgroup ones need subgroups of at least their lane count)
  ...ATTENTION_VARIANTS.filter((x) => variantWorthTiming(os.device(), x, D) && (!only || only.includes(x.name))).map((x): [string, Impl] => [`fused os.attention (${x.name})`, fused(x.name)]),
];
const best: { fwd?: Timing; bwd?: Timing; both?: Timing }[] = impls.map(() => ({}));
for (let round = 0; round < 2; round++) {
  for (const [i, [, impl]] of impls.entries()) {
    const r = await measure(impl);
    best[i] = { fwd: better(best[i].fwd, r.fwd), bwd: better(best[i].bwd, r.bwd), both: better(best[i].both, r.both) };
  }
}
const fmt = (t: Timing | undefined) => `${t!.wall.toFixed(2)} (${t!.cpu.toFixed(1)})`;
const ratio = (i: number, k: 'wall' | 'cpu') => (best[0].both![k] / best[i].both![k]).toFixed(2);
const rows = impls.map(([name], i) => `| ${name} | ${fmt(best[i].fwd)} | ${fmt(best[i].bwd)} | ${fmt(best[i].both)} | ${ratio(i, 'wall')}× (${ratio(i, 'cpu')}×) |`);
console.log(
  `adapter: ${os.device().adapterLabel}\nattention B=${B} H=${H} L=${L} D=${D}${causal ? ' causal' : ''}: best wall ms per call (median process CPU ms)\n` +
    `| implementation | forward | backward | forward + backward | fwd+bwd speed-up, wall (CPU) |\n|---|---|---|---|---|\n${rows.join('\n')}`,
);
