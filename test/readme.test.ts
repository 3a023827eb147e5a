// test/readme.test.ts: the package the way research code gets it: `npm pack`, `npm install ./onestep-*.tgz` into a
// fresh consumer folder, then, from there, every `npx onestep …` line of the README in order (steps, sample counts
// and batches cut down so that each ends in seconds), `npx onestep info` and `help`, and `npx onestep web` driven in
// headless Chromium until it trains; and `npm run web` inside the installed package. The checkout's own entry points
// have theirs: `npm run demo` (test/cli.test.ts), `npm run bench` (test/bench.test.ts), `npm run web`
// (test/web.test.ts). npx runs with --no, so a missing install fails instead of fetching a package from the registry.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchChromium } from '../scripts/browser';
import { freePort, startWeb } from './web-command';

const root = join(__dirname, '..');
const consumer = mkdtempSync(join(tmpdir(), 'onestep-consumer-'));
const installed = join(consumer, 'node_modules', 'onestep');
const npx = (args: string[], timeout = 120_000) => spawnSync('npx', ['--no', 'onestep', ...args], { cwd: consumer, encoding: 'utf8', timeout });
const DAWN_WARNING = /Warning: maxDynamic\w+ artificially reduced/;

/** The README's `npx onestep` lines (continuations joined, comments dropped), as argument lists. */
function readmeCommands(): string[][] {
  const text = readFileSync(join(root, 'README.md'), 'utf8').replace(/\\\n\s*/g, '');
  return text
    .split('\n')
    .filter((l) => l.startsWith('npx onestep '))
    .map((l) => l.replace(/\s+#.*$/, '').trim().split(/\s+/).slice(2));
}

// Cut down so that every line runs in seconds on a CPU driver; outputs stay relative to the consumer folder.
const CAPS: Record<string, number> = { '--steps': 3, '--n': 256, '--batch': 8 };
// MNIST training even cut to 2 steps takes minutes here (Heun-18 panels, 1,000-digit FD evaluations): not run. The
// lines after them read the generator the distill line makes; they read the zoo's, made by that same recipe. The
// "Scaling out" lines read what a torchrun line (PyTorch, not npx) writes: they read the zoo's 8gaussians generator,
// a file of the same format (test/interop-distill.test.ts runs the PyTorch trainer and reads its output with onestep).
const NOT_RUN = [/^train-teacher --data mnist16 /, /^distill --teacher zoo\/mnist16-teacher\.safetensors /];
const STANDS_IN: Record<string, string> = {
  'runs/md/generator.safetensors': 'zoo/mnist16-generator-dmd2.safetensors',
  'runs/g-pt/generator.safetensors': 'zoo/8gaussians-generator-dmd.safetensors',
};

beforeAll(() => {
  const pack = spawnSync('npm', ['pack', '--json', '--pack-destination', consumer], { cwd: root, encoding: 'utf8', timeout: 180_000 });
  expect(pack.status, pack.stderr).toBe(0);
  const tgz = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('[')))[0].filename as string;
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  const install = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', `./${tgz}`], { cwd: consumer, encoding: 'utf8', timeout: 180_000 });
  expect(install.status, install.stderr).toBe(0);
  // the README's paths are relative to a folder with the zoo in it, as the checkout is
  symlinkSync(join(installed, 'zoo'), join(consumer, 'zoo'), 'dir');
}, 360_000);

afterAll(() => rmSync(consumer, { recursive: true, force: true }));

