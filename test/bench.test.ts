// test/bench.test.ts: `npm run bench -- --suite quick --backend both`, run as a command, ends within 2 minutes and writes JSON that
// matches issue 5's schema, with rows from both backends, the raw ceilings and the peers (n/a rows carry a reason).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateDoc, type BenchDoc } from '../bench/report';

const root = join(__dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'onestep-bench-test-'));
const out = join(dir, 'quick.json');
let doc: BenchDoc;
let seconds = 0;
let stdout = '', stderr = '';

describe('npm run bench -- --suite quick --backend both', () => {
  beforeAll(() => {
    const t0 = performance.now();
    const r = spawnSync('npm', ['run', 'bench', '--', '--suite', 'quick', '--backend', 'both', '--out', out], { cwd: root, encoding: 'utf8', timeout: 150_000 });
    seconds = (performance.now() - t0) / 1000;
    stdout = r.stdout;
    stderr = r.stderr;
    if (r.status !== 0) throw new Error(`bench exited with ${r.status}:\n${r.stderr.slice(-3000)}`);
    doc = JSON.parse(readFileSync(out, 'utf8')) as BenchDoc;
  }, 160_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finishes in under 2 minutes, with no Dawn limit warnings in its log', () => {
    expect(seconds).toBeLessThan(120);
    expect(stderr).toMatch(/\[bench node\] lavapipe/);
    expect(stderr).not.toMatch(/Warning: maxDynamic\w+ artificially reduced/);
  });

  it('writes JSON that matches the schema', () => {
    expect(validateDoc(doc)).toEqual([]);
    expect(doc.adapter.backend).toMatch(/node-dawn/);
  });

  it('has rows from both backends, with onestep measured and the raw WGSL ceilings listed', () => {
    for (const backend of ['node', 'browser'] as const) {
      const rows = doc.results.filter((r) => r.backend === backend);
      expect(rows.length).toBeGreaterThan(20);
      const mm = rows.find((r) => r.engine === 'onestep' && r.kernel === 'matmul' && r.shape === '256×256×256' && r.pass === 'fwd');
      expect(mm?.medianMs).toBeGreaterThan(0);
      expect(mm?.gflops).toBeGreaterThan(0);
      // the raw ceiling is there, measured or (on a machine busy with other work) n/a with its reason
      const raw = rows.find((r) => r.engine === 'raw-wgsl' && r.kernel === 'matmul' && r.shape === '256×256×256');
      expect(raw).toBeDefined();
      expect(raw!.medianMs !== null ? raw!.medianMs > 0 : !!raw!.note).toBe(true);
      expect(rows.some((r) => r.engine === 'raw-wgsl' && r.kernel === 'dispatch overhead (empty kernel)')).toBe(true);
      // the chained adds run eager and compiled (os.compile fuses the chain) in the same run; in Chromium on
      // SwiftShader the quick suite's 95 s run out before that row (n/a with the reason "not timed: …", never a failure)
      const compiled = rows.find((r) => r.kernel === '100 chained adds' && r.engine === 'onestep-compiled');
      expect(compiled, backend).toBeDefined();
      if (backend === 'node') expect(compiled!.medianMs).toBeGreaterThan(0);
      else if (compiled!.medianMs === null) expect(compiled!.note).toMatch(/^not timed: /);
    }
    expect(doc.adapters.browser?.architecture ?? doc.adapters.browser?.description).toMatch(/swiftshader/i);
  });

  it('puts every peer in the table, and says why where one cannot run', () => {
    for (const engine of ['jax-js', 'tfjs-webgpu', 'onnxruntime-web', 'webgpu-torch'] as const) {
      expect(doc.results.some((r) => r.engine === engine)).toBe(true);
    }
    const ortNode = doc.results.filter((r) => r.engine === 'onnxruntime-web' && r.backend === 'node');
    expect(ortNode.length).toBeGreaterThan(0);
    for (const r of ortNode) expect(r.medianMs === null && /browser/.test(r.note ?? '')).toBe(true);
    // the same work has the same key in every engine: matmul 256³ fwd has a row per engine on each backend
    for (const backend of ['node', 'browser'] as const) {
      const engines = doc.results.filter((r) => r.backend === backend && r.kernel === 'matmul' && r.shape === '256×256×256' && r.pass === 'fwd').map((r) => r.engine);
      expect(new Set(engines)).toEqual(new Set(['onestep', 'jax-js', 'tfjs-webgpu', 'onnxruntime-web', 'webgpu-torch', 'raw-wgsl']));
    }
  });

  it('prints the Markdown table and writes the chart', () => {
    expect(stdout).toMatch(/\| backend \| kernel \| shape \| pass \| onestep \|/);
    const wrote = /wrote (\S+), (\S+\.md), (\S+\.html)/.exec(stdout);
    expect(wrote).not.toBeNull();
    expect(existsSync(wrote![2])).toBe(true);
    expect(readFileSync(wrote![3], 'utf8')).toContain('<svg');
  });
});
