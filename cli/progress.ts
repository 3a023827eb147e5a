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

  /** A line of its own (a milestone), without losing the progress line. */
  note(text: string): void {
    this.stream.write(this.stream.isTTY ? `\r\x1b[2K${text}\n` : `${text}\n`);
    this.lastPrint = 0;
  }

  done(): number {
    if (this.stream.isTTY) this.stream.write('\n');
    return (performance.now() - this.t0) / 1000;
  }
}

const fmt = (v: number) => (Math.abs(v) >= 100 || v === 0 ? v.toFixed(1) : v.toPrecision(4));
export function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '?';
  // round once, then split: 179.6 s is 3m00s, not 2m60s
  const secs = Math.round(s);
  if (secs < 60) return `${secs}s`;
  if (secs < 3600) return `${Math.floor(secs / 60)}m${String(secs % 60).padStart(2, '0')}s`;
  const mins = Math.round(s / 60);
  return `${Math.floor(mins / 60)}h${String(mins % 60).padStart(2, '0')}m`;
}
