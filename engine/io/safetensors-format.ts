// engine/io/safetensors-format.ts: the safetensors format (CPU only): its dtypes and limits, shared by the writer
// (./safetensors.ts) and the strict reader (./safetensors-read.ts).
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
export const DTYPES: { readonly [D in SafetensorsDtype]: { size: number; rank: number } } = {
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
export const DTYPE_LIST = Object.keys(DTYPES).join(' ');
export const isDtype = (d: unknown): d is SafetensorsDtype => typeof d === 'string' && Object.hasOwn(DTYPES, d);

/** The reference implementation refuses headers above 100 MB; so do we, before reading them. */
export const MAX_HEADER_BYTES = 100_000_000;

export const METADATA_KEY = '__metadata__';
export const TENSOR_FIELDS = ['dtype', 'shape', 'data_offsets'] as const;
