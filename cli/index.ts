// cli/index.ts: the `onestep` command. Subcommands parse their own flags; errors print one line, not a stack.
import { DeviceLostError, OnestepError } from '../engine/errors';
import { demo, DEMO_STEPS } from './demo';
import { demoMnist, MNIST_DEMO_STEPS } from './demo-mnist';
import { recipeFor } from '../models/recipe';
import { distill, makePairsCommand } from './distill';
import { trainTeacher } from './teacher';
import { trainClassifier } from './classifier';
import { data, evaluateFile, sample } from './sampling';
import { parseOptions } from './options';

const USAGE = `usage: onestep <command> [options]

commands:
  demo [--data NAME|mnist] [--mode dmd|dmd2] [--steps N] [--seed S] [--out DIR] [--lr LR --reg-weight W --gan-weight W
       --ema-decay B --warmup N --lr-decay N --eager] [--n N --cfg W (mnist)]
                                                       distil the zoo teacher into a one-step generator and compare
  distill --teacher FILE --out DIR [--mode dmd|dmd2 --steps N --batch B --lr LR --fake-lr LR --ttur N --warmup N --lr-decay N
          --reg-weight W --reg-batch N --gan-weight W --gan-d-weight W --gan-max-step K --cfg W --pairs FILE --pair-count N
          --classifier FILE --seed S --eval-every N --checkpoint-every N --ema-decay B --real-only --eager --resume]
                                                       the data set's recipe (models/recipe.ts) unless flags say otherwise
  make-pairs --teacher FILE --n N --out pairs.safetensors [--seed S]   DMD's regression set (Heun-18 outputs)
  train-teacher --data NAME|mnist16 --out DIR [--steps N --batch B --lr LR --ema HALFLIFE --seed S --net JSON --p-mean=M --p-std S --eager --resume]
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
  web [--port N]                                       serve the page that trains DMD live on 127.0.0.1 (port 0: a free one)

numeric options take exactly their valid range (seeds 0..4294967295); a value outside it is refused, naming the range.
environment: ONESTEP_ADAPTER=system|lavapipe|swiftshader forces an adapter in Node.`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'demo': {
        const v = parseOptions('demo', rest);
        // the data set's recipe (models/recipe.ts, the page's too), with the flags given over it
        const flags = defined({ lr: v.lr, fakeLr: v.lr, emaDecay: v['ema-decay'], regWeight: v['reg-weight'], ganWeight: v['gan-weight'], warmup: v.warmup, lrDecay: v['lr-decay'], compiled: v.eager ? false : undefined });
        if (v.data === 'mnist' || v.data === 'mnist16') {
          if (v.mode && v.mode !== 'dmd2') throw new OnestepError(`demo: MNIST distils with --mode dmd2 (the regression loss exists for 2-D data only), got --mode ${v.mode}`);
          if (v['reg-weight']) throw new OnestepError('demo: MNIST distils with DMD2, which has no regression loss; leave out --reg-weight');
          await demoMnist({ data: 'mnist16', mode: 'dmd2', steps: v.steps ?? MNIST_DEMO_STEPS, seed: v.seed!, out: v.out ?? 'runs/demo-mnist', zoo: v.zoo!, config: { ...recipeFor('mnist16', 'dmd2'), ...flags }, n: v.n!, cfg: v.cfg! });
          return 0;
        }
        const m = mode(v.mode ?? recipeFor(v.data!).mode);
        if (m === 'dmd2' && v['reg-weight']) throw new OnestepError('demo: DMD2 has no regression loss; --reg-weight goes with --mode dmd');
        await demo({ data: v.data!, mode: m, steps: v.steps ?? DEMO_STEPS[m], seed: v.seed!, out: v.out ?? 'runs/demo', zoo: v.zoo!, config: { ...recipeFor(v.data!, m), ...flags } });
        return 0;
      }
      case 'distill': {
        const v = parseOptions('distill', rest);
        // over the teacher's data set's recipe (models/recipe.ts)
        const config = defined({
          mode: v.mode === undefined ? undefined : mode(v.mode), seed: v.seed, batch: v.batch, lr: v.lr, fakeLr: v['fake-lr'], ttur: v.ttur, regWeight: v['reg-weight'], regBatch: v['reg-batch'], cfg: v.cfg,
          realOnly: v['real-only'] || undefined, emaDecay: v['ema-decay'], ganWeight: v['gan-weight'], ganDWeight: v['gan-d-weight'], ganMaxStep: v['gan-max-step'],
          warmup: v.warmup, lrDecay: v['lr-decay'], compiled: v.eager ? false : undefined,
        });
        const out = need('out', v.out);
        const r = await distill({ teacher: need('teacher', v.teacher), out, steps: v.steps!, resume: !!v.resume, pairs: v.pairs, pairCount: v['pair-count'], evalEvery: v['eval-every']!, checkpointEvery: v['checkpoint-every']!, config, classifier: v.classifier, command: `onestep ${argv.join(' ')}` });
        console.log(JSON.stringify({ out, iterations: r.trainer.iteration, itPerSec: +r.itPerSec.toFixed(1), dispatchesPerIt: +r.dispatchesPerIt.toFixed(0), final: r.evals.at(-1) }));
        return 0;
      }
      case 'make-pairs': {
        const v = parseOptions('make-pairs', rest);
        await makePairsCommand({ teacher: need('teacher', v.teacher), n: v.n!, seed: v.seed!, out: need('out', v.out) });
        return 0;
      }
      case 'train-teacher': {
        const v = parseOptions('train-teacher', rest);
        await trainTeacher({ net: v.net, data: need('data', v.data), out: need('out', v.out), steps: v.steps!, batch: v.batch!, lr: v.lr!, ema: v.ema!, seed: v.seed!, resume: !!v.resume, checkpointEvery: v['checkpoint-every']!, evalEvery: v['eval-every']!, pMean: v['p-mean'], pStd: v['p-std'], eager: !!v.eager, command: `onestep ${argv.join(' ')}` });
        return 0;
      }
      case 'train-classifier': {
        const v = parseOptions('train-classifier', rest);
        await trainClassifier({ size: v.size!, out: need('out', v.out), run: v.run, steps: v.steps!, batch: v.batch!, lr: v.lr!, shift: v.shift!, seed: v.seed!, evalEvery: v['eval-every']!, command: `onestep ${argv.join(' ')}` });
        return 0;
      }
      case 'sample': {
        const v = parseOptions('sample', rest);
        await sample({ model: need('model', v.model), sampler: v.sampler as 'heun', steps: v.steps!, n: v.n!, seed: v.seed!, classLabel: v.class, cfg: v.cfg!, out: need('out', v.out) });
        return 0;
      }
      case 'data': {
        const v = parseOptions('data', rest);
        await data({ name: need('name', v.name), n: v.n!, seed: v.seed!, out: need('out', v.out) });
        return 0;
      }
      case 'eval': {
        const v = parseOptions('eval', rest);
        await evaluateFile({ samples: need('samples', v.samples), data: need('data', v.data), seed: v.seed!, classifier: v.classifier, classLabel: v.class });
        return 0;
      }
      case 'web': {
        const v = parseOptions('web', rest);
        const { startServer } = await import('../web/server');
        await startServer({ port: v.port! });
        return 0;
      }
      case 'info': {
        parseOptions('info', rest);
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

/** The entries that are set: flags not given leave the recipe's values. */
function defined<T extends Record<string, unknown>>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}
function mode(v: string): 'dmd' | 'dmd2' {
  if (v !== 'dmd' && v !== 'dmd2') throw new OnestepError(`--mode must be dmd or dmd2, got "${v}"`);
  return v;
}
function need(name: string, v: string | undefined): string {
  if (!v) throw new OnestepError(`--${name} is required (see onestep help)`);
  return v;
}
