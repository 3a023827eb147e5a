// test/fuzz.test.ts: hostile-file fuzzing of the safetensors and .npy loaders (engine/io/). Seeded and deterministic:
// 12,000 files mutated from a corpus of valid ones (fixtures, the zoo teacher, and files written here for every dtype,
// scalars, empty tensors, Fortran order, big-endian, npy versions 1–3) must each decode to something self-consistent
// or throw FormatError: never another error type, a hang, or an allocation beyond a small multiple of the file size
// (measured: process.memoryUsage().arrayBuffers right after each decode, while its results are still referenced).
// A second part sends mutated files through the tensor-level loaders (os.io.loadSafetensors, loadSafetensorsChecked,
// loadNpy) onto the GPU. Case counts, accepted vs rejected and the worst time and memory factor are printed.
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as os from '../engine';
import { FormatError } from '../engine/errors';
import { decodeSafetensors, encodeSafetensors, toFloat32, type SafetensorsInput } from '../engine/io/safetensors';
import { decodeNpy, encodeNpy } from '../engine/io/npy';
import { rng, type Rng } from './helpers';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FIXTURES = join(ROOT, 'test', 'fixtures');
const read = (p: string) => new Uint8Array(readFileSync(p));

/** Loader outputs (copies, conversions) may take this many times the file's bytes, plus a fixed slack. */
const MEMORY_FACTOR = 6;
const MEMORY_SLACK = 1 << 20;
/** Any single case slower than this is a hang in the making (quadratic loops, catastrophic regexes). */
const CASE_MS = 2000;

// ---- corpus of valid files ------------------------------------------------------------------------------------------

function safetensorsCorpus(): Uint8Array[] {
  const r = rng(7);
  const f32 = (n: number) => Float32Array.from({ length: n }, () => r.normal());
  const u16 = (n: number) => Uint16Array.from({ length: n }, () => r.int(0, 65536));
  const files: Record<string, SafetensorsInput>[] = [
    { w: { shape: [3, 4], data: f32(12) }, b: { shape: [4], data: f32(4) } },
    {
      f64: { shape: [2], data: Float64Array.of(1.5, -2) }, i64: { shape: [3], data: BigInt64Array.of(1n, -2n, 3n) },
      u64: { shape: [1], data: BigUint64Array.of(7n) }, i32: { shape: [2, 1], data: Int32Array.of(-5, 6) },
      u32: { shape: [2], data: Uint32Array.of(1, 2) }, f16: { dtype: 'F16', shape: [2], data: u16(2) },
      bf16: { dtype: 'BF16', shape: [3], data: u16(3) }, u16: { dtype: 'U16', shape: [1], data: u16(1) },
      i16: { shape: [2], data: Int16Array.of(-1, 1) }, i8: { shape: [3], data: Int8Array.of(-1, 0, 1) },
      u8: { shape: [2], data: Uint8Array.of(0, 255) }, bool: { dtype: 'BOOL', shape: [2], data: Uint8Array.of(0, 1) },
    },
    { scalar: { shape: [], data: f32(1) }, empty: { shape: [0, 3], data: f32(0) }, x: { shape: [1, 1, 2], data: f32(2) } },
    {},
  ];
  const out: Uint8Array[] = files.map((t, i) => encodeSafetensors(t, i % 2 ? { format: "pt", note: "fuzz seed" } : undefined));
  out.push(read(join(FIXTURES, 'mixed.safetensors')));
  out.push(read(join(ROOT, 'zoo', '8gaussians-teacher.safetensors')));
  return out;
}

function npyCorpus(): Uint8Array[] {
  const out: Uint8Array[] = readdirSync(FIXTURES).filter((f) => f.endsWith('.npy')).sort().map((f) => read(join(FIXTURES, f)));
  out.push(encodeNpy(Float32Array.of(1, 2, 3, 4, 5, 6), [2, 3]));
  out.push(encodeNpy(Float64Array.of(0.5), []));
  out.push(encodeNpy(Int32Array.of(1, 2), [2]));
  out.push(encodeNpy(new Uint8Array(0), [0, 5]));
  out.push(encodeNpy(new Float32Array(24), [1, 2, 1, 3, 4]));
  return out;
}

