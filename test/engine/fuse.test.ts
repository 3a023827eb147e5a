// test/engine/fuse.test.ts: every fusion pattern of compiled steps (engine/compile/fuse.ts) against eager mode on odd
// shapes (and bit for bit where constants meet transcendentals): contiguous chains, chains into reductions, broadcasts, scalar constants (±inf included), where, user os.fused ops, intermediates read
// twice by a reduction (not fused), read in several places or by a few groups (run inside each), an in-place update between producer and consumer (not fused across), dead ops; elementwise work
// on a matmul's result run in the matmul's store (engine/compile/epilogue.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as os from '../../engine';
import { expectClose } from '../helpers';
import { prefersRangeCopies } from '../../runtime';

/** Runs fn eagerly and compiled (two traces, then replays) on the same inputs; returns the compiled step's stats. */
async function same(name: string, fn: (...xs: os.Tensor[]) => os.Tensor, shapes: number[][]): Promise<os.CompileStats> {
  const xs = shapes.map((s, i) => os.randn(s, { seed: 10 + i }));
  const want = await os.tidy(() => fn(...xs)).data();
  const f = os.compile(fn);
  for (let call = 0; call < 4; call++) {
    const got = f(...xs);
    expectClose(await got.data(), want, { rtol: 2e-6, atol: 1e-6, label: `${name} (call ${call})` });
    got.dispose();
  }
  const stats = f.stats();
  f.dispose();
  xs.forEach((x) => x.dispose());
  return stats;
}

/** The first element of each of `calls` results of `step` (steps whose state changes from call to call). */
async function firstOfEach(step: () => os.Tensor, calls: number): Promise<number[]> {
  const firsts: number[] = [];
  for (let i = 0; i < calls; i++) {
    const r = step();
    firsts.push((await r.data())[0]);
    r.dispose();
  }
  return firsts;
}

