// engine/io/index.ts: os.io — tensors to and from safetensors (PyTorch-compatible) and .npy, and atomic writes.
// The byte formats live in safetensors.ts / npy.ts (pure CPU, strict validation); this file moves tensors.
import { FormatError } from '../errors';
import { tensor } from '../ops';
import { Tensor } from '../tensor';
import { decodeNpy, encodeNpy } from './npy';
import { decodeSafetensors, encodeSafetensors, toFloat32, type SafetensorsInput } from './safetensors';

export { encodeSafetensors, decodeSafetensors, toFloat32, type RawTensor, type SafetensorsDtype } from './safetensors';
export { encodeNpy, decodeNpy } from './npy';
export { writeFileAtomic, sha256Hex } from './atomic';

/** Reads every tensor back from the GPU and encodes a safetensors file (F32; F16 for f16 tensors). Adds `format: "pt"` like PyTorch. */
export async function saveSafetensors(state: Record<string, Tensor>, metadata: Record<string, string> = {}): Promise<Uint8Array> {
  const entries: Record<string, SafetensorsInput> = {};
  // f16 tensors keep their bits (F16); f32 ones are F32
  for (const [k, t] of Object.entries(state)) entries[k] = { dtype: t.dtype === 'f16' ? 'F16' : 'F32', shape: [...t.shape], data: await t.bytes('saveSafetensors') };
  return encodeSafetensors(entries, { format: 'pt', ...metadata });
}

/** Decodes a safetensors file (any float/int dtype is converted to f32, F16 included) and uploads each tensor. */
export async function loadSafetensors(bytes: Uint8Array): Promise<{ tensors: Record<string, Tensor>; metadata: Record<string, string> }> {
  const { tensors: raw, metadata } = decodeSafetensors(bytes);
  const tensors: Record<string, Tensor> = {};
  for (const [k, r] of Object.entries(raw)) tensors[k] = tensor(toFloat32(r), r.shape);
  return { tensors, metadata };
}

/** A tensor as a float32 .npy file. */
export async function saveNpy(t: Tensor): Promise<Uint8Array> {
  return encodeNpy(await t.data(), [...t.shape]);
}

/** A .npy file as a tensor (numeric dtypes converted to f32). */
export function loadNpy(bytes: Uint8Array): Tensor {
  const { data, shape } = decodeNpy(bytes);
  if (data instanceof BigInt64Array) return tensor(Float32Array.from(data, Number), shape);
  if (!ArrayBuffer.isView(data)) throw new FormatError('npy: unsupported data');
  return tensor(Float32Array.from(data as ArrayLike<number>), shape);
}

/** The data section of a safetensors file (after the 8-byte length and the JSON header). */
function dataSection(bytes: Uint8Array): Uint8Array {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  return bytes.subarray(8 + n);
}

/** SHA-256 as hex through WebCrypto (Node ≥ 20 and browsers, secure contexts), so checked files load in the page too. */
async function sha256HexPortable(data: Uint8Array): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) throw new FormatError('checkpoint: verifying dataSha256 needs WebCrypto (crypto.subtle: Node ≥ 20, or a browser page on https or 127.0.0.1)');
  const digest = new Uint8Array(await subtle.digest('SHA-256', data as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * saveSafetensors with the SHA-256 of the data section in `__metadata__.dataSha256`: the checksum lives inside the
 * file, so an atomic write of the file is an atomic write of the pair (a sidecar checksum can go stale on a crash).
 */
export async function saveSafetensorsChecked(state: Record<string, Tensor>, metadata: Record<string, string> = {}): Promise<Uint8Array> {
  const plain = await saveSafetensors(state, metadata);
  const { tensors } = decodeSafetensors(plain);
  const entries: Record<string, SafetensorsInput> = {};
  for (const [k, r] of Object.entries(tensors)) entries[k] = { dtype: r.dtype, shape: r.shape, data: r.bytes };
  return encodeSafetensors(entries, { format: 'pt', ...metadata, dataSha256: await sha256HexPortable(dataSection(plain)) });
}

/** loadSafetensors that first verifies `dataSha256` (a FormatError names the file's problem). */
export async function loadSafetensorsChecked(bytes: Uint8Array): Promise<{ tensors: Record<string, Tensor>; metadata: Record<string, string> }> {
  const { metadata } = decodeSafetensors(bytes);
  const want = metadata.dataSha256;
  if (!want) throw new FormatError('checkpoint: no dataSha256 in __metadata__; it was not written by saveSafetensorsChecked');
  const got = await sha256HexPortable(dataSection(bytes));
  if (got !== want) throw new FormatError(`checkpoint: data checksum ${got.slice(0, 12)}… does not match the recorded ${want.slice(0, 12)}…; the file is corrupt — restore an older checkpoint`);
  return loadSafetensors(bytes);
}
