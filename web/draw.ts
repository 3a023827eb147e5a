// web/draw.ts: small hand-drawn canvas plots: a 2-D scatter with density shading, and a multi-series line chart.

export interface Series {
  name: string;
  color: string;
  points: [number, number][];
}

/** Scatter of an [n, 2] array on a fixed square view ([-lim, lim]²), darker where points pile up. */
export function drawScatter(canvas: HTMLCanvasElement, xs: Float32Array | null, rgb: [number, number, number], lim = 1.25): void {
  const ctx = canvas.getContext('2d')!;
  const W = canvas.width, H = canvas.height;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, W, H);
  ctx.strokeStyle = '#eee';
  ctx.beginPath();
  ctx.moveTo(W / 2, 0);
  ctx.lineTo(W / 2, H);
  ctx.moveTo(0, H / 2);
  ctx.lineTo(W, H / 2);
  ctx.stroke();
  if (!xs || xs.length < 2) return;
  // density: count per pixel, then alpha = 1 - exp(-k·count)
  const counts = new Float32Array(W * H);
  const n = xs.length / 2;
  for (let i = 0; i < n; i++) {
    const px = Math.floor(((xs[2 * i] + lim) / (2 * lim)) * W);
    const py = Math.floor(((lim - xs[2 * i + 1]) / (2 * lim)) * H);
    if (!(px >= 0 && px < W && py >= 0 && py < H)) continue;
    for (let dy = -1; dy <= 1; dy++)
      for (let dx = -1; dx <= 1; dx++) {
        const x = px + dx, y = py + dy;
        if (x >= 0 && x < W && y >= 0 && y < H) counts[y * W + x] += dx === 0 && dy === 0 ? 1 : 0.35;
      }
  }
  const img = ctx.getImageData(0, 0, W, H);
  const d = img.data;
  for (let p = 0; p < counts.length; p++) {
    const c = counts[p];
    if (c <= 0) continue;
    const a = 1 - Math.exp(-0.9 * c);
    d[4 * p] = Math.round(d[4 * p] * (1 - a) + rgb[0] * a);
    d[4 * p + 1] = Math.round(d[4 * p + 1] * (1 - a) + rgb[1] * a);
    d[4 * p + 2] = Math.round(d[4 * p + 2] * (1 - a) + rgb[2] * a);
  }
  ctx.putImageData(img, 0, 0);
}

const fmt = (v: number) => (Math.abs(v) >= 100 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(1) : v.toPrecision(3));

