// engine/io/npy.ts: NumPy .npy files on bytes (CPU only); writes what `numpy.save` writes, byte for byte.
//
// Layout (numpy/lib/_format_impl.py): b"\x93NUMPY", major, minor, header length (u16 LE for 1.0,
// u32 LE for 2.0 and 3.0), then the header: a Python dict literal
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// (keys sorted, each "'key': repr(value), "), then spaces: 21 − len(repr(shape[0])) of them when the
// shape is not empty (room to grow the first axis in place), then spaces and '\n' so that magic, length
// and header together are a multiple of 64 bytes (always at least one space). Version 1.0 unless the
// header length does not fit a u16. Data follows in C order.
// This module assumes a little-endian host (every platform WebGPU runs on).

import { FormatError, ValueError, fmtShape } from '../errors';

export type NpyData =
  | Float32Array | Float64Array | Int32Array | Uint8Array | Int8Array | Int16Array | Uint16Array | Uint32Array
  | BigInt64Array;

type ArrayCtor = { new (buffer: ArrayBuffer): NpyData; readonly BYTES_PER_ELEMENT: number };

/** Little-endian descr → array type. One-byte types are written '|u1' by numpy; '<u1' is read too. */
const DESCRS = new Map<string, ArrayCtor>([
  ['<f4', Float32Array], ['<f8', Float64Array], ['<i4', Int32Array], ['<i8', BigInt64Array], ['<i2', Int16Array],
  ['<u2', Uint16Array], ['<u4', Uint32Array], ['|u1', Uint8Array], ['<u1', Uint8Array], ['|i1', Int8Array],
  ['<i1', Int8Array], ['|b1', Uint8Array],
]);
const DESCR_LIST = [...DESCRS.keys()].join(' ');
/** A string from the header as Python would show it, cut short: messages stay small whatever the file holds. */
const py = (s: string): string => `'${s.length > 40 ? `${s.slice(0, 40)}…` : s}'`;

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const ALIGN = 64;
const GROWTH_AXIS_MAX_DIGITS = 21;

// ---------------------------------------------------------------------------------------------
// Writer

