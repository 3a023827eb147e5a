#!/usr/bin/env node
// bin/onestep.js: runs the built CLI (dist/cli.js); builds it first when running from a fresh checkout. Dawn's limit
// warnings are filtered out of its stderr (bin/dawn-filter.js).
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { relaunchWithFilteredStderr } from './dawn-filter.js';

await relaunchWithFilteredStderr(import.meta.url);

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist', 'cli.js');
if (!existsSync(cli)) {
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs'), '--quiet'], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
const { main } = await import(cli);
process.exitCode = await main(process.argv.slice(2));
