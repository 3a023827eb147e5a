// test/kernels/attention.test.ts: fused attention (kernels/attention/, engine/attention.ts), every variant of
// ATTENTION_VARIANTS: forward output and saved log-sum-exp against kernels/attention/reference.ts for L 1/17/70/256,
// D 8/32/64, B·H 1/3, causal or not, default or custom scale, S ≠ L; gradients against finite differences (tiny
// inputs) and the float64 backward (larger ones); memory (forward keeps only out + LSE); nn.MultiheadSelfAttention2d
// against a host composition (GroupNorm → 1×1 conv → EDM head split → attention → 1×1 conv + x) and its gradients;
// errors.
import { describe, expect, it } from 'vitest';
import * as os from '../../engine';
import { sizeClass } from '../../runtime/buffer-pool';
import { multiheadSelfAttention2d } from '../../engine/nn/attention';
import { isSwiftShader } from '../../runtime';
import { ATTENTION_VARIANTS, attentionForward, attentionTunable, pickAttentionVariant } from '../../kernels/attention/dispatch';
import { attentionBackwardRef, attentionRef } from '../../kernels/attention/reference';
import type { HostTensor } from '../../kernels/elementwise/reference';
import { groupNormRef } from '../../kernels/norm/reference';
import { expectClose, expectThrows, fromHost, gradcheck, makeInputs, toHost } from '../helpers';

/** [B, H, L, S, D, causal, scale]; scale undefined = the default 1/√D. */
type Case = [number, number, number, number, number, boolean, number | undefined];

// L 1/17/70 × D 8/32/64 × causal, alternating B·H 1 and 3 (as [1,3] or [3,1]) and default/custom scale
const FWD_CASES: Case[] = [];
for (const L of [1, 17, 70]) {
  for (const D of [8, 32, 64]) {
    for (const causal of [false, true]) {
      const n = FWD_CASES.length;
      const [B, H] = n % 3 === 0 ? [1, 1] : n % 3 === 1 ? [1, 3] : [3, 1];
      FWD_CASES.push([B, H, L, L, D, causal, n % 2 ? 0.3 : undefined]);
    }
  }
}
// cross-attention shapes (S ≠ L, causal is top-left aligned) and one long sequence
FWD_CASES.push([1, 2, 17, 33, 8, true, undefined], [2, 1, 33, 5, 32, false, 1.7], [1, 2, 256, 256, 32, true, undefined]);

const inputs = ([B, H, L, S, D]: Case, seed: number) => makeInputs([[B, H, L, D], [B, H, S, D], [B, H, S, D]], { seed, init: [-1, 1] });
const label = ([B, H, L, S, D, causal, scale]: Case, variant: string) => `${variant} B=${B} H=${H} L=${L} S=${S} D=${D}${causal ? ' causal' : ''}${scale ? ` scale=${scale}` : ''}`;

