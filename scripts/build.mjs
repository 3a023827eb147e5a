// scripts/build.mjs: bundles the engine, models and CLI into dist/ (ESM, shared chunks so that `onestep` and
// `onestep/models` share one Tensor class and one device), then emits .d.ts files with tsc.
//   --quiet      print only errors
//   --no-types   skip tsc (the demo's quick rebuild)
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { rmSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const quiet = process.argv.includes('--quiet');
const types = !process.argv.includes('--no-types');
const t0 = performance.now();

rmSync(join(root, 'dist'), { recursive: true, force: true });
await build({
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
  logLevel: quiet ? 'error' : 'warning',
});
if (types) {
  const tsc = join(root, 'node_modules', '.bin', 'tsc');
  if (existsSync(tsc)) {
    const r = spawnSync(tsc, ['-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
    if (r.status !== 0) process.exit(r.status ?? 1);
  } else if (!quiet) console.warn('build: typescript is not installed; skipping .d.ts files');
}
if (!quiet) console.log(`build: dist/ in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
