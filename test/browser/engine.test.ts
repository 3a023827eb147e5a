// test/browser/engine.test.ts: the same engine in headless Chromium (SwiftShader WebGPU) gives the Node results,
// and the counter-based RNG draws the same numbers in both.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import * as os from '../../engine';
import { bundleForBrowser, launchChromium, serveFiles } from '../../scripts/browser';

const root = join(__dirname, '..', '..');
let cleanup: (() => Promise<void>) | null = null;

describe('engine in headless Chromium', () => {
  let result: { adapter: string; loss: number; gradX: number[]; randn: number[]; softmax: number[]; error?: string };
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    const js = await bundleForBrowser('test/browser/engine-page.ts', root);
    const { url, server } = await serveFiles({
      '/': { body: '<!doctype html><meta charset="utf-8"><script type="module" src="/page.js"></script>', type: 'text/html' },
      '/page.js': { body: js, type: 'text/javascript' },
    });
    const browser = await launchChromium();
    cleanup = async () => {
      await browser.close();
      server.close();
    };
    const page = await browser.newPage();
    page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    await page.goto(url);
    await page.waitForFunction(() => (window as unknown as { __result?: unknown }).__result, { timeout: 60_000 });
    result = await page.evaluate(() => (window as unknown as { __result: typeof result }).__result);
  }, 120_000);

  afterAll(async () => cleanup?.());

  it('runs forward, backward and softmax on navigator.gpu', () => {
    expect(result.error).toBeUndefined();
    expect(result.adapter).toMatch(/swiftshader/i);
    expect(result.loss).toBe(262);
    expect(result.gradX).toEqual([8, 10, 18, 20, 22, 42]);
    expect(result.softmax[2]).toBeCloseTo(Math.exp(3) / (Math.exp(1) + Math.exp(2) + Math.exp(3)), 6);
    expect(consoleErrors).toEqual([]);
  });

  it('draws the same random numbers as Node for the same seed', async () => {
    const node = Array.from(await os.randn([4], { seed: 7 }).data());
    result.randn.forEach((v, i) => expect(v).toBeCloseTo(node[i], 6));
  });
});