describe('fusion in compiled steps', () => {
  it('contiguous chains of unary and binary ops become one kernel', async () => {
    for (const shape of [[1], [17], [3, 33], [2, 3, 70]]) {
      const s = await same(`chain ${shape}`, (a, b) => os.tanh(os.mul(os.exp(os.neg(a)), os.sigmoid(b))), [shape, shape]);
      expect(s.fusedOps).toBe(5);
      expect(s.dispatches).toBe(1);
    }
  });

  it('broadcasts: inputs of several shapes, and a small intermediate feeding a larger op', async () => {
    const s = await same('broadcast', (a, b, c) => os.exp(os.add(os.mul(a, b), c)), [[3, 1], [1, 70], [70]]);
    expect(s.dispatches).toBe(1);
    const t = await same('small into large', (a, b) => os.mul(os.exp(a), b), [[3, 1], [3, 33]]);
    expect(t.dispatches).toBe(1);
    await same('0-d input', (a, b) => os.sqrt(os.abs(os.sub(a, b))), [[], [5, 17]]);
  });

  it('scalar constants, ±inf bounds and where fuse with their neighbours', async () => {
    const s = await same('scalars', (a) => os.clamp(os.add(os.mul(os.pow(a, 2), 1.7), -0.3), 0.25), [[33]]);
    expect(s.dispatches).toBe(1);
    await same('where', (c, a, b) => os.where(os.gt(c, 0), os.exp(a), os.neg(b)), [[3, 1], [3, 17], [17]]);
  });

  it('a constant tensor (os.full, a backward pass\'s seed) is computed inside the chain that reads it', async () => {
    for (const shape of [[1], [3, 17]]) {
      const s = await same(`full ${shape}`, (a) => os.add(os.mul(os.full(a.shape, 2.5), 3), a), [shape]);
      expect(s.dispatches).toBe(1);
      expect(s.fusedOps).toBe(3);
    }
  });

  it('user os.fused ops take part', async () => {
    const softplus = (x: os.Tensor) => os.fused('softplus', 'max(a, 0.0) + log(1.0 + exp(-abs(a)))', [x]);
    const s = await same('fused', (a) => os.mul(softplus(os.neg(a)), 2), [[5, 17]]);
    expect(s.dispatches).toBe(1);
  });

  it('an intermediate read twice stays in memory (its consumers fuse around it)', async () => {
    const s = await same('shared', (a) => {
      const e = os.exp(a);
      return os.add(os.mul(e, 2), os.sum(e));
    }, [[7, 9]]);
    expect(s.dispatches).toBeGreaterThanOrEqual(3);
  });

  it('a chain only a reduction reads runs in the reduction\'s loads: losses, norms, bias-gradient sums', async () => {
    for (const shape of [[1], [3, 17], [17, 70]]) { // (≥ 2,048 elements to one output reduce in two passes on CPU drivers)
      const l1 = await same(`mean |a − b| ${shape}`, (a, b) => os.mean(os.abs(os.sub(a, b))), [shape, shape]);
      expect(l1.dispatches).toBe(1);
      expect(l1.fusedOps).toBe(3);
      const mse = await same(`mse(2a, b) ${shape}`, (a, b) => os.mseLoss(os.mul(a, 2), b), [shape, shape]);
      expect(mse.dispatches).toBe(1);
    }
    // along an axis (one output per row), and over rows with four columns per invocation (a bias gradient's sum)
    const rows = await same('row norms', (x) => os.sqrt(os.sum(os.square(os.nanToNum(x)), 1)), [[17, 70]]);
    expect(rows.dispatches).toBe(2);
    for (const shape of [[33, 8], [70, 3]]) {
      const cols = await same(`bias sum ${shape}`, (g, u) => os.sum(os.mul(g, os.sigmoid(u)), 0), [shape, shape]);
      expect(cols.dispatches).toBe(1);
    }
    // a cheap difference read by two chains runs in both, and the one ending in the mean then runs in the reduction
    const shared = await same('read twice', (a, b) => {
      const d = os.sub(a, b);
      return os.add(os.mean(os.exp(d)), os.mul(d, 3));
    }, [[5, 17], [5, 17]]);
    expect(shared.dispatches).toBe(2);
    // an input broadcast into the chain: the reduction reads every input at one offset, so the chain stays a kernel
    const bcast = await same('broadcast input', (a, b) => os.sum(os.mul(a, b), 1), [[17, 1], [17, 33]]);
    expect(bcast.dispatches).toBe(2);
  });

  it('a group one other group reads in several places runs inside it; a cheap one read by a few groups runs in each', async () => {
    // c = log|s|/4 read twice by one formula (as c·f + φ, and as the raw column of where)
    const emb = await same('reread', (s, f, m) => {
      const c = os.reshape(os.mul(os.log(os.abs(s)), 0.25), [17, 1]);
      return os.where(m, c, os.sin(os.add(os.mul(c, f), 0.5)));
    }, [[17], [1, 13], [1, 13]]);
    expect(emb.dispatches).toBe(1);
    // σ² + σ_d² read by c_skip·x and by c_out·y, two groups each ending in a sum: no kernel of its own
    const coeff = await same('shared coefficient', (sg, x, y) => {
      const d = os.add(os.square(sg), 0.25);
      return os.add(os.sum(os.mul(os.div(0.25, d), x)), os.sum(os.mul(os.rsqrt(d), y)));
    }, [[3, 1], [3, 33], [3, 33]]);
    expect(coeff.dispatches).toBe(5); // two groups, two sums, the add
    // read by a reduction too: it stays in memory
    const kept = await same('read by a sum', (a, b) => {
      const e = os.exp(a);
      return os.add(os.mul(os.add(e, b), os.sum(e)), os.neg(e));
    }, [[7, 9], [7, 9]]);
    expect(kept.dispatches).toBeGreaterThanOrEqual(3);
  });

  it('an in-place update between producer and consumer is not fused across', async () => {
    const p = os.ones([17]);
    const step = os.compile(() => {
      const y = os.mul(p, 2); // reads p before the update
      os.assign(p, os.add(p, 1));
      return os.add(y, 1);
    });
    // p = 1, 2, 3, 4 before each call: y + 1 = 2p + 1
    expect(await firstOfEach(step, 4)).toEqual([3, 5, 7, 9]);
    p.dispose();
  });

  it('a chain read through a reshape fuses with its consumer, broadcasts included', async () => {
    const s = await same('reshape', (a, b) => os.mul(os.reshape(os.exp(os.neg(a)), [17, 1]), b), [[17], [17, 13]]);
    expect(s.dispatches).toBe(1);
    const t = await same('reshape of a broadcast', (a, b, c) => os.add(os.reshape(os.mul(a, b), [6]), c), [[2, 1], [2, 3], [6]]);
    expect(t.dispatches).toBe(2); // a group that broadcasts is not read through a reshape
  });

  it('groups whose result only a cat copies write into its slices', async () => {
    for (const [shapes, dim] of [[[[17, 2], [17, 13]], 1], [[[3, 5], [1, 5], [4, 5]], 0], [[[2, 3, 1], [2, 3, 4]], 2]] as [number[][], number][]) {
      const s = await same(`cat ${JSON.stringify(shapes)} dim ${dim}`, (...xs) => os.cat(xs.map((x, i) => (i === 1 ? x : os.mul(os.exp(x), 0.5))), dim), shapes);
      // one kernel per part, and the part passed as is: one copy (along dim 0 a contiguous range: a buffer copy on
      // adapters where that is cheaper than a dispatch)
      expect(s.dispatches).toBe(dim === 0 && prefersRangeCopies(os.device()) ? shapes.length - 1 : shapes.length);
    }
    // a part other ops read too is copied as before
    const k = await same('cat shared', (a, b) => {
      const e = os.exp(a);
      return os.add(os.cat([e, b], 1), os.cat([b, e], 1));
    }, [[5, 3], [5, 3]]);
    expect(k.dispatches).toBeGreaterThanOrEqual(4);
  });

  it('slices, expands and permutes read by an elementwise chain only are read in place (no copy)', async () => {
    const a = await same('slice', (x) => os.exp(os.slice(x, [1, 2], [4, 9])), [[5, 17]]);
    expect(a.dispatches).toBe(1);
    const b = await same('expand', (x, y) => os.mul(os.expand(x, [3, 17]), y), [[1, 17], [3, 17]]);
    expect(b.dispatches).toBe(1);
    const c = await same('permute', (x, y) => os.add(os.permute(x, [1, 0]), y), [[17, 3], [3, 17]]);
    expect(c.dispatches).toBe(1);
    // FiLM: x·(1 + scale) + shift with scale and shift the two halves of one tensor, the halves broadcast over a dim
    const d = await same('halves', (x, e) => {
      const scale = os.reshape(os.slice(e, [0, 0], [3, 5]), [3, 5, 1]), shift = os.reshape(os.slice(e, [0, 5], [3, 10]), [3, 5, 1]);
      return os.add(os.mul(x, os.add(scale, 1)), shift);
    }, [[3, 5, 7], [3, 10]]);
    expect(d.dispatches).toBeLessThanOrEqual(3);
    // stepped slices, and a windowed chain absorbed by a consumer of the same shape
    const e = await same('steps', (x, y) => os.mul(os.neg(os.slice(x, [0, 1], [5, 17], [2, 3])), y), [[5, 17], [3, 6]]);
    expect(e.dispatches).toBe(1);
  });

  it('a slice whose source is updated in place before its reader keeps its copy', async () => {
    const p = os.tensor([1, 2, 3, 4, 5, 6], [6]);
    const step = os.compile(() => {
      const s = os.slice(p, [1], [5]); // copies p[1:5] before the update
      os.assign(p, os.add(p, 10));
      return os.mul(s, 1);
    });
    expect(await firstOfEach(step, 4)).toEqual([2, 12, 22, 32]);
    step.dispose();
    p.dispose();
  });

  it('ops whose results nothing uses are dropped', async () => {
    const x = os.randn([33]);
    const f = os.compile((a: os.Tensor) => {
      os.exp(a); // dead
      return os.neg(a);
    });
    for (let i = 0; i < 3; i++) f(x).dispose();
    expect(f.stats().dispatches).toBe(1);
    expect(f.explain()).toMatch(/1 dead ops dropped/);
    x.dispose();
  });
});

