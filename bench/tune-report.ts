// bench/tune-report.ts: before and after tuning on the current adapter, at the peer shapes. For each kernel
// family and pass it times every candidate with the autotuner (kernels/tune.ts, forced: nothing cached is reused, and
// the disk cache is redirected to a temporary folder) and prints the heuristic's pick (what runs untuned: tests, a
// fresh install) next to the tuner's winner, kernel time only (submit to done, best clean sample).
// Run: npx esbuild bench/tune-report.ts --bundle --platform=node --format=esm --external:webgpu --outfile=/tmp/tune-report.mjs
//      && ONESTEP_ADAPTER=lavapipe node /tmp/tune-report.mjs          (then ONESTEP_ADAPTER=swiftshader)
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as os from '../engine';
import { attentionTunable } from '../kernels/attention/dispatch';
import { convTunable, type ConvShape } from '../kernels/conv/dispatch';
import { matmulTunable } from '../kernels/matmul/dispatch';
import { normTunable } from '../kernels/norm/dispatch';
import { setTuning, tune, type Tunable } from '../kernels/tune';

process.env.ONESTEP_TUNE_CACHE = mkdtempSync(join(tmpdir(), 'onestep-tune-report-'));
await os.init({ adapter: process.env.ONESTEP_ADAPTER as os.AdapterChoice | undefined });
setTuning('cached'); // no background jobs: only the explicit tunes below
const dev = os.device();

const geom = { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 } as const;
const conv = (kind: ConvShape['kind']): ConvShape => ({ kind, x: [8, 64, 32, 32], w: [64, 64, 3, 3], out: [32, 32], geom });
const gn = { N: 8, G: 32, Cg: 2, S: 1024 };
const attn = { BH: 8, L: 256, S: 256, D: 64 };
const rows: [string, Tunable<unknown>][] = [
  ['matmul 1024³', matmulTunable(dev, { M: 1024, N: 1024, K: 1024, batch: 1, transA: false, transB: false }) as Tunable<unknown>],
  ['matmul 256³', matmulTunable(dev, { M: 256, N: 256, K: 256, batch: 1, transA: false, transB: false }) as Tunable<unknown>],
  ['conv2d N8 64→64 32² fwd', convTunable(dev, conv('forward')) as Tunable<unknown>],
  ['conv2d … backward-data', convTunable(dev, conv('backwardData')) as Tunable<unknown>],
  ['conv2d … backward-weight', convTunable(dev, conv('backwardWeight')) as Tunable<unknown>],
  ['group norm G32 8×64×32² fwd', normTunable(dev, 'forward', gn, true, false) as Tunable<unknown>],
  ['group norm … backward', normTunable(dev, 'backward', gn, true, false) as Tunable<unknown>],
  ['attention B·H 8 L 256 D 64 fwd', attentionTunable(dev, 'forward', attn, false) as Tunable<unknown>],
  ['attention … backward', attentionTunable(dev, 'backward', attn, false) as Tunable<unknown>],
];

const ms = (x: number | null | undefined) => (x == null ? 'n/a' : x.toFixed(2));
const clock = dev.features.has('timestamp-query') ? 'GPU timestamps' : 'submit-to-done wall time';
console.log(`adapter: ${dev.adapterLabel}; kernel ms per call by ${clock}\n| kernel | candidates | heuristic (untuned) | ms | tuned winner | ms | untuned ÷ tuned |\n|---|---|---|---|---|---|---|`);
for (const [label, t] of rows) {
  const r = await tune(dev, t, { force: true });
  const heuristic = t.id(t.heuristic);
  const at = (id: string) => r.timings.find((x) => x.id === id)?.ms;
  const h = at(heuristic), w = at(r.winner);
  const gain = h != null && w != null ? `${(h / w).toFixed(2)}×` : 'n/a';
  console.log(`| ${label} | ${r.timings.length} | ${heuristic} | ${ms(h)} | ${r.winner} | ${ms(w)} | ${gain} |`);
}
