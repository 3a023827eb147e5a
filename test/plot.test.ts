// test/plot.test.ts: report.html's line charts, laid out by Chromium: no legend entry covers the title, another entry,
// the plot's frame or its data, with short and long series names (the GAN chart's wrap onto a second line).
import { describe, expect, it } from 'vitest';
import { launchChromium } from '../scripts/browser';
import { lineChartSvg, type Series } from '../cli/plot';
import { chartOverlaps } from './chart-overlaps';

const line = (name: string, color: string, f: (i: number) => number): Series => ({ name, color, points: Array.from({ length: 50 }, (_, i) => [i * 20, f(i)]) });

describe('report charts', () => {
  it('keep legends off titles, each other, the frame and the data', async () => {
    const charts = [
      lineChartSvg('sliced Wasserstein distance to data (lower is better)', [line('generator', '#d62728', (i) => 1 / (i + 1)), line('teacher (Heun)', '#2ca02c', () => 0.05), line('data floor', '#7f7f7f', () => 0.03)], { logY: true }),
      lineChartSvg('Fréchet distance to held-out digits (classifier features) (lower is better)', [line('generator', '#d62728', (i) => 50 / (i + 1)), line('teacher (Heun)', '#2ca02c', () => 5), line('data floor', '#7f7f7f', () => 1)], { logY: true }),
      lineChartSvg('GAN losses', [line('head: softplus(D(fake)) + softplus(−D(real))', '#17becf', (i) => 1.4 - i / 100), line('generator: softplus(−D(G(z)))', '#bcbd22', (i) => 0.7 + i / 100)]),
      lineChartSvg('fake-score loss', [line('fake', '#1f77b4', (i) => Math.sin(i) + 2)]),
      lineChartSvg('a <b> & c', [line('x < y', '#000', (i) => i)]),
    ];
    // the GAN chart's two long names do not fit one line at the default width
    expect(charts[2]).toMatch(/class="legend"[^>]* y="49"/);
    const browser = await launchChromium({ webgpu: false });
    try {
      const page = await browser.newPage();
      await page.setContent(`<!doctype html><meta charset="utf-8"><body>${charts.join('\n')}</body>`);
      const r = await chartOverlaps(page);
      expect(r.charts).toBe(charts.length);
      expect(r.legends).toBe(10);
      expect(r.overlaps).toEqual([]);
      // the escaped title and name come back as written
      expect(await page.evaluate(() => Array.from(document.querySelectorAll('svg')).at(-1)!.textContent)).toContain('a <b> & c');
    } finally {
      await browser.close();
    }
  }, 60_000);
});
