// test/cli.test.ts: the `onestep` command end to end: train-teacher for 50 steps (then --resume), sample, data,
// eval, `npm run demo` as the README runs it, and a clean one-line error for a bad model file.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { decodeNpy } from '../engine/io/npy';
import { TOY_RECIPE } from '../models/recipe';
import { fmtTime } from '../cli/progress';
import { launchChromium } from '../scripts/browser';
import { chartOverlaps } from './chart-overlaps';

const root = join(__dirname, '..');
const bin = join(root, 'bin', 'onestep.js');
const runFor = (ms: number, ...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: ms, env: { ...process.env } });
const run = (...args: string[]) => runFor(120_000, ...args);
const lastJson = (s: string) => JSON.parse(s.trim().split('\n').at(-1)!);

describe('progress line', () => {
  it('formats times without a 60 in the seconds or minutes place', () => {
    expect([0.4, 59.4, 59.6, 179.6, 3599.7, 3600, 7199, 5 * 3600 + 59.7 * 60].map(fmtTime)).toEqual(['0s', '59s', '1m00s', '3m00s', '1h00m', '1h00m', '2h00m', '6h00m']);
    expect(fmtTime(Infinity)).toBe('?');
  });
});

describe('onestep CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'onestep-cli-'));
  it('train-teacher writes a model, metrics and a checkpoint, and resumes', () => {
    const r = run('train-teacher', '--data', '8gaussians', '--out', dir, '--steps', '50', '--batch', '128', '--checkpoint-every', '25');
    expect(r.status, r.stderr).toBe(0);
    for (const f of ['teacher.safetensors', 'metrics.jsonl', 'checkpoint.safetensors']) expect(existsSync(join(dir, f)), f).toBe(true);
    const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.filter((l) => 'loss' in l).length).toBe(50);
    const r2 = run('train-teacher', '--data', '8gaussians', '--out', dir, '--steps', '60', '--batch', '128', '--checkpoint-every', '25', '--resume');
    expect(r2.status, r2.stderr).toBe(0);
    expect(r2.stdout).toMatch(/resumed from .* at step 50/);
  });
  it('sample → .npy, data → .npy, eval → metrics', () => {
    const s = run('sample', '--model', join(dir, 'teacher.safetensors'), '--sampler', 'heun', '--steps', '5', '--n', '300', '--seed', '1', '--out', join(dir, 's.npy'));
    expect(s.status, s.stderr).toBe(0);
    expect(lastJson(s.stdout)).toMatchObject({ n: 300, nfe: 9, sampler: 'heun' });
    const d = run('data', '--name', '8gaussians', '--n', '300', '--seed', '2', '--out', join(dir, 'd.npy'));
    expect(d.status, d.stderr).toBe(0);
    const e = run('eval', '--samples', join(dir, 'd.npy'), '--data', '8gaussians');
    expect(e.status, e.stderr).toBe(0);
    const m = lastJson(e.stdout);
    expect(m.modes.covered).toBe(8);
    expect(m.swd).toBeLessThan(0.1); // 300 samples: the floor itself is ~0.03
  });
  it('train-teacher --net sizes the MLP and --p-mean/--p-std its σ schedule (the file carries both) and refuses fields the MLP does not have', () => {
    const netDir = join(dir, 'net');
    const r = run('train-teacher', '--data', '25gaussians', '--out', netDir, '--steps', '5', '--batch', '64', '--net', '{"hidden":48,"depth":4}', '--p-mean=-2.2', '--p-std', '1.4');
    expect(r.status, r.stderr).toBe(0);
    const s = run('sample', '--model', join(netDir, 'teacher.safetensors'), '--sampler', 'euler', '--steps', '3', '--n', '10', '--out', join(netDir, 's.npy'));
    expect(s.status, s.stderr).toBe(0);
    const header = readFileSync(join(netDir, 'teacher.safetensors'));
    const meta = JSON.parse(header.subarray(8, 8 + Number(header.readBigUInt64LE(0))).toString()).__metadata__;
    expect(JSON.parse(meta.onestep).netConfig).toMatchObject({ hidden: 48, depth: 4 });
    expect(JSON.parse(meta.onestep).recipe).toMatchObject({ pMean: -2.2, pStd: 1.4 });
    const bad = run('train-teacher', '--data', '8gaussians', '--out', join(dir, 'bad-net'), '--steps', '5', '--net', '{"hiden":48}');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/--net has "hiden", which MLPScoreNet does not take here; its fields are hidden, depth, freqs/);
  });
  it('npm run demo leaves what outside checks read: 16,384 samples per model as [N, 2] float32 .npy, summary.json and a report whose chart legends cover nothing', async () => {
    const out = join(dir, 'demo');
    // as the README runs it: setup (a no-op once installed), the build, then the demo; 16k Heun samples, timed: ~25 s alone
    const r = spawnSync('npm', ['run', 'demo', '--', '--steps', '20', '--out', out], { cwd: root, encoding: 'utf8', timeout: 230_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\[setup\] done/);
    expect(r.stderr).not.toMatch(/Warning: maxDynamic\w+ artificially reduced/);
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    expect(summary).toMatchObject({ teacher: { sampler: 'heun-18', nfe: 35 }, generator: { nfe: 1 }, training: { iterations: 20, config: { mode: TOY_RECIPE.mode, regWeight: TOY_RECIPE.regWeight, lr: TOY_RECIPE.lr, warmup: TOY_RECIPE.warmup, emaDecay: TOY_RECIPE.emaDecay } } });
    expect(summary).toHaveProperty('ttqSeconds');
    expect(summary.evals.length).toBeGreaterThan(0);
    for (const k of ['data', 'teacher', 'generator', 'naive', 'ablationRealOnly']) expect(summary[k].swd, k).toBeGreaterThan(0);
    expect(summary.speedup).toBeGreaterThan(1);
    for (const name of ['data', 'teacher', 'generator']) {
      const npy = readFileSync(join(out, 'samples', `${name}.npy`));
      const header = npy.subarray(10, 10 + npy.readUInt16LE(8)).toString();
      expect(header, name).toMatch(/'descr': '<f4'.*'shape': \(16384, 2\)/);
    }
    const browser = await launchChromium({ webgpu: false });
    try {
      const page = await browser.newPage();
      await page.goto(pathToFileURL(join(out, 'report.html')).href);
      const charts = await chartOverlaps(page);
      expect(charts.charts).toBeGreaterThanOrEqual(4); // the metric over time and the losses
      expect(charts.overlaps).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 240_000);
  it('npm run demo -- --data mnist leaves [N, 1, 16, 16] digits per model, a summary with FD and class accuracy for each, and a report', () => {
    const out = join(dir, 'demo-mnist');
    // as the README runs it, shortened: 2 iterations and 20 digits per model (the teacher's guided Heun-18 run is most of it)
    const r = spawnSync('npm', ['run', 'demo', '--', '--data', 'mnist', '--steps', '2', '--n', '20', '--out', out], { cwd: root, encoding: 'utf8', timeout: 230_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/generator FD ÷ teacher FD: \d+\.\d\d · speed-up over Heun-18: \d+\.\d×/);
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    expect(summary).toMatchObject({ teacher: { sampler: 'heun-18', nfe: 35, cfg: 2 }, generator: { nfe: 1 }, training: { mode: 'dmd2', iterations: 2 } });
    expect(summary).toHaveProperty('ttqSeconds');
    expect(summary.evals.length).toBeGreaterThan(0);
    for (const k of ['data', 'teacher', 'generator', 'naive']) {
      expect(summary[k].fd, k).toBeGreaterThan(0);
      expect(summary[k].classAccuracy, k).toBeGreaterThanOrEqual(0);
      const npy = decodeNpy(new Uint8Array(readFileSync(join(out, 'samples', `${k}.npy`))));
      expect({ dtype: npy.dtype, shape: npy.shape }, k).toEqual({ dtype: '<f4', shape: [20, 1, 16, 16] });
    }
    // the data are real digits: the classifier reads their requested classes
    expect(summary.data.classAccuracy).toBeGreaterThan(0.8);
    expect(existsSync(join(out, 'report.html'))).toBe(true);
  }, 240_000);
  it('a file that is not a model gives one clear line and a non-zero exit', () => {
    writeFileSync(join(dir, 'bad.safetensors'), 'not a model at all');
    const r = run('sample', '--model', join(dir, 'bad.safetensors'), '--out', join(dir, 'x.npy'));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/onestep sample: safetensors:/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });
});
