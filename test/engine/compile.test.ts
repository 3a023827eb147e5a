// test/engine/compile.test.ts: os.compile against eager mode: the same losses and parameters step after step (RNG
// draws, Adam, clipping, EMA inside the step), replays after two traces, a retrace on new shapes, the errors (a
// readback inside the step, a tensor left alive, work that changes between calls), and flat memory over replays.
import { describe, expect, it } from 'vitest';
import * as os from '../../engine';
import { expectClose } from '../helpers';

function mlp(seed: number) {
  os.manualSeed(seed);
  return new os.nn.Sequential(new os.nn.Linear(3, 17), new os.nn.SiLU(), new os.nn.Linear(17, 2));
}

/** A training step with every kind of state: RNG noise, a loss, backward, clipping, Adam, an EMA. */
function trainStep(net: os.nn.Module, opt: os.optim.Optimizer, ema: os.optim.EMA) {
  return (x: os.Tensor, y: os.Tensor) => {
    const loss = os.tidy(() => {
      const noisy = os.add(x, os.mul(os.randn(x.shape), 0.1));
      const l = os.mseLoss((net as os.nn.Sequential).forward(noisy), y);
      l.backward();
      return l;
    });
    os.optim.clipGradNorm(net.parameters(), 1).dispose();
    opt.step();
    opt.zeroGrad();
    ema.update();
    return { loss };
  };
}

