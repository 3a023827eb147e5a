// test/engine/tensor.test.ts: Tensor construction and read-back, lifetime rules (tidy, keep, dispose, the graph keeping
// buffers alive) and autograd semantics (accumulation, retainGraph, freed graphs, detach, noGrad), engine/tensor.ts and
// engine/autograd.ts. Every test disposes what it creates, so the memory test can demand exact equality.
import { describe, it, expect } from 'vitest';
import * as os from '../../engine';
import { expectClose, expectThrows, toHost } from '../helpers';

describe('tensor() constructor and read-back', () => {
  it('nested arrays infer the shape', async () => {
    const t = os.tensor([[1, 2, 3], [4, 5, 6]]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.size).toBe(6);
    expect(t.ndim).toBe(2);
    expect(t.dtype).toBe('f32');
    expect(Array.from(await t.data())).toEqual([1, 2, 3, 4, 5, 6]);
    expect(await t.array()).toEqual([[1, 2, 3], [4, 5, 6]]);
    const d3 = os.tensor([[[1], [2]], [[3], [4]], [[5], [6]]]);
    expect(d3.shape).toEqual([3, 2, 1]);
    expect(await d3.array()).toEqual([[[1], [2]], [[3], [4]], [[5], [6]]]);
    t.dispose();
    d3.dispose();
  });

  it('flat data with a shape, Float32Array / Float64Array / plain arrays, numbers, empties', async () => {
    const a = os.tensor([1, 2, 3, 4, 5, 6], [3, 2]);
    expect(a.shape).toEqual([3, 2]);
    expect(await a.array()).toEqual([[1, 2], [3, 4], [5, 6]]);
    const b = os.tensor(new Float32Array([0.5, 1.5]));
    expect(b.shape).toEqual([2]);
    const c = os.tensor(Float64Array.of(0.1, 0.2, 0.3), [1, 3, 1]);
    expectClose(await toHost(c), [0.1, 0.2, 0.3].map(Math.fround), { atol: 0 });
    const s = os.tensor(3.25);
    expect(s.shape).toEqual([]);
    expect(s.size).toBe(1);
    expect(await s.item()).toBe(3.25);
    expect(await s.array()).toBe(3.25);
    const e = os.tensor([]);
    expect(e.shape).toEqual([0]);
    expect((await e.data()).length).toBe(0);
    const e2 = os.tensor([[], []]);
    expect(e2.shape).toEqual([2, 0]);
    const n = os.tensor([[1, 2], [3, 4]], [4]);
    expect(n.shape).toEqual([4]);
    const one = os.tensor([7], []);
    expect(await one.item()).toBe(7);
    for (const t of [a, b, c, s, e, e2, n, one]) t.dispose();
  });

  it('item() of a one-element tensor of any rank; ShapeError otherwise', async () => {
    const t = os.tensor([[[2.5]]]);
    expect(await t.item()).toBe(2.5);
    const m = os.tensor([1, 2]);
    await expect(m.item()).rejects.toBeInstanceOf(os.ShapeError);
    t.dispose();
    m.dispose();
  });

  it('readAll reads many tensors (f32 and f16, odd sizes, empty) with one submit and one wait', async () => {
    const sizes = [1, 3, 17, 0, 33, 70];
    const host = sizes.map((n, k) => Float32Array.from({ length: n }, (_, i) => (k + 1) * 0.25 - i * 0.5));
    const ts = host.map((h, k) => (k % 2 ? os.cast(os.tensor(h, [h.length]), 'f16') : os.tensor(h, [h.length])));
    await os.sync();
    const before = os.memory().submits;
    const got = await os.readAll(ts);
    expect(os.memory().submits - before).toBe(1);
    got.forEach((g, k) => expect(Array.from(g)).toEqual(Array.from(host[k]))); // these values are exact in f16
    expect(await os.readAll([])).toEqual([]);
    ts.forEach((t) => t.dispose());
    await expect(os.readAll(ts)).rejects.toBeInstanceOf(os.DisposedError);
  });

  it('ragged nested arrays are rejected with ValueError', () => {
    expectThrows(() => os.tensor([[1, 2], [3]]), os.ValueError, 'ragged');
    expectThrows(() => os.tensor([[1, 2], 3] as never), os.ValueError, 'ragged');
    expectThrows(() => os.tensor([[[1], [2]], [[3], 4]] as never), os.ValueError);
    expectThrows(() => os.tensor([[1, [2]], [3, 4]] as never), os.ValueError);
  });

  it('a flat array holding a nested array is ragged too (ValueError)', () => {
    let made: os.Tensor | null = null;
    try {
      expectThrows(() => (made = os.tensor([1, [2, 3]] as never)), os.ValueError);
    } finally {
      (made as os.Tensor | null)?.dispose();
    }
  });

  it('sizes that do not fill the shape are rejected with ShapeError; bad dims with ValueError', () => {
    expectThrows(() => os.tensor([1, 2, 3], [2, 2]), os.ShapeError, '3', '[2,2]');
    expectThrows(() => os.tensor([[1, 2], [3, 4]], [3]), os.ShapeError);
    expectThrows(() => os.tensor([1, 2], [-1, 2]), os.ValueError);
    expectThrows(() => os.tensor([1, 2], [1.5, 2]), os.ValueError);
    expectThrows(() => os.zeros([2, -3]), os.ValueError);
  });

  it('zeros / ones / full / arange / *Like', async () => {
    const z = os.zeros([2, 3]), o = os.ones([17]), f = os.full([3, 1], -2.5), r = os.arange(5), r2 = os.arange(1, 2, 0.25), zl = os.zerosLike(f), ol = os.onesLike(z);
    expectClose(await toHost(z), new Float64Array(6));
    expectClose(await toHost(o), new Float64Array(17).fill(1));
    expectClose(await toHost(f), [-2.5, -2.5, -2.5]);
    expectClose(await toHost(r), [0, 1, 2, 3, 4]);
    expectClose(await toHost(r2), [1, 1.25, 1.5, 1.75]);
    expect(zl.shape).toEqual([3, 1]);
    expectClose(await toHost(ol), new Float64Array(6).fill(1));
    const g = os.zeros([2], { requiresGrad: true });
    expect(g.requiresGrad).toBe(true);
    for (const t of [z, o, f, r, r2, zl, ol, g]) t.dispose();
  });
});

