// engine/io/atomic.ts: crash-safe file writes for checkpoints (Node only: node:fs, node:crypto).
// Kept out of the engine's browser entry; import it from Node code paths only.
//
// writeFileAtomic: write `${path}.tmp-<pid>-<random>` in the same directory, fsync it, rename it over
// `path` (atomic on POSIX and on NTFS), then fsync the directory so the rename itself survives a crash
// (best effort: Windows cannot open directories). A reader sees the old file or the new one, never half.

import { createHash, randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { ValueError } from '../errors';

/** SHA-256 of the bytes, as 64 lowercase hex digits. */
export function sha256Hex(data: Uint8Array): string {
  if (!(data instanceof Uint8Array)) {
    throw new ValueError(`sha256Hex: expected a Uint8Array, got ${Object.prototype.toString.call(data)}`);
  }
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Atomically replaces `path` with `data` (a string is written as UTF-8). With `checksum: true` it
 * also writes `${path}.sha256` (in `sha256sum` format: "<hex>  <basename>\n"), atomically as well,
 * after the file itself, so `sha256sum -c` verifies the pair.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string, opts: { checksum?: boolean } = {}): Promise<void> {
  if (typeof path !== 'string' || path === '') {
    throw new ValueError(`writeFileAtomic: path must be a non-empty string, got ${JSON.stringify(path)}`);
  }
  if (typeof data !== 'string' && !(data instanceof Uint8Array)) {
    throw new ValueError(`writeFileAtomic: data must be a Uint8Array or a string, got ${Object.prototype.toString.call(data)}`);
  }
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  await replace(path, bytes);
  if (opts.checksum) await replace(`${path}.sha256`, new TextEncoder().encode(`${sha256Hex(bytes)}  ${basename(path)}\n`));
}

async function replace(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await open(tmp, 'wx'); // exclusive: never clobber another writer's temp file
    await fh.writeFile(bytes);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(tmp, path);
  } catch (e) {
    await fh?.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw e;
  }
  await syncDir(dirname(path));
}

/** fsync the directory so the rename is durable; not possible on every platform, so errors are ignored. */
async function syncDir(dir: string): Promise<void> {
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // Windows (EISDIR/EPERM) and some filesystems refuse; the data itself is already synced.
  } finally {
    await fh?.close().catch(() => {});
  }
}