describe('an installed package', () => {
  it('ships the built CLI and page, not the sources', () => {
    for (const f of ['bin/onestep.js', 'bin/dawn-filter.js', 'dist/cli.js', 'dist/engine.js', 'dist/web/main.js', 'dist/web/index.html', 'zoo/mnist16-classifier.safetensors']) expect(existsSync(join(installed, f)), f).toBe(true);
    for (const f of ['engine', 'web/server.ts', 'node_modules/esbuild']) expect(existsSync(join(installed, f)), f).toBe(false);
  });

  it('npx onestep info and help', () => {
    const info = npx(['info']);
    expect(info.status, info.stderr).toBe(0);
    expect(JSON.parse(info.stdout).adapter).toMatch(/lavapipe|swiftshader|system/);
    expect(info.stderr).not.toMatch(DAWN_WARNING);
    const help = npx(['help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^usage: onestep <command>/);
  });

  it('runs the README\'s tour for research code as a script importing the package', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const tour = readme.slice(readme.indexOf('## A tour for research code'));
    const code = /```js\n([\s\S]*?)```/.exec(tour)![1];
    expect(code).toMatch(/from 'onestep'/);
    writeFileSync(join(consumer, 'tour.mjs'), code);
    const r = spawnSync(process.execPath, ['tour.mjs'], { cwd: consumer, encoding: 'utf8', timeout: 300_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/dispatches/); // the compiled step's stats
    expect(existsSync(join(consumer, 'net.safetensors'))).toBe(true);
  }, 320_000);

  it('runs every `npx onestep` line of the README, in order', () => {
    const lines = readmeCommands();
    expect(lines.length).toBeGreaterThanOrEqual(12);
    const skipped: string[] = [];
    for (const line of lines) {
      const shown = line.join(' ');
      if (line[0] === 'web') continue; // a server: the next test starts it and drives the page
      if (NOT_RUN.some((r) => r.test(shown))) {
        skipped.push(shown);
        continue;
      }
      const args = line.map((a, i) => (CAPS[line[i - 1]] !== undefined ? String(Math.min(Number(a), CAPS[line[i - 1]])) : (STANDS_IN[a] ?? a)));
      const t0 = performance.now();
      const r = npx(args, 240_000);
      expect(r.status, `npx onestep ${args.join(' ')}\n${r.stderr}`).toBe(0);
      expect(r.stderr, shown).not.toMatch(DAWN_WARNING);
      console.log(`npx onestep ${args.join(' ')}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      const last = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
      if (args[0] === 'sample' && args.includes('--class')) expect(last.classes).toBe(Number(args[args.indexOf('--class') + 1]));
      if (args[0] === 'eval' && args.includes('8gaussians')) expect(last.swd).toBeGreaterThan(0);
      if (args[0] === 'eval' && args.includes('mnist16')) expect(last.fd).toBeGreaterThan(0);
    }
    expect(skipped).toHaveLength(NOT_RUN.length);
    expect(lines.filter((l) => l[0] === 'web')).toEqual([['web', '--port', '8765']]);
    for (const f of ['runs/t/teacher.safetensors', 'pairs.safetensors', 'runs/g/generator.safetensors', 'runs/g/report.html', 'g.npy', 'd.npy', 'digits.png', 'digits.npy', 'zeros.npy']) expect(existsSync(join(consumer, f)), f).toBe(true);
  }, 600_000);

  it('npx onestep web serves the page, which trains DMD2 in headless Chromium; npm run web works inside the package', async () => {
    const web = await startWeb('npx', ['--no', 'onestep', 'web', '--port', String(await freePort())], { cwd: consumer });
    const inside = await startWeb('npm', ['run', 'web', '--', '--port', String(await freePort())], { cwd: installed });
    const browser = await launchChromium();
    try {
      const res = await fetch(`${inside.url}/zoo.json`);
      expect(JSON.parse(await res.text()).teachers['8gaussians']).toBe('/zoo/8gaussians-teacher.safetensors');
      const errors: string[] = [];
      const page = await browser.newPage();
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(web.url + '/');
      await page.waitForFunction(() => !(document.querySelector('[data-testid=start]') as HTMLButtonElement).disabled, { timeout: 150_000, polling: 500 });
      await page.click('[data-testid=start]');
      await page.waitForFunction(() => Number(document.querySelector('[data-testid=step]')!.textContent) >= 5, { timeout: 120_000, polling: 500 });
      await page.click('#pause');
      expect(errors).toEqual([]);
      for (const w of [web, inside]) expect(w.output()).not.toMatch(DAWN_WARNING);
    } finally {
      await browser.close();
      await Promise.all([web.stop(), inside.stop()]);
    }
  }, 360_000);
});
