// test/kernels/layout.test.ts: shape ops (reshape flatten squeeze unsqueeze permute transpose expand cat stack split slice
// pad) and the gather / scatter / embed kernels of kernels/layout/dispatch.ts, forward against kernels/layout/reference.ts.
// Backward: test/engine/grad.test.ts.
import { describe, it, expect } from 'vitest';
import * as os from '../../engine';
import { embed, filled, gather, mergeEmbedDims, scatterInto } from '../../kernels/layout/dispatch';
import { fmtShape } from '../../engine/errors';
import { prefersRangeCopies } from '../../runtime';
import {
  catRef, embedRef, expandRef, flattenRef, gatherRef, padRef, permuteRef, reshapeRef, scatterRef, sliceRef, splitRef, squeezeRef, stackRef, transposeRef,
  unsqueezeRef,
} from '../../kernels/layout/reference';
import { reduceRef } from '../../kernels/reduce/reference';
import { checkOp, expectClose, expectThrows, fromHost, makeInputs, toHost } from '../helpers';

describe('views: reshape / flatten / squeeze / unsqueeze', () => {
  it('reshape (incl. -1, 0-d, size-0)', async () => {
    const cases: [number[], number[]][] = [
      [[3, 5, 7], [15, 7]], [[3, 5, 7], [-1]], [[3, 5, 7], [7, -1, 3]], [[17], [1, 17, 1]], [[], [1, 1]], [[1], []], [[0, 3], [3, 0]], [[0, 3], [-1, 3]],
    ];
    for (const [s, t] of cases) await checkOp(`reshape [${s}] → [${t}]`, [s], (x) => os.reshape(x, t), (x) => reshapeRef(x, t));
    await checkOp('view method', [[4, 6]], (x) => x.view([2, 12]), (x) => reshapeRef(x, [2, 12]));
  });
  it('flatten', async () => {
    const cases: [number[], number, number][] = [[[2, 3, 5], 0, -1], [[2, 3, 5, 7], 1, 2], [[2, 3, 5, 7], 1, -1], [[2, 3, 5], -2, -1], [[], 0, -1], [[17], 0, 0]];
    for (const [s, a, b] of cases) await checkOp(`flatten [${s}] ${a}..${b}`, [s], (x) => os.flatten(x, a, b), (x) => flattenRef(x, a, b));
  });
  it('squeeze / unsqueeze', async () => {
    const sq: [number[], number | undefined][] = [[[1, 3, 1, 5], undefined], [[1, 3, 1, 5], 2], [[1, 3, 1, 5], -4], [[1, 3, 1, 5], 1], [[1], undefined], [[1, 1], 0]];
    for (const [s, d] of sq) await checkOp(`squeeze [${s}] ${d}`, [s], (x) => os.squeeze(x, d), (x) => squeezeRef(x, d));
    const un: [number[], number][] = [[[3, 5], 0], [[3, 5], 1], [[3, 5], 2], [[3, 5], -1], [[3, 5], -3], [[], 0]];
    for (const [s, d] of un) await checkOp(`unsqueeze [${s}] ${d}`, [s], (x) => os.unsqueeze(x, d), (x) => unsqueezeRef(x, d));
  });
  const BAD_DIMS: [string, (x: os.Tensor) => unknown][] = [
    ['unsqueeze(x, 3)', (x) => os.unsqueeze(x, 3)],
    ['unsqueeze(x, -4)', (x) => os.unsqueeze(x, -4)],
    ['squeeze(x, 2)', (x) => os.squeeze(x, 2)],
    ['transpose(x, 0, 2)', (x) => os.transpose(x, 0, 2)],
    ['flatten(x, 2)', (x) => os.flatten(x, 2)],
    ['flatten(x, 0, 5)', (x) => os.flatten(x, 0, 5)],
    ['split(x, 0)', (x) => os.split(x, 0)],
    ['cat([x], 2)', (x) => os.cat([x], 2)],
    ['permute(x, [0.5, 1])', (x) => os.permute(x, [0.5, 1])],
  ];
  for (const [name, f] of BAD_DIMS) {
    it(`${name} on [3,5] throws a OnestepError (invalid dim or size)`, () => {
      const x = os.zeros([3, 5]);
      let out: unknown = null;
      try {
        expectThrows(() => (out = f(x)), os.OnestepError);
      } finally {
        if (out instanceof os.Tensor) out.dispose();
        x.dispose();
      }
    });
  }
  it('rejects sizes that do not match', () => {
    const x = os.zeros([3, 5]);
    expectThrows(() => os.reshape(x, [4, 4]), os.ShapeError, '[3,5]', '[4,4]');
    expectThrows(() => os.reshape(x, [-1, -1]), os.ShapeError);
    expectThrows(() => os.reshape(x, [-1, 4]), os.ShapeError);
    expectThrows(() => os.reshape(x, [-3, 5]), os.OnestepError);
    x.dispose();
  });
});

