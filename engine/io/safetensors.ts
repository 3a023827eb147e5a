// engine/io/safetensors.ts: the safetensors format on bytes (CPU only); writes what PyTorch's
// `safetensors.torch.save` writes, byte for byte, and reads it back with strict validation.
//
// Layout: u64 little-endian N, then N bytes of UTF-8 JSON header, then the data buffer.
//   header = {"__metadata__": {str: str}?, "<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...}
//   offsets are relative to the start of the data buffer; the tensors must cover it exactly, in order.
//
// Writer order, from huggingface/safetensors `safetensors/src/tensor.rs`, fn `prepare`:
//   data.sort_by(|(lname, left), (rname, right)| right.dtype().cmp(&left.dtype()).then(lname.cmp(rname)))
// i.e. by the `Dtype` enum's declaration order, descending (U64 I64 F64 F32 U32 I32 BF16 F16 U16 I16 I8 U8
// BOOL), then by name in byte (code point) order. Data follows in that order with no padding; the header
// JSON is compact, lists `__metadata__` first (only when metadata is given), then the tensors in data
// order with fields dtype, shape, data_offsets, and is padded with spaces to a multiple of 8 bytes.
// `__metadata__` is a Rust HashMap there, so with two or more metadata keys its order in PyTorch's
// output is random per process; we write metadata keys sorted (any order reads back the same).
// This module assumes a little-endian host (every platform WebGPU runs on).

import { halvesToFloats } from '../../runtime/half';
import { FormatError, ValueError, fmtShape, preview, quote } from '../errors';

export type SafetensorsDtype =
  | 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL' | 'U16' | 'U32' | 'U64';

/** A tensor as stored: dtype, shape and a little-endian byte view into the file (not a copy). */
export interface RawTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  bytes: Uint8Array;
}

/** What `encodeSafetensors` accepts per tensor. Uint16Array carries F16/BF16 raw bits (or U16);
 *  a Uint8Array with a multi-byte dtype is taken as the tensor's raw little-endian bytes. */
export interface SafetensorsInput {
  dtype?: SafetensorsDtype;
  shape: number[];
  data:
    | Float32Array | Float64Array | Int32Array | Uint8Array | Uint16Array | BigInt64Array | BigUint64Array
    | Int8Array | Int16Array | Uint32Array;
}

/** Bytes per element and rank in the Rust `Dtype` enum (the writer sorts by rank, descending). */
const DTYPES: { readonly [D in SafetensorsDtype]: { size: number; rank: number } } = {
  BOOL: { size: 1, rank: 0 },
  U8: { size: 1, rank: 1 },
  I8: { size: 1, rank: 2 },
  I16: { size: 2, rank: 3 },
  U16: { size: 2, rank: 4 },
  F16: { size: 2, rank: 5 },
  BF16: { size: 2, rank: 6 },
  I32: { size: 4, rank: 7 },
  U32: { size: 4, rank: 8 },
  F32: { size: 4, rank: 9 },
  F64: { size: 8, rank: 10 },
  I64: { size: 8, rank: 11 },
  U64: { size: 8, rank: 12 },
};
const DTYPE_LIST = Object.keys(DTYPES).join(' ');
const isDtype = (d: unknown): d is SafetensorsDtype => typeof d === 'string' && Object.hasOwn(DTYPES, d);

/** The reference implementation refuses headers above 100 MB; so do we, before reading them. */
export const MAX_HEADER_BYTES = 100_000_000;

const METADATA_KEY = '__metadata__';
const TENSOR_FIELDS = ['dtype', 'shape', 'data_offsets'] as const;

// ---------------------------------------------------------------------------------------------
// Writer

