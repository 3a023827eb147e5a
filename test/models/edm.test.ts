// test/models/edm.test.ts: EDM preconditioning against hand values, the loss weighting identity, the sampler
// schedules and NFE counts, the Karras grid DMD uses, and the 2-D metrics.
import { describe, expect, it } from 'vitest';
import * as os from '../../engine';
import * as m from '../../models';
import { expectClose } from '../helpers';

describe('EDM preconditioning', () => {
  it('matches the published values at σ = 80 (DMD-SPEC §9 step 0)', () => {
    const c = m.edmCoefficients(80, 0.5);
    expect(c.cSkip).toBeCloseTo(3.906e-5, 8);
    expect(c.cOut).toBeCloseTo(0.49999, 5);
    expect(c.cIn).toBeCloseTo(0.0125, 6);
    expect(c.cNoise).toBeCloseTo(Math.log(80) / 4, 12);
  });
  it('λ(σ)·c_out(σ)² = 1, so the F-space loss is EDM-weighted', () => {
    for (const s of [0.002, 0.1, 0.5, 2, 80]) {
      const lambda = (s * s + 0.25) / (s * 0.5) ** 2;
      expect(lambda * m.edmCoefficients(s, 0.5).cOut ** 2).toBeCloseTo(1, 10);
    }
  });
  it('the GPU coefficients equal the host ones', async () => {
    const den = new m.EDMDenoiser(new m.MLPScoreNet());
    const sig = [0.002, 0.3, 80];
    const c = den.coefficients(os.zeros([3, 2]), os.tensor(sig));
    const [skip, out, cin, noise] = await Promise.all([c.cSkip.data(), c.cOut.data(), c.cIn.data(), c.cNoise.data()]);
    sig.forEach((s, i) => {
      const h = m.edmCoefficients(s, 0.5);
      expect(skip[i]).toBeCloseTo(h.cSkip, 6);
      expect(out[i]).toBeCloseTo(h.cOut, 6);
      expect(cin[i]).toBeCloseTo(h.cIn, 6);
      expect(noise[i]).toBeCloseTo(h.cNoise, 6);
    });
  });
  it('a zero-initialised output layer makes D(x; σ) = c_skip·x (the generator starts at the data mean)', async () => {
    const den = new m.EDMDenoiser(new m.MLPScoreNet());
    const x = os.tensor([[40, -80], [1, 2]]);
    const d = await den.forward(x, os.tensor([80, 0.5])).data();
    expect(d[0]).toBeCloseTo(40 * m.edmCoefficients(80, 0.5).cSkip, 6);
    expect(d[2]).toBeCloseTo(1 * m.edmCoefficients(0.5, 0.5).cSkip, 6);
  });
});

describe('fused EDM kernels', () => {
  it('D(x; σ) and ∂D/∂x match the unfused composition of ops', async () => {
    os.manualSeed(3);
    const den = new m.EDMDenoiser(new m.MLPScoreNet({ hidden: 16 }));
    os.noGrad(() => den.parameters().forEach((p) => os.assign(p, os.tidy(() => os.mul(os.randn(p.shape), 0.4)))));
    const sigma = os.tensor([0.01, 0.3, 2, 80]);
    const w = os.randn([4, 2], { seed: 8 });
    const x1 = os.randn([4, 2], { seed: 7 }).requiresGrad_();
    const d1 = den.forward(x1, sigma);
    os.sum(os.mul(d1, w)).backward();
    const x2 = os.randn([4, 2], { seed: 7 }).requiresGrad_();
    const c = den.coefficients(x2, sigma);
    const d2 = os.add(os.mul(x2, c.cSkip), os.mul(den.net.forward(os.mul(x2, c.cIn), c.cNoise, null), c.cOut));
    os.sum(os.mul(d2, w)).backward();
    expectClose(await d1.data(), await d2.data(), { atol: 1e-5, rtol: 1e-4 });
    expectClose(await x1.grad!.data(), await x2.grad!.data(), { atol: 1e-5, rtol: 1e-4 });
  });
  it('classifier-free guidance in one pass of 2B gives D_u + w·(D_c − D_u) of two passes, and its gradient, for the MLP and the UNet', async () => {
    os.manualSeed(4);
    const nets = [
      { net: new m.MLPScoreNet({ hidden: 16, labelDim: 3 }), shape: [5, 2], K: 3 },
      { net: new m.UNet({ resolution: 8, modelChannels: 8, channelMult: [1, 2], attnResolutions: [4], channelsPerHead: 8, labelDim: 3 }), shape: [3, 1, 8, 8], K: 3 },
    ];
    for (const { net, shape, K } of nets) {
      const den = new m.EDMDenoiser(net);
      os.noGrad(() => den.parameters().forEach((p) => os.assign(p, os.tidy(() => os.mul(os.randn(p.shape), 0.2)))));
      const B = shape[0];
      const sigma = os.tensor(Array.from({ length: B }, (_, i) => 0.05 * 7 ** i));
      const labels = os.oneHot(os.tensor(Float32Array.from({ length: B }, (_, i) => i % K), [B]), K);
      const w = os.randn(shape, { seed: 9 });
      const x1 = os.randn(shape, { seed: 5 }).requiresGrad_();
      const g1 = den.guided(x1, sigma, labels, 2.5);
      os.sum(os.mul(g1, w)).backward();
      const x2 = os.randn(shape, { seed: 5 }).requiresGrad_();
      const dc = den.forward(x2, sigma, labels), du = den.forward(x2, sigma, os.zerosLike(labels));
      const g2 = os.add(du, os.mul(os.sub(dc, du), 2.5));
      os.sum(os.mul(g2, w)).backward();
      expectClose(await g1.data(), await g2.data(), { atol: 1e-5, rtol: 1e-4, label: net.constructor.name });
      expectClose(await x1.grad!.data(), await x2.grad!.data(), { atol: 1e-5, rtol: 1e-4, label: net.constructor.name });
      expect(Math.max(...(await os.sub(dc, du).data()).map(Math.abs)), 'the label matters').toBeGreaterThan(1e-4);
    }
  });
});

