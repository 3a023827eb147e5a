// scripts/build.mjs: bundles the engine, models and CLI into dist/ (ESM, shared chunks so that `onestep` and
// `onestep/models` share one Tensor class and one device), the web page into dist/web/ (so that an installed package
// serves it without esbuild), then emits .d.ts files with tsc.
//   --quiet      print only errors
//   --no-types   skip tsc (the demo's and bin/onestep.js's quick rebuild)
// Each file is written to a temporary name and renamed into place, and files of earlier builds are removed after, so
// a command starting from dist/ while another one rebuilds it never reads half a file.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const quiet = process.argv.includes('--quiet');
const types = !process.argv.includes('--no-types');
const t0 = performance.now();

let esbuild, page;
try {
  esbuild = await import('esbuild');
  page = await import('./browser-bundle.mjs');
} catch (e) {
  console.error(`build: cannot load esbuild (${e.message}); run npm install in ${root} first`);
  process.exit(1);
}

const dist = join(root, 'dist');
const written = new Set();
function put(file, contents) {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, contents);
  renameSync(tmp, file);
  written.add(file);
}

const r = await esbuild.build({
  absWorkingDir: root,
  entryPoints: { engine: 'engine/index.ts', models: 'models/index.ts', cli: 'cli/index.ts' },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  packages: 'external', // dependencies load from node_modules (CJS ones like pngjs cannot be inlined into ESM)
  write: false,
  logLevel: quiet ? 'error' : 'warning',
});
// the page first and the entries last: dist/cli.js is the newest file, which bin/onestep.js compares with the sources
put(join(dist, 'web', 'index.html'), readFileSync(join(root, 'web', 'index.html')));
put(join(dist, 'web', 'main.js'), await page.bundleForBrowser('web/main.ts', root));
const isEntry = (f) => /[/\\](engine|models|cli)\.js$/.test(f.path);
for (const f of [...r.outputFiles.filter((f) => !isEntry(f)), ...r.outputFiles.filter(isEntry)]) put(f.path, f.contents);

// files an earlier build wrote and this one did not (old chunk names); dist/types is tsc's
for (const f of readdirSync(dist, { recursive: true, withFileTypes: true })) {
  const path = join(f.parentPath ?? f.path, f.name);
  if (f.isFile() && !written.has(path) && !relative(dist, path).startsWith(`types${sep}`) && !f.name.includes('.tmp-')) rmSync(path, { force: true });
}

if (types) {
  const tsc = join(root, 'node_modules', '.bin', 'tsc');
  if (existsSync(tsc)) {
    rmSync(join(dist, 'types'), { recursive: true, force: true }); // no declarations of deleted files; nothing runs them
    const t = spawnSync(tsc, ['-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
    if (t.status !== 0) process.exit(t.status ?? 1);
  } else if (!quiet) console.warn('build: typescript is not installed; skipping .d.ts files');
}
if (!quiet) console.log(`build: dist/ in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