/** Serializes tensors (and optional string metadata) into safetensors bytes, laid out as PyTorch does. */
export function encodeSafetensors(
  tensors: Record<string, SafetensorsInput>,
  metadata?: Record<string, string>,
): Uint8Array {
  if (tensors === null || typeof tensors !== 'object') {
    throw new ValueError(`encodeSafetensors: tensors must be an object {name: {dtype, shape, data}}, got ${tensors}`);
  }
  const entries = Object.keys(tensors).map((name) => {
    if (name === METADATA_KEY) {
      throw new ValueError(`encodeSafetensors: "${METADATA_KEY}" is reserved for metadata; rename that tensor`);
    }
    checkUnicode(name, 'tensor name');
    const { dtype, bytes, shape } = tensorBytes(name, tensors[name]!);
    return { name, dtype, shape, bytes };
  });
  entries.sort((a, b) => DTYPES[b.dtype].rank - DTYPES[a.dtype].rank || compareCodePoints(a.name, b.name));

  const parts: string[] = [];
  if (metadata !== undefined) parts.push(`"${METADATA_KEY}":${metadataJson(metadata)}`);
  let offset = 0;
  for (const e of entries) {
    const end = offset + e.bytes.byteLength;
    parts.push(`${JSON.stringify(e.name)}:{"dtype":"${e.dtype}","shape":[${e.shape.join(',')}],"data_offsets":[${offset},${end}]}`);
    offset = end;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const n = Math.ceil(json.byteLength / 8) * 8;

  const out = new Uint8Array(8 + n + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.byteLength, 8 + n);
  let at = 8 + n;
  for (const e of entries) {
    out.set(e.bytes, at);
    at += e.bytes.byteLength;
  }
  return out;
}

/** Checks one input tensor and returns its dtype and raw little-endian bytes (a view, not a copy). */
function tensorBytes(name: string, t: SafetensorsInput): { dtype: SafetensorsDtype; shape: number[]; bytes: Uint8Array } {
  if (t === null || typeof t !== 'object' || !ArrayBuffer.isView(t.data)) {
    throw new ValueError(`encodeSafetensors: tensor "${name}" must be {dtype?, shape, data: TypedArray}`);
  }
  const { data, shape } = t;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new ValueError(`encodeSafetensors: tensor "${name}" has shape ${JSON.stringify(shape)}; dims must be non-negative integers`);
  }
  const dtype = t.dtype ?? inferDtype(name, data);
  if (!isDtype(dtype)) {
    throw new ValueError(`encodeSafetensors: tensor "${name}" has unknown dtype ${JSON.stringify(dtype)}; use one of ${DTYPE_LIST}`);
  }
  const numel = shape.reduce((a, b) => a * b, 1);
  const size = DTYPES[dtype].size;
  const raw = data instanceof Uint8Array && size > 1; // raw little-endian bytes of a wider dtype
  if (!raw && !matchesArray(dtype, data)) {
    throw new ValueError(
      `encodeSafetensors: tensor "${name}" has dtype ${dtype} but data is a ${data.constructor.name}; ` +
        `pass ${arrayFor(dtype)} (or its raw bytes as a Uint8Array)`,
    );
  }
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (bytes.byteLength !== numel * size) {
    const got = raw ? `${bytes.byteLength} bytes` : `${(data as Uint8Array).length} elements`;
    const need = raw ? `${numel * size} bytes` : `${numel} elements`;
    throw new ValueError(`encodeSafetensors: tensor "${name}" has shape ${fmtShape(shape)} (${need}, dtype ${dtype}) but data has ${got}`);
  }
  if (dtype === 'BOOL' && bytes.some((b) => b > 1)) {
    throw new ValueError(`encodeSafetensors: tensor "${name}" is BOOL but holds bytes other than 0 and 1`);
  }
  return { dtype, shape: [...shape], bytes };
}

