// cli/options.ts: every option of every `onestep` command, with the range each numeric one accepts. parseOptions()
// turns a command's arguments into checked values, so an option takes exactly its valid range (0 where 0 means
// something) and a value outside it is refused with a message naming the range; test/cli-options.test.ts walks it.
import { parseArgs } from 'node:util';
import { OnestepError } from '../engine/errors';

export interface TextOption {
  type: 'string';
  default?: string;
}
export interface FlagOption {
  type: 'boolean';
  default: false;
}
/** A number in [min, max], or (min, max) where `open` says; `oneOf` lists the only values; `words` are accepted as is. */
export interface NumberOption {
  type: 'int' | 'number';
  min?: number;
  max?: number;
  open?: 'min' | 'max';
  oneOf?: readonly number[];
  words?: readonly string[];
  default?: string;
  /** What a boundary value means, for the message: '0: no EMA'. */
  note?: string;
}
export type OptionSpec = TextOption | FlagOption | NumberOption;

const text = (dflt?: string): TextOption => (dflt === undefined ? { type: 'string' } : { type: 'string', default: dflt });
const flag: FlagOption = { type: 'boolean', default: false };
const count = (dflt?: string): NumberOption => ({ type: 'int', min: 1, ...(dflt === undefined ? {} : { default: dflt }) });
const every = (dflt: string | undefined, note: string): NumberOption => ({ type: 'int', min: 0, ...(dflt === undefined ? {} : { default: dflt }), note });
/** Seeds are u32: the host RNG keeps 32 bits of them. */
const seed: NumberOption = { type: 'int', min: 0, max: 2 ** 32 - 1, default: '0' };
const rate = (dflt?: string): NumberOption => ({ type: 'number', min: 0, open: 'min', ...(dflt === undefined ? {} : { default: dflt }) });
const weight = (dflt?: string, note?: string): NumberOption => ({ type: 'number', min: 0, ...(dflt === undefined ? {} : { default: dflt }), ...(note ? { note } : {}) });
const decay: NumberOption = { type: 'number', min: 0, max: 1, open: 'max', note: '0: no EMA' };
const cfg = (dflt?: string): NumberOption => weight(dflt, '1: no guidance, 0: unconditional');

export const COMMAND_OPTIONS = {
  demo: {
    data: text('8gaussians'), mode: text(), steps: count(), seed, out: text(), zoo: text('zoo'), lr: rate(), 'ema-decay': decay,
    'reg-weight': weight(), 'gan-weight': weight(undefined, '0: no GAN head'), warmup: every(undefined, 'updates; 0: no warm-up'), 'lr-decay': every(undefined, 'updates; 0: no decay'), eager: flag, n: { type: 'int', min: 10, default: '1000', note: 'MNIST samples per model, classes balanced' }, cfg: cfg('2'),
  },
  distill: {
    teacher: text(), out: text(), mode: text(), steps: count('10000'), batch: count(), lr: rate(), 'fake-lr': rate(), ttur: count(),
    'reg-weight': weight(), 'gan-weight': weight(undefined, '0: no GAN head'), 'gan-d-weight': weight(), 'gan-max-step': { type: 'int', min: 0, max: 999, note: 'Karras level of the noisiest GAN input' },
    'reg-batch': { type: 'int', min: 0, note: 'regression pairs per generator update; 0: the batch' },
    warmup: every(undefined, 'updates; 0: no warm-up'), 'lr-decay': every(undefined, 'updates; 0: no decay'), eager: flag, classifier: text(), cfg: cfg(), pairs: text(), 'pair-count': count(), seed,
    'eval-every': every('500', '0: evaluate before training only'), 'checkpoint-every': every('1000', '0: at the end only'), 'real-only': flag, 'ema-decay': decay, resume: flag,
  },
  'make-pairs': { teacher: text(), n: count('5000'), seed, out: text() },
  'train-teacher': {
    data: text(), out: text(), steps: count('20000'), batch: count('512'), lr: rate('1e-3'), ema: weight('500000', 'EMA half-life in samples, 0: no EMA'), seed, resume: flag,
    'checkpoint-every': every('1000', '0: at the end only'), 'eval-every': every('0', '0: never'), net: text(), 'p-mean': { type: 'number' }, 'p-std': rate(), eager: flag,
  },
  'train-classifier': {
    size: { type: 'int', oneOf: [16, 28, 32], default: '16' }, out: text(), run: text(), steps: count('3000'), batch: count('128'), lr: rate('2e-3'),
    shift: { type: 'int', min: 0, default: '1', note: 'pixels, below --size' }, seed, 'eval-every': every('500', '0: at the end only'),
  },
  sample: {
    model: text(), sampler: text('heun'), steps: count('18'), n: count('4096'), seed, class: { type: 'int', min: 0, note: 'below the model\'s class count' }, cfg: cfg('1'), out: text(),
  },
  data: { name: text(), n: count('4096'), seed, out: text() },
  eval: { samples: text(), data: text(), seed, classifier: text(), class: { type: 'int', min: 0, max: 9, words: ['balanced'] } },
  info: {},
  web: { port: { type: 'int', min: 0, max: 65535, default: '0', note: '0: a free port' } },
} as const satisfies Record<string, Record<string, OptionSpec>>;

