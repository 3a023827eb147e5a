// test/kernels/random.test.ts: the counter-based Philox RNG of kernels/random/dispatch.ts: GPU draws equal the host
// reference `randomRef`, seeds reproduce, streams differ, and the moments are right.
import { describe, it, expect } from 'vitest';
import * as os from '../../engine';
import { random, randomRef } from '../../kernels/random/dispatch';
import { expectClose, toHost } from '../helpers';

const N = 4099; // a few thousand, off every workgroup multiple

function refDraws(dist: 'uniform' | 'normal', n: number, seed: number, stream: number): Float64Array {
  return Float64Array.from({ length: n }, (_, i) => randomRef(dist, i, seed, stream));
}

describe('GPU draws match randomRef', () => {
  for (const seed of [0, 123456789, 2 ** 40 + 17]) {
    it(`uniform and normal, seed ${seed}, streams 0 and 5`, async () => {
      for (const stream of [0, 5]) {
        for (const dist of ['uniform', 'normal'] as const) {
          const t = random(dist, [N], seed, stream);
          expectClose(await toHost(t), refDraws(dist, N, seed, stream), { atol: 1e-5, rtol: 1e-5, label: `${dist} seed ${seed} stream ${stream}` });
          t.dispose();
        }
      }
    });
  }

  it('os.rand / os.randn with {seed} are stream 0 of that seed, any shape', async () => {
    const u = os.rand([17, 33], { seed: 7 }), z = os.randn([3, 5, 7], { seed: 8 });
    expect(u.shape).toEqual([17, 33]);
    expectClose(await toHost(u), refDraws('uniform', 17 * 33, 7, 0), { atol: 1e-5 });
    expectClose(await toHost(z), refDraws('normal', 105, 8, 0), { atol: 1e-5 });
    const e = os.randn([0, 3]), s = os.rand([]);
    expect(e.shape).toEqual([0, 3]);
    expect((await e.data()).length).toBe(0);
    expect(s.shape).toEqual([]);
    const v = await s.item();
    expect(v >= 0 && v < 1).toBe(true);
    for (const t of [u, z, e, s]) t.dispose();
  });
});

describe('reproducibility', () => {
  it('same seed → identical arrays; different seed → different', async () => {
    const a = os.randn([1000], { seed: 99 }), b = os.randn([1000], { seed: 99 }), c = os.randn([1000], { seed: 100 });
    const [da, db, dc] = await Promise.all([a.data(), b.data(), c.data()]);
    expect(Array.from(da)).toEqual(Array.from(db));
    const same = da.filter((v, i) => v === dc[i]).length;
    expect(same).toBeLessThan(5);
    for (const t of [a, b, c]) t.dispose();
  });

  it('successive global draws differ; manualSeed replays the sequence', async () => {
    os.manualSeed(2024);
    const a1 = os.randn([500]), a2 = os.randn([500]), u1 = os.rand([500]);
    os.manualSeed(2024);
    const b1 = os.randn([500]), b2 = os.randn([500]), v1 = os.rand([500]);
    const [x1, x2, y1, y2, p, q] = await Promise.all([a1, a2, b1, b2, u1, v1].map((t) => t.data()));
    expect(Array.from(x1)).toEqual(Array.from(y1));
    expect(Array.from(x2)).toEqual(Array.from(y2));
    expect(Array.from(p)).toEqual(Array.from(q));
    expect(x1.filter((v, i) => v === x2[i]).length).toBeLessThan(5);
    // the global generator walks streams 1, 2, 3, … of the seed
    expectClose(Float64Array.from(x1), refDraws('normal', 500, 2024, 1), { atol: 1e-5 });
    expectClose(Float64Array.from(x2), refDraws('normal', 500, 2024, 2), { atol: 1e-5 });
    os.manualSeed(2025);
    const c1 = os.randn([500]);
    const z = await c1.data();
    expect(z.filter((v, i) => v === x1[i]).length).toBeLessThan(5);
    for (const t of [a1, a2, u1, b1, b2, v1, c1]) t.dispose();
  });

  it('getRngState / setRngState resume the global stream', async () => {
    os.manualSeed(5);
    const first = os.rand([64]);
    const state = os.getRngState();
    const next = os.rand([64]);
    os.manualSeed(77);
    os.setRngState(state);
    const again = os.rand([64]);
    expect(Array.from(await again.data())).toEqual(Array.from(await next.data()));
    for (const t of [first, next, again]) t.dispose();
  });

  it('rejects non-finite seeds', () => {
    expect(() => os.manualSeed(NaN)).toThrow(os.ValueError);
    expect(() => os.manualSeed(Infinity)).toThrow(os.ValueError);
  });
});

