// bench/run.mjs: `npm run bench -- …`: bundles the bench (TypeScript) for Node with esbuild into bench/out/.build/
// and runs its CLI (bench/cli.ts). Packages stay external, so Node loads them from node_modules. Runs as a child
// process whose stderr is passed on without Dawn's limit warnings (bin/dawn-filter.js).
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { relaunchWithFilteredStderr } from '../bin/dawn-filter.js';

/** Packages Node loads itself: Dawn (native), the browser driver and the bundler. */
export const BENCH_EXTERNAL = ['webgpu', 'puppeteer-core', 'esbuild', 'onnxruntime-web', 'vitest'];

await relaunchWithFilteredStderr(import.meta.url);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'bench', 'out', '.build');
await build({
  absWorkingDir: root,
  entryPoints: { cli: 'bench/cli.ts', 'node-child': 'bench/node-child.ts' },
  outdir,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // bundled (one copy of tfjs-core with its gradients, resolved from ESM sources); native and Node-only ones stay out
  mainFields: ['module', 'main'],
  external: BENCH_EXTERNAL,
  // tfjs-core's ESM build calls require('util') in Node
  banner: { js: "import { createRequire as __benchCreateRequire } from 'node:module'; const require = __benchCreateRequire(import.meta.url);" },
  logLevel: 'error',
});
await import(pathToFileURL(join(outdir, 'cli.mjs')).href);
