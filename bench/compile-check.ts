// bench/compile-check.ts: N compiled steps against N eager steps from the same start, for the workloads issue 19 names
// — the 2-D recipe's DMD iteration (DMD + regression + GAN head, batch 256, the zoo's 8gaussians teacher), the DMD2
// iteration with the GAN head (TTUR 5), the EDM training step of the 2-D MLP teacher, and the EDM step of the MNIST
// UNet (mnist16 config, batch 16, labels and label dropout) — each with Adam and EMA where its trainer has them. Prints,
// per workload, the largest relative difference of the losses and of the parameters (each element against
// atol + rtol·|eager|, as the tests' expectClose does) and whether all are within rtol 1e-5, atol 1e-6.
// Too long for `npm test` at these sizes (test/engine/compile.test.ts runs the same comparisons on small ones).
// Run: npx esbuild bench/compile-check.ts --bundle --platform=node --format=esm --external:webgpu --outfile=/tmp/cc.mjs
//      && ONESTEP_ADAPTER=lavapipe|swiftshader node /tmp/cc.mjs [--steps 200] [--only recipe,dmd2,teacher,unet] [--fusion off]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as os from '../engine';
import { buildDenoiser, loadModel } from '../models/checkpoint';
import { DMDTrainer } from '../models/dmd';
import { HostRng } from '../models/data/rng';
import { toy2d } from '../models/data/toy2d';
import { EDMDenoiser, edmTrainStep } from '../models/edm';
import { TOY_RECIPE } from '../models/recipe';
import { MNIST_UNET, UNET_DEFAULTS, UNet } from '../models/unet';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const STEPS = Number(arg('steps', '200'));
const ONLY = arg('only', 'recipe,dmd2,teacher,unet').split(',');
const RTOL = 1e-5, ATOL = 1e-6;
const FUSION = arg('fusion', 'on'); // off: compiled steps replay the traced kernels unfused (what fusion changes, isolated)

/** A workload: a fresh copy from a fixed seed, whose step returns its losses and whose state is what it trains. */
interface Run {
  step(): Promise<number[]>;
  state(): Promise<Float32Array[]>;
  dispose(): void;
}
type Factory = (compiled: boolean) => Promise<Run>;

const { den: toyTeacher, meta: toyMeta } = await (async () => {
  await os.init({ adapter: process.env.ONESTEP_ADAPTER as os.AdapterChoice | undefined, quiet: true });
  return loadModel(new Uint8Array(readFileSync(join(process.cwd(), 'zoo', '8gaussians-teacher.safetensors'))));
})();

/** The DMD trainer on 8gaussians with the zoo teacher: the demo's recipe, or DMD2 with the GAN head. */
const dmdRun = (config: Record<string, unknown>): Factory => async (compiled) => {
  os.manualSeed(0);
  const data = toy2d('8gaussians');
  const realData = (B: number, rng: HostRng) => ({ x: os.tensor(data.sample(B, rng), [B, 2]), labels: null });
  const pairs = config.mode === 'dmd' ? { z: os.keep(os.randn([5000, 2], { seed: 1 })), y: os.keep(os.randn([5000, 2], { seed: 2 })) } : null;
  const tr = new DMDTrainer({ teacher: toyTeacher, makeDenoiser: () => buildDenoiser(toyMeta), sampleShape: [2], pairs, realData, config: { ...config, compiled } as never });
  return {
    async step() {
      const l = tr.step();
      const keys = ['fake', 'dm', 'reg', 'ganG', 'ganD'] as const;
      const got = await os.readAll(keys.flatMap((k) => (l[k] ? [l[k]!] : [])));
      for (const t of Object.values(l)) t?.dispose();
      return got.map((x) => x[0]);
    },
    state: () => Promise.all([...tr.generator.parameters(), ...(tr.ema?.shadow ?? [])].map((p) => p.data())),
    dispose: () => {
      pairs?.z.dispose();
      pairs?.y.dispose();
    },
  };
};