describe('attention forward, every variant', () => {
  for (const variant of ATTENTION_VARIANTS) {
    it(variant.name, async () => {
      // issue every case, then read all back (one submit). Unrolled kernels skip D 64 here: lavapipe compiles them for
      // ~30 s there, and D 8 and 32 run the same generator (test/engine/swiftshader.test.ts runs them where they pay)
      const pending = FWD_CASES.filter((c) => !variant.unroll || c[4] <= 32).map((c, i) => {
        const [q, k, v] = inputs(c, i + 1);
        const [, , , , D, causal, scale] = c;
        const t = [q, k, v].map((x) => fromHost(x));
        const { out, lse } = attentionForward(t[0], t[1], t[2], { scale: scale ?? 1 / Math.sqrt(D), causal, variant });
        return { c, ref: attentionRef(q, k, v, { scale, causal }), out, lse, t };
      });
      for (const p of pending) {
        const [out, lse] = await Promise.all([toHost(p.out), toHost(p.lse)]);
        expectClose(out, p.ref.out.data, { atol: 2e-6, rtol: 1e-4, shape: p.ref.out.shape, label: `${label(p.c, variant.name)} out` });
        expectClose(lse, p.ref.lse.data, { atol: 2e-6, rtol: 1e-5, shape: p.ref.lse.shape, label: `${label(p.c, variant.name)} lse` });
        for (const t of [...p.t, p.out, p.lse]) t.dispose();
      }
    });
  }

  it('plain variants take any head dim (D = 6, 13); large scores stay finite', async () => {
    for (const variant of ATTENTION_VARIANTS.filter((v) => v.lanes === 1 && !v.shared)) {
      for (const c of [[2, 1, 9, 9, 6, true, undefined], [1, 1, 5, 11, 13, false, 0.2]] as Case[]) {
        const [q, k, v] = inputs(c, 5);
        const out = os.attention(fromHost(q), fromHost(k), fromHost(v), { causal: c[5], scale: c[6], variant });
        expectClose(await toHost(out), attentionRef(q, k, v, { causal: c[5], scale: c[6] }).out.data, { atol: 2e-6, rtol: 1e-4, label: label(c, variant.name) });
      }
    }
    // scores up to ±400: the online softmax must not overflow
    const [q, k, v] = makeInputs([[1, 1, 20, 8], [1, 1, 20, 8], [1, 1, 20, 8]], { seed: 3, init: [[-10, 10], [-10, 10], [-1, 1]] });
    const out = os.attention(fromHost(q), fromHost(k), fromHost(v), { scale: 1 });
    expectClose(await toHost(out), attentionRef(q, k, v, { scale: 1 }).out.data, { atol: 1e-5, rtol: 1e-4, label: 'large scores' });
  });

  it('D = 128, the largest head dim, with the default variant', async () => {
    const c: Case = [1, 2, 21, 13, 128, true, undefined];
    const [q, k, v] = inputs(c, 9);
    const out = os.attention(fromHost(q), fromHost(k), fromHost(v), { causal: true });
    expectClose(await toHost(out), attentionRef(q, k, v, { causal: true }).out.data, { atol: 2e-6, rtol: 1e-4, label: label(c, 'default') });
  });

  it('matches a composition of matmul + softmax + matmul through the engine', async () => {
    const [q, k, v] = makeInputs([[2, 2, 17, 8], [2, 2, 17, 8], [2, 2, 17, 8]], { seed: 11, init: [-1, 1] });
    const [Q, K, V] = [q, k, v].map((x) => fromHost(x));
    const fused = os.attention(Q, K, V);
    const composed = os.matmul(os.softmax(os.mul(os.matmul(Q, K, { transB: true }), 1 / Math.sqrt(8)), -1), V);
    expectClose(await toHost(fused), await toHost(composed), { atol: 1e-6, rtol: 1e-5 });
  });
});

/** q, k, v → attention(q, k, v) on the GPU; the host side is the float64 reference. */
const gpu = (o: os.AttentionOptions) => (q: os.Tensor, k: os.Tensor, v: os.Tensor) => os.attention(q, k, v, o);
const host = (o: { scale?: number; causal?: boolean }) => (q: HostTensor, k: HostTensor, v: HostTensor) => attentionRef(q, k, v, o).out;

