// test/engine/reliability.test.ts: allocation limits and out-of-memory (engine/device.ts), and the development-mode
// warnings for tensor lifetime misuse (engine/tensor.ts), os.relieve (waits only when many submits are outstanding), and
// the warning for many submits without a wait.
//
// Out of memory cannot be provoked deterministically on lavapipe (it allocates host memory lazily, and filling a
// shared machine's RAM to find out is not a test), so the driver's refusal is simulated: the device's own
// popErrorScope answers one `out-of-memory` scope with an error. Everything else is the real path: a pool miss opens
// the scope, the answer becomes an OutOfMemoryError, and the next sync point throws it.
import { afterEach, describe, expect, it, vi } from 'vitest';
import * as os from '../../engine';
import { fmtBytes } from '../../runtime/errors';
import { outOfMemoryMessage } from '../../runtime/buffer-pool';
import { setDevWarnings } from '../../engine/tensor';

describe('allocation limits and out of memory', () => {
  it('a tensor larger than the adapter allows per buffer is a DeviceError naming the size and both limits, before any allocation', () => {
    const { maxBufferSize, maxStorageBufferBindingSize } = os.device().limits;
    const limit = Math.min(maxBufferSize, maxStorageBufferBindingSize);
    const n = Math.floor(limit / 4) + 1024;
    const before = os.memory();
    let err: unknown;
    try {
      os.zeros([n]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(os.DeviceError);
    const msg = (err as Error).message;
    expect(msg).toContain(`alloc: ${n * 4} bytes`);
    expect(msg).toContain(`limit of ${limit} bytes per buffer`);
    expect(msg).toContain(`maxBufferSize ${maxBufferSize}`);
    expect(msg).toContain(`maxStorageBufferBindingSize ${maxStorageBufferBindingSize}`);
    expect(msg).toMatch(/smaller batch/);
    expect(os.memory().bytesInUse).toBe(before.bytesInUse);
    // absurd shapes too (2^60 elements), without overflow or a host-side allocation
    expect(() => os.zeros([2 ** 30, 2 ** 30])).toThrow(os.DeviceError);
  });

  it('a driver refusal (simulated) becomes an OutOfMemoryError at the next sync, naming the request, the pool and the limits', async () => {
    const dev = os.device();
    await os.sync();
    dev.trimPool(); // the next allocation is a pool miss: a fresh buffer inside an out-of-memory scope
    const keep = os.ones([1000]); // something in use, so the message has state to report
    await os.sync();
    const gpu = dev.gpu as GPUDevice & { popErrorScope: GPUDevice['popErrorScope'] };
    const real = gpu.popErrorScope.bind(gpu);
    let armed = true;
    Object.defineProperty(gpu, 'popErrorScope', {
      configurable: true,
      writable: true,
      value: async () => {
        const err = await real();
        if (!armed) return err;
        armed = false;
        return { message: 'simulated: VK_ERROR_OUT_OF_DEVICE_MEMORY' } as GPUError;
      },
    });
    try {
      const inUse = os.memory().bytesInUse, live = os.memory().liveTensors;
      const x = os.zeros([3_000_001]);
      let err: unknown;
      try {
        await os.sync();
      } catch (e) {
        err = e;
      }
      expect(armed).toBe(false);
      expect(err).toBeInstanceOf(os.OutOfMemoryError);
      expect(err).toBeInstanceOf(os.DeviceError);
      expect((err as os.OutOfMemoryError).requestedBytes).toBe(12_000_004);
      const msg = (err as Error).message;
      expect(msg).toContain('out of memory');
      expect(msg).toContain('11.44 MiB (12000004 bytes');
      expect(msg).toContain(`bytesInUse ${inUse}`);
      expect(msg).toContain(`in ${live} live tensors`);
      expect(msg).toContain('bytesPooled 0');
      expect(msg).toContain(`maxBufferSize ${dev.limits.maxBufferSize}`);
      expect(msg).toContain('simulated: VK_ERROR_OUT_OF_DEVICE_MEMORY');
      expect(msg).toMatch(/trimPool\(\)/);
      x.dispose();
      // reported once; the device goes on working
      await os.sync();
      expect(await os.add(keep, 1).data()).toEqual(new Float32Array(1000).fill(2));
    } finally {
      delete (gpu as unknown as Record<string, unknown>).popErrorScope; // back to the prototype's method
      keep.dispose();
    }
    expect(gpu.popErrorScope).toBe(Object.getPrototypeOf(gpu).popErrorScope);
  });

  it('pool hits open no error scope (the hot path stays as it was)', async () => {
    const dev = os.device();
    const a = os.zeros([4096]);
    a.dispose(); // its buffer goes to the pool
    await os.sync();
    const push = vi.spyOn(dev.gpu, 'pushErrorScope');
    try {
      const b = os.zeros([4096]); // same size class: from the pool
      expect(push).not.toHaveBeenCalled();
      b.dispose();
    } finally {
      push.mockRestore();
    }
  });

  it('outOfMemoryMessage formats sizes and state', () => {
    expect(fmtBytes(512)).toBe('512 bytes');
    expect(fmtBytes(1536)).toBe('1.50 KiB');
    expect(fmtBytes(3 * 2 ** 30)).toBe('3.00 GiB');
    const msg = outOfMemoryMessage({
      requested: 2 ** 31, sizeClass: 2 ** 31, bytesInUse: 5 * 2 ** 30, bytesPooled: 2 ** 29, liveTensors: 812,
      maxBufferSize: 2 ** 32, maxStorageBufferBindingSize: 2 ** 31 - 4,
    });
    expect(msg).toBe(
      'alloc: the GPU is out of memory: a buffer of 2.00 GiB (2147483648 bytes, size class 2147483648) could not be allocated. ' +
        'onestep holds 5.00 GiB in 812 live tensors (bytesInUse 5368709120) and 512.00 MiB of free buffers in its pool (bytesPooled 536870912); ' +
        'adapter limits: maxBufferSize 4294967296, maxStorageBufferBindingSize 2147483644. ' +
        'Dispose tensors you no longer need, free the pool with os.device().trimPool(), or use a smaller batch',
    );
  });
});

describe('development-mode warnings for lifetime misuse', () => {
  const warnings = () => {
    const spy = vi.spyOn(console, 'warn').mockImplementation(() => {});
    return { spy, texts: () => spy.mock.calls.map((c) => String(c[0])) };
  };
  afterEach(() => {
    vi.restoreAllMocks();
    setDevWarnings(true);
  });

  it('warns on double dispose, naming the tensor', () => {
    setDevWarnings(true);
    const w = warnings();
    const t = os.ones([2, 3]);
    t.dispose();
    expect(w.spy).not.toHaveBeenCalled();
    t.dispose();
    expect(w.texts()).toHaveLength(1);
    expect(w.texts()[0]).toMatch(/^onestep \(development\): dispose: tensor \[2,3\] \(id \d+\) was already disposed/);
  });

  it('warns when tidy returns a tensor that was disposed inside it', () => {
    setDevWarnings(true);
    const w = warnings();
    const out = os.tidy(() => {
      const y = os.ones([4]);
      y.dispose();
      return { y };
    });
    expect(w.texts()).toHaveLength(1);
    expect(w.texts()[0]).toMatch(/tidy: fn returned tensor \[4\] \(id \d+\) that was already disposed/);
    expect(() => out.y.buffer).toThrow(os.DisposedError);
  });

  it('correct use is silent, each kind warns at most 3 times, and setDevWarnings(false) silences them', async () => {
    setDevWarnings(true);
    const w = warnings();
    const kept = os.tidy(() => {
      const a = os.ones([3]);
      const b = os.add(a, 1);
      a.dispose(); // disposing a temporary inside tidy is fine
      return b;
    });
    expect(await kept.data()).toEqual(new Float32Array([2, 2, 2]));
    kept.dispose();
    expect(w.spy).not.toHaveBeenCalled();
    for (let i = 0; i < 5; i++) {
      const t = os.ones([1]);
      t.dispose();
      t.dispose();
    }
    expect(w.texts()).toHaveLength(3);
    expect(w.texts()[2]).toMatch(/further warnings of this kind are not shown/);
    w.spy.mockClear();
    setDevWarnings(false);
    const t = os.ones([1]);
    t.dispose();
    t.dispose();
    expect(w.spy).not.toHaveBeenCalled();
  });
});

describe('os.relieve', () => {
  it('waits for the GPU only once many submits are outstanding', async () => {
    const d = os.device();
    await os.sync();
    const sync = vi.spyOn(d, 'sync');
    const x = os.ones([3]);
    const submitOnce = () => {
      os.add(x, 1).dispose();
      d.flush();
    };
    for (let i = 0; i < 10; i++) submitOnce();
    await os.relieve(16);
    expect(sync).not.toHaveBeenCalled(); // 10 < 16: nothing to wait for
    for (let i = 0; i < 10; i++) submitOnce();
    await os.relieve(16);
    expect(sync).toHaveBeenCalledTimes(1); // 20 outstanding: one wait, and the count starts again
    await os.relieve(16);
    expect(sync).toHaveBeenCalledTimes(1);
    sync.mockRestore();
    x.dispose();
  });
});

describe('the warning for many submits without a wait', () => {
  it('comes after 200 submits with no wait, and not while readbacks are in flight (Promise.all over many reads)', async () => {
    await os.init({ quiet: true }); // a device that has not warned yet
    const d = os.device();
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const warnings = () => write.mock.calls.filter(([m]) => String(m).includes('submits without awaiting')).length;
    try {
      const xs = Array.from({ length: 260 }, (_, i) => os.full([3], i));
      const got = await Promise.all(xs.map((x) => x.data())); // a submit per read, each followed by its wait
      expect(got[259][0]).toBe(259);
      expect(warnings()).toBe(0);
      const x = os.ones([3]);
      for (let i = 0; i < 200; i++) {
        os.add(x, 1).dispose();
        d.flush();
      }
      expect(warnings()).toBe(1);
      await os.sync();
      [...xs, x].forEach((t) => t.dispose());
    } finally {
      write.mockRestore();
    }
  });
});
