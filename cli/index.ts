// cli/index.ts: the `onestep` command. Subcommands parse their own flags; errors print one line, not a stack.
import { parseArgs } from 'node:util';
import { DeviceLostError, OnestepError } from '../engine/errors';
import { demo, DEMO_REG_WEIGHT, DEMO_STEPS } from './demo';
import { demoMnist } from './demo-mnist';
import { distill, makePairsCommand } from './distill';
import { trainTeacher } from './teacher';
import { trainClassifier } from './classifier';
import { data, evaluateFile, sample } from './sampling';

const USAGE = `usage: onestep <command> [options]

commands:
  demo [--data NAME|mnist] [--mode dmd|dmd2] [--steps N] [--seed S] [--out DIR] [--reg-weight W] [--n N --cfg W (mnist)]
                                                       distil the zoo teacher into a one-step generator and compare
  distill --teacher FILE --out DIR [--mode dmd|dmd2 --steps N --batch B --lr LR --fake-lr LR --ttur N
          --reg-weight W --gan-weight W --gan-d-weight W --cfg W --pairs FILE --classifier FILE --seed S
          --eval-every N --checkpoint-every N --ema-decay B --real-only --resume]
  make-pairs --teacher FILE --n N --out pairs.safetensors [--seed S]   DMD's regression set (Heun-18 outputs)
  train-teacher --data NAME|mnist16 --out DIR [--steps N --batch B --lr LR --ema HALFLIFE --seed S --net JSON --p-mean=M --p-std S --resume]
                                                       train an EDM teacher (2-D toy sets)
  train-classifier --size 16|28|32 --out FILE.safetensors [--steps N --batch B --lr LR --shift PX --seed S]
                                                       train the MNIST classifier behind the image metrics
  sample --model FILE --sampler heun|euler|onestep [--steps N --n N --seed S --class K --cfg W] --out FILE.npy|FILE.png
  data --name NAME --n N --seed S --out FILE.npy       draw samples of a toy data set
  eval --samples FILE.npy --data NAME [--seed S]       SWD to fresh data, the data floor, mode statistics
  eval --samples FILE.npy --data mnist16|mnist28|mnist32 [--classifier FILE --class K|balanced]
                                                       FD and precision/recall in the zoo classifier's features, class
                                                       histogram; vs the held-out digits, with the data floor
  info                                                 show the WebGPU adapter onestep picks

environment: ONESTEP_ADAPTER=system|lavapipe|swiftshader forces an adapter in Node.`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'demo': {
        const { values: v } = parseArgs({ args: rest, options: { data: { type: 'string', default: '8gaussians' }, mode: { type: 'string' }, steps: { type: 'string' }, seed: { type: 'string', default: '0' }, out: { type: 'string' }, zoo: { type: 'string', default: 'zoo' }, lr: { type: 'string' }, 'ema-decay': { type: 'string' }, 'reg-weight': { type: 'string' }, n: { type: 'string', default: '1000' }, cfg: { type: 'string', default: '2' } } });
        const lr = v.lr ? { lr: num('lr', v.lr), fakeLr: num('lr', v.lr) } : {};
        if (v.data === 'mnist' || v.data === 'mnist16') {
          if (v.mode && v.mode !== 'dmd2') throw new OnestepError(`demo: MNIST distils with --mode dmd2 (the regression loss exists for 2-D data only), got --mode ${v.mode}`);
          const config = { ...lr, ...(v['ema-decay'] ? { emaDecay: num('ema-decay', v['ema-decay']) } : {}) };
          await demoMnist({ data: 'mnist16', mode: 'dmd2', steps: int('steps', v.steps ?? '600'), seed: int('seed', v.seed!), out: v.out ?? 'runs/demo-mnist', zoo: v.zoo!, config, n: int('n', v.n!), cfg: num('cfg', v.cfg!) });
          return 0;
        }
        // the demo's departures from the papers' defaults (bench/RESULTS.md): an EMA of the generator (0.995, warmed up)
        // and a regression weight of 1 instead of DMD's 0.25 — each lowered the 8gaussians SWD at equal iterations
        const m = mode(v.mode ?? 'dmd');
        if (m === 'dmd2' && v['reg-weight']) throw new OnestepError('demo: DMD2 has no regression loss; --reg-weight goes with --mode dmd');
        const config = { ...lr, emaDecay: num('ema-decay', v['ema-decay'] ?? '0.995'), ...(m === 'dmd' ? { regWeight: num('reg-weight', v['reg-weight'] ?? String(DEMO_REG_WEIGHT)) } : {}) };
        await demo({ data: v.data!, mode: m, steps: int('steps', v.steps ?? String(DEMO_STEPS[m])), seed: int('seed', v.seed!), out: v.out ?? 'runs/demo', zoo: v.zoo!, config });
        return 0;
      }
      case 'distill': {
        const { values: v } = parseArgs({ args: rest, options: { teacher: { type: 'string' }, out: { type: 'string' }, mode: { type: 'string', default: 'dmd2' }, steps: { type: 'string', default: '10000' }, batch: { type: 'string' }, lr: { type: 'string' }, 'fake-lr': { type: 'string' }, ttur: { type: 'string' }, 'reg-weight': { type: 'string' }, 'gan-weight': { type: 'string' }, 'gan-d-weight': { type: 'string' }, classifier: { type: 'string' }, cfg: { type: 'string' }, pairs: { type: 'string' }, seed: { type: 'string', default: '0' }, 'eval-every': { type: 'string', default: '500' }, 'checkpoint-every': { type: 'string', default: '1000' }, 'real-only': { type: 'boolean', default: false }, 'ema-decay': { type: 'string' }, resume: { type: 'boolean', default: false } } });
        const opt = <T,>(x: string | undefined, f: (s: string) => T): T | undefined => (x === undefined ? undefined : f(x));
        const config = Object.fromEntries(Object.entries({
          mode: mode(v.mode!), seed: int('seed', v.seed!), batch: opt(v.batch, (x) => int('batch', x)), lr: opt(v.lr, (x) => num('lr', x)), fakeLr: opt(v['fake-lr'], (x) => num('fake-lr', x)),
          ttur: opt(v.ttur, (x) => int('ttur', x)), regWeight: opt(v['reg-weight'], (x) => num('reg-weight', x)), cfg: opt(v.cfg, (x) => num('cfg', x)), realOnly: v['real-only'] || undefined, emaDecay: opt(v['ema-decay'], (x) => num('ema-decay', x)),
          ganWeight: opt(v['gan-weight'], (x) => num('gan-weight', x)), ganDWeight: opt(v['gan-d-weight'], (x) => num('gan-d-weight', x)),
        }).filter(([, x]) => x !== undefined)) as unknown as Parameters<typeof distill>[0]['config'];
        const out = need('out', v.out);
        const r = await distill({ teacher: need('teacher', v.teacher), out, steps: int('steps', v.steps!), resume: !!v.resume, pairs: v.pairs, evalEvery: int('eval-every', v['eval-every']!), checkpointEvery: int('checkpoint-every', v['checkpoint-every']!), config, classifier: v.classifier, command: `onestep ${argv.join(' ')}` });
        console.log(JSON.stringify({ out, iterations: r.trainer.iteration, itPerSec: +r.itPerSec.toFixed(1), dispatchesPerIt: +r.dispatchesPerIt.toFixed(0), final: r.evals.at(-1) }));
        return 0;
      }
      case 'make-pairs': {
        const { values: v } = parseArgs({ args: rest, options: { teacher: { type: 'string' }, n: { type: 'string', default: '5000' }, seed: { type: 'string', default: '0' }, out: { type: 'string' } } });
        await makePairsCommand({ teacher: need('teacher', v.teacher), n: int('n', v.n!), seed: int('seed', v.seed!), out: need('out', v.out) });
        return 0;
      }
      case 'train-teacher': {
        const { values: v } = parseArgs({ args: rest, options: { data: { type: 'string' }, out: { type: 'string' }, steps: { type: 'string', default: '20000' }, batch: { type: 'string', default: '512' }, lr: { type: 'string', default: '1e-3' }, ema: { type: 'string', default: '500000' }, seed: { type: 'string', default: '0' }, resume: { type: 'boolean', default: false }, 'checkpoint-every': { type: 'string', default: '1000' }, 'eval-every': { type: 'string', default: '0' }, net: { type: 'string' }, 'p-mean': { type: 'string' }, 'p-std': { type: 'string' } } });
        await trainTeacher({ net: v.net, data: need('data', v.data), out: need('out', v.out), steps: int('steps', v.steps!), batch: int('batch', v.batch!), lr: num('lr', v.lr!), ema: num('ema', v.ema!), seed: int('seed', v.seed!), resume: !!v.resume, checkpointEvery: int('checkpoint-every', v['checkpoint-every']!), evalEvery: int('eval-every', v['eval-every']!), pMean: v['p-mean'] === undefined ? undefined : num('p-mean', v['p-mean']), pStd: v['p-std'] === undefined ? undefined : num('p-std', v['p-std']), command: `onestep ${argv.join(' ')}` });
        return 0;
      }
      case 'train-classifier': {
        const { values: v } = parseArgs({ args: rest, options: { size: { type: 'string', default: '16' }, out: { type: 'string' }, run: { type: 'string' }, steps: { type: 'string', default: '3000' }, batch: { type: 'string', default: '128' }, lr: { type: 'string', default: '2e-3' }, shift: { type: 'string', default: '1' }, seed: { type: 'string', default: '0' }, 'eval-every': { type: 'string', default: '500' } } });
        const shift = Number(v.shift);
        if (!Number.isInteger(shift) || shift < 0) throw new OnestepError(`--shift must be a non-negative integer, got "${v.shift}"`);
        await trainClassifier({ size: int('size', v.size!), out: need('out', v.out), run: v.run, steps: int('steps', v.steps!), batch: int('batch', v.batch!), lr: num('lr', v.lr!), shift, seed: int('seed', v.seed!), evalEvery: int('eval-every', v['eval-every']!), command: `onestep ${argv.join(' ')}` });
        return 0;
      }
      case 'sample': {
        const { values: v } = parseArgs({ args: rest, options: { model: { type: 'string' }, sampler: { type: 'string', default: 'heun' }, steps: { type: 'string', default: '18' }, n: { type: 'string', default: '4096' }, seed: { type: 'string', default: '0' }, class: { type: 'string' }, cfg: { type: 'string', default: '1' }, out: { type: 'string' } } });
        await sample({ model: need('model', v.model), sampler: v.sampler as 'heun', steps: int('steps', v.steps!), n: int('n', v.n!), seed: int('seed', v.seed!), classLabel: v.class === undefined ? undefined : int('class', v.class), cfg: num('cfg', v.cfg!), out: need('out', v.out) });
        return 0;
      }
      case 'data': {
        const { values: v } = parseArgs({ args: rest, options: { name: { type: 'string' }, n: { type: 'string', default: '4096' }, seed: { type: 'string', default: '0' }, out: { type: 'string' } } });
        await data({ name: need('name', v.name), n: int('n', v.n!), seed: int('seed', v.seed!), out: need('out', v.out) });
        return 0;
      }
      case 'eval': {
        const { values: v } = parseArgs({ args: rest, options: { samples: { type: 'string' }, data: { type: 'string' }, seed: { type: 'string', default: '0' }, classifier: { type: 'string' }, class: { type: 'string' } } });
        await evaluateFile({ samples: need('samples', v.samples), data: need('data', v.data), seed: int('seed', v.seed!), classifier: v.classifier, classLabel: v.class === undefined ? undefined : v.class === 'balanced' ? 'balanced' : Number(v.class) });
        return 0;
      }
      case 'info': {
        const os = await import('../engine');
        const r = await os.init({ quiet: true });
        console.log(JSON.stringify({ adapter: r.adapter, info: os.device().adapterInfo, features: r.features }, null, 2));
        return 0;
      }
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        console.log(USAGE);
        return cmd === undefined ? 1 : 0;
      default:
        console.error(`onestep: unknown command "${cmd}"\n\n${USAGE}`);
        return 2;
    }
  } catch (e) {
    const code = (e as { code?: string }).code ?? '';
    if (e instanceof DeviceLostError) {
      // exit 75 (EX_TEMPFAIL): the run itself was fine; a wrapper script may retry it with --resume
      console.error(`onestep ${cmd}: ${e.message}\nonestep: the GPU device was lost mid-run; run the same command again with --resume to continue from its last checkpoint`);
      return 75;
    }
    if (e instanceof OnestepError || code.startsWith('ERR_PARSE_ARGS') || ['ENOENT', 'EACCES', 'EISDIR', 'ENOTDIR', 'ENOSPC'].includes(code)) {
      console.error(`onestep ${cmd}: ${(e as Error).message}`);
      return 1;
    }
    throw e;
  }
}

function int(name: string, v: string): number {
  const n = Number(v);
  const nonNegative = name === 'seed' || name.endsWith('-every');
  if (!Number.isInteger(n) || n < 0 || (n === 0 && !nonNegative)) throw new OnestepError(`--${name} must be a ${nonNegative ? 'non-negative' : 'positive'} integer, got "${v}"`);
  return n;
}
function num(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new OnestepError(`--${name} must be a number, got "${v}"`);
  return n;
}
function mode(v: string): 'dmd' | 'dmd2' {
  if (v !== 'dmd' && v !== 'dmd2') throw new OnestepError(`--mode must be dmd or dmd2, got "${v}"`);
  return v;
}
function need(name: string, v: string | undefined): string {
  if (!v) throw new OnestepError(`--${name} is required (see onestep help)`);
  return v;
}