// ---- mutations -------------------------------------------------------------------------------------------------------

interface Layout {
  /** header text [start, end); its length lives at `lenAt` as a u64 (safetensors) or u16/u32 (npy v1 / v2–3). */
  start: number;
  end: number;
  lenAt: number;
  lenBytes: 2 | 4 | 8;
}

function layoutOf(b: Uint8Array, kind: 'st' | 'npy'): Layout | null {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (kind === 'st') {
    if (b.length < 8) return null;
    const n = Number(dv.getBigUint64(0, true));
    return n <= b.length - 8 ? { start: 8, end: 8 + n, lenAt: 0, lenBytes: 8 } : null;
  }
  if (b.length < 12) return null;
  const v1 = b[6] === 1, lenBytes = v1 ? 2 : 4, start = v1 ? 10 : 12;
  const n = v1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  return start + n <= b.length ? { start, end: start + n, lenAt: 8, lenBytes } : null;
}

const concat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, at), (at += p.length);
  return out;
};
const latin1 = (b: Uint8Array) => { let s = ''; for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000)); return s; };
const utf8 = new TextEncoder();

/** Replaces the header text and rewrites its length field so the outer framing stays consistent. */
function withHeader(b: Uint8Array, L: Layout, text: string, asUtf8: boolean): Uint8Array {
  const h = asUtf8 ? utf8.encode(text) : Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
  const out = new Uint8Array(L.start + h.length + (b.length - L.end));
  out.set(b.subarray(0, L.start));
  out.set(h, L.start);
  out.set(b.subarray(L.end), L.start + h.length);
  const dv = new DataView(out.buffer);
  if (L.lenBytes === 8) dv.setBigUint64(L.lenAt, BigInt(h.length), true);
  else if (L.lenBytes === 4) dv.setUint32(L.lenAt, h.length, true);
  else dv.setUint16(L.lenAt, h.length & 0xffff, true);
  return out;
}

const pick = <T,>(r: Rng, xs: readonly T[]): T => xs[r.int(0, xs.length)]!;
const NUMBERS = [
  '0', '1', '2', '-1', '-0', '7', '255', '65535', '65536', '4294967295', '4294967296', '2147483648', '9007199254740991',
  '9007199254740992', '9007199254740993', '18446744073709551615', '1e3', '1.0', '1.5', '1e308', '1e999', '-1e999',
  '0x10', 'NaN', 'Infinity', '00', '007', '99999999999999999999999999999999999999', '',
];
const WORDS = [
  'F32', 'F16', 'BF16', 'F64', 'I64', 'U64', 'I32', 'U32', 'I16', 'U16', 'I8', 'U8', 'BOOL', 'F8_E4M3', 'C64', 'f32', '',
  'dtype', 'shape', 'data_offsets', '__metadata__', '__proto__', 'constructor', 'toString',
  '<f4', '>f4', '<f8', '>f8', '<i8', '>i8', '|b1', '|u1', '<u1', '>u1', '<f2', '<c8', '|O', 'O', '<U4', '|V4',
  'True', 'False', 'None', 'descr', 'fortran_order', 'shape',
];
const VALUES = [
  'null', 'true', 'false', '{}', '[]', '""', '"x"', '[0]', '[0,0]', '[1,2,3]', '{"a":1}', '[-1]', '[1.5]', '"\\u0000"',
  '"\\ud800"', '[9007199254740993]', '[4294967296,4294967296,4294967296]', '()', '(1,)', '(0,)', '(1,2,3,4,5)', "'<f4'",
];

/** Where the value starting at `at` ends: past its matching bracket, or at the next ',' or '}'. */
function valueEnd(text: string, at: number): number {
  let end = at;
  if ('[({'.includes(text[at] ?? '')) {
    let depth = 0;
    for (; end < text.length; end++) {
      if ('[({'.includes(text[end]!)) depth++;
      else if ('])}'.includes(text[end]!) && --depth === 0) return end + 1;
    }
    return end;
  }
  while (end < text.length && !',}'.includes(text[end]!)) end++;
  return end;
}