describe('permute / transpose / expand', () => {
  it('permute', async () => {
    const cases: [number[], number[]][] = [
      [[3, 5], [1, 0]], [[3, 5, 7], [2, 0, 1]], [[3, 5, 7], [0, 2, 1]], [[2, 3, 4, 5], [3, 1, 0, 2]], [[2, 1, 3, 1], [3, 2, 1, 0]], [[65, 33], [1, 0]],
      [[3, 5, 7], [-1, 0, 1]], [[0, 3, 2], [2, 0, 1]], [[], []], [[2, 3, 2, 3, 2, 3, 2, 3], [7, 6, 5, 4, 3, 2, 1, 0]], // 8 strided dims: the kernels' MAX_DIMS
    ];
    for (const [s, p] of cases) await checkOp(`permute [${s}] ${p}`, [s], (x) => os.permute(x, p), (x) => permuteRef(x, p));
  });
  it('transpose', async () => {
    const cases: [number[], number, number][] = [[[3, 5], -2, -1], [[3, 5, 7], 0, 2], [[3, 5, 7], 1, -1], [[17, 1], 0, 1]];
    for (const [s, a, b] of cases) await checkOp(`transpose [${s}] ${a} ${b}`, [s], (x) => os.transpose(x, a, b), (x) => transposeRef(x, a, b));
    await checkOp('transpose method', [[3, 5]], (x) => x.transpose(), (x) => transposeRef(x));
  });
  it('expand (new leading dims, -1, size-1 dims, same shape)', async () => {
    const cases: [number[], number[]][] = [
      [[3, 1], [3, 4]], [[1, 4], [3, 4]], [[17], [5, 17]], [[], [2, 3]], [[3, 1, 5], [2, 3, 4, 5]], [[3, 1], [-1, 6]], [[3, 4], [3, 4]], [[1], [0]], [[2, 1], [2, 0]],
    ];
    for (const [s, t] of cases) await checkOp(`expand [${s}] → [${t}]`, [s], (x) => os.expand(x, t), (x) => expandRef(x, t));
  });
  it('rejects bad permutations and expansions', () => {
    const x = os.zeros([3, 2]);
    expectThrows(() => os.permute(x, [0, 0]), os.ShapeError, 'permute');
    expectThrows(() => os.permute(x, [0]), os.ShapeError);
    expectThrows(() => os.permute(x, [0, 2]), os.ShapeError);
    expectThrows(() => os.expand(x, [3, 4]), os.ShapeError, 'expand');
    expectThrows(() => os.expand(x, [6]), os.ShapeError);
    x.dispose();
  });
});

