// bench/page-ttq.ts: the page's time to quality as a user gets it: serves the built page (npm run build first), opens it
// in headless Chromium on SwiftShader, presses Start with the default settings (the data set's recipe) and waits for
// the page's TTQ element (data-testid=ttq) to fill, printing each evaluation on the way: training seconds, step, the
// metric and the near-mode fraction beside the teacher's.
// Run: npx esbuild bench/page-ttq.ts --bundle --platform=node --format=esm --external:webgpu --external:puppeteer-core \
//        --outfile=/tmp/page-ttq.mjs && node /tmp/page-ttq.mjs [--data 8gaussians] [--limit 600 (seconds of waiting)]
// (An outfile outside the repo finds its packages through a node_modules beside it, e.g. ln -s <repo>/node_modules /tmp/.)
import { launchChromium } from '../scripts/browser';
import { startServer } from '../web/server';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const DATA = arg('data', '8gaussians');
const LIMIT_S = Number(arg('limit', '600'));

// the repository root (run from it, as the other bench scripts are): its dist/web and zoo
const server = await startServer({ port: 0, quiet: true, root: process.cwd() });
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error(`page error: ${String(e)}`));
  await page.goto(`http://127.0.0.1:${server.port}/`);
  const ready = () => page.waitForFunction(() => !(document.querySelector('[data-testid=start]') as HTMLButtonElement).disabled, { timeout: 600_000, polling: 500 });
  await ready();
  if (DATA !== '8gaussians') {
    await page.select('#dataset', DATA);
    await new Promise((r) => setTimeout(r, 1000));
    await ready();
  }
  const text = (id: string) => page.$eval(`[data-testid=${id}]`, (e) => e.textContent ?? '');
  const adapter = await page.$eval('#adapter', (e) => e.textContent ?? '');
  console.log(`page-ttq: ${DATA} on ${adapter}; teacher's quality figure ${await text('teacher-quality')}`);
  await page.click('[data-testid=start]');
  const t0 = Date.now();
  let last = '';
  while (Date.now() - t0 < LIMIT_S * 1000) {
    await new Promise((r) => setTimeout(r, 2000));
    const [ttq, step, metric, q, note] = await Promise.all([text('ttq'), text('step'), text('metric'), text('gen-quality'), page.$eval('#ttq-note', (e) => e.textContent ?? '')]);
    const line = `step ${step}: metric ${metric}, quality ${q} ${ttq ? `TTQ ${ttq} ${note}` : note}`; // the note reads "s, at step N"
    if (line !== last) console.log(`  ${((Date.now() - t0) / 1000).toFixed(0)} s wall: ${line}`);
    last = line;
    if (ttq) {
      console.log(`page-ttq: ${DATA} reached the teacher after ${ttq} ${note} of training; ${adapter}`);
      break;
    }
  }
  if (!(await text('ttq'))) console.log(`page-ttq: ${DATA} did not reach the teacher in ${LIMIT_S} s of waiting`);
} finally {
  await browser.close();
  await server.close();
}
