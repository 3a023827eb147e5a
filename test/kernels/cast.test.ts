// test/kernels/cast.test.ts: f32 ↔ f16 (kernels/cast/, engine/cast.ts): both kernel forms (native shader-f16 where the
// adapter has it, packed u32 pairs everywhere) against kernels/cast/reference.ts on odd sizes and the specials, the
// two forms reading each other's bytes, f16 tensors through reshape, data(), bytes() and safetensors, the gradient
// through a cast, and the errors for ops that compute in f32 (matmul with f16 operands: test/kernels/matmul.test.ts).
import { describe, expect, it } from 'vitest';
import * as os from '../../engine';
import { floatToHalf, halfToFloat, HALF_MAX } from '../../runtime/half';
import { decodeSafetensors } from '../../engine/io/safetensors';
import { castTo, hasShaderF16 } from '../../kernels/cast/dispatch';
import { roundToHalf } from '../../kernels/cast/reference';
import { expectClose, expectThrows, rng } from '../helpers';

const SPECIALS = [0, -0, 1, -1, HALF_MAX, -HALF_MAX, 65519, 65520, -65520, 1e6, Infinity, -Infinity, NaN, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 6e-8, 1e-9, 2 ** -14, 2 ** -14 - 2 ** -24, 1 / 3, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 2049, 2051];

/** n values spread over f16's range (and past it), the specials first. */
function values(n: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, (_, i) => (i < SPECIALS.length ? SPECIALS[i] : (r.next() - 0.5) * 2 ** Math.floor(r.next() * 50 - 30)));
}

/**
 * GPU halves against round-to-nearest-even: equal, or (WGSL lets a conversion round either way inside f16's range)
 * the neighbouring half on x's other side. Specials must match exactly.
 */
function expectHalves(got: Float32Array, xs: Float32Array, label: string): void {
  const want = roundToHalf(xs);
  for (let i = 0; i < xs.length; i++) {
    const g = got[i], w = want[i], x = xs[i];
    if (Object.is(g, w) || (Number.isNaN(g) && Number.isNaN(w))) continue;
    const other = halfToFloat(floatToHalf(w) + (Math.abs(x) > Math.abs(w) ? 1 : -1)); // the next half away from w toward x
    const ok = Number.isFinite(w) && w !== 0 && g === other && Math.min(w, other) <= x && x <= Math.max(w, other);
    expect(ok, `${label}: element ${i}: x ${x} → ${g}, expected ${w}${Number.isFinite(w) ? ` (or ${other})` : ''}`).toBe(true);
  }
}

const forms = () => [false, ...(hasShaderF16(os.device()) ? [true] : [])];

describe('cast f32 ↔ f16', () => {
  it('round trips on odd sizes, specials included, in every kernel form', async () => {
    for (const native of forms()) {
      for (const n of [1, 3, 17, 33, 70, 1001]) {
        const xs = values(n, n);
        const x = os.tensor(xs);
        const h = castTo(x, 'f16', { nativeF16: native });
        const back = castTo(h, 'f32', { nativeF16: native });
        expect(h.dtype).toBe('f16');
        const label = `${native ? 'native' : 'packed'} n=${n}`;
        expectHalves(await back.data(), xs, `${label} kernel`);
        expectHalves(await h.data(), xs, `${label} data()`); // the host reads the same bits
        for (const t of [x, h, back]) t.dispose();
      }
    }
  });

  it('native and packed kernels write the same bytes and read each other', async () => {
    if (!hasShaderF16(os.device())) return expect(forms()).toEqual([false]);
    const xs = values(33, 5);
    const x = os.tensor(xs);
    const native = castTo(x, 'f16', { nativeF16: true }), packed = castTo(x, 'f16', { nativeF16: false });
    expect(Array.from(await native.bytes())).toEqual(Array.from(await packed.bytes()));
    const a = castTo(native, 'f32', { nativeF16: false }), b = castTo(packed, 'f32', { nativeF16: true });
    expectClose(await a.data(), await b.data(), { atol: 0, rtol: 0, label: 'cross-read' });
    for (const t of [x, native, packed, a, b]) t.dispose();
  });

  it('f16 tensors: creation, views, bytes, x.half() / x.float(), safetensors F16', async () => {
    const xs = values(70, 9);
    const h = os.tensor(xs, [7, 10], { dtype: 'f16' });
    expect(h.dtype).toBe('f16');
    expect(String(h)).toContain('f16');
    const v = h.reshape([2, 35]);
    expect(v.dtype).toBe('f16');
    expectHalves(await v.data(), xs, 'view');
    const bytes = await h.bytes();
    expect(bytes.length).toBe(140);
    const bits = new Uint16Array(bytes.buffer, bytes.byteOffset, 70);
    expectHalves(Float32Array.from(bits, halfToFloat), xs, 'bytes');
    const z = os.zeros([3], { dtype: 'f16' });
    expect(Array.from(await z.data())).toEqual([0, 0, 0]);
    const f = os.tensor(xs, [7, 10]);
    const [fh, ff] = [f.half(), f.float()];
    expect(fh.dtype).toBe('f16');
    expect(ff).not.toBe(f); // a view, not the same object
    expect(ff.dtype).toBe('f32');
    // safetensors keeps the bits (F16) beside F32 tensors; loading converts to f32
    const file = await os.io.saveSafetensors({ h, f });
    const raw = decodeSafetensors(file).tensors;
    expect(raw.h.dtype).toBe('F16');
    expect(raw.f.dtype).toBe('F32');
    expect(Array.from(raw.h.bytes)).toEqual(Array.from(bytes));
    const back = await os.io.loadSafetensors(file);
    expectClose(await back.tensors.h.data(), await h.data(), { atol: 0, rtol: 0, label: 'loaded F16' });
    for (const t of [h, v, z, f, fh, ff, back.tensors.h, back.tensors.f]) t.dispose();
  });

  it('the gradient through half() and float() is the incoming f32 gradient', async () => {
    const w = os.tensor([0.1, -2.5, 3.25, 1e-3, 7], [5], { requiresGrad: true });
    const loss = os.tidy(() => w.half().float().mul(os.tensor([1, 2, 3, 4, 5])).sum());
    loss.backward();
    expect(w.grad!.dtype).toBe('f32');
    expect(Array.from(await w.grad!.data())).toEqual([1, 2, 3, 4, 5]);
    expectClose([await loss.item()], [0.0999755859375 - 5 + 9.75 + 4 * 0.0010004043579101562 + 35], { atol: 1e-5, rtol: 0 });
    w.dispose();
    loss.dispose();
  });

  it('ops that compute in f32 name the cast; f16 tensors never require grad', () => {
    const h = os.tensor([1, 2, 3], undefined, { dtype: 'f16' });
    expectThrows(() => os.add(h, 1), os.ValueError, 'add', 'input [3] is f16', 'x.float()');
    const row = h.reshape([1, 3]);
    expectThrows(() => os.softmax(row, -1), os.ValueError, 'softmax', 'input [1,3] is f16');
    row.dispose();
    expectThrows(() => h.requiresGrad_(), os.GradError, 'f16', 'w.half()');
    expectThrows(() => os.tensor([1], undefined, { dtype: 'f16', requiresGrad: true }), os.GradError, 'cannot require grad');
    expectThrows(() => os.cast(h, 'f64' as os.DType), os.ValueError, 'unknown dtype "f64"');
    expectThrows(() => os.tensor([1], undefined, { dtype: 'bf16' as os.DType }), os.ValueError, 'unknown dtype "bf16"');
    h.dispose();
  });
});