describe('schedules and samplers', () => {
  it('the EDM sampler schedule starts at σ_max, ends at σ_min then 0', () => {
    const t = m.edmSigmas(18);
    expect(t.length).toBe(19);
    expect(t[0]).toBeCloseTo(80, 8);
    expect(t[17]).toBeCloseTo(0.002, 10);
    expect(t[18]).toBe(0);
  });
  it('the 1000-level Karras grid has DMD2’s values (DMD-SPEC §2.1)', () => {
    const g = m.karrasGrid();
    expect(g[0]).toBeCloseTo(0.002, 10);
    expect(g[20]).toBeCloseTo(0.00323, 5);
    expect(g[250]).toBeCloseTo(0.170, 3);
    expect(g[500]).toBeCloseTo(2.53, 2);
    expect(g[750]).toBeCloseTo(17.6, 1);
    expect(g[980]).toBeCloseTo(72.05, 2);
    expect(g[999]).toBeCloseTo(80, 8);
  });
  it('Heun with N = 18 spends 35 evaluations, Euler 18, one-step 1', () => {
    const den = new m.EDMDenoiser(new m.MLPScoreNet());
    const h = m.heunSample(den, { steps: 18, shape: [4, 2], seed: 1 });
    const e = m.eulerSample(den, { steps: 18, shape: [4, 2], seed: 1 });
    const o = m.oneStepSample(den, { shape: [4, 2], seed: 1 });
    expect([h.nfe, e.nfe, o.nfe]).toEqual([35, 18, 1]);
  });
  it('with D ≡ c_skip·x (untrained net) Heun contracts noise toward the origin deterministically', async () => {
    const den = new m.EDMDenoiser(new m.MLPScoreNet());
    const a = await m.heunSample(den, { steps: 10, shape: [64, 2], seed: 3 }).x.data();
    const b = await m.heunSample(den, { steps: 10, shape: [64, 2], seed: 3 }).x.data();
    expect(Array.from(a)).toEqual(Array.from(b));
    const rms = Math.sqrt(a.reduce((s, v) => s + v * v, 0) / a.length);
    expect(rms).toBeLessThan(0.6); // the ODE of a Gaussian with std σ_d ends near std σ_d
  });
});