describe('slice / split / cat / stack / pad', () => {
  it('slice with steps, negative and clamped indices', async () => {
    const cases: [number[], number[], number[] | undefined, number[] | undefined][] = [
      [[17], [2], [15], undefined],
      [[17], [1], [17], [3]],
      [[17], [-5], [100], [2]],
      [[5, 17], [1, 3], [4, 16], [2, 5]],
      [[5, 17], [0, -3], [5, 100], [1, 1]],
      [[3, 5, 7], [0, 1, 2], [3, 5, 7], [2, 3, 2]],
      [[3, 5, 7], [1], [2], undefined],
      [[3, 5, 7], [2, 0, 0], [1, 5, 7], undefined], // empty
      [[65, 33], [3, 4], [64, 33], [7, 4]],
      [[4, 6], [-100, -2], [100, -1], undefined],
    ];
    for (const [s, st, en, sp] of cases) {
      await checkOp(`slice [${s}] ${st}:${en}:${sp}`, [s], (x) => os.slice(x, st, en, sp), (x) => sliceRef(x, st, en, sp));
    }
    const x = os.zeros([4]);
    expectThrows(() => os.slice(x, [0], [4], [0]), os.ValueError, 'slice');
    expectThrows(() => os.slice(x, [0], [4], [-1]), os.ValueError);
    x.dispose();
  });
  it('split by size and by list', async () => {
    const cases: [number[], number | number[], number][] = [[[17], 5, 0], [[5, 17], [3, 0, 14], 1], [[5, 17], [2, 3], 0], [[3, 5, 7], 3, -1], [[4, 3], 4, 0]];
    for (const [s, sizes, d] of cases) await checkOp(`split [${s}] ${sizes} dim ${d}`, [s], (x) => os.split(x, sizes, d), (x) => splitRef(x, sizes, d));
    const x = os.zeros([5, 4]);
    expectThrows(() => os.split(x, [2, 2], 0), os.ShapeError, 'split');
    x.dispose();
  });
  it('cat along first, middle, last dims (incl. a size-0 piece and a repeated tensor)', async () => {
    await checkOp('cat dim 0', [[3, 5], [1, 5], [4, 5]], (a, b, c) => os.cat([a, b, c], 0), (a, b, c) => catRef([a, b, c], 0));
    await checkOp('cat dim 1', [[2, 3, 4], [2, 5, 4], [2, 0, 4]], (a, b, c) => os.cat([a, b, c], 1), (a, b, c) => catRef([a, b, c], 1));
    await checkOp('cat dim -1', [[2, 3, 4], [2, 3, 1]], (a, b) => os.cat([a, b], -1), (a, b) => catRef([a, b], -1));
    await checkOp('cat single', [[17]], (a) => os.cat([a]), (a) => catRef([a]));
    await checkOp('cat repeated', [[3, 2]], (a) => os.cat([a, a], 1), (a) => catRef([a, a], 1));
    await checkOp('cat 0-size dim 0', [[0, 3], [2, 3]], (a, b) => os.cat([a, b], 0), (a, b) => catRef([a, b], 0));
    const a = os.zeros([2, 3]), b = os.zeros([3, 2]);
    expectThrows(() => os.cat([a, b], 0), os.ShapeError, 'cat', '[2,3]', '[3,2]');
    expectThrows(() => os.cat([]), os.ValueError);
    a.dispose();
    b.dispose();
  });
  it('stack along new first, middle, last dims', async () => {
    for (const d of [0, 1, 2, -1, -2]) {
      await checkOp(`stack dim ${d}`, [[3, 5], [3, 5], [3, 5]], (a, b, c) => os.stack([a, b, c], d), (a, b, c) => stackRef([a, b, c], d));
    }
    await checkOp('stack 0-d', [[], []], (a, b) => os.stack([a, b]), (a, b) => stackRef([a, b]));
  });
  it('pad (last dim, two dims, value, zero pads)', async () => {
    const cases: [number[], number[], number][] = [
      [[17], [2, 3], 0], [[3, 5], [1, 0, 0, 2], -1.5], [[2, 3, 5], [0, 0, 1, 1, 2, 0], 0], [[2, 3, 5], [0, 0], 7], [[3, 0], [1, 1], 2], [[2, 3], [1, 1, 1, 1], 0.25],
    ];
    for (const [s, p, v] of cases) await checkOp(`pad [${s}] ${p} ${v}`, [s], (x) => os.pad(x, p, v), (x) => padRef(x, p, v));
    const x = os.zeros([2, 3]);
    expectThrows(() => os.pad(x, [1]), os.ShapeError, 'pad');
    expectThrows(() => os.pad(x, [1, 1, 1, 1, 1, 1]), os.ShapeError);
    expectThrows(() => os.pad(x, [-1, 0]), os.ValueError);
    x.dispose();
  });
});