describe('lifetime: dispose, tidy, keep', () => {
  it('dispose twice is safe; using a disposed tensor throws DisposedError', async () => {
    const x = os.tensor([1, 2, 3]);
    x.dispose();
    x.dispose();
    expect(x.isDisposed).toBe(true);
    expectThrows(() => x.add(1), os.DisposedError);
    expectThrows(() => os.exp(x), os.DisposedError);
    expectThrows(() => os.matmul(x, x), os.DisposedError);
    expectThrows(() => os.sum(x), os.DisposedError);
    expectThrows(() => x.reshape([3, 1]), os.DisposedError);
    await expect(x.data()).rejects.toBeInstanceOf(os.DisposedError);
    const y = os.ones([3]);
    expectThrows(() => os.add(y, x), os.DisposedError);
    y.dispose();
  });

  it('tidy disposes intermediates but not returned tensors, in nested structures', async () => {
    const x = os.tensor([1, 2, 3]);
    const seen: os.Tensor[] = [];
    const out = os.tidy(() => {
      const a = os.exp(x), b = os.mul(a, 2), c = os.add(b, 1), d = os.neg(c), e = os.sum(d);
      seen.push(a, b, c, d, e);
      return { first: b, list: [d, { deep: e }], n: 3, s: 'str' };
    });
    expect(seen[0].isDisposed).toBe(true);
    expect(seen[2].isDisposed).toBe(true);
    expect(out.first.isDisposed).toBe(false);
    expect(out.list[0]).toBe(seen[3]);
    expect((out.list[0] as os.Tensor).isDisposed).toBe(false);
    expect((out.list[1] as { deep: os.Tensor }).deep.isDisposed).toBe(false);
    expect(x.isDisposed).toBe(false);
    expectClose(await toHost(out.first), [1, 2, 3].map((v) => 2 * Math.exp(v)), { rtol: 1e-6 });
    expectThrows(() => seen[0].add(1), os.DisposedError);
    for (const t of [x, out.first, seen[3], seen[4]]) t.dispose();
  });

  it('nested tidy hands results to the outer scope; keep takes a tensor out of every scope', async () => {
    const x = os.tensor([1, 2]);
    let inner: os.Tensor | null = null, kept: os.Tensor | null = null;
    const outer = os.tidy(() => {
      inner = os.tidy(() => os.mul(os.add(x, 1), 3));
      kept = os.keep(os.neg(x));
      return os.add(inner, 1);
    });
    expect(inner!.isDisposed).toBe(true); // returned by the inner tidy, dropped by the outer
    expect(kept!.isDisposed).toBe(false);
    expectClose(await toHost(outer), [7, 10]);
    expectClose(await toHost(kept!), [-1, -2]);
    for (const t of [x, outer, kept!]) t.dispose();
  });

  it('tidy returning a Promise throws ValueError and disposes its tensors', () => {
    let t: os.Tensor | null = null;
    expectThrows(() => os.tidy(() => {
      t = os.ones([2]);
      return Promise.resolve(t);
    }), os.ValueError, 'tidy');
    expect(t!.isDisposed).toBe(true);
  });

  it('a view (reshape/detach) outlives the disposal of its source', async () => {
    const x = os.tensor([1, 2, 3, 4]);
    const v = x.reshape([2, 2]), d = x.detach();
    x.dispose();
    expect(await v.array()).toEqual([[1, 2], [3, 4]]);
    expectClose(await toHost(d), [1, 2, 3, 4]);
    v.dispose();
    d.dispose();
  });

  it('an intermediate disposed by tidy stays usable by a later backward', async () => {
    const x = os.tensor([0.5, -1, 2], undefined, { requiresGrad: true });
    let mid: os.Tensor | null = null;
    const loss = os.tidy(() => {
      mid = os.exp(x); // exp's backward needs its output, which tidy disposes
      return os.sum(os.mul(mid, mid));
    });
    expect(mid!.isDisposed).toBe(true);
    loss.backward();
    expectClose(await toHost(x.grad!), [0.5, -1, 2].map((v) => 2 * Math.exp(2 * v)), { rtol: 1e-5 });
    loss.dispose();
    x.dispose();
  });
});

