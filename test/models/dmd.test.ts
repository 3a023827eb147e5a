// test/models/dmd.test.ts: the DMD generator gradient against a hand computation, gradient routing, the fake-score
// loss weighting, TTUR counts, CFG on the real score only, and exact resume.
import { describe, expect, it } from 'vitest';
import * as os from '../../engine';
import * as m from '../../models';
import { GanHead, softplus } from '../../models/gan';
import { checkOp, expectClose } from '../helpers';

const tinyMeta = (labelDim = 0): m.ModelMeta => ({ kind: 'edm-denoiser', net: 'mlp', netConfig: { ...m.MLP_DEFAULTS, hidden: 16, depth: 2, labelDim }, sigmaData: 0.5, data: 'test' });

/** A teacher with random (non-zero) output weights, so real ≠ fake ≠ identity. */
function randomTeacher(meta: m.ModelMeta): m.EDMDenoiser {
  const t = m.buildDenoiser(meta);
  os.noGrad(() => {
    for (const p of t.parameters()) os.assign(p, os.tidy(() => os.mul(os.randn(p.shape), 0.3)));
  });
  return t;
}

function trainer(config: Partial<m.DMDConfig> = {}, labelDim = 0) {
  os.manualSeed(1);
  const meta = tinyMeta(labelDim);
  const teacher = randomTeacher(meta);
  const tr = new m.DMDTrainer({ teacher, makeDenoiser: () => m.buildDenoiser(meta), sampleShape: [2], config: { batch: 8, ...config } });
  // make the fake score differ from the real one
  os.noGrad(() => {
    for (const p of tr.fake.parameters()) os.assign(p, os.tidy(() => os.add(p, os.mul(os.randn(p.shape), 0.1))));
  });
  return tr;
}

describe('DMD generator loss', () => {
  it('∂loss/∂x is exactly (μ_fake − μ_real)/mean|x − μ_real| / numel, and nothing flows into the score nets', async () => {
    const tr = trainer();
    const x = os.mul(os.randn([8, 2], { seed: 3 }), 0.5).requiresGrad_();
    const sigma = os.tensor([0.01, 0.1, 0.5, 1, 2, 5, 20, 70]);
    const noise = os.randn([8, 2], { seed: 4 });
    const { loss } = tr.dmLoss(x, null, { sigma, noise });
    loss.backward();
    // the hand computation, on the host from the networks' outputs
    const xt = os.add(x.detach(), os.mul(noise, os.reshape(sigma, [8, 1])));
    const [xs, mr, mf] = await Promise.all([x.data(), tr.real.forward(xt, sigma).data(), tr.fake.forward(xt, sigma).data()]);
    const want = new Float64Array(16);
    for (let i = 0; i < 8; i++) {
      const w = (Math.abs(xs[2 * i] - mr[2 * i]) + Math.abs(xs[2 * i + 1] - mr[2 * i + 1])) / 2;
      for (let d = 0; d < 2; d++) want[2 * i + d] = (mf[2 * i + d] - mr[2 * i + d]) / w / 16;
    }
    expectClose(await x.grad!.data(), want, { atol: 1e-7, rtol: 1e-4 });
    for (const p of [...tr.real.parameters(), ...tr.fake.parameters()]) expect(p.grad).toBeNull();
    // loss = 0.5·mean(grad²)
    let g2 = 0;
    want.forEach((v) => (g2 += (v * 16) ** 2));
    expect(await loss.item()).toBeCloseTo((0.5 * g2) / 16, 5);
  });

  it('the real-only ablation uses μ_fake := x_t', async () => {
    const tr = trainer({ realOnly: true });
    const x = os.mul(os.randn([8, 2], { seed: 3 }), 0.5).requiresGrad_();
    const sigma = os.full([8], 0.3), noise = os.randn([8, 2], { seed: 4 });
    tr.dmLoss(x, null, { sigma, noise }).loss.backward();
    const xt = os.add(x.detach(), os.mul(noise, 0.3));
    const [xs, xts, mr] = await Promise.all([x.data(), xt.data(), tr.real.forward(xt, sigma).data()]);
    const g = await x.grad!.data();
    for (let i = 0; i < 8; i++) {
      const w = (Math.abs(xs[2 * i] - mr[2 * i]) + Math.abs(xs[2 * i + 1] - mr[2 * i + 1])) / 2;
      expect(g[2 * i]).toBeCloseTo((xts[2 * i] - mr[2 * i]) / w / 16, 5);
    }
  });

  it('the fake-score loss is the EDM-weighted x0 loss (1/σ² + 1/σ_d²)·(D − x0)²', async () => {
    const tr = trainer();
    const x0 = os.randn([8, 2], { seed: 5 }), sigma = os.tensor([0.002, 0.01, 0.1, 0.5, 1, 3, 10, 80]), noise = os.randn([8, 2], { seed: 6 });
    const f = await m.fSpaceLoss(tr.fake, x0, sigma, null, noise).item();
    const xt = os.add(x0, os.mul(noise, os.reshape(sigma, [8, 1])));
    const [d, x0s, s] = await Promise.all([tr.fake.forward(xt, sigma).data(), x0.data(), sigma.data()]);
    let want = 0;
    for (let i = 0; i < 8; i++) for (let k = 0; k < 2; k++) want += (1 / s[i] ** 2 + 1 / 0.25) * (d[2 * i + k] - x0s[2 * i + k]) ** 2;
    expect(f).toBeCloseTo(want / 16, 2);
    expect(Math.abs(f - want / 16) / (want / 16)).toBeLessThan(2e-3);
  });
});