describe('embed (pad forward, slice backward)', () => {
  it('matches the reference: odd shapes, starts, steps, a fill value, 0-d and empty windows', async () => {
    const cases: [number[], number[], number[], number[], number][] = [
      [[17], [3], [2], [2], 0], // window [2, 4, 6]
      [[1], [1], [0], [1], 5],
      [[5, 17], [2, 4], [1, 3], [2, 3], -1.5],
      [[3, 5, 7], [3, 2, 3], [0, 1, 0], [1, 2, 3], 0.25],
      [[33, 70], [33, 70], [0, 0], [1, 1], 9], // the whole tensor: no fill left
      [[4, 6], [0, 2], [1, 0], [1, 1], 2], // empty window: all fill
      [[], [], [], [], 0],
      // merged dims (mergeEmbedDims): whole trailing dims fold into the sliced one …
      [[3, 4, 2, 7, 5], [1, 4, 2, 7, 5], [2, 0, 0, 0, 0], [1, 1, 1, 1, 1], 0],
      [[4, 5, 6], [4, 2, 6], [0, 1, 0], [1, 1, 1], 3],
      // … but not into a stepped one, and a stepped inner dim stays apart
      [[6, 4, 3], [3, 4, 3], [1, 0, 0], [2, 1, 1], -2],
      [[2, 3, 9], [2, 3, 4], [0, 0, 1], [1, 1, 2], 1],
    ];
    let seed = 7;
    for (const [shape, win, start, step, v] of cases) {
      const [src] = makeInputs([win], { seed: seed++ });
      const t = fromHost(src);
      const out = embed(t, shape, start, step, v);
      expectClose(await toHost(out), embedRef(src, shape, start, step, v).data, { atol: 0, rtol: 0, shape, label: `embed ${fmtShape(win)} into ${fmtShape(shape)} at ${start} step ${step}` });
      t.dispose();
      out.dispose();
    }
  });
  it('merges dims its window covers whole into the dim outside them, unless that dim is stepped', () => {
    expect(mergeEmbedDims([3, 16, 2, 64, 32], [1, 16, 2, 64, 32], [2, 0, 0, 0, 0], [1, 1, 1, 1, 1])).toEqual({ shape: [196608], window: [65536], start: [131072], step: [1] });
    expect(mergeEmbedDims([8, 4, 9, 9], [8, 4, 7, 7], [0, 0, 1, 1], [1, 1, 1, 1])).toEqual({ shape: [32, 9, 9], window: [32, 7, 7], start: [0, 1, 1], step: [1, 1, 1] });
    expect(mergeEmbedDims([6, 4, 3], [3, 4, 3], [1, 0, 0], [2, 1, 1])).toEqual({ shape: [6, 12], window: [3, 12], start: [1, 0], step: [2, 1] });
    expect(mergeEmbedDims([], [], [], [])).toEqual({ shape: [1], window: [1], start: [0], step: [1] });
  });

  it('pad and slice backward take one dispatch each', async () => {
    const x = os.randn([3, 5], { seed: 1 }).requiresGrad_();
    const d0 = os.memory().dispatches;
    const y = os.pad(x, [1, 2]);
    expect(os.memory().dispatches - d0).toBe(1);
    const s = os.slice(x, [1, 0], [3, 5], [1, 2]), g = os.onesLike(s);
    const d1 = os.memory().dispatches;
    s.backward(g);
    expect(os.memory().dispatches - d1).toBe(1);
    for (const t of [x, y, s, g]) t.dispose();
  });

  it('slices and cats that move one contiguous range are buffer copies where copies are cheaper (lavapipe)', async () => {
    const copies = prefersRangeCopies(os.device());
    const x = os.randn([33, 5], { seed: 2 }), y = os.randn([17, 5], { seed: 3 });
    const host = await x.data(), hy = await y.data();
    const d0 = os.memory().dispatches;
    const rows = os.slice(x, [3], [20]); // rows 3..19: one range
    const one = os.slice(x, [4, 2], [5, 3]); // a single element
    const c = os.cat([rows, y, one.reshape([1, 1]).expand([1, 5])], 0);
    const d1 = os.memory().dispatches;
    // the expand's gather; the two slices and the three parts of the cat are copies, or dispatches where copies cost more
    expect(d1 - d0).toBe(copies ? 1 : 6);
    expect(Array.from(await rows.data())).toEqual(Array.from(host.subarray(15, 100)));
    expect(Array.from(await one.data())).toEqual([host[22]]);
    expect(Array.from(await c.data())).toEqual([...host.subarray(15, 100), ...hy, ...Array(5).fill(host[22])]);
    const cols = os.slice(x, [0, 1], [33, 3]); // a strided window: still a dispatch
    expect(os.memory().dispatches - d1).toBe(1);
    expectClose(await cols.data(), sliceRef({ data: Float64Array.from(host), shape: [33, 5] }, [0, 1], [33, 3]).data, { rtol: 0, atol: 0, label: 'columns' });
    for (const t of [x, y, rows, one, c, cols]) t.dispose();
  });
});