export type CommandName = keyof typeof COMMAND_OPTIONS;

type ValueOf<S> = S extends { type: 'boolean' } ? boolean : S extends { words: readonly (infer W)[] } ? number | W : S extends { type: 'int' | 'number' } ? number : string;
/** Parsed values; an option with a default is always there (the helpers above widen the types, so `!` says so). */
export type OptionValues<C extends CommandName> = { [K in keyof (typeof COMMAND_OPTIONS)[C]]?: ValueOf<(typeof COMMAND_OPTIONS)[C][K]> };

/** The range in words: 'an integer ≥ 1', 'a number in [0, 1) (0: no EMA)', 'one of 16, 28, 32'. */
export function describeRange(o: NumberOption): string {
  const what = o.type === 'int' ? 'an integer' : 'a number';
  let range: string;
  if (o.oneOf) range = `one of ${o.oneOf.join(', ')}`;
  else if (o.min !== undefined && o.max !== undefined) range = o.type === 'int' ? `${what} in ${o.min}..${o.max}` : `${what} in ${o.open === 'min' ? '(' : '['}${o.min}, ${o.max}${o.open === 'max' ? ')' : ']'}`;
  else if (o.min !== undefined) range = `${what} ${o.open === 'min' ? '>' : '≥'} ${o.min}`;
  else if (o.max !== undefined) range = `${what} ${o.open === 'max' ? '<' : '≤'} ${o.max}`;
  else range = `${what}`;
  if (o.words) range += ` or ${o.words.map((w) => `"${w}"`).join(', ')}`;
  return o.note ? `${range} (${o.note})` : range;
}

/** `raw` as the option's value, or an OnestepError that names the option, the range and what was given. */
export function parseNumber(name: string, o: NumberOption, raw: string): number | string {
  if (o.words?.includes(raw)) return raw;
  const v = raw.trim() === '' ? NaN : Number(raw); // Number('') is 0: an empty value must not pass as zero
  const ok =
    Number.isFinite(v) &&
    (o.type === 'number' || Number.isInteger(v)) &&
    (!o.oneOf || o.oneOf.includes(v)) &&
    (o.min === undefined || (o.open === 'min' ? v > o.min : v >= o.min)) &&
    (o.max === undefined || (o.open === 'max' ? v < o.max : v <= o.max));
  if (!ok) throw new OnestepError(`--${name} must be ${describeRange(o)}, got "${raw}"`);
  return v;
}

/** A command's options, numbers checked against their ranges; unknown options are refused by node:util's parseArgs. */
export function parseOptions<C extends CommandName>(command: C, args: string[]): OptionValues<C> {
  const specs: Record<string, OptionSpec> = COMMAND_OPTIONS[command];
  const { values } = parseArgs({
    args,
    options: Object.fromEntries(Object.entries(specs).map(([k, o]) => [k, o.type === 'boolean' ? { type: 'boolean' as const, default: false } : { type: 'string' as const, ...(o.default === undefined ? {} : { default: o.default }) }])),
  });
  const out: Record<string, unknown> = { ...values };
  for (const [k, o] of Object.entries(specs)) {
    if ((o.type === 'int' || o.type === 'number') && values[k] !== undefined) out[k] = parseNumber(k, o, values[k] as string);
  }
  return out as OptionValues<C>;
}