/** One random mutation. Byte-level ones ignore the format; header-level ones keep the framing consistent. */
function mutateOnce(r: Rng, src: Uint8Array, kind: 'st' | 'npy'): Uint8Array {
  let b = src.slice();
  const L = layoutOf(b, kind);
  const op = r.int(0, 16);
  const textOps = op >= 6 && op <= 13;
  if (textOps && !L) return mutateOnce(r, b, kind); // framing already broken: stay byte-level
  const text = L ? latin1(b.subarray(L.start, L.end)) : '';
  const splice = (at: number, del: number, ins: string) => withHeader(b, L!, text.slice(0, at) + ins + text.slice(at + del), kind === 'st');
  switch (op) {
    case 0: // flip 1–8 bits anywhere
      for (let k = 1 + r.int(0, 8); k > 0 && b.length; k--) b[r.int(0, b.length)] ^= 1 << r.int(0, 8);
      return b;
    case 1: // set bytes to boundary values
      for (let k = 1 + r.int(0, 4); k > 0 && b.length; k--) b[r.int(0, b.length)] = pick(r, [0, 1, 0x7f, 0x80, 0xff, 0x22, 0x5c]);
      return b;
    case 2: // truncate (often inside the header or the length field)
      return b.slice(0, r.next() < 0.5 ? r.int(0, Math.min(b.length, 80)) : r.int(0, b.length));
    case 3: { // extend with junk
      const junk = Uint8Array.from({ length: 1 + r.int(0, 64) }, () => r.int(0, 256));
      const at = r.next() < 0.5 ? b.length : r.int(0, b.length + 1);
      return concat(b.subarray(0, at), junk, b.subarray(at));
    }
    case 4: { // the header length field
      const dv = new DataView(b.buffer);
      const n = L ? L.end - L.start : 0;
      const v = pick(r, [0, 1, 2, n - 1, n + 1, n + 8, b.length, b.length - 7, 100_000_001, 0xffff, 0xffffffff, r.int(0, 1 << 20)]);
      if (kind === 'st') {
        if (b.length < 8) return b;
        dv.setBigUint64(0, r.next() < 0.15 ? pick(r, [2n ** 63n, 2n ** 64n - 1n, 2n ** 53n + 1n]) : BigInt(Math.max(0, v) >>> 0), true);
      } else if (b.length >= 12) {
        if (b[6] === 1) dv.setUint16(8, v & 0xffff, true);
        else dv.setUint32(8, v >>> 0, true);
      }
      return b;
    }
    case 5: // npy: magic and version bytes; safetensors: the high bytes of the u64 length
      if (b.length < 12) return b;
      if (kind === 'npy') b[r.int(0, 8)] = pick(r, [0, 1, 2, 3, 4, 0x93, 0x4e, 0xff]);
      else b[r.int(4, 8)] = r.int(0, 256);
      return b;
    case 6: { // replace a number in the header
      const ms = [...text.matchAll(/-?\d+/g)];
      if (!ms.length) return splice(r.int(0, text.length + 1), 0, pick(r, NUMBERS));
      const m = pick(r, ms);
      return splice(m.index!, m[0].length, pick(r, NUMBERS));
    }
    case 7: { // replace a word or string
      const ms = [...text.matchAll(/[A-Za-z_<>|0-9]+/g)];
      if (!ms.length) return b;
      const m = pick(r, ms);
      return splice(m.index!, m[0].length, pick(r, WORDS));
    }
    case 8: { // replace a JSON/Python value after a ':' with another kind of value
      const ms = [...text.matchAll(/:\s*/g)];
      if (!ms.length) return b;
      const m = pick(r, ms), at = m.index! + m[0].length;
      return splice(at, valueEnd(text, at) - at, pick(r, VALUES));
    }
    case 9: { // giant or many dims in the first shape
      const m = /(shape['"]?\s*:\s*)([[(])/.exec(text);
      if (!m) return b;
      const at = m.index! + m[0].length;
      const dims = pick(r, [
        '4294967296,4294967296,', '9007199254740991,', '1048576,1048576,1048576,', '0,9007199254740993,',
        '1,'.repeat(2000), '2,'.repeat(70), '1,'.repeat(100) + '2,',
      ]);
      return splice(at, 0, kind === 'st' && !text.slice(at).startsWith(']') ? dims : dims);
    }
    case 10: { // a deeply nested value in place of a value
      const ms = [...text.matchAll(/:\s*/g)];
      if (!ms.length) return b;
      const m = pick(r, ms), at = m.index! + m[0].length;
      const depth = pick(r, [64, 1000, 20_000]); // JSON.stringify overflows the stack near 5,000
      const open = kind === 'st' ? (r.next() < 0.5 ? '[' : '{"k":') : '(';
      const close = open === '[' ? ']' : open === '(' ? ')' : '}';
      return splice(at, valueEnd(text, at) - at, open.repeat(depth) + (open === '{"k":' ? '1' : '') + close.repeat(depth));
    }
    case 11: { // duplicate a key/entry or a stretch of the header
      const i = r.int(0, text.length), len = 1 + r.int(0, 40);
      return splice(i, 0, text.slice(i, i + len));
    }
    case 12: { // punctuation and escapes in the header
      const i = r.int(0, Math.max(1, text.length));
      return splice(i, r.int(0, 2), pick(r, ['{', '}', '[', ']', ':', ',', '"', "'", '(', ')', ' ', '\\', '\\u', '\\"', '\n', '\u00e9', '\u0000', '\ufeff', '\ud83d\ude00']));
    }
    case 13: { // invalid UTF-8 or a BOM inside the header bytes
      if (!L || L.end <= L.start) return b;
      b[L.start + r.int(0, L.end - L.start)] = pick(r, [0xc0, 0xc3, 0xe2, 0xed, 0xf4, 0xf8, 0xfe, 0xff, 0x80]);
      return b;
    }
    case 14: // zero or 0xff the data section
      if (L && L.end < b.length) b.fill(r.next() < 0.5 ? 0 : 0xff, L.end + r.int(0, b.length - L.end));
      return b;
    default: { // splice two files of this kind together
      const other = pick(r, kind === 'st' ? ST : NPY);
      const cut = r.int(0, b.length + 1), from = r.int(0, other.length + 1);
      return concat(b.subarray(0, cut), other.subarray(from));
    }
  }
}

function mutate(r: Rng, src: Uint8Array, kind: 'st' | 'npy'): Uint8Array {
  let b = src;
  for (let k = r.next() < 0.6 ? 1 : 2 + r.int(0, 3); k > 0; k--) b = mutateOnce(r, b, kind);
  return b;
}

const ST = safetensorsCorpus();
const NPY = npyCorpus();

// ---- checks ------------------------------------------------------------------------------------------------------

const SIZES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1, U16: 2, U32: 4, U64: 8 };
const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const arrayBuffers = () => process.memoryUsage().arrayBuffers;

/** Decodes and converts as the loaders do; returns what it produced (kept referenced while memory is measured). */
function loadSt(b: Uint8Array): unknown[] {
  const { tensors, metadata } = decodeSafetensors(b);
  const kept: unknown[] = [tensors, metadata];
  let covered = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const n = numel(t.shape);
    if (t.bytes.byteLength !== n * SIZES[t.dtype]!) throw new Error(`accepted tensor "${name}" has ${t.bytes.byteLength} bytes for ${t.dtype} ${JSON.stringify(t.shape)}`);
    if (t.bytes.buffer !== b.buffer) throw new Error(`accepted tensor "${name}" is a copy, not a view into the file`);
    covered += t.bytes.byteLength;
    const f = toFloat32(t);
    if (f.length !== n) throw new Error(`toFloat32 of "${name}" gave ${f.length} values for ${n} elements`);
    kept.push(f);
  }
  for (const v of Object.values(metadata)) if (typeof v !== 'string') throw new Error('accepted metadata value is not a string');
  if (covered > b.length) throw new Error(`accepted tensors cover ${covered} bytes of a ${b.length}-byte file`);
  // what was accepted re-encodes and decodes to the same thing
  const again = decodeSafetensors(encodeSafetensors(Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, { dtype: t.dtype, shape: t.shape, data: t.bytes }])), metadata));
  for (const [k, t] of Object.entries(tensors)) {
    const u = again.tensors[k]!;
    if (u.dtype !== t.dtype || u.shape.join() !== t.shape.join() || Buffer.compare(u.bytes, t.bytes) !== 0) throw new Error(`re-encoded tensor "${k}" differs`);
  }
  return kept;
}

