// bench/report.ts: the outputs of a bench run: the JSON document (and its schema check, which the test uses), the
// Markdown table with the ratios (onestep ÷ best peer, matmul ÷ best raw WGSL), and an HTML chart with inline SVG.
import { ENGINES, PASSES, type AdapterInfoOut, type Backend, type EngineName, type Row } from './harness';

export interface BenchDoc {
  adapter: AdapterInfoOut; // the first backend's adapter (node when it ran); `adapters` has each backend's
  adapters: Partial<Record<Backend, AdapterInfoOut>>;
  date: string;
  suite: string;
  command: string;
  seconds: Partial<Record<Backend, number>>;
  results: Row[]; // n/a rows are kept, with medianMs/minMs/maxMs/gflops/gbps null and a note saying why
}

const PEERS: EngineName[] = ['jax-js', 'tfjs-webgpu', 'onnxruntime-web', 'webgpu-torch'];

/** Schema errors of a bench JSON document (empty when valid). */
export function validateDoc(doc: unknown): string[] {
  const errs: string[] = [];
  const d = doc as BenchDoc;
  if (!d || typeof d !== 'object') return ['not an object'];
  const isInfo = (a: unknown) => !!a && typeof a === 'object' && ['vendor', 'architecture', 'description', 'backend'].every((k) => typeof (a as Record<string, unknown>)[k] === 'string');
  if (!isInfo(d.adapter)) errs.push('adapter must be {vendor, architecture, description, backend} strings');
  if (typeof d.date !== 'string' || Number.isNaN(Date.parse(d.date))) errs.push('date must be an ISO date string');
  if (!Array.isArray(d.results)) return [...errs, 'results must be an array'];
  const keys = new Set<string>();
  d.results.forEach((r, i) => {
    const at = `results[${i}] (${r?.kernel} ${r?.shape} ${r?.engine})`;
    for (const k of ['suite', 'kernel', 'shape'] as const) if (typeof r[k] !== 'string' || !r[k]) errs.push(`${at}: ${k} must be a non-empty string`);
    if (!ENGINES.includes(r.engine)) errs.push(`${at}: engine ${r.engine} is not one of ${ENGINES.join(', ')}`);
    if (!PASSES.includes(r.pass)) errs.push(`${at}: pass ${r.pass} is not one of ${PASSES.join(', ')}`);
    if (r.backend !== 'node' && r.backend !== 'browser') errs.push(`${at}: backend must be node or browser`);
    const nums = ['medianMs', 'minMs', 'maxMs', 'gflops', 'gbps'] as const;
    for (const k of nums) if (!(k in r) || (r[k] !== null && (typeof r[k] !== 'number' || !Number.isFinite(r[k]) || r[k]! <= 0))) errs.push(`${at}: ${k} must be a positive number or null`);
    if (r.medianMs === null) {
      if (r.minMs !== null || r.maxMs !== null || r.gflops !== null || r.gbps !== null) errs.push(`${at}: an n/a row has null timings`);
      if (!r.note) errs.push(`${at}: an n/a row needs a note saying why`);
    } else {
      if (r.minMs === null || r.maxMs === null || !(r.minMs <= r.medianMs && r.medianMs <= r.maxMs)) errs.push(`${at}: needs minMs ≤ medianMs ≤ maxMs`);
      if (r.runs < 10) errs.push(`${at}: ${r.runs} timed runs (need ≥ 10)`);
    }
    const key = `${r.backend}|${r.adapter}|${r.kernel}|${r.shape}|${r.pass}|${r.engine}`;
    if (keys.has(key)) errs.push(`${at}: duplicate row`);
    keys.add(key);
  });
  return errs;
}

// ---- table ------------------------------------------------------------------------------------------------------

const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toPrecision(2));

/** The figure a table cell shows: GFLOP/s, GB/s, or ms (µs per op/dispatch for the per-op rows). */
function cell(r: Row | undefined): string {
  if (!r) return '—';
  if (r.medianMs === null) return 'n/a';
  if (r.gflops !== null) return `${fmt(r.gflops)} GF/s`;
  if (r.kernel.includes('chained adds')) return `${fmt((r.medianMs * 1000) / Number(r.kernel.split(' ')[0]))} µs/op`;
  if (r.kernel.startsWith('dispatch')) return `${fmt(r.medianMs * 1000)} µs`;
  if (r.kernel.startsWith('DMD2 iteration')) return `${fmt(r.medianMs)} ms (${fmt(1000 / r.medianMs)} it/s)`;
  if (r.gbps !== null) return `${fmt(r.medianMs)} ms (${fmt(r.gbps)} GB/s)`;
  return `${fmt(r.medianMs)} ms`;
}