function inferDtype(name: string, data: ArrayBufferView): SafetensorsDtype {
  if (data instanceof Float32Array) return 'F32';
  if (data instanceof Float64Array) return 'F64';
  if (data instanceof Int32Array) return 'I32';
  if (data instanceof Uint32Array) return 'U32';
  if (data instanceof Int16Array) return 'I16';
  if (data instanceof Int8Array) return 'I8';
  if (data instanceof Uint8Array) return 'U8';
  if (data instanceof BigInt64Array) return 'I64';
  if (data instanceof BigUint64Array) return 'U64';
  if (data instanceof Uint16Array) {
    throw new ValueError(`encodeSafetensors: tensor "${name}" is a Uint16Array, which may hold F16, BF16 or U16; pass dtype`);
  }
  throw new ValueError(`encodeSafetensors: tensor "${name}" has data of type ${data.constructor.name}; pass a typed array and dtype`);
}

function matchesArray(dtype: SafetensorsDtype, data: ArrayBufferView): boolean {
  switch (dtype) {
    case 'F32': return data instanceof Float32Array;
    case 'F64': return data instanceof Float64Array;
    case 'I32': return data instanceof Int32Array;
    case 'U32': return data instanceof Uint32Array;
    case 'I16': return data instanceof Int16Array;
    case 'U16': case 'F16': case 'BF16': return data instanceof Uint16Array;
    case 'I8': return data instanceof Int8Array || data instanceof Uint8Array;
    case 'U8': case 'BOOL': return data instanceof Uint8Array;
    case 'I64': return data instanceof BigInt64Array;
    case 'U64': return data instanceof BigUint64Array;
  }
}

function arrayFor(dtype: SafetensorsDtype): string {
  const names: Record<SafetensorsDtype, string> = {
    F32: 'Float32Array', F64: 'Float64Array', I32: 'Int32Array', U32: 'Uint32Array', I16: 'Int16Array',
    U16: 'Uint16Array', F16: 'Uint16Array (raw bits)', BF16: 'Uint16Array (raw bits)', I8: 'Int8Array',
    U8: 'Uint8Array', BOOL: 'Uint8Array of 0/1', I64: 'BigInt64Array', U64: 'BigUint64Array',
  };
  return names[dtype];
}

function metadataJson(metadata: Record<string, string>): string {
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) {
    throw new ValueError(`encodeSafetensors: metadata must be an object of strings, got ${JSON.stringify(metadata)}`);
  }
  const keys = Object.keys(metadata).sort(compareCodePoints);
  const items = keys.map((k) => {
    const v: unknown = metadata[k];
    if (typeof v !== 'string') {
      throw new ValueError(`encodeSafetensors: metadata["${k}"] is ${typeof v}; safetensors metadata values must be strings (use JSON.stringify)`);
    }
    checkUnicode(k, 'metadata key');
    checkUnicode(v, `metadata["${k}"]`);
    return `${JSON.stringify(k)}:${JSON.stringify(v)}`;
  });
  return `{${items.join(',')}}`;
}

/** Rust strings are UTF-8, so a lone surrogate cannot be written the way safetensors writes it. */
function checkUnicode(s: string, what: string): void {
  if (/\p{Surrogate}/u.test(s)) {
    throw new ValueError(`encodeSafetensors: ${what} ${JSON.stringify(s)} has a lone UTF-16 surrogate; it cannot be stored as UTF-8`);
  }
}

/**
 * Rust's `String` order: by UTF-8 bytes, i.e. by code point. UTF-16 units agree except that surrogates
 * (astral code points) must sort above U+E000–U+FFFF, so those two ranges swap places before comparing.
 */
function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i), y = b.charCodeAt(i);
    if (x !== y) return fixup(x) - fixup(y);
  }
  return a.length - b.length;
}
const fixup = (u: number): number => (u >= 0xe000 ? u - 0x800 : u >= 0xd800 ? u + 0x2000 : u);

// ---------------------------------------------------------------------------------------------
// Reader

