#!/usr/bin/env node
// bin/onestep.js: the `onestep` command: runs the built CLI (dist/cli.js) with Dawn's limit warnings filtered out of
// its stderr (bin/dawn-filter.js). In a checkout it builds dist/ first when dist/ is missing or older than a source
// file, so `npm run web` and `npx onestep …` run what the sources say; an installed package ships dist/ without them.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { relaunchWithFilteredStderr } from './dawn-filter.js';

await relaunchWithFilteredStderr(import.meta.url);

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist', 'cli.js');

/** Newest modification time of the files dist/ is built from; 0 in an installed package, which ships dist/ only. */
function newestSource() {
  if (!existsSync(join(root, 'engine'))) return 0;
  const files = ['scripts/build.mjs', 'scripts/browser-bundle.mjs'];
  for (const dir of ['engine', 'kernels', 'models', 'cli', 'web']) files.push(...readdirSync(join(root, dir), { recursive: true }).map((f) => join(dir, f)));
  return Math.max(...files.map((f) => statSync(join(root, f)).mtimeMs));
}

if (!existsSync(cli) || newestSource() > statSync(cli).mtimeMs) {
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs'), '--quiet', '--no-types'], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
const { main } = await import(cli);
process.exitCode = await main(process.argv.slice(2));
