// test/engine/io.test.ts: engine/io byte-level formats (safetensors, npy) and atomic writes; CPU only.
// Ground truth: safetensors byte vectors from huggingface/safetensors `safetensors/src/tensor.rs` tests,
// a hand-written spec fixture (test/fixtures/mixed.safetensors, see make_io_fixtures.py), .npy files
// written by numpy itself (committed in test/fixtures), and live numpy when python3 has it.
import { describe, it, expect, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FormatError, ValueError } from '../../engine/errors';
import { decodeSafetensors, encodeSafetensors, toFloat32, type RawTensor, type SafetensorsInput } from '../../engine/io/safetensors';
import { decodeNpy, encodeNpy } from '../../engine/io/npy';
import { sha256Hex, writeFileAtomic } from '../../engine/io/atomic';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const fixture = (name: string) => new Uint8Array(readFileSync(join(FIXTURES, name)));
const enc = new TextEncoder();

/** Which numpy path runs is decided once and shows in the test names. */
const HAS_NUMPY = spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;
const python = (code: string, input?: string) => {
  const r = spawnSync('python3', ['-c', code], { input, encoding: 'latin1', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`python3 failed: ${r.stderr}`);
  return r.stdout;
};

/** A safetensors file from header text (padded as given) and data bytes. */
function stFile(header: string, data: Uint8Array | number[] = []): Uint8Array {
  const h = enc.encode(header);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}
const f32Bytes = (...xs: number[]) => new Uint8Array(new Float32Array(xs).buffer);

/** Asserts `fn` throws `cls` whose message contains every fragment. */
function expectThrow(fn: () => unknown, cls: Function, ...fragments: string[]): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, `expected ${cls.name}`).toBeInstanceOf(cls);
  for (const f of fragments) expect((err as Error).message).toContain(f);
}