describe('fused kernels round as the eager kernels do (bitwise)', () => {
  /** fn compiled gives exactly eager mode's bits (NaN payloads aside): a training step then never drifts from eager. */
  async function bitwise(name: string, fn: (...xs: os.Tensor[]) => os.Tensor, shapes: number[][]): Promise<os.CompileStats> {
    const xs = shapes.map((s, i) => os.randn(s, { seed: 20 + i }));
    const want = await os.tidy(() => fn(...xs)).data();
    const f = os.compile(fn);
    let got: ArrayLike<number> = [];
    for (let call = 0; call < 3; call++) {
      const r = f(...xs);
      got = await r.data();
      r.dispose();
    }
    const differ = [...want].filter((w, i) => !Object.is(w, got[i]) && !(Number.isNaN(w) && Number.isNaN(got[i]))).length;
    expect(differ, `${name}: elements whose bits differ from eager mode`).toBe(0);
    const stats = f.stats();
    f.dispose();
    xs.forEach((x) => x.dispose());
    return stats;
  }

  it('a step\'s constant is not folded into the next step (a·1.5 then exp, pow(x, 2)), in chains, reductions and matmul stores', async () => {
    // each of these differed in the last bits of ~10–70% of elements when constants were baked in and steps inlined
    const chains: [string, (a: os.Tensor) => os.Tensor][] = [
      ['exp(1.5a)', (a) => os.exp(os.mul(a, 1.5))],
      ['sigmoid(1.5a)', (a) => os.sigmoid(os.mul(a, 1.5))],
      ['silu(1.5a)', (a) => os.silu(os.mul(a, 1.5))],
      ['|1.5a|²', (a) => os.pow(os.abs(os.mul(a, 1.5)), 2)],
    ];
    for (const [name, fn] of chains) expect((await bitwise(name, fn, [[4099]])).dispatches).toBe(1);
    expect((await bitwise('mean exp(1.5a)', (a) => os.mean(os.exp(os.mul(a, 1.5)), 1), [[33, 70]])).dispatches).toBe(1);
    const prev = os.setEpilogues('all');
    try {
      expect((await bitwise('exp(1.5·ab)', (a, b) => os.exp(os.mul(os.matmul(a, b), 1.5)), [[17, 33], [33, 70]])).dispatches).toBe(1);
    } finally {
      os.setEpilogues(prev);
    }
  });
});

