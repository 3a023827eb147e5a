// test/engine/consumer.test.ts: a project with node_modules/onestep linked to this repo imports the engine in plain
// Node, exactly as outside checks do (`import * as os from 'onestep'`), with no environment variables set.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');

const SCRIPT = `
import * as os from 'onestep';
import * as models from 'onestep/models';
await os.init();
const x = os.tensor([[1, 2], [3, 4]], [2, 2], { requiresGrad: true });
const w = os.tensor([0.5, -1, 2, 0.25], [2, 2], { requiresGrad: true });
const y = os.silu(os.matmul(x, w));
const p = os.softmax(y, 1);
p.mul(y).sum().backward();
const out = { y: Array.from(await y.data()), gx: Array.from(await x.grad.data()), gw: Array.from(await w.grad.data()),
  nn: typeof os.nn.Linear, optim: typeof os.optim.Adam, io: typeof os.io.saveSafetensors, toy: typeof models.toy2d };
console.log(JSON.stringify(out));
`;

describe('consumer project', () => {
  it('imports onestep from node_modules and runs forward + backward', () => {
    expect(existsSync(join(root, 'dist', 'engine.js')), 'dist/ is built by npm install (prepare) and npm test').toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'onestep-consumer-'));
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(root, join(dir, 'node_modules', 'onestep'), 'dir');
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
    writeFileSync(join(dir, 'check.mjs'), SCRIPT);
    const env = { ...process.env };
    for (const k of ['VK_ICD_FILENAMES', 'XDG_RUNTIME_DIR', 'ONESTEP_ADAPTER']) delete env[k];
    const r = spawnSync(process.execPath, ['check.mjs'], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    // reference: y = silu(x @ w); loss = Σ softmax(y)·y; computed on the host in float64
    const xs = [[1, 2], [3, 4]], ws = [[0.5, -1], [2, 0.25]];
    const z = xs.map((r) => [0, 1].map((j) => r[0] * ws[0][j] + r[1] * ws[1][j]));
    const sig = (v: number) => 1 / (1 + Math.exp(-v));
    const y = z.map((r) => r.map((v) => v * sig(v)));
    y.flat().forEach((v, i) => expect(out.y[i]).toBeCloseTo(v, 5));
    // d/dy of Σ p·y with p = softmax(y): p·(1 + y − Σ p·y)
    const gy = y.map((r) => {
      const e = r.map(Math.exp), s = e[0] + e[1], p = e.map((v) => v / s), py = p[0] * r[0] + p[1] * r[1];
      return r.map((v, j) => p[j] * (1 + v - py));
    });
    const gz = z.map((r, i) => r.map((v, j) => gy[i][j] * sig(v) * (1 + v * (1 - sig(v)))));
    const gx = gz.map((r) => [0, 1].map((k) => r[0] * ws[k][0] + r[1] * ws[k][1]));
    const gw = [0, 1].map((k) => [0, 1].map((j) => xs[0][k] * gz[0][j] + xs[1][k] * gz[1][j]));
    gx.flat().forEach((v, i) => expect(out.gx[i]).toBeCloseTo(v, 4));
    gw.flat().forEach((v, i) => expect(out.gw[i]).toBeCloseTo(v, 4));
    expect(out.nn).toBe('function');
    expect(out.optim).toBe('function');
    expect(out.io).toBe('function');
    expect(out.toy).toBe('function');
  });
});
