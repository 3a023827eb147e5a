// engine/errors.ts: the error classes users catch. Every message names the op, the shapes or values, and the fix.

/** Base class of every error onestep throws on bad input or a bad environment. */
export class OnestepError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}
/** Shapes that do not fit together (matmul inner dims, broadcasting, channels). */
export class ShapeError extends OnestepError {}
/** A value out of its domain: a negative size, a non-integer dim, NaN where a finite number is required. */
export class ValueError extends OnestepError {}
/** A tensor used after dispose(), or a graph used after backward() freed it. */
export class DisposedError extends OnestepError {}
/** Autograd misuse: backward() on a non-scalar without a gradient, on a tensor that does not require grad. */
export class GradError extends OnestepError {}
/** No usable WebGPU adapter, a lost device, a shader that failed to compile, an allocation the device refused. */
export class DeviceError extends OnestepError {}
/** A file that is not what it claims: truncated, bad header, offsets past the end, unknown dtype. */
export class FormatError extends OnestepError {}
/** loadStateDict found missing, unexpected or mis-shaped keys. */
export class StateDictError extends OnestepError {
  constructor(
    message: string,
    readonly missing: string[],
    readonly unexpected: string[],
    readonly mismatched: { key: string; expected: number[]; got: number[] }[],
  ) {
    super(message);
  }
}

/** For onestep's own bugs: the message starts with `internal:` so users know to report it. */
export function internal(message: string): Error {
  return new Error(`internal: ${message}`);
}

/** `[2,3,4]`: how shapes appear in messages. */
export const fmtShape = (shape: readonly number[]): string => `[${shape.join(',')}]`;
