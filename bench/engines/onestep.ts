// bench/engines/onestep.ts: each spec through onestep's public `os.*` ops. Ops that have not landed yet
// (typeof os.conv2d !== 'function') give an n/a reason instead of a runner, so the bench picks them up once they exist.
import * as os from '../../engine';
import { DMDTrainer } from '../../models/dmd';
import { EDMDenoiser, edmLoss } from '../../models/edm';
import { MNIST_UNET, UNET_DEFAULTS, UNet } from '../../models/unet';
import { MLPScoreNet } from '../../models/mlp';
import { hostData, type Runner } from '../harness';
import type { Spec } from '../specs';

type AnyFn = (...args: unknown[]) => os.Tensor;
/** A public op by name, or null while it does not exist (the kernels issue adds conv2d, groupNorm, attention). */
const op = (name: string): AnyFn | null => {
  const f = (os as unknown as Record<string, unknown>)[name];
  return typeof f === 'function' ? (f as AnyFn) : null;
};

const t = (shape: number[], seed: number, requiresGrad = false) => os.tensor(hostData(shape.reduce((a, b) => a * b, 1), seed), shape, { requiresGrad });

/** Forward, or forward + backward of `out` with a fixed upstream gradient; outputs and grads are freed right away. */
function runner(inputs: os.Tensor[], fwd: (xs: os.Tensor[]) => os.Tensor, pass: Spec['pass'], outShape: number[]): Runner {
  const gy = pass === 'fwd' ? null : t(outShape, 99);
  return {
    device: os.device().gpu,
    run() {
      const y = fwd(inputs);
      if (gy) {
        os.backward(y, gy);
        for (const x of inputs) {
          x.grad?.dispose();
          x.grad = null;
        }
      }
      y.dispose(); // safe while queued: later commands run after it
    },
    wait: () => os.sync(),
    dispose() {
      for (const x of inputs) x.dispose();
      gy?.dispose();
    },
  };
}

/** The specs with a compiled row (os.compile) beside the eager one. */
export const COMPILED_OPS: ReadonlySet<Spec['op']> = new Set(['addChain', 'dmdStep', 'unetStep']);

