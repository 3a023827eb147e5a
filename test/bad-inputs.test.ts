// test/bad-inputs.test.ts: the bad-input catalogue. Each case expects a specific OnestepError subclass and a message
// that names the op and the offending shapes or values — never a crash, a hang, or a silently wrong result.
import { describe, expect, it } from 'vitest';
import * as os from '../engine';
import * as m from '../models';

type ErrClass = new (...a: never[]) => Error;

interface Case {
  name: string;
  run: () => unknown;
  error: ErrClass;
  /** Fragments the message must contain (op name, shapes/values, the fix). */
  says: (string | RegExp)[];
}

const t = (shape: number[]) => os.zeros(shape);

const CASES: Case[] = [
  // shapes that do not fit
  { name: 'matmul inner dims', run: () => os.matmul(t([2, 3]), t([4, 5])), error: os.ShapeError, says: ['matmul', '[2,3]', '[4,5]', 'K = 3 vs 4'] },
  { name: 'matmul batch dims', run: () => os.matmul(t([2, 2, 3]), t([3, 3, 4])), error: os.ShapeError, says: ['matmul', 'broadcast'] },
  { name: 'matmul of a scalar', run: () => os.matmul(os.tensor(1), t([2, 2])), error: os.ShapeError, says: ['matmul', 'use mul'] },
  { name: 'broadcast mismatch', run: () => os.add(t([2, 3]), t([4, 3])), error: os.ShapeError, says: ['add', '[2,3]', '[4,3]', 'equal or 1'] },
  { name: 'linear features', run: () => os.linear(t([4, 3]), t([5, 4])), error: os.ShapeError, says: ['linear', '[4,3]', '[5,4]', 'expects 4'] },
  { name: 'linear bias', run: () => os.linear(t([4, 3]), t([5, 3]), t([4])), error: os.ShapeError, says: ['linear', 'bias', '[5]'] },
  { name: 'conv2d channels', run: () => os.conv2d(t([1, 3, 8, 8]), t([8, 4, 3, 3])), error: os.ShapeError, says: ['conv2d', '3 channels', '[8,4,3,3]'] },
  { name: 'conv2d groups', run: () => os.conv2d(t([1, 6, 8, 8]), t([4, 3, 3, 3]), undefined, { groups: 4 }), error: os.OnestepError, says: ['conv2d', 'groups'] },
  { name: 'groupNorm groups do not divide channels', run: () => os.groupNorm(t([2, 6, 4]), 4), error: os.OnestepError, says: ['groupNorm', '6 channels', '4 groups'] },
  { name: 'groupNorm weight shape', run: () => os.groupNorm(t([2, 6, 4]), 3, t([5])), error: os.ShapeError, says: ['groupNorm', 'weight'] },
  { name: 'layerNorm normalized shape', run: () => os.layerNorm(t([2, 3]), [4]), error: os.ShapeError, says: ['layerNorm', '[2,3]', '[4]'] },
  { name: 'mseLoss shapes', run: () => os.mseLoss(t([2, 3]), t([3, 2])), error: os.ShapeError, says: ['mseLoss', '[2,3]', '[3,2]'] },
  { name: 'crossEntropy label out of range', run: () => os.crossEntropy(t([2, 3]), [0, 3]), error: os.ValueError, says: ['crossEntropy', 'label 3', '0..2'] },
  { name: 'crossEntropy label count', run: () => os.crossEntropy(t([2, 3]), [0]), error: os.ShapeError, says: ['crossEntropy', '1 labels'] },
  { name: 'cat shapes', run: () => os.cat([t([2, 3]), t([2, 4])], 0), error: os.ShapeError, says: ['cat', '[2,3]', '[2,4]'] },
  { name: 'reshape size', run: () => os.reshape(t([2, 3]), [4, 2]), error: os.ShapeError, says: ['reshape', '[2,3]', '[4,2]'] },
  { name: 'permute not a permutation', run: () => os.permute(t([2, 3]), [0, 0]), error: os.ShapeError, says: ['permute', '[0,0]'] },
  { name: 'expand impossible', run: () => os.expand(t([2, 3]), [4, 3]), error: os.ShapeError, says: ['expand', '[2,3]'] },
  { name: 'split sizes', run: () => os.split(t([5]), [2, 2]), error: os.ShapeError, says: ['split', '[2,2]', '5'] },
  // non-integer, negative and out-of-range values
  { name: 'negative dim', run: () => os.zeros([2, -1]), error: os.ValueError, says: ['full', '[2,-1]', 'non-negative integer'] },
  { name: 'non-integer dim', run: () => os.randn([2.5]), error: os.ValueError, says: ['randn', '2.5'] },
  { name: 'axis out of range', run: () => os.sum(t([2, 3]), 2), error: os.ValueError, says: ['sum', 'axis 2', '[2,3]'] },
  { name: 'softmax axis', run: () => os.softmax(t([2, 3]), 5), error: os.ValueError, says: ['softmax', 'axis 5'] },
  { name: 'clamp min > max', run: () => os.clamp(t([2]), 1, 0), error: os.ValueError, says: ['clamp', 'min 1 > max 0'] },
  { name: 'pad negative', run: () => os.pad(t([2, 2]), [-1, 0]), error: os.ValueError, says: ['pad', 'non-negative'] },
  { name: 'ragged nested array', run: () => os.tensor([[1, 2], [3]]), error: os.ValueError, says: ['tensor', 'ragged'] },
  { name: 'data does not fill shape', run: () => os.tensor([1, 2, 3], [2, 2]), error: os.ShapeError, says: ['tensor', '3 values', '[2,2]'] },
  { name: 'mean of nothing', run: () => os.mean(t([0, 3]), 0), error: os.ValueError, says: ['mean', '0 elements'] },
  { name: 'max of an empty tensor', run: () => os.max(t([0])), error: os.ValueError, says: ['max', 'empty'] },
  { name: 'dropout p', run: () => os.dropout(t([2]), 1.5), error: os.ValueError, says: ['dropout', '1.5'] },
  { name: 'manualSeed NaN', run: () => os.manualSeed(NaN), error: os.ValueError, says: ['manualSeed', 'NaN'] },
  { name: 'Linear non-integer size', run: () => new os.nn.Linear(2.5, 3), error: os.ValueError, says: ['Linear', 'inFeatures', '2.5'] },
  { name: 'unknown toy data set', run: () => m.toy2d('9gaussians'), error: os.ValueError, says: ['toy2d', '9gaussians', '8gaussians'] },
  // lifetime and autograd misuse
  {
    name: 'using a disposed tensor',
    run: () => {
      const x = t([2, 2]);
      x.dispose();
      return os.add(x, 1);
    },
    error: os.DisposedError, says: ['disposed', '[2,2]'],
  },
  {
    name: 'backward twice through a freed graph',
    run: () => {
      const x = os.ones([2], { requiresGrad: true });
      const y = os.sum(os.mul(x, x));
      y.backward();
      y.backward();
    },
    error: os.GradError, says: ['backward', 'freed', 'retainGraph'],
  },
  { name: 'backward on a non-scalar', run: () => os.mul(os.ones([3], { requiresGrad: true }), 2).backward(), error: os.GradError, says: ['backward', '[3]', 'not a scalar'] },
  { name: 'backward without requiresGrad', run: () => os.sum(t([3])).backward(), error: os.GradError, says: ['backward', 'does not require grad'] },
  { name: 'backward with a mis-shaped gradient', run: () => os.mul(os.ones([3], { requiresGrad: true }), 2).backward(t([2])), error: os.ShapeError, says: ['backward', '[2]', '[3]'] },
  { name: 'item on a non-scalar', run: () => t([2]).item(), error: os.ShapeError, says: ['item', '[2]'] },
  // state dicts
  {
    name: 'loadStateDict missing, unexpected and mis-shaped keys',
    run: () => {
      const l = new os.nn.Linear(3, 2);
      l.loadStateDict({ weight: t([3, 3]), extra: t([1]) });
    },
    error: os.StateDictError, says: ['loadStateDict', 'missing keys: bias', 'unexpected keys: extra', 'weight expected [2,3] got [3,3]', 'strict: false'],
  },
  // files
  { name: 'truncated safetensors', run: () => os.io.decodeSafetensors(new Uint8Array([1, 2, 3])), error: os.FormatError, says: ['safetensors'] },
  { name: 'npy with a bad magic', run: () => os.io.decodeNpy(new TextEncoder().encode('not an npy file at all')), error: os.FormatError, says: ['npy'] },
];

describe('bad-input catalogue', () => {
  it(`has at least 30 cases (${CASES.length})`, () => expect(CASES.length).toBeGreaterThanOrEqual(30));
  for (const c of CASES) {
    it(c.name, async () => {
      let caught: unknown = null;
      try {
        await c.run();
      } catch (e) {
        caught = e;
      }
      expect(caught, `${c.name}: expected ${c.error.name}, nothing was thrown`).toBeInstanceOf(c.error);
      expect(caught).toBeInstanceOf(os.OnestepError);
      const msg = (caught as Error).message;
      for (const s of c.says) {
        if (typeof s === 'string') expect(msg, `${c.name}: message should mention "${s}"`).toContain(s);
        else expect(msg).toMatch(s);
      }
    });
  }
  it('mixing tensors from two devices is refused', async () => {
    const a = os.ones([2]);
    await os.init({ quiet: true }); // a second device on the same adapter as the first (whatever this machine has)
    const b = os.ones([2]);
    expect(() => os.add(a, b)).toThrow(os.OnestepError);
    expect(() => os.add(a, b)).toThrow(/different devices/);
  });
});
