// test/kernels/pool.test.ts: avgPool2d and upsampleNearest2d (kernels/pool/) forward against kernels/pool/reference.ts
// on odd sizes, backward against finite differences, and the errors.
import { describe, expect, it } from 'vitest';
import * as os from '../../engine';
import { avgPool2dRef, upsampleNearest2dRef } from '../../kernels/pool/reference';
import { checkOp, expectThrows } from '../helpers';

type P = number | [number, number];
// [kernel, stride, padding]
const WINDOWS: [P, P | undefined, P][] = [
  [2, undefined, 0], [2, 1, 0], [2, 2, 1], [3, 1, 1], [3, 2, 0], [3, 2, 1], [3, 3, 1], [1, 1, 0], [[2, 3], [1, 2], [1, 0]], [[3, 1], 2, [1, 0]],
];
const G = { grads: true, atol: 1e-5, rtol: 1e-5 } as const;

describe('avgPool2d', () => {
  it('forward on odd sizes, kernel 2/3, stride 1/2, padding 0/1', async () => {
    for (const shape of [[2, 3, 7, 9], [1, 2, 5, 5], [3, 6, 6], [1, 1, 4, 3], [2, 4, 33, 31]]) {
      for (const [k, s, p] of WINDOWS) {
        if (Math.min(...shape.slice(-2)) + 2 * Math.max(...[p].flat()) < Math.max(...[k].flat())) continue;
        await checkOp(`avgPool2d [${shape}] k${k} s${s} p${p}`, [shape], (x) => os.avgPool2d(x, k, s, p), (x) => avgPool2dRef(x, k, s, p));
      }
    }
  });

  it('backward vs finite differences', async () => {
    for (const shape of [[1, 2, 5, 6], [2, 1, 7, 5], [3, 4, 5]]) {
      for (const [k, s, p] of WINDOWS) await checkOp(`avgPool2d grad [${shape}] k${k} s${s} p${p}`, [shape], (x) => os.avgPool2d(x, k, s, p), (x) => avgPool2dRef(x, k, s, p), G);
    }
  });

  it('rejects bad windows with errors naming the op and the fix', () => {
    const x = os.zeros([1, 2, 4, 4]);
    expectThrows(() => os.avgPool2d(x, 0), os.ValueError, 'avgPool2d', 'kernelSize');
    expectThrows(() => os.avgPool2d(x, 2, 0), os.ValueError, 'avgPool2d', 'stride');
    expectThrows(() => os.avgPool2d(x, 2, 1, -1), os.ValueError, 'avgPool2d', 'padding');
    expectThrows(() => os.avgPool2d(x, 2, 1, 2), os.ValueError, 'avgPool2d', 'half the kernel');
    expectThrows(() => os.avgPool2d(x, 5), os.ShapeError, 'avgPool2d', '[1,2,4,4]', 'smaller than the kernel');
    expectThrows(() => os.avgPool2d(x, 1.5), os.ValueError, 'avgPool2d');
    const flat = os.zeros([4, 4]);
    expectThrows(() => os.avgPool2d(flat, 2), os.ShapeError, 'avgPool2d', '[4,4]', '[N, C, H, W]');
    for (const t of [x, flat]) t.dispose();
  });
});

describe('upsampleNearest2d', () => {
  it('forward, scale 1/2/3 and per-axis factors', async () => {
    for (const shape of [[2, 3, 5, 7], [1, 1, 1, 1], [3, 4, 3]]) {
      for (const s of [1, 2, 3, [2, 3], [3, 1]] as P[]) {
        await checkOp(`upsample [${shape}] x${s}`, [shape], (x) => os.upsampleNearest2d(x, s), (x) => upsampleNearest2dRef(x, s));
      }
    }
  });

  it('backward vs finite differences', async () => {
    for (const s of [2, 3, [2, 3]] as P[]) {
      await checkOp(`upsample grad [1,2,3,4] x${s}`, [[1, 2, 3, 4]], (x) => os.upsampleNearest2d(x, s), (x) => upsampleNearest2dRef(x, s), G);
      await checkOp(`upsample grad [2,5,3] x${s}`, [[2, 5, 3]], (x) => os.upsampleNearest2d(x, s), (x) => upsampleNearest2dRef(x, s), G);
    }
  });

  it('pool ∘ upsample round-trips a constant-per-block image, one dispatch each way', async () => {
    const x = os.randn([2, 3, 4, 5], { seed: 1 });
    const d0 = os.memory().dispatches;
    const up = os.upsampleNearest2d(x, 2), back = os.avgPool2d(up, 2);
    expect(os.memory().dispatches - d0).toBe(2);
    expect(Array.from(await back.data())).toEqual(Array.from(await x.data()));
    for (const t of [x, up, back]) t.dispose();
  });

  it('rejects non-integer or zero factors', () => {
    const x = os.zeros([1, 1, 2, 2]);
    expectThrows(() => os.upsampleNearest2d(x, 1.5), os.ValueError, 'upsampleNearest2d', 'scale', '1.5');
    expectThrows(() => os.upsampleNearest2d(x, 0), os.ValueError, 'upsampleNearest2d', 'scale');
    expectThrows(() => os.upsampleNearest2d(x, [2, 0]), os.ValueError, 'upsampleNearest2d');
    const v = os.zeros([2]);
    expectThrows(() => os.upsampleNearest2d(v, 2), os.ShapeError, 'upsampleNearest2d', '[2]');
    for (const t of [x, v]) t.dispose();
  });
});
