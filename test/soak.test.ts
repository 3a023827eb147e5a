// test/soak.test.ts: a 1,000-step DMD2 run on 2-D data (the zoo 8gaussians teacher, generator EMA on) must hold GPU
// memory exactly flat and host RSS nearly flat. Losses are read back in batches of 50, as `onestep distill` does,
// which also keeps dawn.node's unawaited-submit count low. The figures print and go to bench/RESULTS.md.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import * as os from '../engine';
import * as m from '../models';

const TEACHER = fileURLToPath(new URL('../zoo/8gaussians-teacher.safetensors', import.meta.url));
const STEPS = 1000, BATCH = 16, READ_EVERY = 50;
const MB = 1024 * 1024;
/** RSS may grow this much between step 200 and step 1000: measured 14–20 MB on lavapipe, all of it before step ~500
 *  (the driver's and V8's own warm-up), flat after. */
const RSS_BOUND_MB = 30;
/** …and this much in the second half, where a leak would keep growing and a warm-up does not (measured 0–2 MB). */
const RSS_PLATEAU_MB = 8;

// a full GC before each sample, so that tensors dropped without dispose (freed later by the FinalizationRegistry) do not
// make the figures depend on when V8 happens to collect
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
async function settle(): Promise<void> {
  for (let i = 0; i < 2; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 0)); // finalizers run between turns
  }
  await os.sync();
}

interface Sample {
  step: number;
  bytesInUse: number;
  bytesPooled: number;
  liveTensors: number;
  rssMB: number;
  heapMB: number;
}

describe('soak', () => {
  it(`${STEPS} DMD2 steps (batch ${BATCH}) keep bytesInUse and liveTensors identical after warm-up, RSS within ${RSS_BOUND_MB} MB`, async () => {
    const { den: teacher, meta } = await m.loadModel(new Uint8Array(readFileSync(TEACHER)));
    os.manualSeed(0);
    const tr = new m.DMDTrainer({
      teacher, makeDenoiser: () => m.buildDenoiser(meta), sampleShape: [2],
      config: { mode: 'dmd2', batch: BATCH, emaDecay: 0.995, seed: 0 },
    });
    const samples: Sample[] = [];
    const record = async () => {
      await settle();
      const mem = os.memory(), u = process.memoryUsage();
      samples.push({ step: tr.iteration, bytesInUse: mem.bytesInUse, bytesPooled: mem.bytesPooled, liveTensors: mem.liveTensors, rssMB: u.rss / MB, heapMB: u.heapUsed / MB });
    };
    await record();
    let pending: m.DMDLosses[] = [];
    const t0 = performance.now();
    let t200 = t0;
    while (tr.iteration < STEPS) {
      pending.push(tr.step());
      if (pending.length === READ_EVERY) {
        for (const l of pending) {
          for (const t of Object.values(l)) {
            if (!t) continue;
            const v = await t.item();
            expect(Number.isFinite(v)).toBe(true);
            t.dispose();
          }
        }
        pending = [];
        if (tr.iteration % 100 === 0) await record();
        else await os.sync();
        if (tr.iteration === 200) t200 = performance.now();
      }
    }
    const secs = (performance.now() - t0) / 1000;
    const itPerSec = STEPS / secs, itPerSecAfterWarmup = (STEPS - 200) / ((performance.now() - t200) / 1000);

    const table = samples.map((s) =>
      `  step ${String(s.step).padStart(4)}: bytesInUse ${s.bytesInUse}  pooled ${s.bytesPooled}  liveTensors ${s.liveTensors}  rss ${s.rssMB.toFixed(1)} MB  heap ${s.heapMB.toFixed(1)} MB`);
    const at = (step: number) => samples.find((s) => s.step === step)!;
    console.log(
      `soak: ${STEPS} DMD2 steps, batch ${BATCH}, ${secs.toFixed(1)} s, ${itPerSec.toFixed(1)} it/s ` +
        `(${itPerSecAfterWarmup.toFixed(1)} it/s after step 200)\n${table.join('\n')}\n` +
        `  RSS growth step 200 → ${STEPS}: ${(at(STEPS).rssMB - at(200).rssMB).toFixed(1)} MB; step 500 → ${STEPS}: ${(at(STEPS).rssMB - at(500).rssMB).toFixed(1)} MB`,
    );

    // GPU side: after warm-up every sample point holds exactly the same bytes and tensors
    const warm = samples.filter((s) => s.step >= 200);
    for (const s of warm) {
      expect(s.bytesInUse, `bytesInUse at step ${s.step}`).toBe(at(200).bytesInUse);
      expect(s.liveTensors, `liveTensors at step ${s.step}`).toBe(at(200).liveTensors);
      expect(s.bytesPooled, `bytesPooled at step ${s.step}`).toBe(at(200).bytesPooled);
    }
    // nothing allocated per step survives it: at step 200 the trainer holds what it held before step 1, plus
    // nothing but the optimiser/EMA state created lazily on the first steps
    expect(at(200).bytesInUse).toBeLessThan(at(0).bytesInUse + 4 * MB);
    // host side: bounded growth after warm-up
    expect(at(STEPS).rssMB - at(200).rssMB).toBeLessThan(RSS_BOUND_MB);
    expect(at(STEPS).rssMB - at(500).rssMB).toBeLessThan(RSS_PLATEAU_MB);
    // the JS heap after a full GC stays put too
    expect(at(STEPS).heapMB - at(200).heapMB).toBeLessThan(4);
  }, 180_000);
});
