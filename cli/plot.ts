// cli/plot.ts: pictures for runs: 2-D scatter plots and image grids as PNG (pngjs encodes; we only place pixels) and
// SVG line charts for report.html.
import { PNG } from 'pngjs';

/** A size×size PNG of 2-D points in [−lim, lim]², drawn as a density (darker where points pile up). */
export function scatterPng(points: Float32Array, opts: { size?: number; lim?: number; rgb?: [number, number, number]; title?: string } = {}): Uint8Array {
  const size = opts.size ?? 320, lim = opts.lim ?? 1.2;
  const [r, g, b] = opts.rgb ?? [31, 119, 180];
  const counts = new Float32Array(size * size);
  for (let i = 0; i + 1 < points.length; i += 2) {
    const px = Math.floor(((points[i] + lim) / (2 * lim)) * size);
    const py = Math.floor(((lim - points[i + 1]) / (2 * lim)) * size);
    if (px >= 0 && px < size && py >= 0 && py < size) counts[py * size + px]++;
  }
  const max = Math.max(1, ...counts);
  const png = new PNG({ width: size, height: size });
  for (let p = 0; p < size * size; p++) {
    const a = counts[p] > 0 ? 0.25 + 0.75 * Math.sqrt(counts[p] / max) : 0;
    const axis = p % size === size >> 1 || Math.floor(p / size) === size >> 1;
    const bg = axis ? 235 : 255;
    png.data[4 * p] = Math.round(bg * (1 - a) + r * a);
    png.data[4 * p + 1] = Math.round(bg * (1 - a) + g * a);
    png.data[4 * p + 2] = Math.round(bg * (1 - a) + b * a);
    png.data[4 * p + 3] = 255;
  }
  return new Uint8Array(PNG.sync.write(png));
}

/**
 * A grid PNG of single-channel images x [N, 1, S, S] with values in [−1, 1] (clamped), `cols` per row, each image
 * scaled up by `zoom` with a 1-pixel gap. Grey levels: −1 black, 1 white.
 */
export function imageGridPng(x: Float32Array, n: number, s: number, opts: { cols?: number; zoom?: number } = {}): Uint8Array {
  const cols = opts.cols ?? Math.min(n, 16), zoom = opts.zoom ?? 2;
  const rows = Math.ceil(n / cols), cell = s * zoom + 1;
  const png = new PNG({ width: cols * cell + 1, height: rows * cell + 1 });
  png.data.fill(128);
  for (let i = 0; i < n; i++) {
    const ox = (i % cols) * cell + 1, oy = Math.floor(i / cols) * cell + 1;
    for (let y = 0; y < s * zoom; y++) {
      for (let xx = 0; xx < s * zoom; xx++) {
        const v = x[i * s * s + Math.floor(y / zoom) * s + Math.floor(xx / zoom)];
        const g = Math.round(255 * Math.min(1, Math.max(0, (v + 1) / 2)));
        const p = 4 * ((oy + y) * png.width + ox + xx);
        png.data[p] = png.data[p + 1] = png.data[p + 2] = g;
      }
    }
  }
  for (let p = 3; p < png.data.length; p += 4) png.data[p] = 255;
  return new Uint8Array(PNG.sync.write(png));
}

export interface Series {
  name: string;
  points: [number, number][];
  color: string;
}

/** Escapes text for SVG. */
const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * An SVG line chart (log-y optional) with axes and a legend; self-contained for report.html. The title sits on its
 * own line, the legend on the lines below it (wrapping at the chart's width), and the plot under both, so no text
 * covers another or the data; `height` is the plot's frame plus its axes, and the chart grows by the legend's lines.
 */
export function lineChartSvg(title: string, series: Series[], opts: { width?: number; height?: number; logY?: boolean; xLabel?: string } = {}): string {
  const W = opts.width ?? 560, L = 56, R = 12, B = 36;
  // legend items flow left to right; widths are generous estimates (11 px sans-serif averages under 6.5 px a glyph)
  const items: { x: number; row: number; s: Series }[] = [];
  let x = L, row = 0;
  for (const s of series) {
    const w = 14 + 6.5 * (s.name.length + 2);
    if (x > L && x + w > W - R) (x = L), row++;
    items.push({ x, row, s });
    x += w + 12;
  }
  const legendTop = 34, rowH = 15, T = legendTop + row * rowH + 12;
  const H = T + (opts.height ?? 260) - 24;
  const all = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y) && (!opts.logY || y > 0));
  if (!all.length) return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="40" font-family="sans-serif"><text x="10" y="20" font-size="12">${xml(title)}: no data</text></svg>`;
  const fy = (y: number) => (opts.logY ? Math.log10(y) : y);
  const xs = all.map(([x]) => x), ys = all.map(([, y]) => fy(y));
  const [x0, x1] = [Math.min(...xs), Math.max(...xs) || 1], [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const sx = (x: number) => L + ((x - x0) / (x1 - x0 || 1)) * (W - L - R);
  const sy = (y: number) => T + (1 - (fy(y) - y0) / (y1 - y0 || 1)) * (H - T - B);
  const paths = series
    .map((s) => {
      const pts = s.points.filter(([, y]) => Number.isFinite(y) && (!opts.logY || y > 0));
      const d = pts.map(([x, y], i) => `${i ? 'L' : 'M'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join('');
      return `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.5"/>`;
    })
    .join('');
  const fmt = (v: number) => (opts.logY ? (10 ** v).toPrecision(2) : Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3));
  const ticks = [0, 0.5, 1].map((f) => y0 + f * (y1 - y0)).map((v) => `<text x="${L - 4}" y="${(T + (1 - (v - y0) / (y1 - y0 || 1)) * (H - T - B) + 4).toFixed(1)}" text-anchor="end" font-size="10">${fmt(v)}</text>`).join('');
  const legend = items.map((i) => `<text class="legend" x="${i.x.toFixed(0)}" y="${legendTop + i.row * rowH}" font-size="11" fill="${i.s.color}">■ ${xml(i.s.name)}</text>`).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">
<text class="title" x="${W / 2}" y="16" text-anchor="middle" font-size="12" font-weight="bold">${xml(title)}</text>${legend}
<rect class="plot" x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="none" stroke="#999"/>${ticks}
<text x="${L}" y="${H - 18}" font-size="10">${x0}</text><text x="${W - R}" y="${H - 18}" font-size="10" text-anchor="end">${x1}</text>
<text x="${(L + W - R) / 2}" y="${H - 4}" font-size="10" text-anchor="middle">${opts.xLabel ?? 'iteration'}</text>${paths}</svg>`;
}