describe('attention backward, every variant', () => {
  for (const variant of ATTENTION_VARIANTS) {
    it(`${variant.name}: finite differences on tiny inputs`, async () => {
      const cases: [number[], number[], boolean, number | undefined][] = [
        [[1, 2, 3, 8], [1, 2, 3, 8], false, undefined],
        [[1, 2, 3, 8], [1, 2, 3, 8], true, 0.7],
        [[1, 1, 4, 8], [1, 1, 6, 8], true, undefined], // S ≠ L
        [[1, 1, 1, 8], [1, 1, 5, 8], false, 0.5], // L = 1
      ];
      for (const [qs, ks, causal, scale] of cases) {
        const xs = makeInputs([qs, ks, ks], { seed: qs[2] * 7 + ks[2], init: [-1, 1] });
        await gradcheck(`attention ${variant.name} q [${qs}] k [${ks}]${causal ? ' causal' : ''}`, xs, gpu({ causal, scale, variant }), host({ causal, scale }), { atol: 2e-6, rtol: 1e-4 });
      }
    });

    it(`${variant.name}: float64 backward on larger inputs`, async () => {
      // D = 32 for the default variant; the others reuse their D = 8 kernels (fewer shader compiles on a cold cache)
      const D = variant === ATTENTION_VARIANTS[0] ? 32 : 8;
      const cases: Case[] = [[1, 3, 70, 70, D, true, undefined], [3, 1, 17, 33, D, false, 0.3], [1, 2, 70, 70, 8, false, undefined]];
      for (const c of cases) {
        const [B, H, L, S, D, causal, scale] = c;
        const [q, k, v, g] = makeInputs([[B, H, L, D], [B, H, S, D], [B, H, S, D], [B, H, L, D]], { seed: L + S + D, init: [-1, 1] });
        const [Q, K, V] = [q, k, v].map((x) => fromHost(x, true));
        const out = os.attention(Q, K, V, { causal, scale, variant });
        out.backward(fromHost(g));
        const ref = attentionBackwardRef(q, k, v, g, { causal, scale });
        const [dq, dk, dv] = await Promise.all([Q, K, V].map((t) => toHost(t.grad!)));
        expectClose(dq, ref.dq.data, { atol: 1e-5, rtol: 1e-4, shape: q.shape, label: `${label(c, variant.name)} dq` });
        expectClose(dk, ref.dk.data, { atol: 1e-5, rtol: 1e-4, shape: k.shape, label: `${label(c, variant.name)} dk` });
        expectClose(dv, ref.dv.data, { atol: 1e-5, rtol: 1e-4, shape: v.shape, label: `${label(c, variant.name)} dv` });
        for (const t of [Q, K, V, out]) t.dispose();
      }
    });
  }

  it('L = 256, D = 64 with the default variant; grads only where required', async () => {
    const c: Case = [1, 2, 256, 256, 64, true, undefined];
    const [q, k, v, g] = makeInputs([[1, 2, 256, 64], [1, 2, 256, 64], [1, 2, 256, 64], [1, 2, 256, 64]], { seed: 4, init: [-1, 1] });
    const Q = fromHost(q, true), K = fromHost(k, true), V = fromHost(v, true);
    const out = os.attention(Q, K, V, { causal: true });
    expectClose(await toHost(out), attentionRef(q, k, v, { causal: true }).out.data, { atol: 2e-6, rtol: 1e-4, label: label(c, 'default') });
    out.backward(fromHost(g));
    const ref = attentionBackwardRef(q, k, v, g, { causal: true });
    for (const [t, r, n] of [[Q, ref.dq, 'dq'], [K, ref.dk, 'dk'], [V, ref.dv, 'dv']] as const) {
      expectClose(await toHost(t.grad!), r.data, { atol: 1e-5, rtol: 1e-4, label: `${label(c, 'default')} ${n}` });
    }
    // only q requires grad: no key-side kernel, k and v get nothing
    const Q2 = fromHost(q, true), K2 = fromHost(k), V2 = fromHost(v);
    const before = os.memory().dispatches;
    os.attention(Q2, K2, V2, { causal: true }).backward(fromHost(g));
    expect(os.memory().dispatches - before).toBe(2); // forward and dq (the gradient tensor is a write, not a dispatch)
    expectClose(await toHost(Q2.grad!), ref.dq.data, { atol: 1e-5, rtol: 1e-4, label: 'dq alone' });
    expect(K2.grad).toBeNull();
  });
});

describe('attention memory', () => {
  it('the forward allocates only the output and the [B, H, L] log-sum-exp, and frees the LSE after backward', async () => {
    const [B, H, L, D] = [2, 3, 50, 16];
    const shape = [B, H, L, D];
    const q = os.randn(shape, { seed: 1 }).requiresGrad_(), k = os.randn(shape, { seed: 2 }).requiresGrad_(), v = os.randn(shape, { seed: 3 }).requiresGrad_();
    const g = os.randn(shape, { seed: 4 });
    await os.sync();
    const outBytes = sizeClass(B * H * L * D * 4), lseBytes = sizeClass(B * H * L * 4);
    const base = os.memory().bytesInUse;
    const out = os.attention(q, k, v);
    expect(os.memory().bytesInUse - base).toBe(outBytes + lseBytes);
    out.backward(g);
    for (const t of [q, k, v]) {
      t.grad!.dispose();
      t.grad = null;
    }
    out.dispose();
    expect(os.memory().bytesInUse).toBe(base); // LSE and the Δ temporary are gone
    const o2 = os.noGrad(() => os.attention(q, k, v));
    expect(os.memory().bytesInUse - base).toBe(outBytes); // no graph: the LSE is freed at once
    o2.dispose();
    for (const t of [q, k, v, g]) t.dispose();
  });
});

// ---- MultiheadSelfAttention2d ---------------------------------------------------------------------------------------

interface MhsaHostWeights {
  normWeight: HostTensor;
  normBias: HostTensor;
  qkvWeight: HostTensor;
  qkvBias: HostTensor;
  projWeight: HostTensor;
  projBias: HostTensor;
}

