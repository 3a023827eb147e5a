// cli/index.ts: the `onestep` command. Subcommands parse their own flags; errors print one line, not a stack.
import { parseArgs } from 'node:util';
import { OnestepError } from '../engine/errors';
import { demo } from './demo';
import { trainTeacher } from './teacher';
import { data, evaluateFile, sample } from './sampling';

const USAGE = `usage: onestep <command> [options]

commands:
  demo [--steps N] [--batch B] [--lr LR] [--seed S]   train an EDM denoiser MLP on 8gaussians on the GPU
  train-teacher --data NAME --out DIR [--steps N --batch B --lr LR --ema HALFLIFE --seed S --resume]
                                                       train an EDM teacher (2-D toy sets)
  sample --model FILE --sampler heun|euler|onestep [--steps N --n N --seed S --cfg W] --out FILE.npy
  data --name NAME --n N --seed S --out FILE.npy       draw samples of a toy data set
  eval --samples FILE.npy --data NAME [--seed S]       SWD to fresh data, the data floor, mode statistics
  info                                                 show the WebGPU adapter onestep picks

environment: ONESTEP_ADAPTER=system|lavapipe|swiftshader forces an adapter in Node.`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'demo': {
        const { values } = parseArgs({ args: rest, options: { steps: { type: 'string', default: '3000' }, batch: { type: 'string', default: '256' }, lr: { type: 'string', default: '1e-3' }, seed: { type: 'string', default: '0' } } });
        await demo({ steps: int('steps', values.steps!), batch: int('batch', values.batch!), lr: Number(values.lr), seed: int('seed', values.seed!) });
        return Number(process.exitCode ?? 0);
      }
      case 'train-teacher': {
        const { values: v } = parseArgs({ args: rest, options: { data: { type: 'string' }, out: { type: 'string' }, steps: { type: 'string', default: '20000' }, batch: { type: 'string', default: '512' }, lr: { type: 'string', default: '1e-3' }, ema: { type: 'string', default: '500000' }, seed: { type: 'string', default: '0' }, resume: { type: 'boolean', default: false }, 'checkpoint-every': { type: 'string', default: '1000' }, 'eval-every': { type: 'string', default: '0' } } });
        await trainTeacher({ data: need('data', v.data), out: need('out', v.out), steps: int('steps', v.steps!), batch: int('batch', v.batch!), lr: num('lr', v.lr!), ema: num('ema', v.ema!), seed: int('seed', v.seed!), resume: !!v.resume, checkpointEvery: int('checkpoint-every', v['checkpoint-every']!), evalEvery: int('eval-every', v['eval-every']!), command: `onestep ${argv.join(' ')}` });
        return 0;
      }
      case 'sample': {
        const { values: v } = parseArgs({ args: rest, options: { model: { type: 'string' }, sampler: { type: 'string', default: 'heun' }, steps: { type: 'string', default: '18' }, n: { type: 'string', default: '4096' }, seed: { type: 'string', default: '0' }, class: { type: 'string' }, cfg: { type: 'string', default: '1' }, out: { type: 'string' } } });
        await sample({ model: need('model', v.model), sampler: v.sampler as 'heun', steps: int('steps', v.steps!), n: int('n', v.n!), seed: int('seed', v.seed!), classLabel: v.class === undefined ? undefined : int('seed', v.class), cfg: num('cfg', v.cfg!), out: need('out', v.out) });
        return 0;
      }
      case 'data': {
        const { values: v } = parseArgs({ args: rest, options: { name: { type: 'string' }, n: { type: 'string', default: '4096' }, seed: { type: 'string', default: '0' }, out: { type: 'string' } } });
        await data({ name: need('name', v.name), n: int('n', v.n!), seed: int('seed', v.seed!), out: need('out', v.out) });
        return 0;
      }
      case 'eval': {
        const { values: v } = parseArgs({ args: rest, options: { samples: { type: 'string' }, data: { type: 'string' }, seed: { type: 'string', default: '0' } } });
        await evaluateFile({ samples: need('samples', v.samples), data: need('data', v.data), seed: int('seed', v.seed!) });
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
function need(name: string, v: string | undefined): string {
  if (!v) throw new OnestepError(`--${name} is required (see onestep help)`);
  return v;
}