describe('toy data and metrics', () => {
  it('every toy set has per-dimension std ≈ 0.5', () => {
    for (const name of m.TOY2D_NAMES) {
      const x = m.toy2d(name).sample(20000, new m.HostRng(1));
      let s = 0, mu0 = 0, mu1 = 0;
      for (let i = 0; i < x.length; i += 2) (mu0 += x[i]), (mu1 += x[i + 1]);
      mu0 /= x.length / 2;
      mu1 /= x.length / 2;
      for (let i = 0; i < x.length; i += 2) s += (x[i] - mu0) ** 2 + (x[i + 1] - mu1) ** 2;
      expect(Math.sqrt(s / x.length), name).toBeGreaterThan(0.42);
      expect(Math.sqrt(s / x.length), name).toBeLessThan(0.58);
    }
  });
  it('SWD is near its floor for two data draws and large for a collapsed set', () => {
    const d = m.toy2d('8gaussians');
    const a = d.sample(4096, new m.HostRng(1)), b = d.sample(4096, new m.HostRng(2));
    const floor = m.slicedWasserstein(a, b);
    expect(floor).toBeLessThan(0.02);
    expect(m.slicedWasserstein(new Float32Array(8192), b)).toBeGreaterThan(10 * floor);
  });
  it('a SlicedReference scores sample sets exactly as slicedWasserstein does, sorting the reference once', () => {
    // the definition, written out: per random direction, the mean |difference| of the sorted projections (quantiles of
    // the larger set at the smaller's ranks when the sizes differ)
    const direct = (a: Float32Array, b: Float32Array, P: number, seed: number, dim: number) => {
      const rng = new m.HostRng(seed);
      let total = 0;
      for (let p = 0; p < P; p++) {
        const dir = Array.from({ length: dim }, () => rng.normal());
        const norm = Math.hypot(...dir);
        const proj = (x: Float32Array) => Float64Array.from({ length: x.length / dim }, (_, i) => dir.reduce((s, v, d) => s + x[i * dim + d] * v, 0) / norm).sort();
        const pa = proj(a), pb = proj(b);
        const [small, large] = pa.length <= pb.length ? [pa, pb] : [pb, pa];
        let w = 0;
        for (let i = 0; i < small.length; i++) w += Math.abs(small[i] - large[small.length === large.length ? i : Math.min(large.length - 1, Math.floor(((i + 0.5) / small.length) * large.length))]);
        total += w / small.length;
      }
      return total / P;
    };
    const d = m.toy2d('8gaussians');
    const b = d.sample(1000, new m.HostRng(5));
    const ref = new m.SlicedReference(b, { projections: 17, seed: 3 });
    for (const n of [1, 333, 1000, 1700]) {
      const a = d.sample(n, new m.HostRng(n));
      const want = direct(a, b, 17, 3, 2);
      expect(m.slicedWasserstein(a, b, { projections: 17, seed: 3 })).toBeCloseTo(want, 12);
      expect(ref.distance(a)).toBe(m.slicedWasserstein(a, b, { projections: 17, seed: 3 }));
      expect(m.slicedWasserstein(a, ref)).toBe(ref.distance(a));
    }
    const a3 = Float32Array.from({ length: 3 * 70 }, (_, i) => Math.sin(i)), b3 = Float32Array.from({ length: 3 * 33 }, (_, i) => Math.cos(i));
    expect(new m.SlicedReference(b3, { dim: 3, projections: 5 }).distance(a3)).toBeCloseTo(direct(a3, b3, 5, 0, 3), 12);
    b.fill(0); // only the sorted projections are kept
    expect(ref.distance(d.sample(333, new m.HostRng(333)))).toBe(m.slicedWasserstein(d.sample(333, new m.HostRng(333)), d.sample(1000, new m.HostRng(5)), { projections: 17, seed: 3 }));
    expect(() => m.slicedWasserstein(b, ref, { projections: 512 })).toThrow(/projections 512 given, but the SlicedReference was made with 17/);
  });
  it('mode statistics find 8/8 modes with even mass in data, 1 mode for a collapsed set', () => {
    const d = m.toy2d('8gaussians');
    const s = m.modeStats(d.sample(8000, new m.HostRng(3)), d.modes!);
    expect(s.covered).toBe(8);
    s.mass.forEach((v) => expect(Math.abs(v - 0.125)).toBeLessThan(0.02));
    expect(s.hq).toBeGreaterThan(0.98);
    const one = new Float32Array(2000).map((_, i) => (i % 2 ? 0 : 0.7));
    expect(m.modeStats(one, d.modes!).covered).toBe(1);
  });
});

describe('training', () => {
  it('a small EDM teacher learns to denoise 8gaussians at σ = 0.2', async () => {
    os.manualSeed(0);
    const d = m.toy2d('8gaussians'), rng = new m.HostRng(0);
    const den = new m.EDMDenoiser(new m.MLPScoreNet({ hidden: 64 }));
    const held = os.tensor(d.sample(512, new m.HostRng(9)), [512, 2]);
    const heldLoss = async () => {
      const rngState = os.getRngState();
      os.manualSeed(42); // the same noise for both measurements
      const l = os.noGrad(() => m.fSpaceLoss(den, held, os.full([512], 0.2), null));
      os.setRngState(rngState);
      return l.item();
    };
    const before = await heldLoss();
    const opt = new os.optim.Adam(den.parameters(), { lr: 2e-3 });
    for (let s = 0; s < 1000; s++) {
      const y = os.tensor(d.sample(256, rng), [256, 2]);
      os.tidy(() => m.edmLoss(den, y).backward());
      opt.step();
      opt.zeroGrad();
      y.dispose();
      if (s % 50 === 49) await os.sync(); // Dawn frees finished work only between event-loop turns
    }
    const after = await heldLoss();
    expect(before).toBeGreaterThan(0.9); // an untrained F outputs 0 against a unit-variance target
    // PyTorch 1.13 on the same recipe: 0.99 → 0.99 after 300 steps, 0.68 after 1,000 (we measured 0.73): a slow start
    expect(after).toBeLessThan(0.85 * before);
  });
});