export interface Ratio {
  backend: Backend;
  adapter: string;
  kernel: string;
  shape: string;
  pass: string;
  vsPeer: number | null; // best peer median ÷ onestep median (> 1: onestep is faster)
  bestPeer: EngineName | null;
  vsRaw: number | null; // raw median ÷ onestep median (matmul only; 1 = as fast as the best raw kernel)
  compiledVsEager: number | null; // eager median ÷ compiled median (rows with both)
}

type Group = { backend: Backend; adapter: string; kernel: string; shape: string; pass: string; rows: Map<EngineName, Row> };
function groups(rows: Row[]): Group[] {
  const out = new Map<string, Group>();
  for (const r of rows) {
    const k = `${r.backend}|${r.adapter}|${r.kernel}|${r.shape}|${r.pass}`;
    let g = out.get(k);
    if (!g) out.set(k, (g = { backend: r.backend, adapter: r.adapter, kernel: r.kernel, shape: r.shape, pass: r.pass, rows: new Map() }));
    g.rows.set(r.engine, r);
  }
  return [...out.values()];
}

export function ratios(rows: Row[]): Ratio[] {
  return groups(rows).map((g) => {
    // ours: the faster of eager and compiled (a user can run either)
    const mine = [g.rows.get('onestep')?.medianMs, g.rows.get('onestep-compiled')?.medianMs].filter((v): v is number => typeof v === 'number');
    const os = mine.length ? Math.min(...mine) : null;
    const eager = g.rows.get('onestep')?.medianMs ?? null, compiled = g.rows.get('onestep-compiled')?.medianMs ?? null;
    let best: Row | null = null;
    for (const p of PEERS) {
      const r = g.rows.get(p);
      if (r?.medianMs != null && (!best || r.medianMs < best.medianMs!)) best = r;
    }
    const raw = g.rows.get('raw-wgsl')?.medianMs ?? null;
    return {
      backend: g.backend, adapter: g.adapter, kernel: g.kernel, shape: g.shape, pass: g.pass, vsPeer: os && best ? best.medianMs! / os : null, bestPeer: best?.engine ?? null, vsRaw: os && raw ? raw / os : null,
      compiledVsEager: eager && compiled ? eager / compiled : null,
    };
  });
}

export function markdown(doc: BenchDoc): string {
  const lines: string[] = [];
  lines.push(`# onestep bench, suite ${doc.suite}, ${doc.date}`, '', `Command: \`${doc.command}\``, '');
  for (const [b, a] of Object.entries(doc.adapters)) lines.push(`- ${b}: ${a!.description} (${[a!.vendor, a!.architecture].filter(Boolean).join(' ')}; ${a!.backend}), ${doc.seconds[b as Backend]?.toFixed(0)} s`);
  lines.push('', 'Median of ≥ 10 timed runs after a compiling call and a warm-up; GF/s = GFLOP/s. n/a: the engine cannot do it (see notes) or it was not timed within the quick budget. onestep ÷ best peer > 1 means onestep is faster; matmul ÷ raw is onestep\'s fraction of the best hand-written WGSL matmul.', '');
  const rs = new Map(ratios(doc.results).map((r) => [`${r.backend}|${r.adapter}|${r.kernel}|${r.shape}|${r.pass}`, r]));
  lines.push(`| backend | kernel | shape | pass | ${ENGINES.join(' | ')} | onestep ÷ best peer | onestep ÷ raw | compiled ÷ eager |`);
  lines.push(`|${'---|'.repeat(ENGINES.length + 7)}`);
  for (const g of groups(doc.results)) {
    const r = rs.get(`${g.backend}|${g.adapter}|${g.kernel}|${g.shape}|${g.pass}`)!;
    const vsPeer = r.vsPeer !== null ? `${r.vsPeer.toFixed(2)}× (${r.bestPeer})` : '—';
    const vsRaw = r.vsRaw !== null ? `${(r.vsRaw * 100).toFixed(0)}%` : '—';
    const vsEager = r.compiledVsEager !== null ? `${r.compiledVsEager.toFixed(2)}×` : '—';
    lines.push(`| ${g.backend} ${g.adapter} | ${g.kernel} | ${g.shape} | ${g.pass} | ${ENGINES.map((e) => cell(g.rows.get(e))).join(' | ')} | ${vsPeer} | ${vsRaw} | ${vsEager} |`);
  }
  const notes = new Map<string, string[]>();
  for (const r of doc.results) {
    if (!r.note) continue;
    const k = `${r.engine}: ${r.note}`;
    notes.set(k, [...(notes.get(k) ?? []), `${r.backend} ${r.kernel} ${r.pass}`]);
  }
  lines.push('', '## Notes', '');
  for (const [k, where] of notes) lines.push(`- ${k} — ${[...new Set(where)].slice(0, 4).join('; ')}${where.length > 4 ? `; +${where.length - 4} more` : ''}`);
  return lines.join('\n') + '\n';
}