describe('oneHot / sumTo', () => {
  it('oneHot along the last and a middle axis', async () => {
    const labels = os.tensor([[0, 2], [1, 3]]);
    const last = os.oneHot(labels, 4), mid = os.oneHot(labels, 4, 1);
    expect(last.shape).toEqual([2, 2, 4]);
    expect(await last.array()).toEqual([[[1, 0, 0, 0], [0, 0, 1, 0]], [[0, 1, 0, 0], [0, 0, 0, 1]]]);
    expect(mid.shape).toEqual([2, 4, 2]);
    expectClose(await toHost(mid), permuteRef(await toHostT(last), [0, 2, 1]).data);
    for (const t of [labels, last, mid]) t.dispose();
  });
  it('sumTo sums broadcast dims back', async () => {
    const cases: [number[], number[]][] = [[[3, 4], [1, 4]], [[3, 4], [3, 1]], [[2, 3, 4], [4]], [[2, 3, 4], [3, 1]], [[2, 3, 4], []], [[3, 4], [3, 4]]];
    for (const [s, t] of cases) {
      await checkOp(`sumTo [${s}] → [${t}]`, [s], (x) => os.sumTo(x, t), (x) => {
        const lead = s.length - t.length;
        const axes = s.map((n, d) => d).filter((d) => d < lead || (t[d - lead] === 1 && s[d] !== 1));
        return reshapeRef(reduceRef('sum', x, axes, true), t);
      });
    }
  });
});

async function toHostT(t: os.Tensor) {
  return { data: await toHost(t), shape: [...t.shape] };
}

describe('gather / scatter kernels', () => {
  it('gather reads arbitrary strided windows', async () => {
    const [x] = makeInputs([[6, 7, 5]], { seed: 5 });
    const t = fromHost(x);
    const cases: [number[], number[], number][] = [
      [[6, 7, 5], [35, 5, 1], 0],
      [[3, 7, 5], [70, 5, 1], 0],
      [[5, 7, 6], [1, 5, 35], 0],
      [[2, 3, 2], [70, 10, 2], 37],
      [[4, 4], [0, 1], 3],
      [[210], [1], 0],
      [[3, 1, 4], [5, 100, 1], 1],
    ];
    for (const [shape, strides, offset] of cases) {
      const g = gather(t, shape, strides, offset);
      const ref = gatherRef(x.data, shape, strides, offset);
      expect(g.shape).toEqual(ref.shape);
      expectClose(await toHost(g), ref.data, { label: `gather [${shape}] strides [${strides}] +${offset}`, shape });
      g.dispose();
    }
    t.dispose();
  });
  it('scatterInto writes a strided window and leaves the rest', async () => {
    const [src] = makeInputs([[3, 4, 2]], { seed: 9 });
    const cases: [number[], number[], number][] = [
      [[3, 4, 2], [8, 2, 1], 0],
      [[5, 6, 4], [24, 4, 1], 29],
      [[3, 4, 2], [1, 3, 12], 0],
      [[7, 9], [18, 2, 1], 10],
    ];
    for (const [dstShape, strides, offset] of cases) {
      const dst = filled(dstShape, -7);
      const s = fromHost(src);
      scatterInto(dst, s, strides, offset);
      const want = new Float64Array(dstShape.reduce((a, b) => a * b, 1)).fill(-7);
      scatterRef(want, src, strides, offset);
      expectClose(await toHost(dst), want, { label: `scatter into [${dstShape}] strides [${strides}] +${offset}` });
      dst.dispose();
      s.dispose();
    }
  });
});
