// scripts/browser-bundle.mjs: bundles a TypeScript entry into one browser ES module with esbuild, Node-only modules
// replaced by stubs. Plain JavaScript so that scripts/build.mjs (the page in dist/web/) and scripts/browser.ts (tests,
// bench) share it.
import { build } from 'esbuild';

/** Node-only modules replaced in browser bundles: atomic file writes throw a clear error there. */
export const browserStubs = {
  name: 'onestep-browser-stubs',
  setup(b) {
    b.onResolve({ filter: /\/atomic$/ }, () => ({ path: 'atomic-stub', namespace: 'stub' }));
    b.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({
      contents: `export function writeFileAtomic() { throw new Error('writeFileAtomic is Node-only: in the browser, download the bytes instead'); }
                 export function sha256Hex() { throw new Error('sha256Hex is Node-only'); }`,
      loader: 'js',
    }));
  },
};

/** Bundles `entry` (relative to `root`) into one browser ES module (string). */
export async function bundleForBrowser(entry, root) {
  const r = await build({
    absWorkingDir: root,
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'chrome120',
    write: false,
    external: ['webgpu', 'node:*'],
    plugins: [browserStubs],
    logLevel: 'error',
  });
  return r.outputFiles[0].text;
}