/** Parses safetensors bytes. Tensor bytes are views into `bytes`. Throws FormatError on any malformed field. */
export function decodeSafetensors(bytes: Uint8Array): { tensors: Record<string, RawTensor>; metadata: Record<string, string> } {
  if (!(bytes instanceof Uint8Array)) {
    throw new ValueError(`decodeSafetensors: expected a Uint8Array of file bytes, got ${Object.prototype.toString.call(bytes)}`);
  }
  if (bytes.byteLength < 8) {
    throw new FormatError(`safetensors: file is ${bytes.byteLength} bytes, shorter than the 8-byte header length; the file is truncated or not safetensors`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  if (n > MAX_HEADER_BYTES) {
    throw new FormatError(`safetensors: header length is ${n} bytes, above the ${MAX_HEADER_BYTES}-byte limit; the file is corrupt or not safetensors`);
  }
  if (n > bytes.byteLength - 8) {
    throw new FormatError(`safetensors: header length is ${n} bytes but the file has only ${bytes.byteLength - 8} bytes after the length; the file is truncated`);
  }

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    throw new FormatError(`safetensors: header (${n} bytes) is not valid UTF-8; the file is corrupt`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw new FormatError(`safetensors: header is not valid JSON (${(e as Error).message}); it starts ${JSON.stringify(text.slice(0, 40))}`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw new FormatError(`safetensors: header must be a JSON object {name: {dtype, shape, data_offsets}}, got ${JSON.stringify(text.slice(0, 40))}`);
  }
  scanHeader(text);

  const dataStart = 8 + n;
  const dataLen = bytes.byteLength - dataStart;
  const fields = header as Record<string, unknown>;
  const metadata: Record<string, string> = {};
  const infos: { name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }[] = [];

  for (const name of Object.keys(fields)) {
    const entry = fields[name];
    checkDecodedUnicode(name, 'a key');
    if (name === METADATA_KEY) {
      readMetadata(entry, metadata);
      continue;
    }
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
      throw new FormatError(`safetensors: tensor ${quote(name)} must be an object {dtype, shape, data_offsets}, got ${preview(entry)}`);
    }
    const info = entry as Record<string, unknown>;
    for (const key of Object.keys(info)) {
      if (!(TENSOR_FIELDS as readonly string[]).includes(key)) {
        throw new FormatError(`safetensors: tensor ${quote(name)} has unknown field ${quote(key)}; expected only dtype, shape, data_offsets`);
      }
    }
    for (const key of TENSOR_FIELDS) {
      if (!Object.hasOwn(info, key)) throw new FormatError(`safetensors: tensor ${quote(name)} is missing "${key}"`);
    }
    const { dtype, shape, data_offsets: offsets } = info;
    if (!isDtype(dtype)) {
      throw new FormatError(`safetensors: tensor ${quote(name)} has unknown dtype ${preview(dtype)}; onestep reads ${DTYPE_LIST}`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new FormatError(`safetensors: tensor ${quote(name)} has shape ${preview(shape)}; dims must be non-negative integers`);
    }
    if (
      !Array.isArray(offsets) || offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)
    ) {
      throw new FormatError(`safetensors: tensor ${quote(name)} has data_offsets ${preview(offsets)}; expected [begin, end], non-negative integers`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) {
      throw new FormatError(`safetensors: tensor ${quote(name)} has data_offsets [${begin},${end}] with begin > end`);
    }
    if (end > dataLen) {
      throw new FormatError(`safetensors: tensor ${quote(name)} has data_offsets [${begin},${end}] past the end of the ${dataLen}-byte data buffer; the file is truncated`);
    }
    const need = byteSize(shape, DTYPES[dtype].size);
    if (need !== end - begin) {
      throw new FormatError(
        `safetensors: tensor ${quote(name)} has data_offsets [${begin},${end}] but dtype ${dtype} shape ${fmtShape(shape)} ` +
          `needs ${need === undefined ? 'more than 2^53' : need} bytes`,
      );
    }
    infos.push({ name, dtype, shape: [...shape], begin, end });
  }

  // The data buffer must be covered exactly: sorted by offsets, each tensor starts where the last ended.
  const ordered = [...infos].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0, prev = '';
  for (const t of ordered) {
    if (t.begin < cursor) {
      throw new FormatError(`safetensors: tensor ${quote(t.name)} (data_offsets [${t.begin},${t.end}]) overlaps tensor ${quote(prev)} (which ends at ${cursor})`);
    }
    if (t.begin > cursor) {
      throw new FormatError(`safetensors: bytes [${cursor},${t.begin}) of the data buffer belong to no tensor (gap before ${quote(t.name)}); tensors must be contiguous`);
    }
    cursor = t.end;
    prev = t.name;
  }
  if (cursor !== dataLen) {
    throw new FormatError(`safetensors: data buffer is ${dataLen} bytes but the tensors cover only [0,${cursor}); the file has trailing bytes or missing tensors`);
  }

  const tensors: Record<string, RawTensor> = {};
  for (const t of infos) {
    const data = bytes.subarray(dataStart + t.begin, dataStart + t.end);
    if (t.dtype === 'BOOL') {
      const bad = data.findIndex((b) => b > 1);
      if (bad >= 0) {
        throw new FormatError(`safetensors: tensor ${quote(t.name)} is BOOL but element ${bad} is the byte ${data[bad]}; BOOL bytes must be 0 or 1 (PyTorch writes nothing else)`);
      }
    }
    define(tensors, t.name, { dtype: t.dtype, shape: t.shape, bytes: data });
  }
  return { tensors, metadata };
}

function readMetadata(entry: unknown, out: Record<string, string>): void {
  if (entry === null) return; // the Rust reader takes `null` as no metadata
  if (typeof entry !== 'object' || Array.isArray(entry)) {
    throw new FormatError(`safetensors: "${METADATA_KEY}" must be an object of strings, got ${preview(entry)}`);
  }
  for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
    if (typeof v !== 'string') {
      throw new FormatError(`safetensors: "${METADATA_KEY}" value for ${quote(k)} is ${preview(v)}; metadata values must be strings`);
    }
    checkDecodedUnicode(k, `"${METADATA_KEY}" key`);
    checkDecodedUnicode(v, `"${METADATA_KEY}" value for ${quote(k)}`);
    define(out, k, v);
  }
}

/** JSON allows "\ud800"; UTF-8 (and so the Rust reader, and our writer) does not. */
function checkDecodedUnicode(s: string, what: string): void {
  if (/\p{Surrogate}/u.test(s)) {
    throw new FormatError(`safetensors: header has ${what} ${quote(s)} with a lone UTF-16 surrogate escape; strings must be valid Unicode`);
  }
}

/** numel × size, or undefined once it passes 2^53 (checked per dim, so no overflow). */
function byteSize(shape: number[], size: number): number | undefined {
  if (shape.includes(0)) return 0;
  let n = size;
  for (const d of shape) {
    n *= d;
    if (n > Number.MAX_SAFE_INTEGER) return undefined;
  }
  return n;
}

/** Plain assignment would treat a key named "__proto__" as the prototype. */
function define<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * Walks the (already valid) header JSON once, without recursion, for what JSON.parse hides:
 * duplicate keys in any object (JSON.parse keeps the last) and numbers written as 3.0 or 1e2
 * (JSON.parse turns them into integers; the format's shape and offsets are plain integers).
 */
function scanHeader(s: string): void {
  const frames: { keys: Set<string> | null; last: string }[] = [];
  let expectKey = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1, escaped = false;
      for (let u = s.charCodeAt(j); u !== 0x22; u = s.charCodeAt(j)) {
        if (u === 0x5c /* \ */) (escaped = true), j++;
        j++;
      }
      const top = frames[frames.length - 1];
      if (expectKey && top?.keys) {
        const key = escaped ? (JSON.parse(s.slice(i, j + 1)) as string) : s.slice(i + 1, j);
        if (top.keys.has(key)) {
          const where = frames.length === 1 ? 'at the top level' : `inside ${quote(frames[frames.length - 2]!.last)}`;
          throw new FormatError(`safetensors: header has duplicate key ${quote(key)} ${where}; each tensor and field may appear once`);
        }
        top.keys.add(key);
        top.last = key;
        expectKey = false;
      }
      i = j;
    } else if (c === 0x7b /* { */) {
      frames.push({ keys: new Set(), last: '' });
      expectKey = true;
    } else if (c === 0x5b /* [ */) {
      frames.push({ keys: null, last: '' });
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      frames.pop();
    } else if (c === 0x2c /* , */) {
      expectKey = frames[frames.length - 1]?.keys != null;
    } else if (c === 0x2e /* . */ || c === 0x65 /* e */ || c === 0x45 /* E */) {
      // outside strings these appear only inside numbers (true/false/null have an 'e' but no digit before it)
      if (isDigit(s.charCodeAt(i - 1))) {
        let a = i, b = i;
        while (a > 0 && /[-0-9]/.test(s[a - 1]!)) a--;
        while (b < s.length && /[-+.eE0-9]/.test(s[b]!)) b++;
        throw new FormatError(`safetensors: header has number ${s.slice(a, b)}; shape and data_offsets must be written as plain integers`);
      }
    }
  }
}
const isDigit = (u: number) => u >= 0x30 && u <= 0x39;

// ---------------------------------------------------------------------------------------------
// Conversion

/** Converts any supported dtype to a new, aligned Float32Array (F16/BF16 exactly; I64/U64/F64 rounded). */
export function toFloat32(t: RawTensor): Float32Array {
  if (!isDtype(t.dtype)) throw new ValueError(`toFloat32: unknown dtype ${JSON.stringify(t.dtype)}; use one of ${DTYPE_LIST}`);
  const size = DTYPES[t.dtype].size;
  const numel = t.shape.reduce((a, b) => a * b, 1);
  if (t.bytes.byteLength !== numel * size) {
    throw new ValueError(`toFloat32: dtype ${t.dtype} shape ${fmtShape(t.shape)} needs ${numel * size} bytes but bytes has ${t.bytes.byteLength}`);
  }
  // A view must start at a multiple of the element size; copy when the file put it elsewhere.
  const b = t.bytes.byteOffset % size === 0 ? t.bytes : t.bytes.slice();
  const { buffer, byteOffset } = b;
  switch (t.dtype) {
    case 'F32': return new Float32Array(buffer.slice(byteOffset, byteOffset + numel * 4));
    case 'F64': return Float32Array.from(new Float64Array(buffer, byteOffset, numel));
    case 'I32': return Float32Array.from(new Int32Array(buffer, byteOffset, numel));
    case 'U32': return Float32Array.from(new Uint32Array(buffer, byteOffset, numel));
    case 'I16': return Float32Array.from(new Int16Array(buffer, byteOffset, numel));
    case 'U16': return Float32Array.from(new Uint16Array(buffer, byteOffset, numel));
    case 'I8': return Float32Array.from(new Int8Array(buffer, byteOffset, numel));
    case 'U8': return Float32Array.from(b);
    case 'BOOL': return Float32Array.from(b, (x) => (x !== 0 ? 1 : 0));
    case 'I64': return Float32Array.from(new BigInt64Array(buffer, byteOffset, numel), Number);
    case 'U64': return Float32Array.from(new BigUint64Array(buffer, byteOffset, numel), Number);
    case 'F16': return halvesToFloats(new Uint16Array(buffer, byteOffset, numel));
    case 'BF16': {
      const bits = new Uint32Array(numel);
      const src = new Uint16Array(buffer, byteOffset, numel);
      for (let i = 0; i < numel; i++) bits[i] = src[i]! << 16; // bf16 is the top half of an f32
      return new Float32Array(bits.buffer);
    }
  }
}