// ---- chart ------------------------------------------------------------------------------------------------------

const COLORS: Record<EngineName, string> = { onestep: '#d62728', 'onestep-compiled': '#8c564b', 'jax-js': '#1f77b4', 'tfjs-webgpu': '#ff7f0e', 'onnxruntime-web': '#2ca02c', 'webgpu-torch': '#9467bd', 'raw-wgsl': '#7f7f7f' };
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** One horizontal grouped bar chart per backend: GFLOP/s (or GB/s) per kernel per engine, n/a bars omitted. */
export function chartHtml(doc: BenchDoc): string {
  const sections: string[] = [];
  for (const backend of ['node', 'browser'] as Backend[]) {
    const gs = groups(doc.results.filter((r) => r.backend === backend)).filter((g) => [...g.rows.values()].some((r) => r.gflops !== null || r.gbps !== null));
    if (!gs.length) continue;
    for (const unit of ['gflops', 'gbps'] as const) {
      const sel = gs.filter((g) => [...g.rows.values()].some((r) => r[unit] !== null));
      if (!sel.length) continue;
      const max = Math.max(...sel.flatMap((g) => [...g.rows.values()].map((r) => r[unit] ?? 0)));
      const barH = 12, labelW = 330, plotW = 520;
      let y = 30;
      const parts: string[] = [];
      for (const g of sel) {
        const bars = ENGINES.map((e) => g.rows.get(e)).filter((r): r is Row => !!r && r[unit] !== null);
        parts.push(`<text x="${labelW - 8}" y="${y + (bars.length * barH) / 2 + 4}" text-anchor="end" font-size="12">${esc(`${g.kernel} ${g.shape} ${g.pass}`)}</text>`);
        for (const r of bars) {
          const w = Math.max(1, (r[unit]! / max) * plotW);
          parts.push(`<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH - 2}" fill="${COLORS[r.engine]}"><title>${esc(`${r.engine}: ${r[unit]!.toFixed(2)}`)}</title></rect>`);
          parts.push(`<text x="${labelW + w + 4}" y="${y + barH - 3}" font-size="10">${esc(`${r.engine} ${fmt(r[unit]!)}`)}</text>`);
          y += barH;
        }
        y += 8;
      }
      const legend = ENGINES.map((e, i) => `<rect x="${labelW + i * 95}" y="6" width="10" height="10" fill="${COLORS[e]}"/><text x="${labelW + i * 95 + 14}" y="15" font-size="11">${e}</text>`).join('');
      const title = `${backend} (${doc.adapters[backend]?.description ?? ''}) — ${unit === 'gflops' ? 'GFLOP/s' : 'GB/s'}, higher is better`;
      sections.push(`<h2>${esc(title)}</h2>\n<svg xmlns="http://www.w3.org/2000/svg" width="${labelW + plotW + 140}" height="${y + 10}" font-family="sans-serif">${legend}${parts.join('')}</svg>`);
    }
  }
  return `<!doctype html><meta charset="utf-8"><title>onestep bench ${esc(doc.date)}</title>\n<h1>onestep bench, suite ${esc(doc.suite)}, ${esc(doc.date)}</h1>\n<p><code>${esc(doc.command)}</code></p>\n${sections.join('\n')}\n`;
}