describe('elementwise work on a matmul result runs in its store (epilogues)', () => {
  // every kind of matmul kernel takes them here; the adapter-aware default is tested last
  let prev: 'auto' | 'all';
  beforeAll(() => void (prev = os.setEpilogues('all')));
  afterAll(() => void os.setEpilogues(prev));

  it('bias + SiLU of a linear layer, and a residual h + silu(W·h + b), are one dispatch', async () => {
    for (const [B, I, O] of [[1, 3, 5], [17, 33, 70], [70, 17, 3]]) {
      const s = await same(`linear silu ${B}×${I}→${O}`, (x, w, b) => os.silu(os.linear(x, w, b)), [[B, I], [O, I], [O]]);
      expect(s.dispatches).toBe(1);
      expect(s.fusedOps).toBe(2);
    }
    const r = await same('residual', (h, w, b) => os.add(h, os.silu(os.linear(h, w, b))), [[33, 17], [17, 17], [17]]);
    expect(r.dispatches).toBe(1);
  });

  it('a group that reads the result twice, and broadcast inputs over a 2-D result', async () => {
    const s = await same('read twice', (a, b, c) => os.add(os.mul(os.silu(os.matmul(a, b)), c), os.exp(os.neg(os.matmul(a, b)))), [[3, 17], [17, 33], [3, 33]]);
    expect(s.dispatches).toBe(2); // the second product is the same op traced again: it fuses, the first stays apart
    for (const shape of [[1, 33], [3, 1], [33], []]) {
      const t = await same(`broadcast ${shape}`, (a, b, c) => os.mul(os.add(os.matmul(a, b), c), 0.5), [[3, 17], [17, 33], shape]);
      expect(t.dispatches).toBe(1);
    }
  });

  it('batched products fuse inputs of their own shape; a broadcast over the batch stays apart', async () => {
    const s = await same('batched', (a, b, c) => os.sub(os.matmul(a, b), c), [[2, 3, 17], [2, 17, 33], [2, 3, 33]]);
    expect(s.dispatches).toBe(1);
    const t = await same('batched broadcast', (a, b, c) => os.sub(os.matmul(a, b), c), [[2, 3, 17], [2, 17, 33], [33]]);
    expect(t.dispatches).toBe(2);
  });

  it('a result other ops read too is stored as well (the kernel runs at the matmul)', async () => {
    const f = (a: os.Tensor, b: os.Tensor, c: os.Tensor) => {
      const u = os.matmul(a, b);
      return os.add(os.sum(os.mul(os.silu(u), c), [1]), os.sum(u, [1]));
    };
    const s = await same('kept', f, [[17, 33], [33, 70], [17, 70]]);
    expect(s.dispatches).toBe(4); // matmul + silu·c, two sums, the add
    // the same with a gradient: backward reads u (silu′) and the product's operands
    const w = os.randn([5, 7], { seed: 3 }).requiresGrad_(), x = os.randn([9, 5], { seed: 4 });
    const gradStep = () => {
      os.tidy(() => os.sum(os.mul(os.silu(os.matmul(x, w)), os.matmul(x, w))).backward());
      const g = w.grad!;
      w.grad = null;
      return g;
    };
    const eager = gradStep();
    const want = await eager.data();
    eager.dispose();
    const g = os.compile(gradStep);
    for (let call = 0; call < 4; call++) {
      const got = g();
      expectClose(await got.data(), want, { rtol: 2e-6, atol: 1e-6, label: `grad (call ${call})` });
      got.dispose();
    }
    expect(g.explain()).toMatch(/matmul .* → /);
    g.dispose();
    w.dispose();
    x.dispose();
  });

  it('a sum of products read forward and backward, copied into a store: the product is kept for the other copy', async () => {
    // emb = x₁W₁ + x₂W₂ is read by silu (forward) and silu′ (backward); both kernels compute it, one in a matmul store
    const w1 = os.randn([5, 7], { seed: 5 }).requiresGrad_(), w2 = os.randn([4, 7], { seed: 6 }).requiresGrad_();
    const x1 = os.randn([3, 5], { seed: 7 }), x2 = os.randn([3, 4], { seed: 8 }), t = os.randn([3, 7], { seed: 9 });
    const step = () =>
      os.tidy(() => {
        const loss = os.sum(os.mul(os.silu(os.add(os.matmul(x1, w1), os.matmul(x2, w2))), t));
        loss.backward();
        const [g1, g2] = [w1, w2].map((w) => {
          const g = w.grad!;
          w.grad = null;
          return g;
        });
        const out = os.cat([os.reshape(loss.detach(), [1]), os.reshape(g1, [35]), os.reshape(g2, [28])], 0);
        g1.dispose();
        g2.dispose();
        return out;
      });
    const want = await step().data();
    const f = os.compile(step);
    for (let call = 0; call < 4; call++) {
      const got = f();
      expectClose(await got.data(), want, { rtol: 2e-6, atol: 1e-6, label: `loss and gradients (call ${call})` });
      got.dispose();
    }
    f.dispose();
    [w1, w2, x1, x2, t].forEach((x) => x.dispose());
  });

  it("'auto' fuses every kind on GPUs; CPU drivers, whose cold caches compile big variants for seconds, keep them apart", async () => {
    os.setEpilogues('auto');
    try {
      const tiny = await same('auto, tiny product', (a, b) => os.silu(os.matmul(a, b)), [[3, 5], [5, 7]]);
      expect(tiny.dispatches).toBe(1); // r1x4 everywhere
      const big = await same('auto, 256×128×128', (a, b) => os.silu(os.matmul(a, b)), [[256, 128], [128, 128]]);
      expect(big.dispatches).toBe(os.device().isCpu ? 2 : 1);
    } finally {
      os.setEpilogues('all');
    }
    expect(() => os.setEpilogues('some' as never)).toThrow(/'auto' or 'all'/);
  });

  it('an in-place update of an operand between the product and its consumer is not fused across', async () => {
    const w = os.ones([5, 3]);
    const x = os.randn([4, 5], { seed: 5 });
    const step = os.compile((xs: os.Tensor) => {
      const u = os.matmul(xs, w); // reads w before the update
      os.assign(w, os.add(w, 1));
      return os.silu(u);
    });
    for (let call = 0; call < 4; call++) {
      const want = await os.tidy(() => os.silu(os.matmul(x, os.sub(w, 0)))).data();
      const got = step(x);
      expectClose(await got.data(), want, { rtol: 2e-6, atol: 1e-6, label: `call ${call}` });
      got.dispose();
    }
    step.dispose();
    w.dispose();
    x.dispose();
  });
});

