// runtime/profiler.ts: GPU timestamps around every dispatch while a profile() runs (each dispatch in its own pass, so
// totals include a little pass overhead), resolved into a buffer at each flush and summed per kernel label.

export interface ProfileRow {
  label: string;
  ms: number;
  count: number;
}

export class Profiler {
  static readonly SLOTS = 4096;
  readonly querySet: GPUQuerySet;
  private labels: string[] = [];
  private resolved: { buf: GPUBuffer; labels: string[] }[] = [];

  constructor(private readonly gpu: GPUDevice) {
    this.querySet = gpu.createQuerySet({ type: 'timestamp', count: Profiler.SLOTS });
  }

  /** The timestamp slot pair of the next dispatch (begin at the returned index, end at the next). */
  next(label: string): number {
    this.labels.push(label);
    return 2 * (this.labels.length - 1);
  }

  /** Whether the query set is full (the device then submits, which resolves it). */
  get full(): boolean {
    return 2 * this.labels.length >= Profiler.SLOTS;
  }

  /** Records the resolve of this submit's timestamps. */
  resolve(enc: GPUCommandEncoder): void {
    if (!this.labels.length) return;
    const n = 2 * this.labels.length;
    const buf = this.gpu.createBuffer({ size: n * 8, usage: 0x0200 /* QUERY_RESOLVE */ | 0x04 /* COPY_SRC */ });
    enc.resolveQuerySet(this.querySet, 0, n, buf, 0);
    this.resolved.push({ buf, labels: this.labels });
    this.labels = [];
  }

  /** Milliseconds per label, slowest first (reads the resolved timestamps back). */
  async collect(read: (buf: GPUBuffer, bytes: number) => Promise<ArrayBuffer>): Promise<ProfileRow[]> {
    const totals = new Map<string, { ms: number; count: number }>();
    for (const { buf, labels } of this.resolved) {
      const t = new BigInt64Array(await read(buf, labels.length * 16));
      labels.forEach((l, i) => {
        const e = totals.get(l) ?? { ms: 0, count: 0 };
        e.ms += Number(t[2 * i + 1] - t[2 * i]) / 1e6;
        e.count++;
        totals.set(l, e);
      });
      buf.destroy();
    }
    this.querySet.destroy();
    return [...totals].map(([label, e]) => ({ label, ...e })).sort((a, b) => b.ms - a.ms);
  }
}
