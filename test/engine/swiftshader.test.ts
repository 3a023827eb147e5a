// test/engine/swiftshader.test.ts: the smoke test on the second software driver (SwiftShader, from Debian's
// chromium): init picks it when asked, and a forward/backward/RNG run matches the host; attention takes its 4-lane
// subgroup kernels (SwiftShader's subgroups have 4 lanes, lavapipe's 8) and matches the float64 reference; without
// shader-f16 here, f16 tensors take the packed cast kernels; conv2d's forward takes the pixels-shared layout (p16x8).
import { describe, expect, it } from 'vitest';
import * as os from '../../engine';
import { attentionTunable, pickAttentionVariant } from '../../kernels/attention/dispatch';
import { hasShaderF16 } from '../../kernels/cast/dispatch';
import { convTunable } from '../../kernels/conv/dispatch';
import { conv2dRef } from '../../kernels/conv/reference';
import { roundToHalf } from '../../kernels/cast/reference';
import { attentionBackwardRef, attentionRef } from '../../kernels/attention/reference';
import { expectClose, fromHost, makeInputs, toHost } from '../helpers';

describe('SwiftShader adapter', () => {
  it('runs matmul, softmax, backward and randn', async () => {
    await os.init({ adapter: 'swiftshader', quiet: true });
    expect(os.device().adapterLabel).toMatch(/swiftshader/i);
    const x = os.tensor([[1, 2, 3], [4, 5, 6]], undefined, { requiresGrad: true });
    const w = os.tensor([[1, 0], [0, 1], [1, 1]], undefined, { requiresGrad: true });
    const loss = os.matmul(x, w).square().sum();
    loss.backward();
    expect(await loss.item()).toBe(262);
    expect(Array.from(await x.grad!.data())).toEqual([8, 10, 18, 20, 22, 42]);
    const r = await os.randn([1 << 14], { seed: 3 }).data();
    const mean = r.reduce((a, b) => a + b, 0) / r.length;
    expect(Math.abs(mean)).toBeLessThan(0.05);
  });

  it('attention forward and backward on 4-lane subgroups: the default and the unrolled tuner candidate', async () => {
    const dev = os.device();
    const variant = pickAttentionVariant(dev, 8);
    expect(variant.lanes).toBe(dev.features.has('subgroups') ? 4 : 1);
    const candidates = attentionTunable(dev, 'backward', { BH: 8, L: 256, S: 256, D: 64 }, false).candidates.map((v) => v.name);
    expect(candidates).toContain('subgroup4-u4');
    const [B, H, L, S, D] = [1, 3, 17, 33, 8];
    const [q, k, v, g] = makeInputs([[B, H, L, D], [B, H, S, D], [B, H, S, D], [B, H, L, D]], { seed: 11, init: [-1, 1] });
    for (const [causal, name] of [[false, variant.name], [true, variant.name], [false, 'subgroup4-u4'], [true, 'subgroup4-u4']] as const) {
      const [Q, K, V] = [q, k, v].map((x) => fromHost(x, true));
      const out = os.attention(Q, K, V, { causal, variant: name });
      out.backward(fromHost(g));
      const ref = attentionRef(q, k, v, { causal }), grads = attentionBackwardRef(q, k, v, g, { causal });
      const label = `${name}${causal ? ' causal' : ''}`;
      expectClose(await toHost(out), ref.out.data, { atol: 2e-6, rtol: 1e-4, shape: ref.out.shape, label: `${label} out` });
      for (const [t, r, name] of [[Q, grads.dq, 'dq'], [K, grads.dk, 'dk'], [V, grads.dv, 'dv']] as const) {
        expectClose(await toHost(t.grad!), r.data, { atol: 1e-5, rtol: 1e-4, shape: r.shape, label: `${label} ${name}` });
      }
      for (const t of [Q, K, V, out]) t.dispose();
    }
  });

  it('f16 tensors through the packed cast kernels', async () => {
    expect(hasShaderF16(os.device())).toBe(false);
    const xs = Float32Array.from({ length: 33 }, (_, i) => (i - 16) * 1234.567 + 1 / (i + 1));
    const h = os.tensor(xs, undefined, { dtype: 'f16' });
    const back = h.float();
    expect(Array.from(await back.data())).toEqual(Array.from(roundToHalf(xs)));
    // matmul reads the packed halves: [3, 11] @ [11, 3] of the same values, against the f32 product of the rounded ones
    const a = h.reshape([3, 11]), af = back.reshape([3, 11]), hf = back.reshape([11, 3]);
    const y = os.matmul(a, hf), want = os.matmul(af, hf);
    expectClose(await y.data(), await want.data(), { atol: 1e-3, rtol: 1e-6, label: 'matmul packed f16 × f32' });
    for (const t of [h, back, a, af, hf, y, want]) t.dispose();
  });

  it('conv2d forward defaults to the pixels-shared kernel here and matches the reference', async () => {
    const geom = { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 } as const;
    expect(convTunable(os.device(), { kind: 'forward', x: [2, 9, 9, 7], w: [12, 9, 3, 3], out: [9, 7], geom }).heuristic).toBe('p16x8');
    const [x, w, b] = makeInputs([[2, 9, 9, 7], [12, 9, 3, 3], [12]], { seed: 3 });
    const y = os.conv2d(fromHost(x), fromHost(w), fromHost(b), { padding: 1 });
    const ref = conv2dRef(x, w, b, { padding: 1 });
    expectClose(await toHost(y), ref.data, { atol: 1e-4, rtol: 1e-4, shape: ref.shape, label: 'conv2d p16x8' });
  });
});