/** Serializes a C-order array as .npy ('<f4', '<f8', '<i4' or '|u1' by the array's type). */
export function encodeNpy(data: Float32Array | Float64Array | Int32Array | Uint8Array, shape: number[]): Uint8Array {
  const descr =
    data instanceof Float32Array ? '<f4'
    : data instanceof Float64Array ? '<f8'
    : data instanceof Int32Array ? '<i4'
    : data instanceof Uint8Array ? '|u1'
    : undefined;
  if (descr === undefined) {
    throw new ValueError(`encodeNpy: data must be a Float32Array, Float64Array, Int32Array or Uint8Array, got ${Object.prototype.toString.call(data)}`);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new ValueError(`encodeNpy: shape ${JSON.stringify(shape)} must be an array of non-negative integers`);
  }
  const numel = shape.reduce((a, b) => a * b, 1);
  if (numel !== data.length) {
    throw new ValueError(`encodeNpy: shape ${fmtShape(shape)} has ${numel} elements but data has ${data.length}`);
  }

  const tuple = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${tuple}, }`;
  if (shape.length > 0) dict += ' '.repeat(GROWTH_AXIS_MAX_DIGITS - String(shape[0]).length);

  // hlen counts the final '\n'; padding brings magic + version + length + header to a multiple of 64.
  const wrap = (lenBytes: number) => {
    const hlen = dict.length + 1;
    const pad = ALIGN - ((MAGIC.length + 2 + lenBytes + hlen) % ALIGN);
    return { prefix: MAGIC.length + 2 + lenBytes, total: hlen + pad, pad };
  };
  let w = wrap(2), major = 1;
  if (w.total > 0xffff) (w = wrap(4)), (major = 2);

  const out = new Uint8Array(w.prefix + w.total + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, w.total, true);
  else view.setUint32(8, w.total, true);
  for (let i = 0; i < dict.length; i++) out[w.prefix + i] = dict.charCodeAt(i); // ASCII only
  out.fill(0x20, w.prefix + dict.length, w.prefix + dict.length + w.pad);
  out[w.prefix + w.total - 1] = 0x0a;
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), w.prefix + w.total);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reader

/**
 * Parses .npy bytes (versions 1.0, 2.0, 3.0). Returns a new aligned array in C order: Fortran-order
 * files are transposed (`fortranOrder` reports what the file said), big-endian files are byte-swapped
 * and reported with their little-endian descr. Throws FormatError on any malformed field.
 */
export function decodeNpy(bytes: Uint8Array): { data: NpyData; shape: number[]; dtype: string; fortranOrder: boolean } {
  if (!(bytes instanceof Uint8Array)) {
    throw new ValueError(`decodeNpy: expected a Uint8Array of file bytes, got ${Object.prototype.toString.call(bytes)}`);
  }
  if (bytes.byteLength < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new FormatError(`npy: file does not start with the magic \\x93NUMPY (or is shorter than 10 bytes); it is not a .npy file`);
  }
  const major = bytes[6]!, minor = bytes[7]!;
  if (!((major === 1 || major === 2 || major === 3) && minor === 0)) {
    throw new FormatError(`npy: format version ${major}.${minor} is not supported; onestep reads 1.0, 2.0 and 3.0`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const prefix = major === 1 ? 10 : 12;
  if (bytes.byteLength < prefix) {
    throw new FormatError(`npy: file is ${bytes.byteLength} bytes, too short for a version ${major}.0 header length`);
  }
  const hlen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  if (hlen > bytes.byteLength - prefix) {
    throw new FormatError(`npy: header length is ${hlen} bytes but only ${bytes.byteLength - prefix} bytes follow; the file is truncated`);
  }
  const raw = bytes.subarray(prefix, prefix + hlen);
  let text: string;
  if (major === 3) {
    try {
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(raw);
    } catch {
      throw new FormatError(`npy: version 3.0 header is not valid UTF-8`);
    }
  } else {
    text = String.fromCharCode(...raw.subarray(0, Math.min(raw.length, 0x10000))); // latin1, as numpy reads it
    for (let i = 0x10000; i < raw.length; i += 0x10000) text += String.fromCharCode(...raw.subarray(i, i + 0x10000));
  }

  const header = parseHeader(text);
  const { descr, fortranOrder, shape } = header;
  // '>f4' is read as '<f4' after a byte swap ('>u1' and '>b1' need none).
  let le = descr;
  if (descr[0] === '>') le = [`<${descr.slice(1)}`, `|${descr.slice(1)}`].find((d) => DESCRS.has(d)) ?? descr;
  const Ctor = DESCRS.get(le);
  if (!Ctor) {
    throw new FormatError(`npy: dtype descr ${py(descr)} is not supported; onestep reads ${DESCR_LIST} (and their big-endian '>' forms); convert with arr.astype('<f4')`);
  }

  const size = Ctor.BYTES_PER_ELEMENT;
  const dataLen = bytes.byteLength - prefix - hlen;
  let need: number | undefined = shape.includes(0) ? 0 : size; // numel × size; undefined past 2^53
  for (const d of shape) {
    if (need === undefined) break;
    need *= d;
    if (need > Number.MAX_SAFE_INTEGER) need = undefined;
  }
  if (need !== dataLen) {
    throw new FormatError(
      `npy: dtype ${py(descr)} shape ${fmtShape(shape)} needs ${need ?? 'more than 2^53'} bytes of data but the file has ${dataLen} after the header`,
    );
  }

  const copy = bytes.slice(prefix + hlen);
  if (descr[0] === '>') {
    for (let i = 0; i < copy.length; i += size) {
      for (let a = i, b = i + size - 1; a < b; a++, b--) [copy[a], copy[b]] = [copy[b]!, copy[a]!];
    }
  }
  if (le === '|b1') {
    const bad = copy.findIndex((b) => b > 1);
    if (bad >= 0) throw new FormatError(`npy: dtype '|b1' (bool) but element ${bad} is the byte ${copy[bad]}; bool bytes must be 0 or 1 (numpy writes nothing else)`);
  }
  let data = new Ctor(copy.buffer);
  // size-1 axes do not move anything: dropping them keeps the transpose O(numel · log numel) whatever the header says
  const axes = shape.filter((d) => d !== 1);
  if (fortranOrder && axes.length > 1) data = fortranToC(data, axes, Ctor);
  return { data, shape, dtype: le, fortranOrder };
}

/** Fortran order: element (i0, …, ik) sits at i0 + d0·(i1 + d1·(i2 + …)). Returns the C-order copy. */
function fortranToC(src: NpyData, shape: number[], Ctor: ArrayCtor): NpyData {
  const n = src.length, k = shape.length;
  const out = new Ctor(new ArrayBuffer(n * Ctor.BYTES_PER_ELEMENT)) as unknown as Float64Array; // any element type
  const from = src as unknown as Float64Array;
  const stride: number[] = [];
  for (let a = 0, s = 1; a < k; s *= shape[a]!, a++) stride.push(s);
  const idx = new Array<number>(k).fill(0);
  let f = 0; // Fortran offset of the C-order element `i`
  for (let i = 0; i < n; i++) {
    out[i] = from[f]!;
    for (let a = k - 1; a >= 0; a--) { // odometer over the C index, last axis fastest
      if (++idx[a]! < shape[a]!) { f += stride[a]!; break; }
      f -= (shape[a]! - 1) * stride[a]!;
      idx[a] = 0;
    }
  }
  return out as unknown as NpyData;
}

/**
 * The header dict, parsed without eval: {'descr': str, 'fortran_order': bool, 'shape': (int, ...)}
 * with optional trailing commas and whitespace; exactly those three keys, each once.
 */
function parseHeader(text: string): { descr: string; fortranOrder: boolean; shape: number[] } {
  let i = 0;
  const ws = () => { while (i < text.length && ' \t\r\n'.includes(text[i]!)) i++; };
  const fail = (what: string): never => {
    throw new FormatError(`npy: header ${what} at character ${i}; header is ${JSON.stringify(text.slice(0, 120))}`);
  };
  const expect = (c: string) => { ws(); if (text[i] !== c) fail(`expected '${c}'`); i++; };
  const str = (): string => {
    ws();
    const q = text[i];
    if (q !== "'" && q !== '"') fail('expected a quoted string');
    const end = text.indexOf(q!, i + 1);
    if (end < 0) fail('has an unterminated string');
    const s = text.slice(i + 1, end);
    if (s.includes('\\') || s.includes('\n')) fail('has a string with an escape or newline');
    i = end + 1;
    return s;
  };
  const int = (): number => {
    ws();
    const m = /^[0-9]+/.exec(text.slice(i, i + 32));
    if (!m) fail('expected a non-negative integer in shape');
    const v = Number(m![0]);
    if (!Number.isSafeInteger(v)) fail(`has shape dim ${m![0]}, too large`);
    i += m![0].length;
    return v;
  };

  const out: { descr?: string; fortranOrder?: boolean; shape?: number[] } = {};
  const seen = new Set<string>();
  expect('{');
  for (;;) {
    ws();
    if (text[i] === '}') { i++; break; }
    const key = str();
    if (seen.has(key)) fail(`has duplicate key ${py(key)}`);
    seen.add(key);
    expect(':');
    ws();
    if (key === 'descr') {
      if (text[i] !== "'" && text[i] !== '"') fail(`has descr that is not a string (structured dtypes are not supported)`);
      out.descr = str();
    } else if (key === 'fortran_order') {
      if (text.startsWith('True', i)) (out.fortranOrder = true), (i += 4);
      else if (text.startsWith('False', i)) (out.fortranOrder = false), (i += 5);
      else fail('has fortran_order that is not True or False');
    } else if (key === 'shape') {
      if (text[i] !== '(') fail('has shape that is not a tuple');
      i++;
      const dims: number[] = [];
      let comma = false;
      for (;;) {
        ws();
        if (text[i] === ')') { i++; break; }
        if (dims.length > 0 && !comma) fail("expected ',' or ')' in shape");
        dims.push(int());
        ws();
        comma = text[i] === ',';
        if (comma) i++;
      }
      if (dims.length === 1 && !comma) fail(`has shape (${dims[0]}) without a trailing comma, which is an int, not a tuple`);
      out.shape = dims;
    } else {
      fail(`has unexpected key ${py(key)}; expected only 'descr', 'fortran_order', 'shape'`);
    }
    ws();
    if (text[i] === ',') i++;
    else if (text[i] !== '}') fail("expected ',' or '}'");
  }
  ws();
  if (i !== text.length) fail('has text after the closing brace');
  if (out.descr === undefined || out.fortranOrder === undefined || out.shape === undefined) {
    const missing = ['descr', 'fortran_order', 'shape'].filter((k) => !seen.has(k));
    throw new FormatError(`npy: header is missing ${missing.map((k) => `'${k}'`).join(', ')}; header is ${JSON.stringify(text.slice(0, 120))}`);
  }
  return { descr: out.descr, fortranOrder: out.fortranOrder, shape: out.shape };
}
