// cli/progress.ts: one progress line for long commands: step, losses, rate, ETA (rewritten in place on a TTY).

export class Progress {
  private readonly t0 = performance.now();
  private lastPrint = 0;
  constructor(
    private readonly total: number,
    private readonly label = 'step',
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {}

  /** Reports step `done` (1-based count of finished steps); prints at most ~4 times a second on a TTY. */
  update(done: number, fields: Record<string, number | string> = {}, force = false): void {
    const now = performance.now();
    const tty = this.stream.isTTY;
    if (!force && now - this.lastPrint < (tty ? 250 : 5000) && done < this.total) return;
    this.lastPrint = now;
    const secs = (now - this.t0) / 1000;
    const rate = done / Math.max(secs, 1e-9);
    const eta = rate > 0 ? (this.total - done) / rate : 0;
    const extra = Object.entries(fields)
      .map(([k, v]) => `${k} ${typeof v === 'number' ? fmt(v) : v}`)
      .join('  ');
    const line = `${this.label} ${done}/${this.total}  ${extra}  ${rate.toFixed(1)} it/s  ETA ${fmtTime(eta)}`;
    this.stream.write(tty ? `\r\x1b[2K${line}` : `${line}\n`);
  }

  done(): number {
    if (this.stream.isTTY) this.stream.write('\n');
    return (performance.now() - this.t0) / 1000;
  }
}

const fmt = (v: number) => (Math.abs(v) >= 100 || v === 0 ? v.toFixed(1) : v.toPrecision(4));
export function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(0)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.round((s % 3600) / 60)).padStart(2, '0')}m`;
}