describe('moments on 2^16 samples', () => {
  const n = 1 << 16;
  const stats = (d: Float32Array) => {
    let s = 0, s2 = 0, lo = Infinity, hi = -Infinity;
    for (const v of d) {
      s += v;
      s2 += v * v;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    const mean = s / d.length;
    return { mean, variance: s2 / d.length - mean * mean, lo, hi };
  };
  it('randn: mean ≈ 0, var ≈ 1, finite, tails present', async () => {
    for (const seed of [1, 31337]) {
      const t = os.randn([n], { seed });
      const d = await t.data();
      const { mean, variance, lo, hi } = stats(d);
      // standard errors: 1/256 for the mean, √2/256 for the variance; allow ~5σ
      expect(Math.abs(mean)).toBeLessThan(0.02);
      expect(Math.abs(variance - 1)).toBeLessThan(0.03);
      expect(d.every(Number.isFinite)).toBe(true);
      expect(lo).toBeLessThan(-3.5);
      expect(hi).toBeGreaterThan(3.5);
      // fraction within one sigma ≈ 0.6827
      const within = d.filter((v) => Math.abs(v) < 1).length / n;
      expect(Math.abs(within - 0.6827)).toBeLessThan(0.01);
      t.dispose();
    }
  });
  it('rand: in [0, 1), mean ≈ 1/2, var ≈ 1/12, flat histogram', async () => {
    const t = os.rand([n], { seed: 4 });
    const d = await t.data();
    const { mean, variance, lo, hi } = stats(d);
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(hi).toBeLessThan(1);
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.006);
    expect(Math.abs(variance - 1 / 12)).toBeLessThan(0.003);
    const bins = new Array(16).fill(0);
    for (const v of d) bins[Math.floor(v * 16)]++;
    for (const b of bins) expect(Math.abs(b - n / 16)).toBeLessThan(5 * Math.sqrt(n / 16));
    t.dispose();
  });
  it('randint: integers in [low, high), every value hit', async () => {
    const t = os.randint(-3, 4, [4096], { seed: 11 });
    const d = await t.data();
    expect(d.every((v) => Number.isInteger(v) && v >= -3 && v < 4)).toBe(true);
    expect(new Set(d).size).toBe(7);
    t.dispose();
  });
});

describe('ops built on the RNG', () => {
  it('randnLike has the shape of its argument', async () => {
    const x = os.zeros([3, 17]);
    const r = os.randnLike(x, { seed: 3 });
    expect(r.shape).toEqual([3, 17]);
    expectClose(await toHost(r), refDraws('normal', 51, 3, 0), { atol: 1e-5 });
    x.dispose();
    r.dispose();
  });
  it('dropout: identity at p = 0 or in eval; otherwise zeros or x/(1−p), with the same mask in the gradient', async () => {
    const x = os.tensor(Float32Array.from({ length: 4096 }, (_, i) => 1 + (i % 5)), [64, 64], { requiresGrad: true });
    expect(os.dropout(x, 0)).toBe(x);
    expect(os.dropout(x, 0.5, false)).toBe(x);
    const y = os.dropout(x, 0.25);
    const [xv, yv] = [await x.data(), await y.data()];
    let kept = 0;
    for (let i = 0; i < xv.length; i++) {
      if (yv[i] !== 0) {
        kept++;
        expect(Math.abs(yv[i] - xv[i] / 0.75)).toBeLessThan(1e-5);
      }
    }
    expect(Math.abs(kept / xv.length - 0.75)).toBeLessThan(0.04);
    os.sum(y).backward();
    const g = await x.grad!.data();
    for (let i = 0; i < g.length; i++) expect(g[i]).toBeCloseTo(yv[i] !== 0 ? 1 / 0.75 : 0, 5);
    expect(() => os.dropout(x, 1)).toThrow(os.ValueError);
    x.dispose();
    y.dispose();
  });
});