// ---------------------------------------------------------------------------------------------
describe('safetensors: byte-exact writer', () => {
  it('matches the reference implementation test vectors (safetensors/src/tensor.rs)', () => {
    // test_serialization: {"attn.0": F32 [1,2,3] = 0..5}
    const serialization = [
      64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100, 116, 121, 112, 101, 34, 58, 34,
      70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95,
      111, 102, 102, 115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64,
      0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
    ];
    const data = new Float32Array([0, 1, 2, 3, 4, 5]);
    expect([...encodeSafetensors({ 'attn.0': { dtype: 'F32', shape: [1, 2, 3], data } })]).toEqual(serialization);
    // test_serialization_forced_alignement: a shorter name, so the header needs 7 spaces
    const aligned = [
      72, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 48, 34, 58, 123, 34, 100, 116, 121, 112, 101, 34, 58, 34, 70,
      51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58, 91, 49, 44, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97,
      95, 111, 102, 102, 115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 32, 32, 32, 32, 32, 32, 32, 0, 0,
      0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
    ];
    expect([...encodeSafetensors({ attn0: { shape: [1, 1, 2, 3], data } })]).toEqual(aligned);
    // test_empty: no tensors, with and without metadata
    expect([...encodeSafetensors({})]).toEqual([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
    const withMeta = [
      40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95, 95, 34, 58, 123, 34, 102, 114,
      97, 109, 101, 119, 111, 114, 107, 34, 58, 34, 112, 116, 34, 125, 125, 32, 32, 32, 32, 32,
    ];
    expect([...encodeSafetensors({}, { framework: 'pt' })]).toEqual(withMeta);
    for (const v of [serialization, aligned, withMeta]) expect(() => decodeSafetensors(new Uint8Array(v))).not.toThrow();
    expect(decodeSafetensors(new Uint8Array(withMeta)).metadata).toEqual({ framework: 'pt' });
  });

  // Keys deliberately out of order: the writer sorts by dtype rank descending, then name.
  const mixedInputs = () => ({
    mask: { dtype: 'BOOL' as const, shape: [4], data: new Uint8Array([1, 0, 1, 1]) },
    weight: { shape: [2, 3], data: new Float32Array([0, 0.5, 1, 1.5, 2, 2.5]) },
    u: { shape: [3], data: new Uint8Array([1, 2, 255]) },
    half: { dtype: 'F16' as const, shape: [2], data: new Uint16Array([0x3c00, 0xc000]) },
    idx: { shape: [2], data: new Int32Array([5, -6]) },
    empty: { shape: [0], data: new Float32Array(0) },
    bhalf: { dtype: 'BF16' as const, shape: [2], data: new Uint16Array([0x3f80, 0x4040]) },
    d: { shape: [1], data: new Float64Array([0.1]) },
    bias: { shape: [3], data: new Float32Array([1, -2, 3]) },
    step: { shape: [], data: new BigInt64Array([7n]) },
  });

  it('writes the hand-written spec fixture byte for byte and reads it back', () => {
    const file = fixture('mixed.safetensors');
    expect(encodeSafetensors(mixedInputs(), { format: 'pt' })).toEqual(file);
    const { tensors, metadata } = decodeSafetensors(file);
    expect(metadata).toEqual({ format: 'pt' });
    expect(Object.keys(tensors).sort()).toEqual(Object.keys(mixedInputs()).sort());
    expect(tensors.step).toMatchObject({ dtype: 'I64', shape: [] });
    expect([...toFloat32(tensors.step!)]).toEqual([7]);
    expect([...toFloat32(tensors.d!)]).toEqual([Math.fround(0.1)]);
    expect([...toFloat32(tensors.weight!)]).toEqual([0, 0.5, 1, 1.5, 2, 2.5]);
    expect([...toFloat32(tensors.bias!)]).toEqual([1, -2, 3]);
    expect(tensors.empty).toMatchObject({ dtype: 'F32', shape: [0] });
    expect(tensors.empty!.bytes.length).toBe(0);
    expect([...toFloat32(tensors.idx!)]).toEqual([5, -6]);
    expect([...toFloat32(tensors.bhalf!)]).toEqual([1, 3]);
    expect([...toFloat32(tensors.half!)]).toEqual([1, -2]);
    expect([...toFloat32(tensors.u!)]).toEqual([1, 2, 255]);
    expect([...toFloat32(tensors.mask!)]).toEqual([1, 0, 1, 1]);
  });

  it('puts __metadata__ first, sorts metadata keys, and keeps every tensor aligned to its element size', () => {
    const bytes = encodeSafetensors(mixedInputs(), { z: '1', a: 'ü "q"\n' });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    expect(text.startsWith('{"__metadata__":{"a":"ü \\"q\\"\\n","z":"1"},"step":')).toBe(true);
    expect(text).not.toMatch(/": |, /); // compact JSON
    const { tensors, metadata } = decodeSafetensors(bytes);
    expect(metadata).toEqual({ z: '1', a: 'ü "q"\n' });
    const sizes = { I64: 8, F64: 8, F32: 4, I32: 4, BF16: 2, F16: 2, U8: 1, BOOL: 1 } as Record<string, number>;
    for (const t of Object.values(tensors)) expect(t.bytes.byteOffset % sizes[t.dtype]!).toBe(0);
  });

  it('orders names by code point like Rust, not by UTF-16 units', () => {
    const one = (x: number) => ({ shape: [1], data: new Float32Array([x]) });
    // U+FF5E sorts before U+1F600 by code point; as UTF-16 the surrogate 0xD83D sorts before 0xFF5E.
    const bytes = encodeSafetensors({ '😀': one(1), '～': one(2), b: one(3), a: one(4) });
    const order = Object.entries(decodeSafetensors(bytes).tensors)
      .sort(([, x], [, y]) => x.bytes.byteOffset - y.bytes.byteOffset)
      .map(([k]) => k);
    expect(order).toEqual(['a', 'b', '～', '😀']);
  });
});

describe('safetensors: round trips', () => {
  it('round-trips every dtype, scalars, empty tensors and metadata', () => {
    const inputs: Record<string, SafetensorsInput> = {
      f64: { shape: [2], data: new Float64Array([1e300, -0.5]) },
      f32: { shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) },
      f16: { dtype: 'F16' as const, shape: [1], data: new Uint16Array([0x3555]) },
      bf16: { dtype: 'BF16' as const, shape: [1], data: new Uint16Array([0xbf80]) },
      u16: { dtype: 'U16' as const, shape: [2], data: new Uint16Array([0, 65535]) },
      i64: { shape: [2], data: new BigInt64Array([-(2n ** 40n), 3n]) },
      u64: { shape: [1], data: new BigUint64Array([2n ** 63n]) },
      i32: { shape: [], data: new Int32Array([-9]) },
      u32: { shape: [1], data: new Uint32Array([4e9]) },
      i16: { shape: [1], data: new Int16Array([-300]) },
      i8: { shape: [2], data: new Int8Array([-128, 127]) },
      u8: { shape: [1, 0, 3], data: new Uint8Array(0) },
      bool: { dtype: 'BOOL' as const, shape: [2], data: new Uint8Array([0, 1]) },
      raw: { dtype: 'F32' as const, shape: [1], data: f32Bytes(6.5) }, // raw little-endian bytes
    };
    // a legal tensor name that plain assignment would turn into a prototype
    Object.defineProperty(inputs, '__proto__', { value: { shape: [1], data: new Float32Array([42]) }, enumerable: true });
    const { tensors, metadata } = decodeSafetensors(encodeSafetensors(inputs, { note: 'x' }));
    expect(metadata).toEqual({ note: 'x' });
    const got = (k: string) => tensors[k] as RawTensor;
    for (const [k, v] of Object.entries(inputs)) {
      expect(got(k).shape).toEqual(v.shape);
      expect(got(k).bytes).toEqual(new Uint8Array(v.data.buffer, v.data.byteOffset, v.data.byteLength));
    }
    expect(Object.getPrototypeOf(tensors)).toBe(Object.prototype);
    expect(toFloat32(got('__proto__'))[0]).toBe(42);
    expect(got('u64').dtype).toBe('U64');
    expect(got('i32').shape).toEqual([]);
    expect([...toFloat32(got('f16'))]).toEqual([Math.fround(0.333251953125)]);
    expect([...toFloat32(got('bf16'))]).toEqual([-1]);
    expect([...toFloat32(got('i64'))]).toEqual([-(2 ** 40), 3]);
    expect([...toFloat32(got('u64'))]).toEqual([2 ** 63]);
    expect([...toFloat32(got('u32'))]).toEqual([Math.fround(4e9)]);
    expect([...toFloat32(got('i8'))]).toEqual([-128, 127]);
    expect([...toFloat32(got('raw'))]).toEqual([6.5]);
    expect(toFloat32(got('u8')).length).toBe(0);
  });

  it('toFloat32 handles F16 specials, BF16 and unaligned views (and copies)', () => {
    const f16 = new Uint16Array([0x0001, 0x8000, 0x7c00, 0xfc00, 0x7e00, 0x7bff, 0x0400]);
    const out = toFloat32({ dtype: 'F16', shape: [7], bytes: new Uint8Array(f16.buffer) });
    expect(out[0]).toBe(2 ** -24);
    expect(Object.is(out[1], -0)).toBe(true);
    expect([out[2], out[3]]).toEqual([Infinity, -Infinity]);
    expect(out[4]).toBeNaN();
    expect([out[5], out[6]]).toEqual([65504, 2 ** -14]);
    const shifted = new Uint8Array(13);
    shifted.set(f32Bytes(1.25, -3, 7), 1);
    const view = shifted.subarray(1);
    const f = toFloat32({ dtype: 'F32', shape: [3], bytes: view });
    expect([...f]).toEqual([1.25, -3, 7]);
    f[0] = 99;
    expect(shifted[1]).not.toBe(99); // a copy, not a view
    expectThrow(() => toFloat32({ dtype: 'F32', shape: [2], bytes: new Uint8Array(4) }), ValueError, 'F32', '[2]', 'needs 8 bytes');
  });

  it('rejects bad writer arguments with ValueError', () => {
    const data = new Float32Array(2);
    expectThrow(() => encodeSafetensors({ __metadata__: { shape: [2], data } }), ValueError, '__metadata__', 'reserved');
    expectThrow(() => encodeSafetensors({ h: { shape: [1], data: new Uint16Array(1) } }), ValueError, '"h"', 'F16, BF16 or U16');
    expectThrow(() => encodeSafetensors({ w: { dtype: 'F64', shape: [2], data } }), ValueError, '"w"', 'F64', 'Float32Array', 'Float64Array');
    expectThrow(() => encodeSafetensors({ w: { shape: [3], data } }), ValueError, '"w"', '[3]', '3 elements', '2 elements');
    expectThrow(() => encodeSafetensors({ w: { shape: [-2], data } }), ValueError, '"w"', 'shape [-2]');
    expectThrow(() => encodeSafetensors({ w: { dtype: 'F8' as never, shape: [2], data } }), ValueError, 'unknown dtype "F8"');
    expectThrow(() => encodeSafetensors({ w: { dtype: 'F32', shape: [2], data: new Uint8Array(7) } }), ValueError, '8 bytes', '7 bytes');
    expectThrow(() => encodeSafetensors({ m: { dtype: 'BOOL', shape: [1], data: new Uint8Array([2]) } }), ValueError, 'BOOL');
    expectThrow(() => encodeSafetensors({}, { epoch: 3 as never }), ValueError, 'metadata["epoch"]', 'strings');
    expectThrow(() => encodeSafetensors({ ['a\ud800']: { shape: [2], data } }), ValueError, 'surrogate');
  });
});

describe('safetensors: strict reader', () => {
  const w = '"w":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}';
  const ok = stFile(`{${w}}`, f32Bytes(1, 2, 3));

  it('accepts a minimal valid file, space-padded header and all', () => {
    expect([...toFloat32(decodeSafetensors(ok).tensors.w!)]).toEqual([1, 2, 3]);
    expect(decodeSafetensors(stFile(`{${w}}     `, f32Bytes(1, 2, 3))).tensors.w!.shape).toEqual([3]);
    expect(decodeSafetensors(stFile(`{"__metadata__":null,${w}}`, f32Bytes(1, 2, 3))).metadata).toEqual({});
  });

  it('checks the length prefix before reading anything', () => {
    expectThrow(() => decodeSafetensors(new Uint8Array(7)), FormatError, 'safetensors', '7 bytes', 'truncated');
    const big = new Uint8Array(16);
    new DataView(big.buffer).setBigUint64(0, 2n ** 62n, true);
    expectThrow(() => decodeSafetensors(big), FormatError, 'above the 100000000-byte limit');
    new DataView(big.buffer).setBigUint64(0, 100_000_001n, true);
    expectThrow(() => decodeSafetensors(big), FormatError, '100000001', 'limit');
    new DataView(big.buffer).setBigUint64(0, 9n, true);
    expectThrow(() => decodeSafetensors(big), FormatError, 'header length is 9 bytes but the file has only 8', 'truncated');
  });

  it('rejects headers that are not UTF-8 JSON objects', () => {
    const bad = stFile('{"w":  }');
    bad[13] = 0xff;
    expectThrow(() => decodeSafetensors(bad), FormatError, 'not valid UTF-8');
    expectThrow(() => decodeSafetensors(stFile('{"w":')), FormatError, 'not valid JSON');
    expectThrow(() => decodeSafetensors(stFile('\ufeff{}')), FormatError, 'not valid JSON');
    expectThrow(() => decodeSafetensors(stFile('[1,2]')), FormatError, 'must be a JSON object');
    expectThrow(() => decodeSafetensors(stFile('null')), FormatError, 'must be a JSON object');
  });

  it('rejects duplicate keys anywhere and non-integer number literals', () => {
    expectThrow(() => decodeSafetensors(stFile(`{${w},${w}}`, f32Bytes(1, 2, 3))), FormatError, 'duplicate key "w" at the top level');
    const dupField = '{"w":{"dtype":"F32","shape":[3],"dtype":"F32","data_offsets":[0,12]}}';
    expectThrow(() => decodeSafetensors(stFile(dupField, f32Bytes(1, 2, 3))), FormatError, 'duplicate key "dtype" inside "w"');
    const dupMeta = `{"__metadata__":{"a":"1","a":"2"},${w}}`;
    expectThrow(() => decodeSafetensors(stFile(dupMeta, f32Bytes(1, 2, 3))), FormatError, 'duplicate key "a" inside "__metadata__"');
    const escaped = `{${w},"\\u0077":{"dtype":"F32","shape":[0],"data_offsets":[12,12]}}`; // "\u0077" is "w"
    expectThrow(() => decodeSafetensors(stFile(escaped, f32Bytes(1, 2, 3))), FormatError, 'duplicate key "w"');
    const float = '{"w":{"dtype":"F32","shape":[3.0],"data_offsets":[0,12]}}';
    expectThrow(() => decodeSafetensors(stFile(float, f32Bytes(1, 2, 3))), FormatError, 'number 3.0', 'plain integers');
  });

  it('rejects malformed tensor entries, naming the tensor and the values', () => {
    const one = (entry: string, data = f32Bytes(1, 2, 3)) => () => decodeSafetensors(stFile(`{"w":${entry}}`, data));
    expectThrow(one('[1]'), FormatError, 'tensor "w" must be an object');
    expectThrow(one('{"dtype":"F32","shape":[3]}'), FormatError, 'tensor "w" is missing "data_offsets"');
    expectThrow(one('{"dtype":"F32","shape":[3],"data_offsets":[0,12],"x":1}'), FormatError, 'unknown field "x"');
    expectThrow(one('{"dtype":"F8_E4M3","shape":[3],"data_offsets":[0,12]}'), FormatError, 'unknown dtype "F8_E4M3"', 'BF16');
    expectThrow(one('{"dtype":"F32","shape":3,"data_offsets":[0,12]}'), FormatError, 'shape 3');
    expectThrow(one('{"dtype":"F32","shape":[-3],"data_offsets":[0,12]}'), FormatError, 'shape [-3]', 'non-negative');
    expectThrow(one('{"dtype":"F32","shape":[1.5],"data_offsets":[0,12]}'), FormatError, '1.5');
    expectThrow(one('{"dtype":"F32","shape":[1e300],"data_offsets":[0,12]}'), FormatError, '1e300');
    expectThrow(one('{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,12]}'), FormatError, 'shape [100000000000000000000]');
    expectThrow(one('{"dtype":"F32","shape":[3],"data_offsets":[0]}'), FormatError, 'data_offsets [0]', '[begin, end]');
    expectThrow(one('{"dtype":"F32","shape":[3],"data_offsets":[0,"12"]}'), FormatError, 'data_offsets [0,"12"]');
    expectThrow(one('{"dtype":"F32","shape":[3],"data_offsets":[-4,12]}'), FormatError, 'data_offsets [-4,12]');
    expectThrow(one('{"dtype":"F32","shape":[3],"data_offsets":[12,0]}'), FormatError, '[12,0] with begin > end');
    expectThrow(one('{"dtype":"F32","shape":[3],"data_offsets":[0,16]}'), FormatError, '[0,16] past the end of the 12-byte data buffer');
    expectThrow(
      one('{"dtype":"F32","shape":[3,5],"data_offsets":[0,48]}', new Uint8Array(48)),
      FormatError, 'tensor "w" has data_offsets [0,48] but dtype F32 shape [3,5] needs 60 bytes',
    );
    expectThrow(one('{"dtype":"F32","shape":[1000000,1000000,1000000,1000000],"data_offsets":[0,12]}'), FormatError, 'shape [1000000,1000000,1000000,1000000] needs more than 2^53 bytes');
  });

  it('requires the tensors to cover the data buffer exactly', () => {
    const t = (name: string, b: number, e: number) => `"${name}":{"dtype":"U8","shape":[${e - b}],"data_offsets":[${b},${e}]}`;
    const data = new Uint8Array(8);
    expectThrow(() => decodeSafetensors(stFile(`{${t('a', 0, 6)},${t('b', 4, 8)}}`, data)), FormatError, 'tensor "b"', 'overlaps tensor "a"');
    expectThrow(() => decodeSafetensors(stFile(`{${t('a', 0, 4)},${t('b', 5, 8)}}`, data)), FormatError, 'bytes [4,5)', 'gap before "b"');
    expectThrow(() => decodeSafetensors(stFile(`{${t('a', 0, 4)},${t('b', 4, 6)}}`, data)), FormatError, '8 bytes', 'cover only [0,6)');
    expectThrow(() => decodeSafetensors(stFile(`{${t('a', 0, 8)},${t('b', 0, 8)}}`, data)), FormatError, 'overlaps');
    // any key order is fine, and zero-size tensors may share an offset
    const fine = decodeSafetensors(stFile(`{${t('b', 4, 8)},${t('z', 4, 4)},${t('y', 4, 4)},${t('a', 0, 4)}}`, data));
    expect(Object.keys(fine.tensors)).toEqual(['b', 'z', 'y', 'a']);
  });

  it('rejects metadata that is not an object of strings', () => {
    const data = f32Bytes(1, 2, 3);
    expectThrow(() => decodeSafetensors(stFile(`{"__metadata__":{"epoch":3},${w}}`, data)), FormatError, '"epoch"', 'is 3', 'must be strings');
    expectThrow(() => decodeSafetensors(stFile(`{"__metadata__":["a"],${w}}`, data)), FormatError, '"__metadata__" must be an object');
  });
});

// ---------------------------------------------------------------------------------------------
describe('npy', () => {
  // The file numpy.save writes for np.array([1, 2, 3], dtype='<f4'), typed out from the format spec:
  // 57-character dict, 20 spaces of growth room (21 − len("3")), 40 spaces of alignment, '\n'.
  const handWritten = new Uint8Array([
    0x93, ...enc.encode('NUMPY'), 1, 0, 118, 0,
    ...enc.encode("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }" + ' '.repeat(60) + '\n'),
    ...f32Bytes(1, 2, 3),
  ]);

  it('writes the hand-written spec fixture byte for byte', () => {
    expect(handWritten.length).toBe(128 + 12);
    expect(encodeNpy(new Float32Array([1, 2, 3]), [3])).toEqual(handWritten);
    expect(decodeNpy(handWritten)).toEqual({ data: new Float32Array([1, 2, 3]), shape: [3], dtype: '<f4', fortranOrder: false });
  });

  it('writes what numpy.save wrote (committed fixtures from make_io_fixtures.py)', () => {
    const cases: [string, Float32Array | Float64Array | Int32Array | Uint8Array, number[]][] = [
      ['f32_2x3.npy', new Float32Array([0, 0.25, 0.5, 0.75, 1, 1.25]), [2, 3]],
      ['f64_5.npy', new Float64Array([0.1, -2, 3.5, 1e300, -0]), [5]],
      ['i32_scalar.npy', new Int32Array([-7]), []],
      ['u8_empty.npy', new Uint8Array(0), [0, 3]],
    ];
    for (const [name, data, shape] of cases) {
      const file = fixture(name);
      expect(encodeNpy(data, shape), name).toEqual(file);
      const back = decodeNpy(file);
      expect(back.shape).toEqual(shape);
      expect(back.data).toEqual(data);
    }
  });

  it('reads numpy fixtures: Fortran order (transposed), big-endian, int64, bool, versions 2.0 and 3.0', () => {
    const fortran = decodeNpy(fixture('f32_fortran_2x3x4.npy'));
    expect(fortran.fortranOrder).toBe(true);
    expect(fortran.shape).toEqual([2, 3, 4]);
    expect([...fortran.data]).toEqual(Array.from({ length: 24 }, (_, i) => i)); // C order again
    const be = decodeNpy(fixture('f4_bigendian.npy'));
    expect(be.dtype).toBe('<f4');
    expect([...be.data]).toEqual([1.5, -2, Math.fround(1e-3)]);
    const i8 = decodeNpy(fixture('i8_2x2.npy'));
    expect(i8.data).toEqual(new BigInt64Array([1n, -2n, 2n ** 40n, 3n]));
    const b = decodeNpy(fixture('bool_4.npy'));
    expect([b.dtype, [...b.data]]).toEqual(['|b1', [1, 0, 1, 1]]);
    for (const v of [2, 3]) {
      const file = fixture(`f32_v${v}.npy`);
      expect(file[6]).toBe(v);
      expect(decodeNpy(file)).toMatchObject({ shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) });
    }
  });

  it('transposes Fortran order correctly for 2-D and 4-D', () => {
    // hand-built Fortran file for [[1, 2, 3], [4, 5, 6]]: column-major data 1 4 2 5 3 6
    const c = encodeNpy(new Float32Array([1, 4, 2, 5, 3, 6]), [2, 3]);
    const text = new TextDecoder('latin1').decode(c).replace("'fortran_order': False", "'fortran_order': True ");
    const f = new Uint8Array([...text].map((ch) => ch.charCodeAt(0)));
    expect(decodeNpy(f)).toMatchObject({ fortranOrder: true, shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) });
    // 4-D: Fortran offset of (a,b,c,d) in [2,3,1,2] is a + 2b + 6c + 6d
    const shape = [2, 3, 1, 2], fdata = new Int32Array(12).map((_, i) => i * 10);
    const fc = new TextDecoder('latin1').decode(encodeNpy(fdata, shape)).replace("'fortran_order': False", "'fortran_order': True ");
    const got = decodeNpy(new Uint8Array([...fc].map((ch) => ch.charCodeAt(0)))).data;
    const want: number[] = [];
    for (let a = 0; a < 2; a++) for (let b2 = 0; b2 < 3; b2++) for (let d = 0; d < 2; d++) want.push((a + 2 * b2 + 6 * d) * 10);
    expect([...got]).toEqual(want);
  });

  it('switches to version 2.0 when the header outgrows a u16', () => {
    const shape = new Array(22000).fill(1);
    const file = encodeNpy(new Float64Array([2.5]), shape);
    expect([file[6], file[7]]).toEqual([2, 0]);
    expect((file.length - 8) % 64).toBe(0);
    expect(decodeNpy(file)).toMatchObject({ shape, data: new Float64Array([2.5]) });
  });

  it(`matches numpy.save live and numpy.load reads ours (${HAS_NUMPY ? 'python3 numpy found: live' : 'no numpy: hand-written fixture above only'})`, () => {
    if (!HAS_NUMPY) {
      // No python numpy on this machine: the hand-written fixture test above is the check that ran.
      expect(encodeNpy(new Float32Array([1, 2, 3]), [3])).toEqual(handWritten);
      return;
    }
    const cases: [string, Float32Array | Float64Array | Int32Array | Uint8Array, number[]][] = [
      ['float32', new Float32Array(Array.from({ length: 60 }, (_, i) => i / 7)), [3, 4, 5]],
      ['float64', new Float64Array([1e-300, 2, -3]), [3, 1]],
      ['int32', new Int32Array([2 ** 31 - 1, -(2 ** 31)]), [2]],
      ['uint8', new Uint8Array(1234).map((_, i) => i % 256), [1234]],
      ['float32', new Float32Array(0), [4, 0]],
    ];
    const dir = mkdtempSync(join(tmpdir(), 'onestep-npy-'));
    try {
      cases.forEach(([dtype, data, shape], k) => {
        const ours = join(dir, `ours${k}.npy`), theirs = join(dir, `theirs${k}.npy`);
        writeFileSync(ours, encodeNpy(data, shape));
        const out = python(
          `import numpy as np, sys, json\n` +
            `a = np.array(json.loads(sys.stdin.read()), dtype='${dtype}').reshape(${JSON.stringify(shape)})\n` +
            `np.save(${JSON.stringify(theirs)}, a)\n` +
            `b = np.load(${JSON.stringify(ours)})\n` +
            `print(b.dtype.str, list(b.shape), bool((a == b).all()), b.flags.c_contiguous)`,
          JSON.stringify([...data]),
        );
        const descr = dtype === 'uint8' ? '|u1' : `<${dtype[0]}${data.BYTES_PER_ELEMENT}`;
        expect(out.trim(), `case ${k}`).toBe(`${descr} ${JSON.stringify(shape).replace(/,/g, ', ')} True True`);
        expect(encodeNpy(data, shape), `case ${k}`).toEqual(new Uint8Array(readFileSync(theirs)));
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects malformed files with FormatError naming the field', () => {
    const good = encodeNpy(new Float32Array([1, 2, 3]), [3]);
    const withHeader = (dict: string, data = f32Bytes(1, 2, 3), major = 1) => {
      const h = enc.encode(dict + '\n');
      const pre = major === 1 ? 10 : 12;
      const out = new Uint8Array(pre + h.length + data.length);
      out.set([0x93, ...enc.encode('NUMPY'), major, 0]);
      const dv = new DataView(out.buffer);
      if (major === 1) dv.setUint16(8, h.length, true);
      else dv.setUint32(8, h.length, true);
      out.set(h, pre);
      out.set(data, pre + h.length);
      return () => decodeNpy(out);
    };
    const hdr = (descr: string, shape: string, fo = 'False') => `{'descr': ${descr}, 'fortran_order': ${fo}, 'shape': ${shape}, }`;

    expectThrow(() => decodeNpy(enc.encode('PK\x03\x04 not numpy at all')), FormatError, 'magic');
    expectThrow(() => decodeNpy(good.subarray(0, 9)), FormatError, 'magic');
    const v4 = good.slice();
    v4[6] = 4;
    expectThrow(() => decodeNpy(v4), FormatError, 'version 4.0', '1.0, 2.0 and 3.0');
    expectThrow(() => decodeNpy(good.subarray(0, 100)), FormatError, 'header length is 118 bytes but only 90', 'truncated');
    expectThrow(withHeader(hdr("'<f4'", '(3,)'), f32Bytes(1, 2)), FormatError, "'<f4' shape [3] needs 12 bytes", 'has 8');
    expectThrow(withHeader(hdr("'<f4'", '(3, 0)'), f32Bytes(1)), FormatError, 'shape [3,0] needs 0 bytes', 'has 4');
    expectThrow(withHeader(hdr("'<f4'", '(3,)'), f32Bytes(1, 2, 3, 4)), FormatError, 'needs 12 bytes', 'has 16');
    expectThrow(withHeader(hdr("'<f4'", '(100000, 100000, 100000, 100000)')), FormatError, 'needs more than 2^53 bytes');
    expectThrow(withHeader(hdr("'<c8'", '(3,)')), FormatError, "descr '<c8' is not supported", '<f4');
    expectThrow(withHeader(hdr("'constructor'", '(3,)')), FormatError, "descr 'constructor' is not supported");
    expectThrow(withHeader(hdr("[('a', '<f4')]", '(3,)')), FormatError, 'structured');
    expectThrow(withHeader(hdr("'<f4'", '(-3,)')), FormatError, 'non-negative integer');
    expectThrow(withHeader(hdr("'<f4'", '(3)')), FormatError, 'shape (3) without a trailing comma');
    expectThrow(withHeader(hdr("'<f4'", '[3]')), FormatError, 'shape that is not a tuple');
    expectThrow(withHeader(hdr("'<f4'", '(3 4)')), FormatError, "expected ',' or ')'");
    expectThrow(withHeader(hdr("'<f4'", '(99999999999999999999,)')), FormatError, 'too large');
    expectThrow(withHeader(hdr("'<f4'", '(3,)', 'None')), FormatError, 'fortran_order that is not True or False');
    expectThrow(withHeader("{'descr': '<f4', 'shape': (3,)}"), FormatError, "missing 'fortran_order'");
    expectThrow(withHeader("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (3,)}"), FormatError, "duplicate key 'descr'");
    expectThrow(withHeader(hdr("'<f4'", '(3,)') + "{'x': 1}"), FormatError, 'text after the closing brace');
    expectThrow(withHeader(hdr("'<f4'", '(3,)').replace('}', "'x': 1}")), FormatError, "unexpected key 'x'");
    expectThrow(withHeader(hdr("__import__('os')", '(3,)')), FormatError, 'descr that is not a string');
    expectThrow(withHeader(hdr("'<f4\\x00'", '(3,)')), FormatError, 'escape');
    expectThrow(withHeader("{'descr': '<f4"), FormatError, 'unterminated string');
    expectThrow(withHeader('descr'), FormatError, "expected '{'");
    expect(withHeader(hdr("'<f4'", '(3,)'), f32Bytes(1, 2, 3), 2)().shape).toEqual([3]); // the same header as 2.0 is fine
  });
});

// ---------------------------------------------------------------------------------------------
describe('writeFileAtomic', () => {
  const dir = mkdtempSync(join(tmpdir(), 'onestep-atomic-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes, overwrites, and leaves no temp files', async () => {
    const p = join(dir, 'ckpt.safetensors');
    await writeFileAtomic(p, new Uint8Array([1, 2, 3]));
    expect([...readFileSync(p)]).toEqual([1, 2, 3]);
    await writeFileAtomic(p, 'héllo');
    expect(readFileSync(p, 'utf8')).toBe('héllo');
    await Promise.all([0, 1, 2, 3].map((i) => writeFileAtomic(p, `writer ${i}`))); // concurrent writers: one wins whole
    expect(readFileSync(p, 'utf8')).toMatch(/^writer [0-3]$/);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('writes a sha256sum-format sidecar when asked', async () => {
    const p = join(dir, 'model.bin');
    await writeFileAtomic(p, 'abc', { checksum: true });
    expect(readFileSync(`${p}.sha256`, 'utf8')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  model.bin\n');
    expect(sha256Hex(new Uint8Array(readFileSync(p)))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('removes its temp file when the rename fails, and rejects bad arguments', async () => {
    const target = join(dir, 'a-directory');
    mkdirSync(join(target, 'child'), { recursive: true });
    await expect(writeFileAtomic(target, 'x')).rejects.toThrow(); // cannot rename a file over a non-empty dir
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    await expect(writeFileAtomic(join(dir, 'missing', 'f'), 'x')).rejects.toThrow(/ENOENT/);
    await expect(writeFileAtomic('', 'x')).rejects.toBeInstanceOf(ValueError);
    await expect(writeFileAtomic(join(dir, 'f'), 42 as never)).rejects.toBeInstanceOf(ValueError);
  });
});

// ---------------------------------------------------------------------------------------------
describe('fuzz: mutated files decode cleanly or throw FormatError', () => {
  /** mulberry32: small seeded PRNG so failures reproduce. */
  const rng = (seed: number) => () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (r: () => number, n: number) => Math.floor(r() * n);

  /** One random mutation of `src`; [headerStart, headerEnd) is the header text; its length is a u64 at 0 (8) or a u16 at 8 (2). */
  function mutate(r: () => number, src: Uint8Array, headerStart: number, headerEnd: number, lenBytes: 2 | 8): Uint8Array {
    let b = src.slice();
    switch (int(r, 6)) {
      case 0: // flip 1–4 random bytes
        for (let k = 1 + int(r, 4); k > 0; k--) b[int(r, b.length)] ^= 1 << int(r, 8);
        break;
      case 1: // truncate
        b = b.slice(0, int(r, b.length));
        break;
      case 2: { // change the header length field
        const dv = new DataView(b.buffer);
        const choices = [0, 1, headerEnd - headerStart - 1, headerEnd - headerStart + 8, int(r, 1 << 16), 2 ** 31 + int(r, 1000)];
        const v = choices[int(r, choices.length)]!;
        if (lenBytes === 8) dv.setBigUint64(0, r() < 0.1 ? 2n ** 63n + BigInt(v) : BigInt(v), true);
        else dv.setUint16(8, v & 0xffff, true);
        break;
      }
      case 3: { // edit a number or a word in the header text, keeping the length field consistent
        const text = new TextDecoder('latin1').decode(b.subarray(headerStart, headerEnd));
        const words = r() < 0.5 ? [...text.matchAll(/\d+/g)] : [...text.matchAll(/[A-Za-z_<>|0-9]+/g)];
        if (words.length === 0) break;
        const m = words[int(r, words.length)]!;
        const repl = r() < 0.5
          ? ['0', '1', String(int(r, 200)), '-1', '1.5', '1e9', '99999999999999999999', ''][int(r, 8)]!
          : ['F32', 'F16', 'BF16', 'I64', 'U8', 'BOOL', 'F8_E4M3', 'dtype', 'shape', 'data_offsets', '__metadata__',
             'bias', '<f4', '>f8', '<i8', '|b1', 'True', 'False', 'descr', 'fortran_order'][int(r, 20)]!;
        const edited = text.slice(0, m.index) + repl + text.slice(m.index! + m[0].length);
        const hb = Uint8Array.from(edited, (c) => c.charCodeAt(0) & 0xff);
        b = new Uint8Array([...b.subarray(0, headerStart), ...hb, ...b.subarray(headerEnd)]);
        const dv = new DataView(b.buffer);
        if (lenBytes === 8) dv.setBigUint64(0, BigInt(hb.length), true);
        else dv.setUint16(8, hb.length, true);
        break;
      }
      case 4: { // replace a header character by punctuation
        const i = headerStart + int(r, headerEnd - headerStart);
        b[i] = '{}[]:,"\'() \\'.charCodeAt(int(r, 12));
        break;
      }
      default: // append or insert junk bytes
        b = new Uint8Array([...b.subarray(0, int(r, b.length)), ...Array.from({ length: 1 + int(r, 9) }, () => int(r, 256)), ...b.subarray(int(r, b.length))]);
    }
    return b;
  }

  it('safetensors: 2,000 seeded mutations', () => {
    const src = fixture('mixed.safetensors');
    const n = Number(new DataView(src.buffer, src.byteOffset).getBigUint64(0, true));
    const sizes: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1, U16: 2, U32: 4, U64: 8 };
    const r = rng(1234);
    let parsed = 0;
    for (let k = 0; k < 2000; k++) {
      const b = mutate(r, src, 8, 8 + n, 8);
      try {
        const { tensors, metadata } = decodeSafetensors(b);
        parsed++;
        for (const t of Object.values(tensors)) {
          expect(t.bytes.length).toBe(t.shape.reduce((x, y) => x * y, 1) * sizes[t.dtype]!);
          expect(toFloat32(t).length).toBe(t.shape.reduce((x, y) => x * y, 1));
        }
        for (const v of Object.values(metadata)) expect(typeof v).toBe('string');
      } catch (e) {
        if (!(e instanceof FormatError)) throw new Error(`mutation ${k}: ${(e as Error).stack}`);
      }
    }
    expect(parsed).toBeGreaterThan(0); // byte flips in tensor data still parse
  });

  it('npy: 2,000 seeded mutations', () => {
    const src = fixture('f32_fortran_2x3x4.npy');
    const hlen = new DataView(src.buffer, src.byteOffset).getUint16(8, true);
    const r = rng(5678);
    let parsed = 0;
    for (let k = 0; k < 2000; k++) {
      const b = mutate(r, src, 10, 10 + hlen, 2);
      try {
        const { data, shape } = decodeNpy(b);
        parsed++;
        expect(data.length).toBe(shape.reduce((x, y) => x * y, 1));
      } catch (e) {
        if (!(e instanceof FormatError)) throw new Error(`mutation ${k}: ${(e as Error).stack}`);
      }
    }
    expect(parsed).toBeGreaterThan(0);
  });
});
