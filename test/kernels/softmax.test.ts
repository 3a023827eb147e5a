// test/kernels/softmax.test.ts: softmax / logSoftmax along any axis (kernels/softmax/), forward against
// kernels/softmax/reference.ts on odd shapes, more rows than a workgroup, and large logits. Backward: grad.test.ts.
import { describe, it } from 'vitest';
import * as os from '../../engine';
import { logSoftmaxRef, softmaxRef } from '../../kernels/softmax/reference';
import { checkOp, expectClose, toHost } from '../helpers';

describe('softmax / logSoftmax', () => {
  const SM: [number[], number][] = [
    [[17], -1],
    [[1], 0],
    [[5, 17], -1],
    [[5, 17], 0],
    [[3, 5, 7], 1],
    [[3, 5, 7], -1],
    [[2, 3, 4, 5], 2],
    [[2, 65], -1],
    [[70, 5], -1], // more rows than one 64-wide workgroup
    [[3, 70, 2], 1],
    [[4, 0, 3], 2],
  ];
  for (const [name, gpu, ref] of [
    ['softmax', os.softmax, softmaxRef],
    ['logSoftmax', os.logSoftmax, logSoftmaxRef],
  ] as const) {
    it(`${name} on axis -1 and middle axes`, async () => {
      for (const [shape, axis] of SM) {
        await checkOp(`${name}([${shape}], ${axis})`, [shape], (x) => gpu(x, axis), (x) => ref(x, axis), { atol: 2e-6, rtol: 1e-5, init: [-4, 4] });
      }
    });
    it(`${name} is stable for large logits`, async () => {
      await checkOp(`${name} large`, [[3, 33]], (x) => gpu(x, -1), (x) => ref(x, -1), { atol: 1e-4, rtol: 1e-5, init: [-300, 300] }); // |x| ≈ 300: float32 ulp 3e-5
      await checkOp(`${name} shifted`, [[3, 17]], (x) => gpu(x, 0), (x) => ref(x, 0), { atol: 1e-4, rtol: 1e-5, init: [1000, 1010] });
    });
  }
  it('method forms', async () => {
    const x = os.tensor([[1, 2, 3], [1, 1, 1]]);
    const s = x.softmax(), l = x.logSoftmax(0);
    expectClose(await toHost(s), softmaxRef({ data: Float64Array.of(1, 2, 3, 1, 1, 1), shape: [2, 3] }).data, { rtol: 1e-6 });
    expectClose(await toHost(l), logSoftmaxRef({ data: Float64Array.of(1, 2, 3, 1, 1, 1), shape: [2, 3] }, 0).data, { rtol: 1e-6, atol: 1e-6 });
    for (const t of [x, s, l]) t.dispose();
  });
});
