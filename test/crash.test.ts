// test/crash.test.ts: kill -9 during `onestep distill`, then --resume: training continues from the last checkpoint
// with the same optimiser state and RNG streams, so its losses equal those of an uninterrupted run, step for step,
// with --eager and in the default compiled mode (whose trainer traces before its first iteration and puts the state
// back, so no iteration of either run is one of os.compile's eager tracing calls).
import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(__dirname, '..');
const bin = join(root, 'bin', 'onestep.js');
const teacher = join(root, 'zoo', '8gaussians-teacher.safetensors');
const args = (out: string, extra: string[]) => ['distill', '--teacher', teacher, '--out', out, '--mode', 'dmd2', '--steps', '200', '--batch', '64', '--checkpoint-every', '50', '--eval-every', '0', '--seed', '3', ...extra];
const losses = (dir: string) =>
  new Map(readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => 'fake' in r).map((r) => [r.iteration, r]));

describe('crash safety', () => {
  it.each([
    { mode: 'eager', extra: ['--eager'] },
    { mode: 'compiled', extra: [] },
  ])('kill -9 mid-run, then --resume, reproduces the uninterrupted run exactly ($mode)', async ({ extra }) => {
    const base = mkdtempSync(join(tmpdir(), 'onestep-crash-'));
    const ref = join(base, 'ref'), crashed = join(base, 'crashed');
    const r = spawnSync(process.execPath, [bin, ...args(ref, extra)], { encoding: 'utf8', timeout: 300_000 });
    expect(r.status, r.stderr).toBe(0);

    // run again and kill it hard once a checkpoint beyond the first exists: the command and the CLI process it runs
    // (bin/dawn-filter.js) die at the same instant, as in a crash
    const child = spawn(process.execPath, [bin, ...args(crashed, extra)], { stdio: 'ignore', detached: true });
    const t0 = Date.now();
    await new Promise<void>((resolve, reject) => {
      const poll = setInterval(() => {
        const n = existsSync(join(crashed, 'metrics.jsonl')) ? readFileSync(join(crashed, 'metrics.jsonl'), 'utf8').split('\n').length : 0;
        if (n > 110 && existsSync(join(crashed, 'checkpoint.safetensors'))) {
          clearInterval(poll);
          process.kill(-child.pid!, 'SIGKILL');
          resolve();
        } else if (Date.now() - t0 > 240_000) {
          clearInterval(poll);
          reject(new Error('the run never reached its second checkpoint'));
        }
      }, 50);
    });
    await new Promise((r2) => child.on('exit', r2));
    expect(child.signalCode).toBe('SIGKILL');
    // the checkpoint carries the checksum of its data inside its header, so a kill can never leave them out of step
    const bytes = readFileSync(join(crashed, 'checkpoint.safetensors'));
    const n = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
    expect(createHash('sha256').update(bytes.subarray(8 + n)).digest('hex')).toBe(header.__metadata__.dataSha256);

    const resumed = spawnSync(process.execPath, [bin, ...args(crashed, extra), '--resume'], { encoding: 'utf8', timeout: 300_000 });
    expect(resumed.status, resumed.stderr).toBe(0);
    const at = Number(/resumed from .* at iteration (\d+)/.exec(resumed.stdout)?.[1]);
    expect(at).toBeGreaterThanOrEqual(50);
    expect(at % 50).toBe(0);
    // after the resume point, every logged loss equals the uninterrupted run's
    const a = losses(ref), b = losses(crashed);
    const lines = readFileSync(join(crashed, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => 'fake' in r);
    expect(lines.map((r) => r.iteration)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1)); // no duplicates
    let compared = 0;
    for (let it = at + 1; it <= 200; it++) {
      expect(b.get(it), `iteration ${it}`).toEqual(a.get(it));
      compared++;
    }
    expect(compared).toBe(200 - at);
  }, 600_000);
});

describe('checked checkpoints', () => {
  it('a flipped byte in the data is caught on load with a FormatError', async () => {
    const os = await import('../engine');
    const bytes = await os.io.saveSafetensorsChecked({ w: os.tensor([1, 2, 3, 4], [2, 2]) }, { step: '7' });
    expect((await os.io.loadSafetensorsChecked(bytes)).metadata.step).toBe('7');
    const bad = bytes.slice();
    bad[bad.length - 2] ^= 0x10;
    await expect(os.io.loadSafetensorsChecked(bad)).rejects.toThrow(/checksum/);
    await expect(os.io.loadSafetensorsChecked(await os.io.saveSafetensors({ w: os.ones([1]) }))).rejects.toThrow(os.FormatError);
  });
});
