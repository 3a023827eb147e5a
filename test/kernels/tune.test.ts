// test/kernels/tune.test.ts: kernels/tune.ts: modes, explicit and background tuning of a fake family timed on real
// dispatches (one candidate does 8× the work of another, one throws), the memory and disk caches (in a temp dir, never
// ~/.cache), and tuneMatmul / tuneConv / tuneAttention / tuneNorm on real shapes whose winners the dispatchers then use.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as os from '../../engine';
import { expectClose } from '../helpers';
import { adapterHash, cachedWinner, clearTuneCache, pick, setTuneCacheDir, setTuning, tune, tuneCacheEntries, tuningMode, whenTuned, type Tunable } from '../../kernels/tune';
import { matmulConfigId, matmulShapeKey, pickMatmulConfig, tuneMatmul, matmulKernel, type MatmulShape } from '../../kernels/matmul/dispatch';
import { convShapeKey, convTunable, tuneConv, type ConvShape } from '../../kernels/conv/dispatch';
import { attentionShapeKey, attentionTunable, subgroupsSupported, tuneAttention } from '../../kernels/attention/dispatch';
import { NORM_VARIANTS, normShapeKey, normTunable, tuneNorm } from '../../kernels/norm/dispatch';

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'onestep-tune-'));
  setTuneCacheDir(dir);
});
afterAll(async () => {
  await whenTuned();
  setTuning(false);
  setTuneCacheDir(undefined);
  rmSync(dir, { recursive: true, force: true });
});

/** 'fast' runs one 128³ matmul, 'slow' eight, 'broken' throws. */
function fake(key: string, heuristic = 'slow'): Tunable<string> {
  return {
    family: 'test',
    key,
    candidates: ['slow', 'fast', 'broken'],
    id: (c) => c,
    heuristic,
    job: () => {
      const a = os.ones([128, 128]), b = os.ones([128, 128]);
      return {
        run: (c) => {
          if (c === 'broken') throw new Error('broken candidate');
          for (let i = 0; i < (c === 'slow' ? 8 : 1); i++) matmulKernel(a, b, { config: 'r4x4' }).dispose();
        },
        dispose: () => (a.dispose(), b.dispose()),
      };
    },
  };
}

