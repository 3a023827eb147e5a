// engine/io/safetensors-read.ts: the strict safetensors reader: never trusts a length or an offset, refuses
// duplicate keys, non-canonical numbers, gaps and overlaps, and names what is wrong (FormatError).
import { FormatError, ValueError, fmtShape, preview, quote } from '../errors';
import { DTYPES, DTYPE_LIST, MAX_HEADER_BYTES, METADATA_KEY, TENSOR_FIELDS, isDtype, type RawTensor, type SafetensorsDtype } from './safetensors-format';

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
