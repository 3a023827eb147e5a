// test/web-command.ts: runs the web page's server the way users start it (`npm run web -- --port P`, `npx onestep web
// --port P`) as a child process, waits for the line that says where it serves, and stops it with its whole process
// group (npm, its shell, onestep and onestep's filtered child).
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';

export interface RunningWeb {
  url: string;
  port: number;
  /** Everything it printed so far, stdout and stderr. */
  output(): string;
  stop(): Promise<void>;
}

/** A port nothing listens on right now (the OS's pick, released again). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export function startWeb(command: string, args: string[], opts: { cwd: string; timeoutMs?: number; env?: NodeJS.ProcessEnv }): Promise<RunningWeb> {
  const child = spawn(command, args, { cwd: opts.cwd, env: opts.env ?? process.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let exited = false;
  const closed = new Promise<void>((r) => child.once('close', () => ((exited = true), r())));
  const stop = async () => {
    if (exited) return;
    process.kill(-child.pid!, 'SIGTERM');
    const late = setTimeout(() => !exited && process.kill(-child.pid!, 'SIGKILL'), 10_000);
    await closed;
    clearTimeout(late);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => void stop().then(() => reject(new Error(`${command} ${args.join(' ')} printed no "serving" line in ${opts.timeoutMs ?? 90_000} ms:\n${out}`))), opts.timeoutMs ?? 90_000);
    const seen = (b: Buffer) => {
      out += b.toString();
      const m = /serving (http:\/\/127\.0\.0\.1:(\d+))\//.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1], port: Number(m[2]), output: () => out, stop });
      }
    };
    child.stdout.on('data', seen);
    child.stderr.on('data', seen);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${command} ${args.join(' ')} exited (${code ?? signal}) before serving:\n${out}`));
    });
  });
}