/** An EDM training step (loss, backward, Adam, EMA) of a fresh denoiser on fixed data. */
const edmRun = (make: () => EDMDenoiser, data: () => os.Tensor, labels: (() => os.Tensor) | null): Factory => async (compiled) => {
  os.manualSeed(4);
  const den = make();
  const y = os.keep(data());
  const lab = labels ? os.keep(labels()) : null;
  const opt = new os.optim.Adam(den.parameters(), { lr: 1e-3 });
  const ema = new os.optim.EMA(den.parameters(), { decay: 0.99 });
  const step = () => {
    const l = edmTrainStep(den, opt, y, { labels: lab, labelDropout: lab ? 0.1 : 0 });
    ema.update();
    return l;
  };
  const f = compiled ? os.compile(step) : step;
  os.manualSeed(11);
  return {
    async step() {
      const l = f();
      const v = await l.item();
      l.dispose();
      return [v];
    },
    state: () => Promise.all([...den.parameters(), ...ema.shadow].map((p) => p.data())),
    dispose: () => {
      y.dispose();
      lab?.dispose();
      if ('dispose' in f) (f as { dispose(): void }).dispose();
    },
  };
};

const unetConfig = { ...UNET_DEFAULTS, ...MNIST_UNET, resolution: 16, inChannels: 1, outChannels: 1 };
const WORKLOADS: Record<string, Factory> = {
  recipe: dmdRun({ ...TOY_RECIPE }),
  dmd2: dmdRun({ mode: 'dmd2', batch: 256, ttur: 5, ganWeight: 3e-3, emaDecay: 0.99 }),
  teacher: edmRun(() => buildDenoiser(toyMeta), () => os.randn([256, 2], { seed: 5 }), null),
  unet: edmRun(() => new EDMDenoiser(new UNet(unetConfig), { sigmaData: 0.5 }), () => os.randn([16, 1, 16, 16], { seed: 5 }), () => os.oneHot(os.tensor(Float32Array.from({ length: 16 }, (_, i) => i % 10)), 10)),
};

/** max over elements of |a − b| / (atol + rtol·|b|) · rtol: ≤ rtol means every element is within the tolerance. */
function worst(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let w = 0;
  for (let i = 0; i < a.length; i++) w = Math.max(w, (Math.abs(a[i] - b[i]) / (ATOL + RTOL * Math.abs(b[i]))) * RTOL);
  return w;
}

if (FUSION === 'off') os.setFusion(false);
console.log(`compiled vs eager, ${STEPS} steps each${FUSION === 'off' ? ', fusion off' : ''} — ${os.device().adapterLabel}`);
console.log('| workload | losses compared | worst loss difference (relative) | parameters compared | worst parameter difference (relative) | within rtol 1e-5, atol 1e-6 | s eager / compiled |');
console.log('|---|---|---|---|---|---|---|');
let failed = 0;
for (const name of ONLY) {
  const make = WORKLOADS[name];
  if (!make) throw new Error(`compile-check: unknown workload ${name}; one of ${Object.keys(WORKLOADS).join(', ')}`);
  const result: { losses: number[]; state: Float32Array[]; seconds: number }[] = [];
  for (const compiled of [false, true]) {
    const r = await make(compiled);
    const t0 = performance.now();
    const losses: number[] = [];
    for (let i = 0; i < STEPS; i++) losses.push(...(await r.step()));
    const seconds = (performance.now() - t0) / 1000;
    result.push({ losses, state: await r.state(), seconds });
    r.dispose();
  }
  const [e, c] = result;
  const lossWorst = worst(c.losses, e.losses);
  const paramWorst = Math.max(...c.state.map((p, i) => worst(p, e.state[i])));
  const ok = lossWorst <= RTOL && paramWorst <= RTOL && c.losses.length === e.losses.length;
  if (!ok) failed++;
  const elements = e.state.reduce((s, p) => s + p.length, 0);
  console.log(`| ${name} | ${e.losses.length} | ${lossWorst.toExponential(2)} | ${elements} | ${paramWorst.toExponential(2)} | ${ok ? 'yes' : '**no**'} | ${e.seconds.toFixed(1)} / ${c.seconds.toFixed(1)} |`);
}
process.exitCode = failed ? 1 : 0;