describe('DMDTrainer', () => {
  it('TTUR: ttur 5 gives 1 generator update per 5 fake updates', () => {
    const tr = trainer({ ttur: 5 });
    let gen = 0;
    for (let i = 0; i < 10; i++) {
      const l = tr.step();
      if (l.dm) gen++;
      for (const t of Object.values(l)) t?.dispose();
    }
    expect(gen).toBe(2);
    expect(tr.optG.steps).toBe(2);
    expect(tr.optF.steps).toBe(10);
  });

  it('CFG is applied to the real score only; the fake score is never guided', () => {
    const tr = trainer({ cfg: 3, ttur: 1, compiled: false }, 3); // eager: a compiled replay calls no JS to spy on
    const realCfg: number[] = [];
    const realGuided = tr.real.guided.bind(tr.real);
    tr.real.guided = (x, s, y, cfg = 1) => (realCfg.push(cfg), realGuided(x, s, y, cfg));
    tr.fake.guided = () => {
      throw new Error('fake score must not be guided');
    };
    const l = tr.step();
    for (const t of Object.values(l)) t?.dispose();
    expect(realCfg).toEqual([3]);
  });

  it('resume: restoring a saved state gives the same next step as an uninterrupted run', async () => {
    const a = trainer({ ttur: 2 });
    for (let i = 0; i < 3; i++) for (const t of Object.values(a.step())) t?.dispose();
    const saved = a.state();
    const bytes = await os.io.saveSafetensors(saved.tensors, saved.meta);
    const la = a.step();
    const [dmA, fakeA] = [await la.dm?.item(), await la.fake.item()];
    const genA = await a.generator.parameters()[0].data();

    const b = trainer({ ttur: 2 });
    os.manualSeed(999); // anything: restore must bring the RNG streams back
    const loaded = await os.io.loadSafetensors(bytes);
    b.restore({ tensors: loaded.tensors, meta: loaded.metadata });
    const lb = b.step();
    expect(await lb.dm?.item()).toBe(dmA);
    expect(await lb.fake.item()).toBe(fakeA);
    expect(Array.from(await b.generator.parameters()[0].data())).toEqual(Array.from(genA));
  });

  it('learning rates: a linear warm-up, then a half cosine down to 10% at update lrDecay, then flat (per optimiser)', () => {
    const tr = trainer({ ttur: 2, lr: 1, fakeLr: 2, warmup: 2, lrDecay: 6, compiled: false });
    const genRates: number[] = [], fakeRates: number[] = [];
    for (let i = 0; i < 16; i++) {
      for (const t of Object.values(tr.step())) t?.dispose();
      if (i % 2 === 0) genRates.push(tr.optG.lr);
      fakeRates.push(tr.optF.lr / 2);
    }
    // update s (0-based): (s+1)/2 while s < 2, then 0.1 + 0.9·½(1 + cos(π·(s − 2)/4)), 0.1 from s = 6 on
    const want = [0.5, 1, 1, 0.1 + 0.45 * (1 + Math.SQRT1_2), 0.55, 0.1 + 0.45 * (1 - Math.SQRT1_2), 0.1, 0.1];
    expectClose(genRates, want, { rtol: 1e-12, atol: 0, label: 'generator rates' });
    expectClose(fakeRates.slice(0, 8), want, { rtol: 1e-12, atol: 0, label: 'fake-score rates' });
    expect(() => trainer({ warmup: 10, lrDecay: 10 })).toThrow(/lrDecay \(10\) must end after the warm-up/);
  });

  it('rejects a regression weight without pairs, and a bad TTUR', () => {
    const meta = tinyMeta();
    const teacher = m.buildDenoiser(meta);
    expect(() => new m.DMDTrainer({ teacher, makeDenoiser: () => m.buildDenoiser(meta), sampleShape: [2], config: { mode: 'dmd', regWeight: 0.25 } })).toThrow(/pairs/);
    expect(() => new m.DMDTrainer({ teacher, makeDenoiser: () => m.buildDenoiser(meta), sampleShape: [2], config: { ttur: 0 } })).toThrow(/ttur/);
  });
});