/** Line chart with axes, tick labels and a legend; logY plots log10 of positive values. */
export function drawLines(canvas: HTMLCanvasElement, series: Series[], opts: { logY?: boolean; title?: string } = {}): void {
  const ctx = canvas.getContext('2d')!;
  const W = canvas.width, H = canvas.height;
  const L = 52, R = 8, T = 18, B = 20;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, W, H);
  ctx.font = '11px sans-serif';
  const tf = (y: number) => (opts.logY ? Math.log10(Math.max(y, 1e-12)) : y);
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const s of series)
    for (const [x, y] of s.points) {
      if (!Number.isFinite(y) || (opts.logY && y <= 0)) continue;
      x0 = Math.min(x0, x);
      x1 = Math.max(x1, x);
      y0 = Math.min(y0, tf(y));
      y1 = Math.max(y1, tf(y));
    }
  ctx.strokeStyle = '#999';
  ctx.beginPath();
  ctx.moveTo(L, T);
  ctx.lineTo(L, H - B);
  ctx.lineTo(W - R, H - B);
  ctx.stroke();
  ctx.fillStyle = '#333';
  if (opts.title) ctx.fillText(opts.title, L + 4, 12);
  if (!Number.isFinite(x0)) {
    ctx.fillStyle = '#999';
    ctx.fillText('no data yet', L + 10, H / 2);
    return;
  }
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) (y1 += 0.5), (y0 -= 0.5);
  const pad = (y1 - y0) * 0.05;
  (y0 -= pad), (y1 += pad);
  const sx = (x: number) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const sy = (y: number) => H - B - ((tf(y) - y0) / (y1 - y0)) * (H - T - B);
  ctx.fillStyle = '#555';
  for (let k = 0; k <= 3; k++) {
    const v = y0 + ((y1 - y0) * k) / 3;
    const py = H - B - (k / 3) * (H - T - B);
    ctx.fillText(fmt(opts.logY ? 10 ** v : v), 2, py + 4);
    ctx.strokeStyle = '#f0f0f0';
    ctx.beginPath();
    ctx.moveTo(L + 1, py);
    ctx.lineTo(W - R, py);
    ctx.stroke();
  }
  ctx.fillText(String(Math.round(x0)), L, H - 6);
  const xl = String(Math.round(x1));
  ctx.fillText(xl, W - R - ctx.measureText(xl).width, H - 6);
  let lx = W - R;
  for (const s of [...series].reverse()) {
    const w = ctx.measureText(s.name).width + 18;
    lx -= w;
    ctx.fillStyle = s.color;
    ctx.fillRect(lx, 5, 10, 8);
    ctx.fillStyle = '#333';
    ctx.fillText(s.name, lx + 13, 13);
  }
  ctx.lineWidth = 1.5;
  for (const s of series) {
    ctx.strokeStyle = s.color;
    ctx.beginPath();
    let started = false;
    for (const [x, y] of s.points) {
      if (!Number.isFinite(y) || (opts.logY && y <= 0)) continue;
      if (!started) ctx.moveTo(sx(x), sy(y));
      else ctx.lineTo(sx(x), sy(y));
      started = true;
    }
    if (s.points.length === 1) ctx.fillRect(sx(s.points[0][0]) - 2, sy(s.points[0][1]) - 2, 4, 4);
    ctx.stroke();
  }
  ctx.lineWidth = 1;
}

/** Moving average over `win` points (for noisy loss curves). */
export function smooth(points: [number, number][], win: number): [number, number][] {
  if (win <= 1) return points;
  const out: [number, number][] = [];
  let acc = 0;
  for (let i = 0; i < points.length; i++) {
    acc += points[i][1];
    if (i >= win) acc -= points[i - win][1];
    out.push([points[i][0], acc / Math.min(i + 1, win)]);
  }
  return out;
}

/** A grid of n single-channel S×S images in [−1, 1] (−1 black), `cols` per row, scaled to fill the canvas. */
export function drawDigits(canvas: HTMLCanvasElement, xs: Float32Array | null, n: number, S: number, cols = 10): void {
  const ctx = canvas.getContext('2d')!;
  ctx.fillStyle = '#777';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  if (!xs || n === 0) return;
  const rows = Math.ceil(n / cols), cell = S + 1;
  const img = new ImageData(cols * cell + 1, rows * cell + 1);
  img.data.fill(119);
  for (let i = 0; i < n; i++) {
    const ox = (i % cols) * cell + 1, oy = Math.floor(i / cols) * cell + 1;
    for (let y = 0; y < S; y++)
      for (let x = 0; x < S; x++) {
        const g = Math.round(255 * Math.min(1, Math.max(0, (xs[i * S * S + y * S + x] + 1) / 2)));
        const p = 4 * ((oy + y) * img.width + ox + x);
        img.data[p] = img.data[p + 1] = img.data[p + 2] = g;
      }
  }
  for (let p = 3; p < img.data.length; p += 4) img.data[p] = 255;
  const tmp = document.createElement('canvas');
  tmp.width = img.width;
  tmp.height = img.height;
  tmp.getContext('2d')!.putImageData(img, 0, 0);
  ctx.imageSmoothingEnabled = false;
  const scale = Math.min(canvas.width / img.width, canvas.height / img.height);
  const w = img.width * scale, h = img.height * scale;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(tmp, (canvas.width - w) / 2, (canvas.height - h) / 2, w, h);
}
