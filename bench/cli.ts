// bench/cli.ts: `npm run bench -- [--suite quick|full] [--backend browser|node|both] [--adapter lavapipe|swiftshader|system]
// [--out FILE.json]`: runs the suites in a Node child per adapter (Dawn) and in headless Chromium (SwiftShader), then
// writes the JSON, a Markdown table (stdout and bench/out/<date>.md) and an HTML chart (bench/out/<date>.html).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleForBrowser, launchChromium, serveFiles } from '../scripts/browser';
import type { AdapterInfoOut, Backend, BackendResult, SuiteName } from './harness';
import { chartHtml, markdown, ratios, validateDoc, type BenchDoc } from './report';

const USAGE = `usage: npm run bench -- [--suite quick|full] [--backend browser|node|both] [--adapter lavapipe|swiftshader|system[,…]] [--out FILE.json] [--only KERNEL[,…]]
  --suite    quick (default; the whole --backend both run takes under 2 minutes) or full (size sweeps, longer)
  --backend  both (default), node (Dawn in a child process per adapter) or browser (headless Chromium, SwiftShader)
  --adapter  the node backend's driver(s), default lavapipe (else swiftshader); Chromium here always uses SwiftShader
  --out      where the JSON goes (default bench/out/<date>.json)
  --only     only rows whose "kernel shape" contains one of these strings (e.g. matmul,attention or
             "matmul 1024×1024×1024,conv2d N8 64→64,group norm,attention B·H 8 L 256 D 64": the issue's peer table)`;

interface Args {
  suite: SuiteName;
  backend: 'node' | 'browser' | 'both';
  adapters: string[];
  out: string | null;
  only: string[] | null;
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..'); // bench/out/.build → repo root

function parseArgs(argv: string[]): Args {
  const a: Args = { suite: 'quick', backend: 'both', adapters: [], out: null, only: null };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) fail(`${k} needs a value`);
      return x;
    };
    if (k === '--suite') a.suite = v() as SuiteName;
    else if (k === '--backend') a.backend = v() as Args['backend'];
    else if (k === '--adapter') a.adapters = v().split(',');
    else if (k === '--out') a.out = v();
    else if (k === '--only') a.only = v().split(',');
    else if (k === '--help' || k === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else fail(`unknown argument ${k}`);
  }
  if (a.suite !== 'quick' && a.suite !== 'full') fail(`--suite must be quick or full, got ${a.suite}`);
  if (!['node', 'browser', 'both'].includes(a.backend)) fail(`--backend must be browser, node or both, got ${a.backend}`);
  for (const ad of a.adapters) if (!['lavapipe', 'swiftshader', 'system'].includes(ad)) fail(`--adapter must be lavapipe, swiftshader or system, got ${ad}`);
  if (!a.adapters.length) a.adapters = [existsSync('/usr/share/vulkan/icd.d/lvp_icd.json') ? 'lavapipe' : 'swiftshader'];
  return a;
}

function fail(msg: string): never {
  console.error(`bench: ${msg}\n${USAGE}`);
  process.exit(2);
}

const log = (line: string) => process.stderr.write(line + '\n');

/** Seconds each backend may spend measuring in a quick run, so that `--backend both` ends within 2 minutes. */
function quickSeconds(a: Args): { node: number; browser: number } {
  const nodeShare = a.backend === 'both' ? 48 : 90;
  const browserShare = a.backend === 'both' ? 40 : 80;
  return { node: nodeShare / a.adapters.length, browser: browserShare };
}

async function runNode(a: Args, adapter: string, seconds: number): Promise<BackendResult> {
  const file = join(tmpdir(), `onestep-bench-${process.pid}-${adapter}.json`);
  rmSync(file, { force: true });
  const env = { ...process.env, ONESTEP_ADAPTER: adapter, BENCH_SUITE: a.suite, BENCH_RESULT_FILE: file, BENCH_SECONDS: String(seconds), ...(a.only ? { BENCH_ONLY: a.only.join(',') } : {}) };
  const child = spawn(process.execPath, [join(root, 'bench', 'out', '.build', 'node-child.mjs')], { cwd: root, env, stdio: ['ignore', 'inherit', 'pipe'] });
  let tail = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    tail = (tail + s).slice(-4000);
    for (const l of s.split('\n')) if (l) log(l); // Dawn's limit warnings are dropped by bench/run.mjs (bin/dawn-filter.js)
  });
  const code = await new Promise<number | null>((r) => child.on('close', r));
  if (code !== 0 || !existsSync(file)) throw new Error(`node backend (${adapter}) exited with ${code}:\n${tail}`);
  const r = JSON.parse(readFileSync(file, 'utf8')) as BackendResult;
  rmSync(file, { force: true });
  return r;
}