describe('os.compile', () => {
  it('a compiled training step gives the losses and parameters of eager mode, step after step', async () => {
    const STEPS = 12;
    const data = Array.from({ length: STEPS }, (_, i) => [os.randn([9, 3], { seed: 100 + i }), os.randn([9, 2], { seed: 200 + i })] as const);
    const run = async (compiled: boolean) => {
      const net = mlp(1);
      const opt = new os.optim.AdamW(net.parameters(), { lr: 1e-2 });
      const ema = new os.optim.EMA(net.parameters(), { decay: 0.9, warmup: true });
      os.manualSeed(7);
      const step = compiled ? os.compile(trainStep(net, opt, ema)) : trainStep(net, opt, ema);
      const losses: number[] = [];
      for (const [x, y] of data) {
        const { loss } = step(x, y);
        losses.push(await loss.item());
        loss.dispose();
      }
      const params = await Promise.all(net.parameters().map((p) => p.data()));
      const shadow = await Promise.all(ema.shadow.map((s) => s.data()));
      return { losses, params, shadow, stats: compiled ? (step as os.Compiled<[os.Tensor, os.Tensor], unknown>).stats() : null, steps: opt.steps, stream: os.getRngState().stream };
    };
    const eager = await run(false);
    const compiled = await run(true);
    expectClose(compiled.losses, eager.losses, { rtol: 1e-5, atol: 1e-7, label: 'losses' });
    compiled.params.forEach((p, i) => expectClose(p, eager.params[i], { rtol: 1e-5, atol: 1e-7, label: `param ${i}` }));
    compiled.shadow.forEach((p, i) => expectClose(p, eager.shadow[i], { rtol: 1e-5, atol: 1e-7, label: `ema ${i}` }));
    expect(compiled.steps).toBe(STEPS);
    expect(compiled.stream).toBe(eager.stream); // the RNG advanced exactly as in eager mode
    expect(compiled.stats!.traces).toBe(2);
    expect(compiled.stats!.replays).toBe(STEPS - 2);
    for (const [x, y] of data) (x.dispose(), y.dispose());
  });

  it('trace() traces without running: nothing dispatched or compiled, tensors untouched; the calls after it replay as eager mode steps', async () => {
    const x = os.randn([9, 3], { seed: 5 }), y = os.randn([9, 2], { seed: 6 });
    const run = async (traceFirst: boolean) => {
      const net = mlp(3);
      const opt = new os.optim.AdamW(net.parameters(), { lr: 1e-2 });
      const ema = new os.optim.EMA(net.parameters(), { decay: 0.9, warmup: true });
      const saved = opt.state(); // also makes the moments (zeros): a dry trace must not make state
      os.manualSeed(11);
      const step = os.compile(trainStep(net, opt, ema));
      if (traceFirst) {
        const rng = os.getRngState(), params = await Promise.all(net.parameters().map((p) => p.data()));
        const m0 = os.memory(), pipelines = os.device().pipelineCount;
        step.trace(x, y);
        expect(os.device().pipelineCount).toBe(pipelines); // the first trace compiles nothing
        step.trace(x, y); // the second builds the program
        const m1 = os.memory();
        expect([m1.dispatches - m0.dispatches, m1.submits - m0.submits]).toEqual([0, 0]);
        expect(os.device().pipelineCount - pipelines).toBeLessThanOrEqual(step.stats().kernels);
        expect(await Promise.all(net.parameters().map((p) => p.data()))).toEqual(params);
        expect(step.stats()).toMatchObject({ traces: 2, replays: 0 });
        // the host side ran: put back the counters and the RNG stream the traces advanced
        opt.restore(saved);
        ema.restore({ ...ema.state(), updates: 0 });
        os.setRngState(rng);
      }
      const losses: number[] = [];
      for (let i = 0; i < 3; i++) {
        const { loss } = step(x, y);
        losses.push(await loss.item());
        loss.dispose();
      }
      return { losses, params: await Promise.all(net.parameters().map((p) => p.data())), replays: step.stats().replays };
    };
    const eager = await run(false), traced = await run(true);
    expect(traced.replays).toBe(3);
    // the first two calls of `eager` ran eagerly, the rest replayed; `traced` replayed all three
    expectClose(traced.losses, eager.losses, { rtol: 1e-5, atol: 1e-7, label: 'losses' });
    traced.params.forEach((p, i) => expectClose(p, eager.params[i], { rtol: 1e-5, atol: 1e-7, label: `param ${i}` }));
    // a step that makes its state on first use cannot be traced dry: its moments would hold no values
    const net = mlp(4);
    const lazy = os.compile(trainStep(net, new os.optim.Adam(net.parameters(), { lr: 1e-3 }), new os.optim.EMA(net.parameters())));
    expect(() => lazy.trace(x, y)).toThrow(/makes tensors it keeps \(full → \[17,3\].*hold no values now.*state\(\) allocates its moments/);
    x.dispose();
    y.dispose();
  });

  it('new argument shapes trace again; each signature keeps its own program', async () => {
    const w = os.tensor([[1, 2, 3]]);
    const f = os.compile((x: os.Tensor) => os.sum(os.mul(os.exp(os.mul(x, w)), 2), 1));
    for (const n of [5, 17, 5, 17, 5, 17]) {
      const x = os.randn([n, 3], { seed: n });
      const want = await os.tidy(() => os.sum(os.mul(os.exp(os.mul(x, w)), 2), 1)).data();
      expectClose(await f(x).data(), want, { rtol: 1e-6, label: `n=${n}` });
      x.dispose();
    }
    expect(f.stats().traces).toBe(2);
    expect(f.stats().replays).toBe(1);
    expect(f.stats().fusedOps).toBe(3); // mul → exp → mulScalar
    f.dispose();
  });

  it('a step that leaves a gradient alive is an error naming it (zeroGrad belongs inside the step)', () => {
    const p = os.ones([3], { requiresGrad: true });
    const f = os.compile(() => os.sum(os.square(p)).backward());
    f();
    expect(() => f()).toThrow(/left tensors alive[\s\S]*zeroGrad inside the step/);
    p.dispose();
  });

  it('host values that change between calls are an error unless made in os.dynamic', async () => {
    let k = 0;
    const x = os.arange(10);
    const bad = os.compile(() => os.slice(x, [k++ % 3], [7 + (k % 3)]));
    bad().dispose();
    expect(() => bad()).toThrow(/different work than the first/);
    // the same, the slice made in a dynamic region: its offset is worked out again at every call
    let j = 0;
    const good = os.compile(() => os.mul(os.dynamic(() => os.slice(x, [j % 3], [j++ % 3 + 5])), 2));
    for (let call = 0; call < 6; call++) {
      const start = call % 3;
      expect(Array.from(await good().data())).toEqual([0, 1, 2, 3, 4].map((v) => 2 * (v + start)));
    }
    expect(good.stats().replays).toBe(4);
    x.dispose();
  });

  it('results read long after the calls are right (host data lands after the work queued before it)', async () => {
    let k = 0;
    const f = os.compile((x: os.Tensor) => os.tidy(() => os.mul(os.add(x, os.dynamic(() => os.tensor([k++, 1, 2]))), os.exp(x))));
    const x = os.tensor([0.5, -1, 2]);
    const kept = Array.from({ length: 8 }, () => f(x)); // no readback in between: work piles up unsubmitted
    for (const [i, t] of kept.entries()) expectClose(await t.data(), [0.5 + i, 0, 4].map((v, j) => v * Math.exp([0.5, -1, 2][j])), { rtol: 1e-6, label: `call ${i}` });
    x.dispose();
  });

  it('replays with nothing to upload join the open submit, like eager ops, and each sees its own arguments', async () => {
    const f = os.compile((x: os.Tensor, c: os.Tensor) => os.add(os.mul(x, 2), c));
    const c = os.tensor([1, 2, 3, 4, 5]);
    const xs = Array.from({ length: 6 }, (_, i) => os.tensor([i, -i, 0.5 * i, 3, i * i]));
    for (let i = 0; i < 3; i++) f(xs[0], c).dispose(); // two traces and the first replay
    await os.sync();
    const before = os.memory().submits;
    // replays interleaved with eager ops that read and overwrite what the previous replay returned
    const outs = xs.map((x) => {
      const y = f(x, c);
      return os.tidy(() => os.sub(y, 1));
    });
    expect(os.memory().submits - before).toBe(0); // nothing submitted until a readback
    for (const [i, t] of outs.entries()) expectClose(await t.data(), [i, -i, 0.5 * i, 3, i * i].map((v, j) => 2 * v + j + 1 - 1), { rtol: 1e-6, label: `call ${i}` });
    expect(f.stats().replays).toBe(7);
    for (const t of [...outs, ...xs, c]) t.dispose();
  });

  it('results are the returned tensors\' own: kept ones survive later calls; a value returned twice, a parameter and an argument come back as copies', async () => {
    const p = os.tensor([10, 20, 30]);
    const f = os.compile((x: os.Tensor) => {
      const y = os.add(x, p);
      return { y, again: y, p, x, z: os.mul(y, 2) };
    });
    const xs = [0, 1, 2, 3, 4].map((i) => os.tensor([i, 2 * i, -i]));
    const kept = xs.map((x) => f(x)); // two traces, then replays; nothing read in between
    for (const [i, r] of kept.entries()) {
      const y = [10 + i, 20 + 2 * i, 30 - i];
      expectClose(await r.y.data(), y, { rtol: 0, label: `y ${i}` });
      expectClose(await r.again.data(), y, { rtol: 0, label: `again ${i}` });
      expectClose(await r.z.data(), y.map((v) => 2 * v), { rtol: 0, label: `z ${i}` });
      expectClose(await r.p.data(), [10, 20, 30], { rtol: 0, label: `p ${i}` });
      expectClose(await r.x.data(), [i, 2 * i, -i], { rtol: 0, label: `x ${i}` });
      if (i >= 2) expect([r.again === r.y, r.p === p]).toEqual([false, false]); // replays return tensors of their own
    }
    expect(f.stats().replays).toBe(3);
    for (const r of kept.slice(2)) for (const t of Object.values(r)) t.dispose();
    for (const r of kept.slice(0, 2)) for (const t of [r.y, r.z]) t.dispose(); // the traced calls returned p and x themselves
    for (const t of [...xs, p]) t.dispose();
  });

  it('memory stays flat over hundreds of replays', async () => {
    const net = mlp(4);
    const opt = new os.optim.Adam(net.parameters(), { lr: 1e-3 });
    const ema = new os.optim.EMA(net.parameters(), { decay: 0.99 });
    const x = os.randn([33, 3]), y = os.randn([33, 2]);
    const step = os.compile(trainStep(net, opt, ema));
    for (let i = 0; i < 5; i++) step(x, y).loss.dispose();
    await os.sync();
    const m0 = os.memory();
    for (let i = 0; i < 300; i++) {
      step(x, y).loss.dispose();
      if (i % 50 === 0) await os.relieve();
    }
    await os.sync();
    const m1 = os.memory();
    expect(m1.liveTensors).toBe(m0.liveTensors);
    expect(m1.bytesInUse).toBe(m0.bytesInUse);
    expect(step.stats().peakBytes).toBeGreaterThan(0);
    // at most one submit per replay (each flushes the one before it to upload its host data; a few more: the waits)
    expect(m1.submits - m0.submits).toBeLessThanOrEqual(300 + 10);
    step.dispose();
  });

  it('disposing state the program updates in place makes the next call trace again', async () => {
    const p = os.ones([4]);
    const f = os.compile(() => os.assign(p, os.mul(p, 2)) && undefined);
    for (let i = 0; i < 3; i++) f();
    expect(Array.from(await p.data())).toEqual([8, 8, 8, 8]);
    p.dispose();
    const q = os.ones([4]);
    const g = os.compile(() => os.assign(q, os.add(q, 1)) && undefined);
    for (let i = 0; i < 3; i++) g();
    expect(Array.from(await q.data())).toEqual([4, 4, 4, 4]);
    q.dispose();
    expect(f.stats().replays).toBe(1);
  });

  it('a readback inside the step is an error that says why', async () => {
    const f = os.compile((x: os.Tensor) => {
      void x.item().catch(() => {});
      return x;
    });
    expect(() => f(os.zeros([1]))).toThrow(/read a value back/);
  });
});

describe('os.compile in the DMD trainer', () => {
  it('compiled DMD2 iterations (TTUR 2, EMA) give eager mode\'s losses and generator', async () => {
    const { DMDTrainer } = await import('../../models/dmd');
    const { EDMDenoiser } = await import('../../models/edm');
    const { MLPScoreNet } = await import('../../models/mlp');
    const make = () => new EDMDenoiser(new MLPScoreNet({ hidden: 16, depth: 2 }));
    const run = async (compiled: boolean) => {
      os.manualSeed(3);
      const teacher = make();
      const tr = new DMDTrainer({ teacher, makeDenoiser: make, sampleShape: [2], config: { mode: 'dmd2', ttur: 2, batch: 33, emaDecay: 0.9, seed: 5, compiled } });
      const losses: number[] = [];
      for (let i = 0; i < 10; i++) {
        const l = tr.step();
        losses.push(await l.fake.item(), l.dm ? await l.dm.item() : 0);
        for (const t of Object.values(l)) t?.dispose();
      }
      return { losses, gen: await Promise.all(tr.generator.parameters().map((p) => p.data())), ema: await Promise.all(tr.ema!.shadow.map((p) => p.data())) };
    };
    const eager = await run(false), compiled = await run(true);
    expectClose(compiled.losses, eager.losses, { rtol: 1e-5, atol: 1e-6, label: 'losses' });
    compiled.gen.forEach((p, i) => expectClose(p, eager.gen[i], { rtol: 1e-5, atol: 1e-6, label: `generator param ${i}` }));
    compiled.ema.forEach((p, i) => expectClose(p, eager.ema[i], { rtol: 1e-5, atol: 1e-6, label: `ema ${i}` }));
  });
});

describe('os.compile on the zoo models\' steps', () => {
  it('compiled DMD iterations with regression pairs and the GAN head (the 2-D recipe) give eager mode\'s losses and generator', async () => {
    const { DMDTrainer } = await import('../../models/dmd');
    const { EDMDenoiser } = await import('../../models/edm');
    const { MLPScoreNet } = await import('../../models/mlp');
    const { HostRng } = await import('../../models/data/rng');
    const { TOY_RECIPE } = await import('../../models/recipe');
    const make = () => new EDMDenoiser(new MLPScoreNet({ hidden: 16, depth: 2 }));
    const realData = (B: number, rng: InstanceType<typeof HostRng>) => ({ x: os.tensor(Float32Array.from({ length: 2 * B }, () => rng.normal() * 0.5), [B, 2]), labels: null });
    const run = async (compiled: boolean) => {
      os.manualSeed(3);
      const teacher = make();
      const pairs = { z: os.keep(os.randn([70, 2], { seed: 8 })), y: os.keep(os.randn([70, 2], { seed: 9 })) };
      const tr = new DMDTrainer({ teacher, makeDenoiser: make, sampleShape: [2], pairs, realData, config: { ...TOY_RECIPE, batch: 17, warmup: 5, compiled } });
      const losses: number[] = [];
      for (let i = 0; i < 40; i++) {
        const l = tr.step();
        for (const k of ['fake', 'dm', 'reg', 'ganG', 'ganD'] as const) losses.push(l[k] ? await l[k]!.item() : NaN);
        for (const t of Object.values(l)) t?.dispose();
      }
      return { tr, losses, gen: await Promise.all(tr.generator.parameters().map((p) => p.data())), head: await Promise.all(tr.head!.parameters().map((p) => p.data())) };
    };
    const eager = await run(false);
    expect(eager.tr.compiledSteps).toBeNull();
    // every matmul takes its epilogue (on CPU drivers 'auto' leaves most apart): bias+SiLU, residuals, silu′·g, sums
    const prev = os.setEpilogues('all');
    const compiled = await run(true).finally(() => os.setEpilogues(prev));
    expect(eager.losses.filter(Number.isNaN)).toHaveLength(0); // every loss is there: regression and GAN included
    expectClose(compiled.losses, eager.losses, { rtol: 1e-5, atol: 1e-6, label: 'losses' });
    compiled.gen.forEach((p, i) => expectClose(p, eager.gen[i], { rtol: 1e-5, atol: 1e-6, label: `generator param ${i}` }));
    compiled.head.forEach((p, i) => expectClose(p, eager.head[i], { rtol: 1e-5, atol: 1e-6, label: `GAN head param ${i}` }));
    // what the trainer's compiled iterations dispatch is visible through its public steps (bench/explain-step.ts)
    const g = compiled.tr.compiledSteps!.generator;
    expect(g.stats().replays).toBe(40); // TTUR 1: every iteration a generator iteration, each one a replay
    expect(g.explain()).toMatch(new RegExp(`^${g.stats().dispatches} dispatches, .*\\n.*matmul`, 's'));
  }, 120_000);

  it('a compiled EDM teacher step of the UNet (class labels, label dropout, Adam, EMA) gives eager mode\'s losses and weights', async () => {
    const { EDMDenoiser, edmTrainStep } = await import('../../models/edm');
    const { UNet } = await import('../../models/unet');
    const config = { resolution: 8, inChannels: 1, outChannels: 1, labelDim: 3, modelChannels: 8, channelMult: [1, 2], numBlocks: 1, attnResolutions: [4], channelsPerHead: 8, dropout: 0, embMult: 2 };
    const y = os.keep(os.randn([3, 1, 8, 8], { seed: 1 }));
    const labels = os.keep(os.oneHot(os.tensor([0, 2, 1]), 3));
    const run = async (compiled: boolean) => {
      os.manualSeed(4);
      const den = new EDMDenoiser(new UNet(config), { sigmaData: 0.5 });
      const opt = new os.optim.Adam(den.parameters(), { lr: 1e-3 });
      const ema = new os.optim.EMA(den.parameters(), { decay: 0.95 });
      const step = () => {
        const l = edmTrainStep(den, opt, y, { labels, labelDropout: 0.3 });
        ema.update();
        return l;
      };
      const f = compiled ? os.compile(step) : step;
      os.manualSeed(11);
      const losses: number[] = [];
      for (let i = 0; i < 12; i++) {
        const l = f();
        losses.push(await l.item());
        l.dispose();
      }
      return { losses, weights: await Promise.all(ema.shadow.map((p) => p.data())) };
    };
    const eager = await run(false), compiled = await run(true);
    expectClose(compiled.losses, eager.losses, { rtol: 1e-5, atol: 1e-6, label: 'losses' });
    compiled.weights.forEach((p, i) => expectClose(p, eager.weights[i], { rtol: 1e-5, atol: 1e-6, label: `EMA weight ${i}` }));
  }, 180_000);
});