describe('tuner', () => {
  const dev = () => os.device();

  it('compileAsync (a tuning warm-up) leaves the pipeline to the device: the first dispatch compiles nothing more', async () => {
    const value = 1000 + (Date.now() % 1000); // a kernel no earlier test compiled
    const k = { code: `@group(0) @binding(1) var<storage, read_write> y: array<f32>;\n@compute @workgroup_size(1) fn main() { y[0] = ${value}.0; }`, label: 'tune test: compileAsync' };
    const y = os.zeros([1]); // (its fill kernel compiles here, before the count)
    const before = dev().pipelineCount;
    await Promise.all([dev().compileAsync(k), dev().compileAsync(k)]); // twice at once: one pipeline
    expect(dev().pipelineCount).toBe(before + 1);
    dev().dispatch(k, { buffers: [y.buffer], workgroups: [1] });
    expect(dev().pipelineCount).toBe(before + 1);
    expect((await y.data())[0]).toBe(value);
    y.dispose();
  });

  it('is off under vitest unless ONESTEP_TUNE says otherwise; setTuning switches modes', () => {
    if (process.env.ONESTEP_TUNE === undefined) expect(tuningMode()).toBe('off');
    setTuning(true);
    expect(tuningMode()).toBe('background');
    setTuning('cached');
    expect(tuningMode()).toBe('cached');
    setTuning(false);
    expect(tuningMode()).toBe('off');
  });

  it('explicit tune() times every candidate, records failures, caches the winner in memory and on disk', async () => {
    setTuning('cached');
    const r = await tune(dev(), fake('k1'));
    expect(r.winner).toBe('fast');
    expect(r.cached).toBe(false);
    const t = Object.fromEntries(r.timings.map((x) => [x.id, x]));
    expect(t.fast.ms).toBeGreaterThan(0);
    expect(t.slow.ms!).toBeGreaterThan(t.fast.ms!);
    expect(t.broken.ms).toBeNull();
    expect(t.broken.note).toContain('broken candidate');
    expect(pick(dev(), fake('k1'))).toBe('fast');
    expect((await tune(dev(), fake('k1'))).cached).toBe(true);
    const file = join(dir, `tune-${adapterHash(dev())}.json`);
    expect(existsSync(file)).toBe(true);
    const saved = JSON.parse(readFileSync(file, 'utf8'));
    expect(saved.winners['test|k1']).toBe('fast');
    expect(saved.adapter).toBe(dev().adapterLabel);
    // kernel time by GPU timestamps where the adapter has them; tuneLog keeps what was timed
    expect(r.clock).toBe(dev().features.has('timestamp-query') ? 'gpu' : 'wall');
    expect(r.heuristic).toBe('slow');
    expect(os.tuneLog().at(-1)).toBe(r);
  });

  it('times by wall clock while an os.profile runs (the profile owns the timestamps), and the profile sees only its own work', async () => {
    if (!dev().features.has('timestamp-query')) return; // wall clock always: the test above checks that
    setTuning('cached');
    let r: Awaited<ReturnType<typeof tune<string>>> | null = null;
    const a = os.ones([8, 8]);
    const rows = await os.profile(async () => {
      os.add(a, a).dispose();
      r = await tune(dev(), fake('k-profiled'));
    });
    expect(r!.clock).toBe('wall');
    expect(r!.winner).toBe('fast');
    expect(rows.find((x) => x.label.startsWith('elementwise add'))?.count).toBe(1);
    a.dispose();
  });

  it("'off' returns the heuristic even when a winner is cached; 'cached' never tunes by itself", async () => {
    setTuning(false);
    expect(pick(dev(), fake('k1'))).toBe('slow');
    setTuning('cached');
    expect(pick(dev(), fake('k2'))).toBe('slow');
    await whenTuned();
    expect(cachedWinner(dev(), 'test', 'k2')).toBeUndefined();
  });

  it("'background' uses the heuristic until the queued job has timed the candidates", async () => {
    setTuning('background');
    expect(pick(dev(), fake('k3'))).toBe('slow');
    expect(pick(dev(), fake('k3'))).toBe('slow'); // queued once
    await whenTuned();
    expect(cachedWinner(dev(), 'test', 'k3')).toBe('fast');
    expect(pick(dev(), fake('k3'))).toBe('fast');
    setTuning('cached');
  });

  it('winners survive a memory clear through the disk file; clearing the disk forgets them', async () => {
    await clearTuneCache();
    expect(cachedWinner(dev(), 'test', 'k1')).toBeUndefined();
    expect((await tuneCacheEntries(dev()))['test|k1']).toBe('fast');
    expect(pick(dev(), fake('k1'))).toBe('fast');
    await clearTuneCache({ disk: true });
    expect(existsSync(join(dir, `tune-${adapterHash(dev())}.json`))).toBe(false);
    expect(await tuneCacheEntries(dev())).toEqual({});
    expect(pick(dev(), fake('k1'))).toBe('slow');
  });

  it('tuneMatmul times matmul variants on a real shape; the dispatcher then runs the winner', async () => {
    setTuning('cached');
    const s: MatmulShape = { M: 256, N: 256, K: 256, batch: 1, transA: false, transB: false };
    const r = await tuneMatmul(s, { variants: ['r4x4', 'r8x8'] });
    expect(['r4x4', 'r8x8']).toContain(r.winner);
    expect(r.timings.map((t) => t.id).sort()).toEqual(['r4x4', 'r8x8']);
    for (const t of r.timings) expect(t.ms).toBeGreaterThan(0);
    expect(cachedWinner(dev(), 'matmul', matmulShapeKey(s))).toBe(r.winner);
    expect(matmulConfigId(pickMatmulConfig(dev(), s))).toBe(r.winner);
    // the same shape class: 252 rounds up to 256 and is a multiple of 4 too
    expect(matmulConfigId(pickMatmulConfig(dev(), { ...s, M: 252, N: 252, K: 252 }))).toBe(r.winner);
    const a = os.randn([252, 252], { seed: 1 }), b = os.randn([252, 252], { seed: 2 });
    const c = os.matmul(a, b), ref = matmulKernel(a, b, { config: 'r1x4' });
    expectClose(await c.data(), await ref.data(), { atol: 1e-3, rtol: 0 });
    for (const t of [a, b, c, ref]) t.dispose();
    setTuning(false);
    expect(matmulConfigId(pickMatmulConfig(dev(), s))).not.toBe('');
  }, 120_000);

  it('tuneConv times conv tiles per kind on a real shape; conv2d then runs the winner and still matches a forced tile', async () => {
    setTuning('cached');
    const geom = { stride: [1, 1] as const, padding: [1, 1] as const, dilation: [1, 1] as const, groups: 1 };
    for (const kind of ['forward', 'backwardData', 'backwardWeight'] as const) {
      const r = await tuneConv({ kind, x: [8, 32, 16, 16], w: [24, 32, 3, 3], padding: 1 }, { variants: ['r4x8', 's8x4'] });
      expect(['r4x8', 's8x4']).toContain(r.winner);
      expect(r.timings.map((t) => t.id).sort()).toEqual(['r4x8', 's8x4']);
      for (const t of r.timings) expect(t.ms, `${kind} ${t.id}`).toBeGreaterThan(0);
      const shape: ConvShape = { kind, x: [8, 32, 16, 16], w: [24, 32, 3, 3], out: [16, 16], geom };
      expect(cachedWinner(dev(), 'conv2d', convShapeKey(shape))).toBe(r.winner);
      expect(pick(dev(), convTunable(dev(), shape))).toBe(r.winner); // what the dispatcher asks for
      // batch 7 is the same class (7·256 pixels rounds to 2048)
      expect(convShapeKey({ ...shape, x: [7, 32, 16, 16] })).toBe(convShapeKey(shape));
    }
    const x = os.randn([8, 32, 16, 16], { seed: 3 }), w = os.randn([24, 32, 3, 3], { seed: 4 });
    const y = os.conv2d(x, w, undefined, { padding: 1 }), ref = os.conv2d(x, w, undefined, { padding: 1, variant: 'r4x8' });
    expectClose(await y.data(), await ref.data(), { atol: 1e-3, rtol: 0 });
    for (const t of [x, w, y, ref]) t.dispose();
    setTuning(false);
  }, 180_000);

  it('hashes the adapter to 8 hex digits, stable across calls', () => {
    expect(adapterHash(dev())).toMatch(/^[0-9a-f]{8}$/);
    expect(adapterHash(dev())).toBe(adapterHash(dev()));
  });

  it('the package root exports the tuner: the same functions, working on the current device', async () => {
    expect(os.setTuning).toBe(setTuning);
    expect(os.tuningMode).toBe(tuningMode);
    expect(os.tune).toBe(tune);
    expect(os.whenTuned).toBe(whenTuned);
    expect(os.clearTuneCache).toBe(clearTuneCache);
    expect(os.setTuneCacheDir).toBe(setTuneCacheDir);
    expect(os.tuneCacheEntries).toBe(tuneCacheEntries);
    expect(os.tuneMatmul).toBe(tuneMatmul);
    expect(os.MATMUL_VARIANTS.map((v) => v.name)).toContain('s16x8s8');
    const mode: os.TuneMode = os.tuningMode();
    try {
      os.setTuning('cached');
      expect(os.tuningMode()).toBe('cached');
      const r: os.TuneResult = await os.tuneMatmul({ M: 64, N: 64, K: 64 }, { variants: ['r4x4', 'r4x8'] });
      expect(['r4x4', 'r4x8']).toContain(r.winner);
      await os.whenTuned();
      expect((await os.tuneCacheEntries())[`matmul|${matmulShapeKey({ M: 64, N: 64, K: 64, batch: 1, transA: false, transB: false })}`]).toBe(r.winner);
      await os.clearTuneCache({ device: os.device() });
      expect(cachedWinner(dev(), 'matmul', 'm64n64k64b1NNa4')).toBeUndefined();
    } finally {
      os.setTuning(mode);
    }
  }, 120_000);

  it('tuneAttention times variants per pass; attention then runs the winner and matches the forced heuristic', async () => {
    setTuning('cached');
    const dims = { BH: 8, L: 128, S: 128, D: 32 };
    const names = subgroupsSupported(dev(), dims.D) ? ['plain-r4', 'subgroup-r4'] : ['plain-r4'];
    for (const pass of ['forward', 'backward'] as const) {
      const r = await tuneAttention({ pass, ...dims }, { variants: names });
      expect(names).toContain(r.winner);
      expect(r.timings.map((t) => t.id).sort()).toEqual([...names].sort());
      for (const t of r.timings) expect(t.ms, `${pass} ${t.id}`).toBeGreaterThan(0);
      expect(cachedWinner(dev(), 'attention', attentionShapeKey(pass, dims, false))).toBe(r.winner);
      expect(pick(dev(), attentionTunable(dev(), pass, dims, false)).name).toBe(r.winner);
    }
    const q = os.randn([2, 4, 128, 32], { seed: 5 }), k = os.randn([2, 4, 128, 32], { seed: 6 }), v = os.randn([2, 4, 128, 32], { seed: 7 });
    const y = os.attention(q, k, v), ref = os.attention(q, k, v, { variant: 'plain-r4' });
    expectClose(await y.data(), await ref.data(), { atol: 1e-4, rtol: 0 });
    for (const t of [q, k, v, y, ref]) t.dispose();
    setTuning(false);
  }, 180_000);

  it('tuneNorm times every variant per pass; groupNorm then runs the winner and matches the reference variant', async () => {
    setTuning('cached');
    const dims = { N: 8, G: 8, Cg: 8, S: 33 * 33 }; // 557k elements, row length not a multiple of 4
    for (const pass of ['forward', 'backward'] as const) {
      const r = await tuneNorm({ pass, dims, silu: true });
      expect(NORM_VARIANTS).toContain(r.winner);
      expect(r.timings.map((t) => t.id).sort()).toEqual([...NORM_VARIANTS].sort());
      for (const t of r.timings) expect(t.ms, `${pass} ${t.id}`).toBeGreaterThan(0);
      expect(cachedWinner(dev(), 'norm', normShapeKey(pass, dims, true, true))).toBe(r.winner);
      expect(pick(dev(), normTunable(dev(), pass, dims, true, true))).toBe(r.winner);
    }
    const x = os.randn([8, 64, 33, 33], { seed: 8 }), w = os.randn([64], { seed: 9 }), b = os.randn([64], { seed: 10 });
    const y = os.groupNorm(x, 8, w, b, 1e-5, { silu: true }), ref = os.groupNorm(x, 8, w, b, 1e-5, { silu: true, variant: 'wg64' });
    expectClose(await y.data(), await ref.data(), { atol: 1e-4, rtol: 0 });
    for (const t of [x, w, b, y, ref]) t.dispose();
    setTuning(false);
  }, 180_000);
});