function loadNpyBytes(b: Uint8Array): unknown[] {
  const { data, shape, dtype } = decodeNpy(b);
  const n = numel(shape);
  if (data.length !== n) throw new Error(`accepted npy has ${data.length} values for shape ${JSON.stringify(shape)}`);
  if (data.byteLength > b.length) throw new Error(`accepted npy decoded to ${data.byteLength} bytes from a ${b.length}-byte file`);
  if (!/^[<|]/.test(dtype)) throw new Error(`accepted npy reports descr ${dtype}`);
  const f = data instanceof BigInt64Array ? Float32Array.from(data, Number) : Float32Array.from(data as ArrayLike<number>);
  return [data, f];
}

interface Tally {
  cases: number;
  accepted: number;
  rejected: number;
  worstMs: number;
  worstFactor: number;
  messages: Set<string>;
}

function fuzz(kind: 'st' | 'npy', corpus: Uint8Array[], n: number, seed: number): Tally {
  const r = rng(seed);
  const load = kind === 'st' ? loadSt : loadNpyBytes;
  const t: Tally = { cases: 0, accepted: 0, rejected: 0, worstMs: 0, worstFactor: 0, messages: new Set() };
  for (let k = 0; k < n; k++) {
    const src = corpus[k % corpus.length]!;
    const b = mutate(r, src, kind);
    const m0 = arrayBuffers(), t0 = performance.now();
    let kept: unknown[] | null = null;
    try {
      kept = load(b);
      t.accepted++;
    } catch (e) {
      if (!(e instanceof FormatError)) {
        throw new Error(`${kind} case ${k} (seed ${seed}, ${b.length} bytes, header ${JSON.stringify(latin1(b.subarray(0, 160)))}): ${(e as Error)?.stack ?? e}`);
      }
      if (e.message.length > 2000) throw new Error(`${kind} case ${k}: FormatError message of ${e.message.length} characters`);
      t.rejected++;
      t.messages.add(e.message.replace(/\d+/g, 'N').replace(/"[^"]*"/g, '"…"').slice(0, 60));
    }
    const ms = performance.now() - t0, grown = arrayBuffers() - m0;
    if (ms > CASE_MS) throw new Error(`${kind} case ${k}: ${ms.toFixed(0)} ms for ${b.length} bytes`);
    if (grown > MEMORY_FACTOR * b.length + MEMORY_SLACK) throw new Error(`${kind} case ${k}: grew arrayBuffers by ${grown} bytes for a ${b.length}-byte file`);
    t.worstMs = Math.max(t.worstMs, ms);
    t.worstFactor = Math.max(t.worstFactor, grown / Math.max(1, b.length));
    void kept;
    t.cases++;
  }
  return t;
}

const report = (name: string, t: Tally, secs: number) =>
  `fuzz ${name}: ${t.cases} cases in ${secs.toFixed(1)} s: ${t.accepted} accepted, ${t.rejected} rejected with FormatError ` +
  `(${t.messages.size} distinct messages); slowest case ${t.worstMs.toFixed(1)} ms; worst arrayBuffers growth ${t.worstFactor.toFixed(2)}× the file`;

describe('fuzz: 12,000 mutated files load correctly or throw FormatError, in bounded time and memory', () => {
  const totals = { cases: 0, accepted: 0, rejected: 0 };
  const run = (kind: 'st' | 'npy', corpus: Uint8Array[], n: number, seed: number) => {
    const t0 = performance.now();
    const t = fuzz(kind, corpus, n, seed);
    console.log(report(kind === 'st' ? 'safetensors' : 'npy', t, (performance.now() - t0) / 1000));
    totals.cases += t.cases;
    totals.accepted += t.accepted;
    totals.rejected += t.rejected;
    expect(t.cases).toBe(n);
    // the mix stays useful: most mutations are caught, and some (data-only changes) still load
    expect(t.accepted).toBeGreaterThan(n / 50);
    expect(t.rejected).toBeGreaterThan(n / 2);
    expect(t.messages.size).toBeGreaterThan(20);
  };

  it('safetensors: 6,000 seeded mutations', () => run('st', ST, 6000, 20240901));
  it('npy: 6,000 seeded mutations', () => run('npy', NPY, 6000, 20240902));

  it('headers claiming giant shapes are rejected before anything is allocated', () => {
    const st = (header: string, data = 0) => {
      const h = utf8.encode(header), b = new Uint8Array(8 + h.length + data);
      new DataView(b.buffer).setBigUint64(0, BigInt(h.length), true);
      b.set(h, 8);
      return b;
    };
    const npy = (dict: string, data = 0) => {
      const h = dict.padEnd(Math.ceil((dict.length + 11) / 64) * 64 - 11) + '\n';
      const b = new Uint8Array(10 + h.length + data);
      b.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
      new DataView(b.buffer).setUint16(8, h.length, true);
      for (let i = 0; i < h.length; i++) b[10 + i] = h.charCodeAt(i);
      return b;
    };
    const files: [string, Uint8Array, () => unknown][] = [
      ['st 2^32×2^32 F32, tiny offsets', st('{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]}}', 16), () => 0],
      ['st 2^40 elements, offsets claiming 4 TiB', st('{"a":{"dtype":"U8","shape":[1099511627776],"data_offsets":[0,1099511627776]}}', 8), () => 0],
      ['st past 2^53 bytes', st('{"a":{"dtype":"F64","shape":[9007199254740991,2],"data_offsets":[0,8]}}', 8), () => 0],
      ['st header length 2^63', (() => { const b = new Uint8Array(64); new DataView(b.buffer).setBigUint64(0, 2n ** 63n, true); return b; })(), () => 0],
      ['npy (2^31, 2^31) f8', npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2147483648, 2147483648), }", 8), () => 0],
      ['npy 2^50 u1', npy("{'descr': '|u1', 'fortran_order': True, 'shape': (1125899906842624,), }", 8), () => 0],
      ['npy header length 65535 in a 100-byte file', (() => { const b = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 4); new DataView(b.buffer).setUint16(8, 0xffff, true); return b; })(), () => 0],
    ];
    for (const [name, b] of files) {
      const m0 = arrayBuffers();
      const decode = name.startsWith('st') ? () => decodeSafetensors(b) : () => decodeNpy(b);
      expect(decode, name).toThrow(FormatError);
      expect(arrayBuffers() - m0, name).toBeLessThan(MEMORY_SLACK);
    }
  });

  it('regressions: the loader bugs this fuzz found stay fixed', () => {
    const st = (header: string, data: number[] = []) => {
      const h = utf8.encode(header), b = new Uint8Array(8 + h.length + data.length);
      new DataView(b.buffer).setBigUint64(0, BigInt(h.length), true);
      b.set(h, 8);
      b.set(data, 8 + h.length);
      return b;
    };
    const deep = '['.repeat(20_000) + ']'.repeat(20_000);
    // 1. error messages used JSON.stringify on file values: deep nesting overflowed the stack (RangeError)
    for (const h of [`{"a":${deep}}`, `{"a":{"dtype":${deep},"shape":[],"data_offsets":[0,0]}}`,
      `{"a":{"dtype":"F32","shape":${deep},"data_offsets":[0,0]}}`, `{"__metadata__":{"k":${deep}}}`]) {
      expect(() => decodeSafetensors(st(h))).toThrow(FormatError);
    }
    // 2. a BOOL byte other than 0/1 was accepted, though the writer refuses it (and npy '|b1' loaded 2 as 2.0)
    expect(() => decodeSafetensors(st('{"m":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}}', [1, 2]))).toThrow(/BOOL but element 1 is the byte 2/);
    const b1 = encodeNpy(Uint8Array.of(0, 1, 2), [3]);
    b1.set(utf8.encode("'|b1'"), latin1(b1.subarray(0, 64)).indexOf("'|u1'")); // '|u1' → '|b1'
    expect(() => decodeNpy(b1)).toThrow(/bool bytes must be 0 or 1/);
    // 3. a lone surrogate escape ("\ud800") was accepted in names and metadata; UTF-8 (and the Rust reader) cannot hold it
    expect(() => decodeSafetensors(st('{"__metadata__":{"k":"\\ud800"}}'))).toThrow(/lone UTF-16 surrogate/);
    expect(() => decodeSafetensors(st('{"\\udc00":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}'))).toThrow(FormatError);
    expect(decodeSafetensors(st('{"\\ud83d\\ude00":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}')).tensors).toHaveProperty('😀');
    // 4. messages quoted whole header values: a 100 kB name or descr, or a 2,000-dim shape, made a message as long
    let msg = '';
    try {
      decodeSafetensors(st(`{"${'n'.repeat(100_000)}":{"dtype":"X","shape":[],"data_offsets":[0,0]}}`));
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/unknown dtype "X"/);
    expect(msg.length).toBeLessThan(400);
    // 5. Fortran order with many size-1 axes made the transpose O(numel × ndim): a 1 MiB file with 20,000 dims took minutes
    const n = 1 << 18, shape = [n, ...new Array<number>(20_000).fill(1)];
    const f = encodeNpy(Float32Array.from({ length: n }, (_, i) => i), shape);
    const at = latin1(f.subarray(0, 64)).indexOf("'fortran_order': False, ");
    expect(at).toBeGreaterThan(0);
    f.set(utf8.encode("'fortran_order': True,  "), at); // same length
    const t0 = performance.now();
    const { data, fortranOrder } = decodeNpy(f);
    expect(fortranOrder).toBe(true);
    expect(data[n - 1]).toBe(n - 1);
    expect(performance.now() - t0).toBeLessThan(CASE_MS);
  });

  it('mutated files through os.io onto the GPU: tensors of the right shape, or FormatError', async () => {
    const r = rng(99);
    let accepted = 0, rejected = 0;
    const st = ST.filter((b) => b.length < 4096);
    const checked = await os.io.saveSafetensorsChecked({ w: os.tensor([1, 2, 3, 4, 5, 6], [2, 3]), b: os.tensor([0.5]) });
    const n = 600;
    for (let k = 0; k < n; k++) {
      const which = k % 3;
      const b = mutate(r, which === 0 ? st[k % st.length]! : which === 1 ? checked : NPY[k % NPY.length]!, which === 2 ? 'npy' : 'st');
      try {
        if (which === 2) {
          const t = os.io.loadNpy(b);
          expect(t.size).toBe(numel(t.shape));
          t.dispose();
        } else {
          const { tensors } = which === 0 ? await os.io.loadSafetensors(b) : await os.io.loadSafetensorsChecked(b);
          for (const t of Object.values(tensors)) {
            expect(t.size).toBe(numel(t.shape));
            t.dispose();
          }
        }
        accepted++;
      } catch (e) {
        if (!(e instanceof FormatError)) throw new Error(`os.io case ${k}: ${(e as Error)?.stack ?? e}`);
        rejected++;
      }
      if (k % 50 === 49) await os.sync();
    }
    console.log(`fuzz os.io (GPU upload): ${n} cases: ${accepted} accepted, ${rejected} rejected with FormatError`);
    totals.cases += n;
    totals.accepted += accepted;
    totals.rejected += rejected;
    expect(accepted + rejected).toBe(n);
    expect(rejected).toBeGreaterThan(n / 2);
    console.log(`fuzz total: ${totals.cases} cases: ${totals.accepted} accepted, ${totals.rejected} rejected with FormatError, 0 other errors`);
    expect(totals.cases).toBeGreaterThanOrEqual(12_600);
  });
});
