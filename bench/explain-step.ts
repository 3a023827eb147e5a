// bench/explain-step.ts: prints compiled.explain() for both kinds of iteration of the 2-D recipe trainer (what each
// dispatch of a compiled DMD iteration runs, and which ops were fused into it).
// Run: npx esbuild bench/explain-step.ts --bundle --platform=node --format=esm --external:webgpu --outfile=/tmp/b20/explain.mjs
//      && ONESTEP_ADAPTER=lavapipe node /tmp/b20/explain.mjs [--mode recipe|dmd|dmd2] [--epilogues auto|all]
import * as os from '../engine';

const i = process.argv.indexOf('--mode');
const mode = (i >= 0 ? process.argv[i + 1] : 'recipe') as 'recipe' | 'dmd' | 'dmd2';
await os.init({ adapter: process.env.ONESTEP_ADAPTER as os.AdapterChoice | undefined, quiet: true });
const e = process.argv.indexOf('--epilogues');
if (e >= 0) os.setEpilogues(process.argv[e + 1] as 'auto' | 'all');
const t0 = performance.now();
process.argv[1] = ''; // dmd-step.ts runs its own bench when it is the entry point
const { makeDmdBench } = await import('./dmd-step');
const { run, trainers } = await makeDmdBench(256, mode);
await run('compiled', 10);
console.log(`trace, build and 10 iterations: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
const steps = trainers.compiled.compiledSteps!;
for (const k of ['generator', 'fake'] as const) console.log(`# ${k} iteration\n${steps[k].explain()}\n`);
