// scripts/browser.ts: headless Chromium with WebGPU for tests and the bench: bundles an entry for the browser
// (scripts/browser-bundle.mjs), serves it on 127.0.0.1 (WebGPU needs a secure context), and launches Debian's
// chromium through puppeteer-core.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

/** Chromium flags that give headless WebGPU on SwiftShader (no GPU on these machines). */
export const WEBGPU_FLAGS = [
  '--enable-unsafe-webgpu',
  '--use-webgpu-adapter=swiftshader',
  '--enable-unsafe-swiftshader',
  '--no-sandbox',
  '--disable-gpu-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

export function chromiumPath(): string {
  const candidates = [process.env.CHROME_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].filter(Boolean) as string[];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`no Chromium found (tried ${candidates.join(', ')}); run bash scripts/setup.sh or set CHROME_PATH`);
  return found;
}

export { browserStubs, bundleForBrowser } from './browser-bundle.mjs';

/** Serves fixed in-memory files on 127.0.0.1 at a free port. */
export async function serveFiles(files: Record<string, { body: string | Uint8Array; type: string }>): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const f = files[path];
    if (path === '/favicon.ico' && !f) {
      res.writeHead(204).end();
      return;
    }
    if (!f) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': f.type, 'cache-control': 'no-store' }).end(f.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, server };
}

/**
 * Launches headless Chromium with WebGPU (or without, for the error-path tests). A waitForFunction is one protocol call
 * that lasts until its predicate holds, so the protocol timeout (puppeteer's 180 s) must exceed the longest wait a
 * caller asks for (the MNIST page's teacher panel takes minutes on SwiftShader); each wait keeps its own timeout.
 */
export async function launchChromium(opts: { webgpu?: boolean; args?: readonly string[] } = {}) {
  const puppeteer = (await import('puppeteer-core')).default;
  const flags = opts.webgpu === false ? WEBGPU_FLAGS.filter((f) => !f.includes('webgpu') && !f.includes('swiftshader')).concat('--disable-features=WebGPU') : WEBGPU_FLAGS;
  const userDataDir = mkdtempSync(join(tmpdir(), 'onestep-chrome-'));
  const browser = await puppeteer.launch({ executablePath: chromiumPath(), headless: true, args: [...flags, ...(opts.args ?? [])], protocolTimeout: 900_000, userDataDir });
  const close = browser.close.bind(browser);
  // puppeteer leaves a profile folder it was handed (118 had piled up in /tmp), so close() removes it; and a browser
  // that has not exited CLOSE_GRACE_MS after close() is killed rather than left to hang the caller
  browser.close = async () => {
    const proc = browser.process();
    const exited = proc && proc.exitCode === null ? new Promise<void>((r) => proc.once('exit', () => r())) : Promise.resolve();
    const grace = new Promise<void>((r) => setTimeout(r, CLOSE_GRACE_MS).unref());
    try {
      await Promise.race([close().catch(() => {}), grace]);
      if (proc && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    } finally {
      rmSync(userDataDir, { recursive: true, force: true });
    }
  };
  return browser;
}

/** How long a closing browser may take before it is killed. */
const CLOSE_GRACE_MS = 3000;