describe('constants in compiled steps (engine/compile/hoist.ts)', () => {
  it('a constant only a matmul reads is made once, when the program is built, and every replay reads it', async () => {
    for (const [m, k] of [[1, 1], [3, 17], [33, 70]]) {
      const s = await same(`constant operand ${m}×${k}`, (a) => os.matmul(a, os.mul(os.full([k, 5], 0.5), 3)), [[m, k]]);
      expect(s.dispatches).toBe(1);
    }
  });

  it("a training step's gradient seed leaves the replay; the losses and weights stay eager mode's", async () => {
    const run = async (compiled: boolean) => {
      const w = os.keep(os.randn([17, 3], { seed: 7 }).requiresGrad_());
      const x = os.randn([33, 17], { seed: 8 });
      const opt = new os.optim.SGD([w], { lr: 0.1 });
      const body = (xs: os.Tensor) => {
        const loss = os.tidy(() => os.mul(os.mean(os.square(os.matmul(xs, w))), 3));
        loss.backward();
        opt.step();
        opt.zeroGrad();
        return loss;
      };
      const step = compiled ? os.compile(body) : body;
      const losses: number[] = [];
      for (let i = 0; i < 5; i++) {
        const l = step(x);
        losses.push((await l.data())[0]);
        l.dispose();
      }
      const explain = compiled ? (step as os.Compiled<[os.Tensor], os.Tensor>).explain() : '';
      const weights = await w.data();
      if (compiled) (step as os.Compiled<[os.Tensor], os.Tensor>).dispose();
      w.dispose();
      x.dispose();
      return { losses, weights, explain };
    };
    const eager = await run(false), compiled = await run(true);
    expect(compiled.losses).toEqual(eager.losses);
    expect(Array.from(compiled.weights)).toEqual(Array.from(eager.weights));
    expect(compiled.explain).toMatch(/[1-9]\d* constants hoisted/);
    expect(compiled.explain).toMatch(/constants, made once when the program was built:\n\s+\S/);
  });

  it('a value written again later in the step (an in-place update) is not a constant', async () => {
    const step = os.compile((xs: os.Tensor) => {
      const c = os.mul(os.full([17, 3], 0.5), 3);
      const u = os.matmul(xs, c);
      os.assign(c, os.add(c, 1));
      return os.add(u, os.sum(c));
    });
    const x = os.randn([5, 17], { seed: 9 });
    const want = await os.tidy(() => os.add(os.matmul(x, os.full([17, 3], 1.5)), 17 * 3 * 2.5)).data();
    for (let call = 0; call < 4; call++) {
      const got = step(x);
      expectClose(await got.data(), want, { rtol: 2e-6, atol: 1e-5, label: `call ${call}` });
      got.dispose();
    }
    expect(step.explain()).toMatch(/ 0 constants hoisted/);
    step.dispose();
    x.dispose();
  });
});
