// web/run.mjs: `npm run web [-- --port N]`: bundles web/server.ts for Node with esbuild (packages stay external) into
// a temporary file, then starts it; the server bundles the page (web/main.ts) itself at start-up.
import { build } from 'esbuild';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(mkdtempSync(join(tmpdir(), 'onestep-web-')), 'server.mjs');
await build({
  absWorkingDir: root,
  entryPoints: ['web/server.ts'],
  outfile: out,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  logLevel: 'error',
});
process.env.ONESTEP_ROOT ??= root;
const { main } = await import(pathToFileURL(out).href);
try {
  await main(process.argv.slice(2));
} catch (e) {
  console.error(String(e?.message ?? e));
  process.exit(2);
}
