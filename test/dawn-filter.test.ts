// test/dawn-filter.test.ts: Dawn's two limit warnings never reach the terminal of `onestep` (bin/dawn-filter.js),
// while everything else on stderr does, in order and unbuffered; the filtered child behaves like the command itself
// (exit code, signals, a terminal on stderr), and a kill -9 of the command takes the child with it.
import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ICD_FILES } from '../runtime/adapter';
// @ts-expect-error: plain JavaScript without types (bin/ ships as is)
import { dawnLineFilter } from '../bin/dawn-filter.js';

const root = join(__dirname, '..');
const WARN_U = 'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.';
const WARN_S = 'Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.';
const lavapipe = { ...process.env, ONESTEP_ADAPTER: 'lavapipe' };

/** A script that runs under the filter and does what FIXTURE_DO says once it is the child. */
const dir = mkdtempSync(join(tmpdir(), 'onestep-filter-'));
const fixture = join(dir, 'fixture.mjs');
writeFileSync(
  fixture,
  `import { writeSync } from 'node:fs';
import { relaunchWithFilteredStderr } from ${JSON.stringify(pathToFileURL(join(root, 'bin', 'dawn-filter.js')).href)};
await relaunchWithFilteredStderr(import.meta.url);
const what = process.argv[2];
if (what === 'lines') {
  // fd 2 directly, as Dawn's fprintf does, in pieces that split the warnings
  for (const s of ['before\\n' + ${JSON.stringify(WARN_U.slice(0, 15))}, ${JSON.stringify(WARN_U.slice(15))} + '\\n' + ${JSON.stringify(WARN_S)} + '\\nWarning: Dawn says something else\\n', '\\rprogress 1/2', '\\rprogress 2/2\\n', 'tail without newline']) {
    writeSync(2, s);
    await new Promise((r) => setTimeout(r, 30));
  }
} else if (what === 'tty') console.error('stderr is a terminal: ' + !!process.stderr.isTTY + ', env left for children: ' + Object.keys(process.env).filter((k) => k.startsWith('ONESTEP_FILTER')).length);
else if (what === 'exit') process.exit(7);
else if (what === 'signal') process.kill(process.pid, 'SIGTERM');
else if (what === 'hang') { writeSync(1, 'child ' + process.pid + '\\n'); setInterval(() => {}, 1000); }
`,
);
const runFixture = (what: string) => spawnSync(process.execPath, [fixture, what], { encoding: 'utf8', timeout: 30_000 });

describe('the filter', () => {
  it('drops exactly the two warning lines, wherever the chunks split them, and holds nothing else back', () => {
    const f = dawnLineFilter();
    const out: string[] = [];
    for (const c of ['a\n' + WARN_U.slice(0, 4), WARN_U.slice(4, 22), WARN_U.slice(22) + '\n', WARN_S + '\r\n', 'Warning: other\n', '\rstep 1', '\rstep 2']) out.push(f.push(c));
    out.push(f.end());
    expect(out.join('')).toBe('a\nWarning: other\n\rstep 1\rstep 2');
    expect(out.slice(-3, -1)).toEqual(['\rstep 1', '\rstep 2']); // a progress line shows as it comes
    // after a progress line, in one chunk or split anywhere: the warning goes, the progress line stays as it was
    const progress = '\rstep 7/9  ETA 2s';
    const both = progress + WARN_U + '\n' + '\rstep 8/9  ETA 1s';
    for (let cut = 0; cut <= both.length; cut += 7) {
      const h = dawnLineFilter();
      expect(h.push(both.slice(0, cut)) + h.push(both.slice(cut)) + h.end(), `cut at ${cut}`).toBe('\rstep 7/9  ETA 2s\rstep 8/9  ETA 1s');
    }
    const g = dawnLineFilter();
    expect(g.push('Warning: maxDynamicUniformBuffersPerPipelineLayout was fine\n')).toBe('Warning: maxDynamicUniformBuffersPerPipelineLayout was fine\n');
    expect(g.push(WARN_U)).toBe('');
    expect(g.end()).toBe(''); // a warning cut off by the end of the stream is still dropped
  });

  it('passes a child process\'s stderr through in order, without the warnings', () => {
    const r = runFixture('lines');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('before\nWarning: Dawn says something else\n\rprogress 1/2\rprogress 2/2\ntail without newline');
  });

  it('keeps the exit code, the signal, and a terminal on stderr', () => {
    expect(runFixture('exit').status).toBe(7);
    expect(runFixture('signal').signal).toBe('SIGTERM');
    expect(runFixture('tty').stderr.trim()).toBe('stderr is a terminal: false, env left for children: 0');
    // under a pseudo-terminal (util-linux script), the child sees one too, so progress lines redraw in place
    const pty = spawnSync('script', ['-qec', `${process.execPath} ${fixture} tty`, '/dev/null'], { encoding: 'utf8', timeout: 30_000 });
    expect(pty.stdout).toMatch(/stderr is a terminal: true, env left for children: 0/);
  });

  it('a kill -9 of the command ends the child within a second', async () => {
    const parent = spawn(process.execPath, [fixture, 'hang'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const child = await new Promise<number>((resolve) => parent.stdout.on('data', (b: Buffer) => resolve(Number(/child (\d+)/.exec(b.toString())![1]))));
    const alive = () => existsSync(`/proc/${child}`) && !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${child}/stat`, 'utf8'));
    expect(alive()).toBe(true);
    parent.kill('SIGKILL');
    const t0 = Date.now();
    while (alive() && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20));
    expect(alive()).toBe(false);
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});

describe('onestep on lavapipe', () => {
  it('Dawn itself prints the warnings here (so the next check has something to remove)', () => {
    const icd = ICD_FILES.lavapipe.find((f) => existsSync(f));
    expect(icd, 'lavapipe is installed (bash scripts/setup.sh)').toBeDefined();
    const script = `const { create } = await import('webgpu'); process.env.VK_ICD_FILENAMES = ${JSON.stringify(icd)};
      const a = await create([]).requestAdapter(); console.log(a.info.description);`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain(WARN_U);
    expect(r.stderr).toContain(WARN_S);
  });

  it('`onestep info` and a short `onestep sample` print none of them, and nothing else on stderr but onestep\'s own line', () => {
    const info = spawnSync(process.execPath, [join(root, 'bin', 'onestep.js'), 'info'], { encoding: 'utf8', timeout: 60_000, env: lavapipe });
    expect(info.status, info.stderr).toBe(0);
    expect(JSON.parse(info.stdout).adapter).toMatch(/^lavapipe/);
    expect(info.stderr).toBe('');
    const out = join(dir, 's.npy');
    const s = spawnSync(process.execPath, [join(root, 'bin', 'onestep.js'), 'sample', '--model', join(root, 'zoo', '8gaussians-generator-dmd.safetensors'), '--sampler', 'onestep', '--n', '16', '--out', out], { encoding: 'utf8', timeout: 60_000, env: lavapipe });
    expect(s.status, s.stderr).toBe(0);
    expect(s.stderr).toMatch(/^onestep: using lavapipe \(.*\)\n$/);
  });
});
