// scripts/test.mjs: `npm test` — builds dist/ (the consumer test imports it), runs the whole vitest suite on lavapipe
// (plus its SwiftShader and headless-Chromium files), and ends with the line `N passed, N failed`.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { relaunchWithFilteredStderr } from '../bin/dawn-filter.js';

await relaunchWithFilteredStderr(import.meta.url); // Dawn's limit warnings, printed by every test process, are noise

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const report = join(root, '.vitest-report.json');
const summaryFile = join(root, '.test-summary');
rmSync(report, { force: true });
rmSync(summaryFile, { force: true });

const build = spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs'), '--quiet'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) {
  writeFileSync(summaryFile, '0 passed, 1 failed\n');
  console.log('build failed\n0 passed, 1 failed');
  process.exit(1);
}

const env = { ...process.env };
if (!env.ONESTEP_ADAPTER && existsSync('/usr/share/vulkan/icd.d/lvp_icd.json')) env.ONESTEP_ADAPTER = 'lavapipe';
const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs');
const t0 = performance.now();
const r = spawnSync(process.execPath, [vitest, 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)], { cwd: root, stdio: 'inherit', env });
const secs = ((performance.now() - t0) / 1000).toFixed(0);

let passed = 0, failed = 0;
if (existsSync(report)) {
  const j = JSON.parse(readFileSync(report, 'utf8'));
  passed = j.numPassedTests;
  // a file that crashed before running its tests fails without failed assertions: count it once
  const crashedFiles = j.testResults.filter((f) => f.status === 'failed' && !f.assertionResults.some((a) => a.status === 'failed')).length;
  failed = j.numFailedTests + crashedFiles + (j.numTotalTests === 0 ? 1 : 0);
  // skipped or todo tests are defects here: report them as failures, not as a green run
  failed += (j.numPendingTests ?? 0) + (j.numTodoTests ?? 0);
} else failed = 1;
if (r.status !== 0 && failed === 0) failed = 1; // vitest failed outside any test (startup, unhandled error)
const line = `${passed} passed, ${failed} failed`;
writeFileSync(summaryFile, `${line}\n`);
console.log(`\nadapter ${env.ONESTEP_ADAPTER ?? 'auto'}, ${secs} s`);
console.log(line);
process.exit(failed > 0 ? 1 : 0);
