// cli/index.ts: the `onestep` command. Subcommands parse their own flags; errors print one line, not a stack.
import { parseArgs } from 'node:util';
import { OnestepError } from '../engine/errors';
import { demo } from './demo';

const USAGE = `usage: onestep <command> [options]

commands:
  demo [--steps N] [--batch B] [--lr LR] [--seed S]   train an EDM denoiser MLP on 8gaussians on the GPU
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
    if (e instanceof OnestepError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`onestep ${cmd}: ${(e as Error).message}`);
      return 1;
    }
    throw e;
  }
}

function int(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0 && name !== 'seed') throw new OnestepError(`--${name} must be a positive integer, got "${v}"`);
  return n;
}