/** A runner for `spec`, eager (op by op) or, for COMPILED_OPS, the same work through os.compile. */
export function onestepRunner(spec: Spec, compiled = false): Runner | string {
  const grad = spec.pass !== 'fwd';
  if (compiled && !COMPILED_OPS.has(spec.op)) return `no compiled row for ${spec.op}`;
  switch (spec.op) {
    case 'matmul': {
      const a = t(spec.batch > 1 ? [spec.batch, spec.m, spec.k] : [spec.m, spec.k], 1, grad);
      const bShape = spec.transB ? [spec.n, spec.k] : [spec.k, spec.n];
      const b = t(spec.batch > 1 ? [spec.batch, ...bShape] : bShape, 2, grad);
      const out = spec.batch > 1 ? [spec.batch, spec.m, spec.n] : [spec.m, spec.n];
      return runner([a, b], ([x, y]) => os.matmul(x, y, { transB: spec.transB }), spec.pass, out);
    }
    case 'conv2d': {
      const conv2d = op('conv2d');
      if (!conv2d) return 'os.conv2d does not exist yet (kernels issue)';
      const x = t([spec.n, spec.cin, spec.h, spec.w], 1, grad), w = t([spec.cout, spec.cin, spec.k, spec.k], 2, grad);
      return runner([x, w], ([a, b]) => conv2d(a, b, undefined, { padding: spec.k >> 1 }), spec.pass, [spec.n, spec.cout, spec.h, spec.w]);
    }
    case 'groupNorm': {
      const groupNorm = op('groupNorm');
      if (!groupNorm) return 'os.groupNorm does not exist yet (kernels issue)';
      const shape = [spec.n, spec.c, spec.h, spec.w];
      const x = t(shape, 1, grad), g = t([spec.c], 2, grad), b = t([spec.c], 3, grad);
      return runner([x, g, b], ([a, w, bb]) => groupNorm(a, spec.groups, w, bb, 1e-5), spec.pass, shape);
    }
    case 'attention': {
      const attention = op('attention');
      if (!attention) return 'os.attention does not exist yet (kernels issue)';
      const shape = [1, spec.bh, spec.l, spec.d]; // [B, H, L, D] with B·H = bh
      const q = t(shape, 1, grad), k = t(shape, 2, grad), v = t(shape, 3, grad);
      return runner([q, k, v], ([a, b, c]) => attention(a, b, c), spec.pass, shape);
    }
    case 'addChain': {
      const x = t([spec.size], 1), c = t([spec.size], 2);
      const chain = () => {
        let y = os.add(x, c);
        for (let i = 1; i < spec.chain; i++) {
          const z = os.add(y, c);
          y.dispose();
          y = z;
        }
        return y;
      };
      const f = compiled ? os.compile(chain) : chain;
      // compiled: two traced calls and the fused kernel's compile happen here, so the harness times replays
      if (compiled) for (let i = 0; i < 3; i++) f().dispose();
      return {
        device: os.device().gpu,
        note: compiled ? 'compiled: the chain fuses into one kernel' : 'eager: one kernel per add',
        run: () => f().dispose(),
        wait: () => os.sync(),
        dispose: () => (x.dispose(), c.dispose()),
      };
    }
    case 'sum': {
      const x = t([spec.rows, spec.cols], 1);
      return { device: os.device().gpu, run: () => os.sum(x, -1).dispose(), wait: () => os.sync(), dispose: () => x.dispose() };
    }
    case 'adam': {
      const p = t([spec.size], 1, true);
      const opt = new os.optim.Adam([p], { lr: 1e-3 });
      const g = t([spec.size], 2);
      return {
        device: os.device().gpu,
        run() {
          p.grad ??= os.keep(g.viewAs(g.shape));
          opt.step();
        },
        wait: () => os.sync(),
        dispose: () => (p.dispose(), g.dispose()),
      };
    }
    case 'dmdStep': {
      // the zoo teacher's architecture (8gaussians: 3×128 MLP, σ_data 0.5) with fresh weights: the timing does not
      // depend on the values, and the browser page has no file system
      const make = () => new EDMDenoiser(new MLPScoreNet({ dim: 2, hidden: 128, depth: 3 }), { sigmaData: 0.5 });
      const teacher = make();
      const tr = new DMDTrainer({ teacher, makeDenoiser: make, sampleShape: [2], config: { mode: 'dmd2', batch: spec.batch, compiled } });
      const cycle = () => {
        for (let i = 0; i < tr.cfg.ttur; i++) for (const l of Object.values(tr.step())) l?.dispose();
      };
      cycle(); // compiles and allocates the optimiser moments
      const d0 = os.memory().dispatches;
      cycle(); // counts a steady cycle's dispatches
      const perIt = (os.memory().dispatches - d0) / tr.cfg.ttur;
      return {
        device: os.device().gpu,
        perCall: tr.cfg.ttur,
        wallOnly: true, // the host's dispatch overhead is part of an iteration's cost
        note: `${perIt.toFixed(1)} dispatches per iteration; a call is one TTUR cycle (${tr.cfg.ttur} iterations)`,
        run: cycle,
        wait: () => os.sync(),
        dispose() {
          for (const d of [tr.real, tr.fake, tr.generator]) d.net.dispose();
          tr.optG.dispose();
          tr.optF.dispose();
        },
      };
    }
    case 'unetStep': {
      // fresh weights of the zoo's MNIST teacher architecture: the timing does not depend on the values
      const config = { ...UNET_DEFAULTS, ...MNIST_UNET };
      const den = new EDMDenoiser(new UNet(config), { sigmaData: 0.5 });
      const opt = new os.optim.Adam(den.parameters(), { lr: 1e-4 });
      const S = config.resolution;
      const y = t([spec.batch, config.inChannels, S, S], 1);
      const labels = os.keep(os.oneHot(os.tensor(Float32Array.from({ length: spec.batch }, (_, i) => i % config.labelDim)), config.labelDim));
      const eagerStep = () => {
        os.tidy(() => edmLoss(den, y, { labels, labelDropout: 0.1 }).backward());
        opt.step();
        opt.zeroGrad();
      };
      const step = compiled ? os.compile(eagerStep) : eagerStep;
      step(); // allocates the optimiser moments (compiled: the first of the two traced calls)
      step();
      const d0 = os.memory().dispatches;
      step();
      const perStep = os.memory().dispatches - d0;
      return {
        device: os.device().gpu,
        wallOnly: true, // the host's dispatch overhead is part of a step's cost
        note: `${perStep} dispatches per step (forward, backward, Adam); 0.21 M parameters`,
        run: step,
        wait: () => os.sync(),
        dispose() {
          den.net.dispose();
          opt.dispose();
          y.dispose();
          labels.dispose();
        },
      };
    }
    default:
      return `${spec.op} is a raw-WGSL ceiling row`;
  }
}
