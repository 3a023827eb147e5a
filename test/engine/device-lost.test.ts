// test/engine/device-lost.test.ts: a lost GPU device (here: GPUDevice.destroy(), which Dawn reports through
// `device.lost` like a driver reset) is recorded, and every later op, sync and readback throws a DeviceLostError naming
// the reason; a loss while a readback waits rejects it the same way; `onestep distill` reports the loss, exits 75 and
// resumes from its last checkpoint with --resume. This file kills devices: it runs in its own worker (vitest forks).
import { afterAll, describe, expect, it, vi } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as os from '../../engine';
import { main } from '../../cli/index';

const until = async (cond: () => boolean, ms = 5000) => {
  const t0 = Date.now();
  while (!cond() && Date.now() - t0 < ms) await new Promise((r) => setTimeout(r, 5));
};

describe('device loss', () => {
  it('records the reason; every later op, sync and readback throws DeviceLostError naming it', async () => {
    await os.init({ quiet: true });
    const dev = os.device();
    const x = os.tensor([1, 2, 3]);
    expect(await os.add(x, 1).data()).toEqual(new Float32Array([2, 3, 4]));
    dev.gpu.destroy();
    await dev.gpu.lost;
    await until(() => dev.lostReason !== null);
    expect(dev.lostReason).toMatch(/^destroyed/);

    const attempts: [string, () => unknown][] = [
      ['add', () => os.add(x, 1)],
      ['zeros', () => os.zeros([4])],
      ['tensor', () => os.tensor([1, 2])],
      ['matmul', () => os.matmul(os.ones([2, 2]), os.ones([2, 2]))],
    ];
    for (const [name, f] of attempts) {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(err, name).toBeInstanceOf(os.DeviceLostError);
      expect(err).toBeInstanceOf(os.DeviceError);
      expect(err).toBeInstanceOf(os.OnestepError);
      expect((err as Error).message).toMatch(/^device lost: destroyed/);
      expect((err as Error).message).toMatch(/restart: call os\.init\(\)/);
      expect((err as os.DeviceLostError).reason).toBe(dev.lostReason);
    }
    await expect(x.data()).rejects.toThrow(os.DeviceLostError);
    await expect(os.sync()).rejects.toThrow(/device lost: destroyed/);
    x.dispose(); // disposing still works: nothing to free on the GPU side
  });

  it('a loss while a readback is waiting rejects it with DeviceLostError, and os.init() gives a working device', async () => {
    await os.init({ quiet: true });
    const dev = os.device();
    const a = os.randn([256, 256], { seed: 1 });
    let y = a;
    for (let i = 0; i < 8; i++) y = os.matmul(y, a);
    const pending = y.data();
    dev.gpu.destroy();
    await expect(pending).rejects.toThrow(os.DeviceError);
    await pending.catch((e) => expect((e as Error).message).toMatch(/device lost|device may be unusable/));
    await until(() => dev.lostReason !== null);
    expect(() => os.ones([2])).toThrow(os.DeviceLostError);
    // restart
    await os.init({ quiet: true });
    expect(os.device()).not.toBe(dev);
    expect(await os.add(os.tensor([1]), 1).item()).toBe(2);
  });

  describe('onestep distill', () => {
    const dirs: string[] = [];
    afterAll(() => {
      delete process.env.ONESTEP_TEST_LOSE_DEVICE_AT_SUBMIT;
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    });
    const distillArgs = (dir: string) => ['distill', '--teacher', 'zoo/8gaussians-teacher.safetensors', '--out', dir, '--steps', '100', '--batch', '16', '--eval-every', '0', '--checkpoint-every', '25'];
    const fresh = () => {
      const d = mkdtempSync(join(tmpdir(), 'onestep-lost-'));
      dirs.push(d);
      return d;
    };

    it('reports a lost device, exits 75, and --resume continues from the last checkpoint', async () => {
      const errors: string[] = [], logs: string[] = [];
      const spyErr = vi.spyOn(console, 'error').mockImplementation((...m: unknown[]) => void errors.push(m.join(' ')));
      const spyLog = vi.spyOn(console, 'log').mockImplementation((...m: unknown[]) => void logs.push(m.join(' ')));
      try {
        // a clean run counts the submits of the whole command; the faulty run loses its device 70% of the way in
        expect(await main(distillArgs(fresh()))).toBe(0);
        const submits = os.memory().submits;
        const dir = fresh();
        process.env.ONESTEP_TEST_LOSE_DEVICE_AT_SUBMIT = String(Math.round(submits * 0.7));
        expect(await main(distillArgs(dir))).toBe(75);
        delete process.env.ONESTEP_TEST_LOSE_DEVICE_AT_SUBMIT;
        const msg = errors.join('\n');
        expect(msg).toMatch(/^onestep distill: device lost: destroyed/);
        expect(msg).toMatch(/run the same command again with --resume/);
        const logged = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).iteration as number);
        expect(Math.max(...logged)).toBeLessThan(100);
        expect(existsSync(join(dir, 'checkpoint.safetensors'))).toBe(true);

        errors.length = 0;
        expect(await main([...distillArgs(dir), '--resume'])).toBe(0);
        expect(errors).toEqual([]);
        expect(logs.join('\n')).toMatch(/resumed from .* at iteration (25|50|75)\b/);
        const done = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
        expect(done.at(-1).iteration).toBe(100);
      } finally {
        spyErr.mockRestore();
        spyLog.mockRestore();
      }
    }, 180_000);
  });
});