/** x + proj(attention(qkv(groupNorm(x)))) in float64, with EDM's head split: qkv channel (head·ch + c)·3 + t. */
function mhsaRef(x: HostTensor, w: MhsaHostWeights, heads: number, groups: number, eps = 1e-5): HostTensor {
  const [N, C, H, W] = x.shape;
  const L = H * W, ch = C / heads;
  const h = groupNormRef(x, groups, w.normWeight, w.normBias, eps).data;
  const parts = [0, 1, 2].map(() => new Float64Array(N * heads * L * ch));
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < 3 * C; o++) {
      const [hc, t] = [Math.floor(o / 3), o % 3];
      const [hd, c] = [Math.floor(hc / ch), hc % ch];
      for (let l = 0; l < L; l++) {
        let s = w.qkvBias.data[o];
        for (let i = 0; i < C; i++) s += w.qkvWeight.data[o * C + i] * h[(n * C + i) * L + l];
        parts[t][((n * heads + hd) * L + l) * ch + c] = s;
      }
    }
  }
  const shape = [N, heads, L, ch];
  const a = attentionRef({ data: parts[0], shape }, { data: parts[1], shape }, { data: parts[2], shape }, { scale: 1 / Math.sqrt(ch) }).out.data;
  const y = new Float64Array(x.data.length);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < C; o++) {
      for (let l = 0; l < L; l++) {
        let s = w.projBias.data[o] + x.data[(n * C + o) * L + l];
        for (let i = 0; i < C; i++) s += w.projWeight.data[o * C + i] * a[((n * heads + Math.floor(i / ch)) * L + l) * ch + (i % ch)];
        y[(n * C + o) * L + l] = s;
      }
    }
  }
  return { data: y, shape: [...x.shape] };
}

const weightShapes = (C: number) => [[C], [C], [3 * C, C, 1, 1], [3 * C], [C, C, 1, 1], [C]];
const weightsOf = <T>([normWeight, normBias, qkvWeight, qkvBias, projWeight, projBias]: T[]) => ({ normWeight, normBias, qkvWeight, qkvBias, projWeight, projBias });