describe('autograd semantics', () => {
  it('backward twice through a freed graph throws GradError; retainGraph allows it and gradients accumulate', async () => {
    const x = os.tensor([1, 2, 3], undefined, { requiresGrad: true });
    const y = os.tidy(() => os.sum(os.square(x)));
    y.backward();
    expectClose(await toHost(x.grad!), [2, 4, 6]);
    expectThrows(() => y.backward(), os.GradError, 'retainGraph');
    y.dispose();
    x.grad!.dispose();
    x.grad = null;

    const z = os.tidy(() => os.sum(os.mul(os.square(x), 0.5)));
    z.backward(undefined, { retainGraph: true });
    z.backward(undefined, { retainGraph: true });
    expectClose(await toHost(x.grad!), [2, 4, 6]);
    z.backward();
    expectClose(await toHost(x.grad!), [3, 6, 9]);
    expectThrows(() => z.backward(), os.GradError);
    // a fresh graph over the same leaf keeps accumulating into .grad
    const w = os.tidy(() => os.sum(x));
    w.backward();
    expectClose(await toHost(x.grad!), [4, 7, 10]);
    for (const t of [z, w, x]) t.dispose();
  });

  it('backward on a non-scalar needs a gradient (GradError) of the right shape (ShapeError)', async () => {
    const x = os.tensor([1, 2, 3], undefined, { requiresGrad: true });
    const y = os.mul(x, 2);
    expectThrows(() => y.backward(), os.GradError, '[3]');
    const bad = os.ones([2]);
    expectThrows(() => y.backward(bad), os.ShapeError);
    const g = os.tensor([1, 10, 100]);
    y.backward(g);
    expectClose(await toHost(x.grad!), [2, 20, 200]);
    expect(g.isDisposed).toBe(false); // the caller's gradient is not consumed
    for (const t of [x, y, bad, g]) t.dispose();
  });

  it('backward on a tensor that does not require grad throws GradError', () => {
    const x = os.tensor([1, 2]);
    const y = os.sum(x);
    expectThrows(() => y.backward(), os.GradError, 'requiresGrad');
    x.dispose();
    y.dispose();
  });

  it('a tensor used twice gets the sum of both gradients', async () => {
    const x = os.tensor([1, -2, 3], undefined, { requiresGrad: true });
    const y = os.tidy(() => os.sum(os.add(os.mul(x, x), os.mul(x, 3))));
    y.backward();
    expectClose(await toHost(x.grad!), [5, -1, 9]);
    // diamond: a = 2x feeds two branches
    const x2 = os.tensor([0.5], undefined, { requiresGrad: true });
    const l = os.tidy(() => {
      const a = os.mul(x2, 2);
      return os.sum(os.add(os.exp(a), os.square(a)));
    });
    l.backward();
    expectClose(await toHost(x2.grad!), [2 * Math.exp(1) + 4], { rtol: 1e-6 });
    for (const t of [x, y, x2, l]) t.dispose();
  });

  it('detach() stops gradients and shares values', async () => {
    const x = os.tensor([1, 2, 3], undefined, { requiresGrad: true });
    const d = x.detach();
    expect(d.requiresGrad).toBe(false);
    expect(d.node).toBeNull();
    const y = os.tidy(() => os.sum(os.mul(x, d)));
    y.backward();
    expectClose(await toHost(x.grad!), [1, 2, 3]); // not 2x
    const z = os.tidy(() => os.sum(os.exp(x).detach()));
    expect(z.requiresGrad).toBe(false);
    for (const t of [x, d, y, z]) t.dispose();
  });

  it('noGrad records nothing; grad mode is restored afterwards, even on throw', () => {
    const x = os.tensor([1, 2], undefined, { requiresGrad: true });
    const y = os.noGrad(() => os.mul(os.exp(x), 2));
    expect(y.requiresGrad).toBe(false);
    expect(y.node).toBeNull();
    expect(os.isGradEnabled()).toBe(true);
    expect(() => os.noGrad(() => { throw new Error('boom'); })).toThrow('boom');
    expect(os.isGradEnabled()).toBe(true);
    const z = os.mul(x, 2);
    expect(z.requiresGrad).toBe(true);
    expect(z.node).not.toBeNull();
    const prev = os.setGradEnabled(false);
    const w = os.add(x, 1);
    os.setGradEnabled(prev);
    expect(w.requiresGrad).toBe(false);
    for (const t of [x, y, z, w]) t.dispose();
  });

  it('requiresGrad_ marks leaves and refuses to un-mark op outputs', () => {
    const x = os.tensor([1, 2]).requiresGrad_();
    expect(x.requiresGrad).toBe(true);
    const y = os.mul(x, 2);
    expectThrows(() => y.requiresGrad_(false), os.GradError, 'detach');
    x.requiresGrad_(false);
    expect(x.requiresGrad).toBe(false);
    x.dispose();
    y.dispose();
  });

  it('gradients reach only leaves that require grad', async () => {
    const a = os.tensor([1, 2], undefined, { requiresGrad: true }), b = os.tensor([3, 4]);
    const l = os.tidy(() => os.sum(os.mul(a, b)));
    l.backward();
    expectClose(await toHost(a.grad!), [3, 4]);
    expect(b.grad).toBeNull();
    for (const t of [a, b, l]) t.dispose();
  });
});

