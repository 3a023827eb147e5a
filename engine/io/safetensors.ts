// engine/io/safetensors.ts: the safetensors format on bytes (CPU only): writes what PyTorch's
// `safetensors.torch.save` writes, byte for byte (layout and order: ./safetensors-format.ts), converts stored dtypes
// to f32, and re-exports the strict reader (./safetensors-read.ts).
import { halvesToFloats } from '../../runtime/half';
import { ValueError, fmtShape } from '../errors';
import { DTYPES, DTYPE_LIST, METADATA_KEY, isDtype, type RawTensor, type SafetensorsDtype, type SafetensorsInput } from './safetensors-format';

export { decodeSafetensors } from './safetensors-read';
export { MAX_HEADER_BYTES, type RawTensor, type SafetensorsDtype, type SafetensorsInput } from './safetensors-format';

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