async function runBrowser(a: Args, seconds: number): Promise<BackendResult> {
  const js = await bundleForBrowser('bench/browser-page.ts', root);
  const ortDir = join(root, 'node_modules', 'onnxruntime-web', 'dist');
  const files: Record<string, { body: string | Uint8Array; type: string }> = {
    '/': { body: '<!doctype html><meta charset="utf-8"><title>onestep bench</title><script type="module" src="/bench.js"></script>', type: 'text/html' },
    '/bench.js': { body: js, type: 'text/javascript' },
  };
  // ORT's WebGPU build and the wasm it loads, served as they ship
  for (const f of ['ort.webgpu.min.mjs', 'ort-wasm-simd-threaded.asyncify.mjs', 'ort-wasm-simd-threaded.asyncify.wasm', 'ort-wasm-simd-threaded.jsep.mjs', 'ort-wasm-simd-threaded.jsep.wasm']) {
    if (existsSync(join(ortDir, f))) files[`/ort/${f}`] = { body: readFileSync(join(ortDir, f)), type: f.endsWith('.wasm') ? 'application/wasm' : 'text/javascript' };
  }
  const { url, server } = await serveFiles(files);
  // developer features: timestamp queries at full resolution (Chrome otherwise rounds them to 100 µs)
  const browser = await launchChromium({ args: ['--enable-webgpu-developer-features'] });
  try {
    const page = await browser.newPage();
    page.on('pageerror', (e) => log(`[bench browser] page error: ${String(e)}`));
    const done = new Promise<string>((res) => void page.exposeFunction('__benchDone', (json: string) => res(json)));
    await page.exposeFunction('__benchLog', (line: string) => log(line));
    const q = new URLSearchParams({ suite: a.suite, seconds: String(seconds), ortBase: '/ort/', ...(a.only ? { only: a.only.join(',') } : {}) });
    await page.goto(`${url}/?${q}`);
    const limit = a.suite === 'quick' ? (seconds + 60) * 1000 : 3 * 3600_000;
    const json = await Promise.race([done, new Promise<string>((_, rej) => setTimeout(() => rej(new Error(`browser backend: no result after ${limit / 1000} s`)), limit))]);
    const r = JSON.parse(json) as BackendResult & { error?: string };
    if (r.error) throw new Error(`browser backend failed: ${r.error}`);
    return r;
  } finally {
    await browser.close();
    server.close();
  }
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const t0 = performance.now();
  const date = new Date().toISOString();
  const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim();
  const secs = a.suite === 'quick' ? quickSeconds(a) : { node: 1e9, browser: 1e9 };
  const doc: BenchDoc = { adapter: { vendor: '', architecture: '', description: '', backend: '' }, adapters: {}, date, suite: a.suite, command, seconds: {}, results: [] };
  const add = (backend: Backend, r: BackendResult) => {
    doc.adapters[backend] ??= r.adapter;
    doc.seconds[backend] = (doc.seconds[backend] ?? 0) + r.seconds;
    doc.results.push(...r.rows);
  };
  const failures: string[] = [];
  if (a.backend !== 'browser') {
    for (const ad of a.adapters) {
      try {
        add('node', await runNode(a, ad, secs.node));
      } catch (e) {
        failures.push(String((e as Error).message));
      }
    }
  }
  if (a.backend !== 'node') {
    try {
      // in a quick run the browser gets what the node backend left of the 2 minutes (less Chromium's start-up)
      const left = a.suite === 'quick' && a.backend === 'both' ? Math.max(25, 95 - (performance.now() - t0) / 1000) : secs.browser;
      add('browser', await runBrowser(a, left));
    } catch (e) {
      failures.push(String((e as Error).message));
    }
  }
  doc.adapter = (doc.adapters.node ?? doc.adapters.browser ?? doc.adapter) as AdapterInfoOut;

  const outDir = join(root, 'bench', 'out');
  mkdirSync(outDir, { recursive: true });
  const stem = date.replace(/:/g, '-').replace(/\..*/, '');
  const jsonPath = a.out ? resolve(process.cwd(), a.out) : join(outDir, `${stem}.json`);
  mkdirSync(dirname(jsonPath), { recursive: true });
  writeFileSync(jsonPath, JSON.stringify(doc, null, 1) + '\n');
  const md = markdown(doc);
  writeFileSync(join(outDir, `${stem}.md`), md);
  writeFileSync(join(outDir, `${stem}.html`), chartHtml(doc));
  console.log(md);
  const r = ratios(doc.results).filter((x) => x.vsPeer !== null || x.vsRaw !== null);
  if (r.length) {
    console.log('Ratios (onestep vs best peer: > 1 is faster; matmul vs best raw WGSL):');
    for (const x of r) console.log(`  ${x.backend} ${x.adapter} ${x.kernel} ${x.shape} ${x.pass}: ${x.vsPeer !== null ? `${x.vsPeer.toFixed(2)}× ${x.bestPeer}` : 'no peer'}${x.vsRaw !== null ? `, ${(x.vsRaw * 100).toFixed(0)}% of raw` : ''}`);
  }
  const errs = validateDoc(doc);
  console.log(`\nwrote ${jsonPath}, ${join(outDir, `${stem}.md`)}, ${join(outDir, `${stem}.html`)} in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  if (errs.length) console.error(`bench: the JSON does not match its schema:\n  ${errs.join('\n  ')}`);
  for (const f of failures) console.error(`bench: ${f}`);
  process.exit(failures.length || errs.length ? 1 : 0);
}

await main();
