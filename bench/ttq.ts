// bench/ttq.ts: time to quality in Node for recipe variants: each config (merged over the data set's recipe) runs
// through DistillSession as `onestep distill` does, evaluating every `every` iterations until the generator reaches
// the teacher's quality or `max` iterations pass; one line per config with TTQ and the evaluations on the way.
// Run: npx esbuild bench/ttq.ts --bundle --platform=node --format=esm --external:webgpu --outfile=/tmp/ttq.mjs
//      && ONESTEP_ADAPTER=lavapipe node /tmp/ttq.mjs DATA ['[{}, {"lr": 1e-3}, …]'] [max 4000] [every 100] [ttq|max]
// (a config's "pairs": regression pairs made at the start instead of TOY_PAIRS)
// (`max`: go on to `max` iterations after the teacher is reached, for the final metrics)
// (An outfile outside the repo finds its packages through a node_modules beside it, e.g. ln -s <repo>/node_modules /tmp/.)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as os from '../engine';
import { loadModel } from '../models/checkpoint';
import { recipeFor, TOY_PAIRS } from '../models/recipe';
import { DistillSession } from '../models/session';
import { toyTask } from '../models/tasks/toy';

const [data = '8gaussians', configsJson = '[{}]', maxArg = '4000', everyArg = '100', until = 'ttq'] = process.argv.slice(2);
const configs = JSON.parse(configsJson) as Record<string, number | string>[];
const max = Number(maxArg), every = Number(everyArg);
await os.init({ quiet: true });
const f = (v: unknown, d = 4) => (typeof v === 'number' ? v.toFixed(d) : String(v));
for (const c of configs) {
  // "pairs" in a config sets how many regression pairs the session makes (TOY_PAIRS otherwise); the rest is recipe
  const { pairs = TOY_PAIRS, ...recipe } = c as Record<string, number | string> & { pairs?: number };
  const { den: teacher, meta } = await loadModel(new Uint8Array(readFileSync(join(process.cwd(), 'zoo', `${data}-teacher.safetensors`))));
  os.manualSeed(0);
  const s = await DistillSession.start({ teacher, meta, task: toyTask(data), config: { ...recipeFor(data), ...recipe }, pairs });
  const t = s.teacherQuality!;
  const way: string[] = [];
  let e = await s.evaluate();
  while ((until === 'max' || s.ttqSeconds === null) && s.iteration < max) {
    await s.train(every);
    e = await s.evaluate();
    way.push(`${e.iteration}: ${e.modes}/${e.totalModes} hq ${f(e.hq, 3)} swd ${f(e.swd)}`);
  }
  const ttq = s.ttqSeconds === null ? `not reached in ${s.iteration} iterations` : `${s.ttqSeconds.toFixed(1)} s (iteration ${s.evals.find((x) => x.reached)?.iteration})`;
  console.log(`${data} ${JSON.stringify(c)}: TTQ ${ttq}; ${(s.iteration / s.trainSeconds).toFixed(1)} it/s; teacher swd ${f(t.swd)} hq ${f(t.hq, 3)}; final swd ${f(e.swd)} hq ${f(e.hq, 3)} modes ${e.modes}/${e.totalModes} max mode deviation ${f(e.maxModeDeviation, 3)}`);
  console.log(`  ${way.join(' | ')}`);
  s.dispose();
}
