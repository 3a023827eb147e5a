// test/cli-options.test.ts: walks every numeric option of every `onestep` command (cli/options.ts): each accepts its
// boundary values (0 where 0 is valid), refuses the values just outside, fractions where it counts, words, empty
// strings and NaN, with a message naming the option and its range — through the table and through `main`, whose
// refusals come before any work starts.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../cli/index';
import { COMMAND_OPTIONS, describeRange, parseNumber, parseOptions, type CommandName, type NumberOption, type OptionSpec } from '../cli/options';

const numeric = Object.entries(COMMAND_OPTIONS).flatMap(([cmd, opts]) =>
  Object.entries(opts as Record<string, OptionSpec>)
    .filter((e): e is [string, NumberOption] => e[1].type === 'int' || e[1].type === 'number')
    .map(([name, o]) => ({ cmd: cmd as CommandName, name, o })),
);

/** Values the option must take, and values it must refuse. */
function cases(o: NumberOption): { good: string[]; bad: string[] } {
  const good: string[] = [], bad = ['', ' ', 'abc', 'NaN', 'Infinity', '-Infinity', '1,5'];
  if (o.oneOf) {
    good.push(...o.oneOf.map(String));
    bad.push(String(Math.min(...o.oneOf) - 1), String(o.oneOf[0] + 1), String(Math.max(...o.oneOf) + 1));
  } else {
    const step = o.type === 'int' ? 1 : 1e-6;
    if (o.min !== undefined) {
      if (o.open === 'min') good.push(String(o.min + step)), bad.push(String(o.min));
      else good.push(String(o.min)), bad.push(String(o.min - step));
    }
    if (o.max !== undefined) {
      if (o.open === 'max') good.push(String(o.max - step)), bad.push(String(o.max));
      else good.push(String(o.max)), bad.push(String(o.max + step));
    }
    if (o.min === undefined && o.max === undefined) good.push('-3.5', '0', '2');
    if (o.type === 'int') bad.push(String((o.min ?? 0) + 1.5));
    if (o.max === undefined) good.push(String((o.min ?? 0) + 1000));
  }
  good.push(...(o.words ?? []));
  if (o.default !== undefined) good.push(o.default);
  return { good, bad };
}

describe('numeric options', () => {
  it('covers every command, and the options that were refused at 0 or took anything', () => {
    expect(new Set(numeric.map((n) => n.cmd))).toEqual(new Set(['demo', 'distill', 'make-pairs', 'train-teacher', 'train-classifier', 'sample', 'data', 'eval', 'web']));
    expect(numeric.length).toBeGreaterThanOrEqual(45);
    const range = (cmd: CommandName, name: string) => describeRange(numeric.find((n) => n.cmd === cmd && n.name === name)!.o);
    expect(range('sample', 'class')).toMatch(/^an integer ≥ 0/);
    expect(range('eval', 'class')).toBe('an integer in 0..9 or "balanced"');
    expect(range('distill', 'ema-decay')).toBe('a number in [0, 1) (0: no EMA)');
    expect(range('web', 'port')).toBe('an integer in 0..65535 (0: a free port)');
    expect(range('train-classifier', 'size')).toBe('one of 16, 28, 32');
  });

  for (const { cmd, name, o } of numeric) {
    it(`${cmd} --${name}: ${describeRange(o)}`, () => {
      const { good, bad } = cases(o);
      for (const v of good) expect(parseNumber(name, o, v), `${v}`).toBe(o.words?.includes(v) ? v : Number(v));
      for (const v of bad) expect(() => parseNumber(name, o, v), `"${v}"`).toThrow(`--${name} must be ${describeRange(o)}, got "${v}"`);
      expect(parseOptions(cmd, [`--${name}=${good[0]}`])[name as never]).toBe(o.words?.includes(good[0]) ? good[0] : Number(good[0]));
      expect(() => parseOptions(cmd, [`--${name}=${bad[2]}`])).toThrow(`--${name} must be`);
    });
  }
});

describe('onestep <command> refuses a value out of range before doing anything', () => {
  const errors: string[] = [];
  afterEach(() => vi.restoreAllMocks());
  it('for every numeric option, with exit code 1 and one line naming the option, its range and the value', async () => {
    vi.spyOn(console, 'error').mockImplementation((...m: unknown[]) => void errors.push(m.join(' ')));
    for (const { cmd, name, o } of numeric) {
      errors.length = 0;
      const bad = cases(o).bad.at(-1)!;
      expect(await main([cmd, `--${name}=${bad}`]), `${cmd} --${name}=${bad}`).toBe(1);
      expect(errors).toEqual([`onestep ${cmd}: --${name} must be ${describeRange(o)}, got "${bad}"`]);
    }
  });
  it('and an option the command does not have', async () => {
    vi.spyOn(console, 'error').mockImplementation((...m: unknown[]) => void errors.push(m.join(' ')));
    for (const cmd of Object.keys(COMMAND_OPTIONS)) {
      errors.length = 0;
      expect(await main([cmd, '--no-such-option', '1']), cmd).toBe(1);
      expect(errors.join('\n')).toMatch(/Unknown option '--no-such-option'/);
    }
  });
  it('train-classifier: --shift below --size', async () => {
    vi.spyOn(console, 'error').mockImplementation((...m: unknown[]) => void errors.push(m.join(' ')));
    errors.length = 0;
    expect(await main(['train-classifier', '--size', '16', '--shift', '16', '--out', 'x.safetensors'])).toBe(1);
    expect(errors).toEqual(['onestep train-classifier: --shift must be an integer in 0..15 for --size 16 (pixels), got 16']);
  });
});
