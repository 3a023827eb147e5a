// runtime/errors.ts: the error classes users catch. Every message names the op, the shapes or values, and the fix.

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
/** The GPU device was lost (driver reset, device.destroy(), some out-of-memory conditions): every tensor on it is gone. */
export class DeviceLostError extends DeviceError {
  constructor(
    /** The `lost` promise's reason and message, e.g. `destroyed: device was destroyed`. */
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}
/** The device refused to allocate a buffer. The message names the request, onestep's pool and the adapter's limits. */
export class OutOfMemoryError extends DeviceError {
  constructor(
    message: string,
    readonly requestedBytes: number,
  ) {
    super(message);
  }
}
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

/** `[2,3,4]`: how shapes appear in messages (a shape of more than 16 dims is abridged: `[1,1,…,7] (100 dims)`). */
export const fmtShape = (shape: readonly number[]): string =>
  shape.length <= 16 ? `[${shape.join(',')}]` : `[${shape.slice(0, 8).join(',')},…,${shape.slice(-2).join(',')}] (${shape.length} dims)`;

/**
 * A value from an untrusted file as it appears in a message: JSON-like, at most `max` characters, nested at most 3
 * deep, never throwing (JSON.stringify overflows the stack on deeply nested input and copies huge strings whole).
 */
export function preview(value: unknown, max = 80): string {
  const render = (x: unknown, depth: number): string => {
    if (typeof x === 'string') return JSON.stringify(x.length > max ? `${x.slice(0, max)}…` : x);
    if (x === null || typeof x !== 'object') return typeof x === 'bigint' ? `${x}n` : String(x);
    if (depth >= 3) return Array.isArray(x) ? '[…]' : '{…}';
    if (Array.isArray(x)) {
      const items = x.slice(0, 8).map((v) => render(v, depth + 1));
      return `[${items.join(',')}${x.length > 8 ? `,…(${x.length} items)` : ''}]`;
    }
    const keys = Object.keys(x);
    const items = keys.slice(0, 8).map((k) => `${render(k, depth + 1)}:${render((x as Record<string, unknown>)[k], depth + 1)}`);
    return `{${items.join(',')}${keys.length > 8 ? `,…(${keys.length} keys)` : ''}}`;
  };
  const s = render(value, 0);
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** A name from an untrusted file, quoted and cut to `max` characters. */
export const quote = (name: string, max = 80): string => JSON.stringify(name.length > max ? `${name.slice(0, max)}…` : name);

/** `1.50 GiB`: byte counts in messages. */
export function fmtBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) (n /= 1024), i++;
  return i === 0 ? `${n} bytes` : `${n.toFixed(2)} ${units[i]}`;
}