describe('DMD2 GAN head', () => {
  // real data far from the generator's initial (collapsed) samples, so the head has something to learn
  const realData: m.RealData = (B) => ({ x: os.add(os.mul(os.randn([B, 2]), 0.05), os.tensor([[0.8, -0.6]])), labels: null });
  const ganTrainer = (config: Partial<m.DMDConfig> = {}) => {
    os.manualSeed(1);
    const meta = tinyMeta();
    return new m.DMDTrainer({ teacher: randomTeacher(meta), makeDenoiser: () => m.buildDenoiser(meta), sampleShape: [2], realData, config: { batch: 16, ganWeight: 3e-3, ...config } });
  };

  it('softplus and its gradient match finite differences (odd shapes, large |x|)', async () => {
    for (const shape of [[1], [3, 17], [70]]) {
      await checkOp('softplus', [shape], (x) => softplus(x), (x) => ({ data: x.data.map((v) => Math.log1p(Math.exp(-Math.abs(v))) + Math.max(v, 0)), shape: x.shape }), { grads: true, init: [-30, 30], rtol: 1e-5, atol: 1e-5 });
    }
  });

  it('the head maps UNet features [C, r, r] and MLP features [H] to one logit per sample', () => {
    for (const [shape, stages] of [[[32, 8, 8], 2], [[16, 4, 4], 1], [[8, 16, 16], 3], [[8, 2, 2], 1]] as const) {
      const h = new GanHead(shape);
      expect(h.stages!.length).toBe(stages);
      expect(h.forward(os.randn([3, ...shape])).shape).toEqual([3]);
      h.dispose();
    }
    const lin = new GanHead([16]);
    expect(lin.forward(os.randn([5, 16])).shape).toEqual([5]);
    expect(() => lin.forward(os.randn([5, 15]))).toThrow(/\[B, 16\]/);
  });

  it('the generator loss moves the generator only: no gradient reaches the fake score or the head', async () => {
    const tr = ganTrainer();
    const x = os.mul(os.randn([16, 2], { seed: 3 }), 0.5).requiresGrad_();
    tr.fake.requiresGrad_(false);
    tr.head!.requiresGrad_(false);
    const loss = m.ganGeneratorLoss(tr.discriminate(x, null));
    loss.backward();
    tr.fake.requiresGrad_(true);
    tr.head!.requiresGrad_(true);
    const gx = await x.grad!.data();
    expect(Math.max(...gx.map(Math.abs))).toBeGreaterThan(0);
    for (const p of [...tr.fake.parameters(), ...tr.head!.parameters()]) expect(p.grad).toBeNull();
  });

  it('the head learns to tell real data from generator samples (its loss falls from 2·ln 2)', async () => {
    const tr = ganTrainer({ lr: 0, fakeLr: 1e-2, ganDWeight: 1, ttur: 1000 }); // generator frozen: one G step, then fake steps
    const ds: number[] = [];
    for (let i = 0; i < 40; i++) {
      const l = tr.step();
      if (i === 0 || i >= 35) ds.push(await l.ganD!.item());
      for (const t of Object.values(l)) t?.dispose();
      if (i % 10 === 9) await os.sync();
    }
    expect(ds[0]).toBeGreaterThan(1.2); // ≈ 2·ln 2 = 1.386 for an untrained head
    const late = ds.slice(1).reduce((a, b) => a + b) / (ds.length - 1); // averaged over the last steps (σ is random)
    expect(late).toBeLessThan(0.8 * ds[0]);
  });

  it('one pass of the fake score trunk gives the two-pass losses and updates (odd batch)', async () => {
    const run = async (onePass: boolean) => {
      const tr = ganTrainer({ batch: 17, ganDWeight: 1 });
      if (!onePass) Object.defineProperty(tr.fake.net, 'fromBottleneck', { value: undefined }); // the two-pass form
      os.manualSeed(5);
      const x0 = os.mul(os.randn([17, 2]), 0.7);
      const l = tr.fakeScoreUpdate(x0, null);
      const params = [...tr.fake.parameters(), ...tr.head!.parameters()];
      return { fake: await l.fake!.item(), ganD: await l.ganD!.item(), params: await Promise.all(params.map((p) => p.data())) };
    };
    const [one, two] = [await run(true), await run(false)];
    expect(one.fake).toBeCloseTo(two.fake, 5);
    expect(one.ganD).toBeCloseTo(two.ganD, 5);
    one.params.forEach((p, i) => expectClose(p, two.params[i], { atol: 1e-6, rtol: 1e-5 }));
  });

  it('the regression loss is taken on G(z_ref) of the pairs generated in the same pass as G(z)', async () => {
    os.manualSeed(1);
    const meta = tinyMeta();
    const pairs = { z: os.randn([8, 2]), y: os.randn([8, 2]) }; // as many pairs as the batch: the window is all of them
    const tr = new m.DMDTrainer({ teacher: randomTeacher(meta), makeDenoiser: () => m.buildDenoiser(meta), sampleShape: [2], pairs, config: { mode: 'dmd', batch: 8, regWeight: 2 } });
    const want = await os.noGrad(() => os.mseLoss(tr.generate(pairs.z), pairs.y)).item();
    const l = tr.step();
    expect(await l.reg!.item()).toBeCloseTo(want, 6);
  });

  it('regBatch sets the regression window: its pairs, not the batch (and never more than there are)', async () => {
    os.manualSeed(1);
    const meta = tinyMeta();
    const pairs = { z: os.randn([3, 2]), y: os.randn([3, 2]) };
    const make = (regBatch: number) => new m.DMDTrainer({ teacher: randomTeacher(meta), makeDenoiser: () => m.buildDenoiser(meta), sampleShape: [2], pairs, config: { mode: 'dmd', batch: 8, regWeight: 2, regBatch } });
    const all = make(5); // more than the 3 pairs: the window is all of them
    const want = await os.noGrad(() => os.mseLoss(all.generate(pairs.z), pairs.y)).item();
    expect(await all.step().reg!.item()).toBeCloseTo(want, 6);
    const one = make(1); // one pair per update: the loss is that pair's own
    const g = await os.noGrad(() => one.generate(pairs.z)).data();
    const y = await pairs.y.data();
    const perPair = [0, 1, 2].map((i) => ((g[2 * i] - y[2 * i]) ** 2 + (g[2 * i + 1] - y[2 * i + 1]) ** 2) / 2);
    const got = await one.step().reg!.item();
    expect(perPair.some((v) => Math.abs(v - got) <= 1e-6 * Math.max(1, v))).toBe(true);
    expect(() => make(-1)).toThrow(/regBatch must be an integer ≥ 0/);
    expect(() => make(1.5)).toThrow(/regBatch/);
  });

  it('resume restores the head and its optimiser exactly', async () => {
    const a = ganTrainer({ ttur: 2 });
    for (let i = 0; i < 3; i++) for (const t of Object.values(a.step())) t?.dispose();
    const saved = a.state();
    const bytes = await os.io.saveSafetensors(saved.tensors, saved.meta);
    const la = a.step();
    const [ganA, headA] = [await la.ganD!.item(), await a.head!.parameters()[0].data()];
    const b = ganTrainer({ ttur: 2 });
    os.manualSeed(999);
    const loaded = await os.io.loadSafetensors(bytes);
    b.restore({ tensors: loaded.tensors, meta: loaded.metadata });
    const lb = b.step();
    expect(await lb.ganD!.item()).toBe(ganA);
    expect(Array.from(await b.head!.parameters()[0].data())).toEqual(Array.from(headA));
  });

  it('refuses a GAN weight without real data or with the real-only ablation', () => {
    const meta = tinyMeta();
    const teacher = m.buildDenoiser(meta);
    expect(() => new m.DMDTrainer({ teacher, makeDenoiser: () => m.buildDenoiser(meta), sampleShape: [2], config: { ganWeight: 3e-3 } })).toThrow(/real data/);
    expect(() => new m.DMDTrainer({ teacher, makeDenoiser: () => m.buildDenoiser(meta), sampleShape: [2], realData, config: { ganWeight: 3e-3, realOnly: true } })).toThrow(/realOnly/);
  });
});