describe('nn.MultiheadSelfAttention2d', () => {
  it('has EDM parameter names and shapes; proj starts at zero, so a fresh block is the identity', async () => {
    // head dims of 8 throughout this file's module tests: the kernels compiled for the D = 8 cases serve them
    const m = new os.nn.MultiheadSelfAttention2d(16, { numHeads: 2 });
    expect(m.namedParameters().map(([n, t]) => [n, [...t.shape]])).toEqual([
      ['norm.weight', [16]], ['norm.bias', [16]], ['qkv.weight', [48, 16, 1, 1]], ['qkv.bias', [48]], ['proj.weight', [16, 16, 1, 1]], ['proj.bias', [16]],
    ]);
    expect(m.groups).toBe(4); // min(32, 16 / 4)
    const big = new os.nn.MultiheadSelfAttention2d(256, { numHeads: 4 });
    expect(big.groups).toBe(32);
    big.dispose();
    const qw = await toHost(m.qkv.weight);
    expect(Math.max(...qw.map(Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(16));
    expect(Math.max(...qw.map(Math.abs))).toBeGreaterThan(0);
    const x = os.randn([2, 16, 3, 5], { seed: 5 });
    const y = m.forward(x);
    expectClose(await toHost(y), await toHost(x), { atol: 0 });
    m.dispose();
  });

  it('forward matches the host composition (EDM head layout), N 2, C 16, 2 heads, 3×5 map', async () => {
    const C = 16, heads = 2;
    const m = new os.nn.MultiheadSelfAttention2d(C, { numHeads: heads });
    const [x, ...ws] = makeInputs([[2, C, 3, 5], ...weightShapes(C)], { seed: 21, init: [[-2, 2], [0.5, 1.5], [-0.5, 0.5], [-0.4, 0.4], [-0.2, 0.2], [-0.4, 0.4], [-0.2, 0.2]] });
    const w = weightsOf(ws);
    const names = ['norm.weight', 'norm.bias', 'qkv.weight', 'qkv.bias', 'proj.weight', 'proj.bias'];
    m.loadStateDict(Object.fromEntries(names.map((n, i) => [n, fromHost(ws[i])])));
    const y = m.forward(fromHost(x));
    expectClose(await toHost(y), mhsaRef(x, w, heads, 4).data, { atol: 1e-5, rtol: 1e-4, shape: x.shape, label: 'MultiheadSelfAttention2d' });
    m.dispose();
  });

  it('gradients of x and every weight match finite differences (1 × 8 × 2 × 3, 1 head)', async () => {
    const C = 8, heads = 1, groups = 2;
    const xs = makeInputs([[1, C, 2, 3], ...weightShapes(C)], { seed: 8, init: [[-2, 2], [0.5, 1.5], [-0.5, 0.5], [-0.8, 0.8], [-0.3, 0.3], [-0.8, 0.8], [-0.3, 0.3]] });
    await gradcheck(
      'multiheadSelfAttention2d',
      xs,
      (x, ...w) => multiheadSelfAttention2d(x, weightsOf(w), { numHeads: heads, groups, eps: 1e-5 }),
      (x, ...w) => mhsaRef(x, weightsOf(w), heads, groups),
      { atol: 1e-5, rtol: 1e-4, gradAtol: 2e-3, gradRtol: 2e-3 },
    );
  });
});

describe('attention errors', () => {
  const t = (shape: number[]) => os.zeros(shape);
  it('names the op, the shapes and the fix', () => {
    const q = t([1, 2, 5, 8]);
    expectThrows(() => os.attention(t([2, 5, 8]), t([2, 5, 8]), t([2, 5, 8])), os.ShapeError, 'attention', 'q must be 4-D', '[2,5,8]');
    expectThrows(() => os.attention(q, t([1, 2, 5, 4]), t([1, 2, 5, 4])), os.ShapeError, 'k must be [1, 2, S, 8]', 'k [1,2,5,4]');
    expectThrows(() => os.attention(q, t([2, 2, 5, 8]), t([2, 2, 5, 8])), os.ShapeError, 'k must be [1, 2, S, 8]');
    expectThrows(() => os.attention(q, t([1, 2, 5, 8]), t([1, 2, 6, 8])), os.ShapeError, "v must have k's shape [1,2,5,8]");
    expectThrows(() => os.attention(t([1, 1, 3, 129]), t([1, 1, 3, 129]), t([1, 1, 3, 129])), os.ShapeError, 'head dim 129 exceeds 128');
    expectThrows(() => os.attention(q, t([1, 2, 0, 8]), t([1, 2, 0, 8])), os.ShapeError, 'no rows');
    expectThrows(() => os.attention(q, q, q, { scale: NaN }), os.ValueError, 'scale must be a finite number');
    expectThrows(() => os.attention(q, q, q, { variant: 'nope' }), os.ValueError, 'unknown variant "nope"', ATTENTION_VARIANTS[0].name);
    const sg = ATTENTION_VARIANTS.find((v) => v.lanes > 1);
    if (sg) expectThrows(() => os.attention(t([1, 1, 3, 6]), t([1, 1, 3, 6]), t([1, 1, 3, 6]), { variant: sg.name }), os.ValueError, 'divisible by 4', 'D = 6');
    expectThrows(() => os.attention(t([1, 1, 3, 6]), t([1, 1, 3, 6]), t([1, 1, 3, 6]), { variant: 'shared-r1' }), os.ValueError, 'shared-r1', 'divisible by 4', 'workgroup memory');
    expectThrows(() => new os.nn.MultiheadSelfAttention2d(6, { numHeads: 4 }), os.ValueError, 'numHeads 4', 'channels 6');
    const m = new os.nn.MultiheadSelfAttention2d(8);
    expectThrows(() => m.forward(t([1, 4, 3, 3])), os.ShapeError, '[1,4,3,3]', '[N, 8, H, W]');
    m.dispose();
  });

  it('empty inputs give empty outputs; the default variant suits the adapter', async () => {
    const e = os.attention(os.zeros([1, 2, 0, 8]), os.zeros([1, 2, 4, 8]), os.zeros([1, 2, 4, 8]));
    expect(e.shape).toEqual([1, 2, 0, 8]);
    const v = pickAttentionVariant(os.device(), 64);
    expect(ATTENTION_VARIANTS).toContain(v);
    expect(pickAttentionVariant(os.device(), 6).lanes).toBe(1);
    expect(v.unroll).toBeFalsy(); // unrolled kernels compile for seconds to minutes: never the untuned pick
    // ... and the tuner offers them on SwiftShader only (test/engine/swiftshader.test.ts checks that side)
    const dev = os.device();
    const candidates = attentionTunable(dev, 'forward', { BH: 8, L: 256, S: 256, D: 64 }, false).candidates;
    if (!isSwiftShader(dev)) expect(candidates.some((c) => c.unroll)).toBe(false);
    // variants made for real GPUs are neither picked nor timed on CPU drivers
    if (dev.isCpu) expect(candidates.some((c) => c.forGpu) || !!v.forGpu).toBe(false);
  });
});
