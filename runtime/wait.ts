// runtime/wait.ts: waiting for the GPU without spinning a core. In Node, dawn.node pumps its events on every
// event-loop turn, which keeps the main thread at 100% and starves a software driver's threads; so between turns we
// block ~1 ms in Atomics.wait (measured: the same kernel ran 40% faster on SwiftShader). In the browser, a plain await.

export const isNode = typeof process !== 'undefined' && !!process.versions?.node;

let waitMode: 'sleep' | 'spin' = 'sleep';
/** 'spin' restores a plain await (for measuring what sleeping buys; the bench reports both). */
export function setWaitMode(mode: 'sleep' | 'spin'): void {
  waitMode = mode;
}
const sleeper = typeof SharedArrayBuffer !== 'undefined' ? new Int32Array(new SharedArrayBuffer(4)) : null;

/** Awaits a GPU promise, sleeping between event-loop turns in Node. */
export async function gpuWait<T>(p: Promise<T>): Promise<T> {
  if (!isNode || !sleeper || waitMode === 'spin') return p;
  let done = false;
  let value: T | undefined;
  let error: unknown;
  let failed = false;
  p.then(
    (v) => ((done = true), (value = v)),
    (e) => ((done = true), (failed = true), (error = e)),
  );
  // the first turn without sleeping: short waits stay short
  await new Promise<void>((r) => setImmediate(r));
  while (!done) {
    Atomics.wait(sleeper, 0, 0, 1);
    await new Promise<void>((r) => setImmediate(r));
  }
  if (failed) throw error;
  return value as T;
}

/** Measured: ~1,000 submits (70 dispatches each) without an await crashed dawn.node; warn well before. */
export const SUBMITS_WITHOUT_WAIT_WARNING = 200;

/** Warns once (Node only) that a loop submits without ever waiting; returns whether it warned. */
export function warnNoWait(): boolean {
  if (!isNode) return false;
  process.stderr.write(
    `onestep: ${SUBMITS_WITHOUT_WAIT_WARNING} submits without awaiting the GPU. Dawn (Node) frees finished work only between ` +
      'event-loop turns, and a long synchronous loop eventually crashes it: await os.sync() or a readback (loss.item()) every few dozen steps.\n',
  );
  return true;
}
