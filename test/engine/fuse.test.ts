// test/engine/fuse.test.ts: every fusion pattern of compiled steps (engine/compile/fuse.ts) against eager mode on odd
// shapes: contiguous chains, broadcasts, scalar constants (±inf included), where, user os.fused ops, intermediates read
// twice (not fused), an in-place update between producer and consumer (not fused across), dead ops.
import { describe, expect, it } from 'vitest';
import * as os from '../../engine';
import { expectClose } from '../helpers';

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

  it('an in-place update between producer and consumer is not fused across', async () => {
    const p = os.ones([17]);
    const step = os.compile(() => {
      const y = os.mul(p, 2); // reads p before the update
      os.assign(p, os.add(p, 1));
      return os.add(y, 1);
    });
    const results: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = step();
      results.push((await r.data())[0]);
      r.dispose();
    }
    // p = 1, 2, 3, 4 before each call: y + 1 = 2p + 1
    expect(results).toEqual([3, 5, 7, 9]);
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
