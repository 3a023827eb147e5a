// kernels/tune-cache.ts: the tuner's winners per adapter, in memory and (Node) on disk: one JSON file per adapter
// hash under $ONESTEP_TUNE_CACHE or ~/.cache/onestep, written atomically, read once per process.
import type { Device } from '../runtime';

export const TUNE_FORMAT = 2; // 2: matmul classes include the batch

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

// ---- per-adapter state ---------------------------------------------------------------------------------------------

export interface AdapterState {
  hash: string;
  description: string;
  winners: Map<string, string>; // `${family}|${key}` → candidate id
  loading: Promise<void> | null;
  pending: Set<string>;
}

const states = new Map<string, AdapterState>();

const hashes = new WeakMap<Device, string>();

/** FNV-1a of the adapter's identity and TUNE_FORMAT, 8 hex digits. */
export function adapterHash(dev: Device): string {
  const known = hashes.get(dev);
  if (known) return known;
  const i = dev.adapterInfo;
  const s = `${TUNE_FORMAT}|${dev.adapterLabel}|${i.vendor}|${i.architecture}|${i.device}|${i.description}|${i.backend}`;
  let h = 0x811c9dc5;
  for (let k = 0; k < s.length; k++) h = Math.imul(h ^ s.charCodeAt(k), 0x01000193) >>> 0;
  const hash = h.toString(16).padStart(8, '0');
  hashes.set(dev, hash);
  return hash;
}

export function stateOf(dev: Device): AdapterState {
  const hash = adapterHash(dev);
  let st = states.get(hash);
  if (!st) states.set(hash, (st = { hash, description: dev.adapterLabel, winners: new Map(), loading: null, pending: new Set() }));
  return st;
}

export const slotOf = (t: { family: string; key: string }) => `${t.family}|${t.key}`;

// ---- disk (Node) ---------------------------------------------------------------------------------------------------

// specifiers in variables: bundlers leave these imports alone, so browser bundles never see node:fs
const FS = 'node:fs/promises', OS = 'node:os', PATH = 'node:path';
let cacheDirOverride: string | null | undefined;

/** Where tune files live (null: memory only). Default: $ONESTEP_TUNE_CACHE, else ~/.cache/onestep (Node), else none. */
export function setTuneCacheDir(dir: string | null | undefined): void {
  cacheDirOverride = dir;
}

async function cacheFile(hash: string): Promise<string | null> {
  if (!isNode) return null;
  const path = (await import(/* @vite-ignore */ PATH)) as typeof import('node:path');
  let dir = cacheDirOverride;
  if (dir === undefined) {
    const os = (await import(/* @vite-ignore */ OS)) as typeof import('node:os');
    dir = process.env.ONESTEP_TUNE_CACHE || path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'onestep');
  }
  return dir === null ? null : path.join(dir, `tune-${hash}.json`);
}

interface TuneFile {
  format: number;
  adapter: string;
  winners: Record<string, string>;
}

export function load(st: AdapterState): Promise<void> {
  return (st.loading ??= (async () => {
    try {
      const file = await cacheFile(st.hash);
      if (!file) return;
      const fs = (await import(/* @vite-ignore */ FS)) as typeof import('node:fs/promises');
      const data = JSON.parse(await fs.readFile(file, 'utf8')) as Partial<TuneFile>;
      if (data.format !== TUNE_FORMAT || typeof data.winners !== 'object' || !data.winners) return;
      for (const [k, v] of Object.entries(data.winners)) if (typeof v === 'string' && !st.winners.has(k)) st.winners.set(k, v);
    } catch {
      // no file yet, or unreadable: start empty
    }
  })());
}

export async function save(st: AdapterState): Promise<void> {
  try {
    const file = await cacheFile(st.hash);
    if (!file) return;
    const fs = (await import(/* @vite-ignore */ FS)) as typeof import('node:fs/promises');
    const path = (await import(/* @vite-ignore */ PATH)) as typeof import('node:path');
    await fs.mkdir(path.dirname(file), { recursive: true });
    const body: TuneFile = { format: TUNE_FORMAT, adapter: st.description, winners: Object.fromEntries([...st.winners].sort()) };
    const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    await fs.writeFile(tmp, JSON.stringify(body, null, 1) + '\n');
    await fs.rename(tmp, file); // atomic: readers see the old file or the new one
  } catch {
    // a read-only home or a full disk costs the cache, not the run
  }
}

/** Forgets winners in memory (all adapters, or one device's) and, with `disk`, deletes the file too. */
export async function clearTuneCache(o: { device?: Device; disk?: boolean } = {}): Promise<void> {
  const list = o.device ? [stateOf(o.device)] : [...states.values()];
  for (const st of list) {
    st.winners.clear();
    st.pending.clear();
    st.loading = o.disk ? Promise.resolve() : null; // memory only: the disk file is read again on next use
    if (o.disk) {
      const file = await cacheFile(st.hash);
      if (file) await ((await import(/* @vite-ignore */ FS)) as typeof import('node:fs/promises')).rm(file, { force: true });
    }
  }
}
