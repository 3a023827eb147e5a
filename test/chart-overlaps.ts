// test/chart-overlaps.ts: finds report charts (cli/plot.ts) whose title, legend entries and plot frame overlap as
// Chromium lays them out; used by test/plot.test.ts and the demo's report check in test/cli.test.ts.
import type { Page } from 'puppeteer-core';

/** Boxes (as laid out) of every chart's title, legend entries and plot frame, and the pairs of them that overlap. */
export async function chartOverlaps(page: Page): Promise<{ charts: number; legends: number; overlaps: string[] }> {
  return page.evaluate(() => {
    const overlaps: string[] = [];
    const svgs = Array.from(document.querySelectorAll('svg'));
    let legends = 0;
    for (const [n, svg] of svgs.entries()) {
      const box = (e: Element) => (e as SVGGraphicsElement).getBBox();
      const named = Array.from(svg.querySelectorAll('.title, .legend, .plot')).map((e) => ({ what: `${e.getAttribute('class')} "${e.textContent}"`, b: box(e) }));
      legends += svg.querySelectorAll('.legend').length;
      const w = Number(svg.getAttribute('width'));
      for (const { what, b } of named) if (b.x < 0 || b.x + b.width > w) overlaps.push(`chart ${n}: ${what} leaves the chart`);
      for (let i = 0; i < named.length; i++) {
        for (let j = i + 1; j < named.length; j++) {
          const [a, b] = [named[i].b, named[j].b];
          if (a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height) overlaps.push(`chart ${n}: ${named[i].what} overlaps ${named[j].what}`);
        }
      }
    }
    return { charts: svgs.length, legends, overlaps };
  });
}