describe('memory', () => {
  it('liveTensors and bytesInUse return to their starting values after 200 tidy forward+backward steps', async () => {
    const p = os.tensor(Float32Array.from({ length: 12 }, (_, i) => (i - 6) / 10), [4, 3], { requiresGrad: true });
    const bias = os.zeros([3], { requiresGrad: true });
    const x = os.tensor(Float32Array.from({ length: 20 }, (_, i) => Math.sin(i)), [5, 4]);
    const y = os.tensor(Float32Array.from({ length: 15 }, (_, i) => Math.cos(i)), [5, 3]);
    const step = () => {
      os.tidy(() => {
        const h = os.silu(os.add(os.matmul(x, p), bias));
        const loss = os.add(os.mseLoss(h, y), os.mul(os.sum(os.square(p)), 1e-3));
        loss.backward();
      });
      for (const t of [p, bias]) {
        t.grad?.dispose();
        t.grad = null;
      }
    };
    step(); // warm the pool
    await p.data();
    const m0 = os.memory();
    for (let i = 0; i < 200; i++) step();
    await p.data();
    const m1 = os.memory();
    expect(m1.liveTensors).toBe(m0.liveTensors);
    expect(m1.bytesInUse).toBe(m0.bytesInUse);
    // and with gradients kept between steps (accumulation), disposing at the end
    for (let i = 0; i < 3; i++) os.tidy(() => os.sum(os.matmul(x, p)).backward());
    const colSums = [0, 1, 2, 3].map((i) => [0, 1, 2, 3, 4].reduce((s, n) => s + Math.fround(Math.sin(n * 4 + i)), 0));
    expectClose(await toHost(p.grad!), colSums.flatMap((c) => [3 * c, 3 * c, 3 * c]), { rtol: 1e-5, atol: 1e-5 });
    for (const t of [p, bias, x, y]) t.dispose();
  });

  it('a forward that is disposed without backward frees its whole graph', async () => {
    const x = os.tensor([1, 2, 3], undefined, { requiresGrad: true });
    await x.data();
    const m0 = os.memory();
    const loss = os.tidy(() => os.sum(os.softmax(os.mul(os.exp(x), x))));
    expect(os.memory().liveTensors).toBeGreaterThan(m0.liveTensors + 1); // intermediates held by the graph
    loss.dispose();
    const m1 = os.memory();
    expect(m1.liveTensors).toBe(m0.liveTensors);
    expect(m1.bytesInUse).toBe(m0.bytesInUse);
    x.dispose();
  });

  it('disposing the outputs of a retained graph frees what the graph held', async () => {
    const x = os.tensor([1, 2, 3], undefined, { requiresGrad: true });
    await x.data();
    const m0 = os.memory();
    const y = os.tidy(() => os.sum(os.exp(os.mul(x, 2))));
    y.backward(undefined, { retainGraph: true });
    x.grad!.dispose();
    x.grad = null;
    y.dispose();
    const m1 = os.memory();
    expect(m1.liveTensors).toBe(m0.liveTensors);
    expect(m1.bytesInUse).toBe(m0.bytesInUse);
    x.dispose();
  });

  // last in the file: while the engine leaks here, the leaked gradient could be finalised during a later test
  it('a leaf disposed before backward (e.g. created inside tidy) does not leak its gradient', async () => {
    const m0 = os.memory();
    const loss = os.tidy(() => {
      const w = os.tensor([1, 2, 3], undefined, { requiresGrad: true }); // disposed when tidy returns
      return os.sum(os.mul(w, w));
    });
    loss.backward();
    loss.dispose();
    const m1 = os.memory();
    expect(m1.liveTensors).toBe(m0.liveTensors);
    expect(m1.bytesInUse).toBe(m0.bytesInUse);
  });
});
