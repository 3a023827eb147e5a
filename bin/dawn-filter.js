// bin/dawn-filter.js: keeps Dawn's two limit warnings off the terminal. Dawn prints them from native code (fprintf to
// fd 2, no toggle or log callback in the `webgpu` package) each time it opens a Vulkan adapter whose driver reports
// more dynamic buffers than Dawn uses ("Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced …",
// lavapipe, RADV), so a Node process cannot silence them itself: the command re-runs itself as a child process and
// passes the child's stderr through, minus exactly those lines. Every other byte, Dawn's or ours, goes through as is.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** What Dawn writes for each of the two limits, ending its line (a progress line may precede it on the same line). */
export const DAWN_LIMIT_WARNING = /Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.\r?$/;
const PREFIX = 'Warning: maxDynamic';

/**
 * A stream filter: `push(text)` returns what may be written now. Everything is written at once (progress lines
 * rewrite themselves with \r and never end) except a tail that could still become a warning, held until it is one.
 */
export function dawnLineFilter() {
  let held = '';
  return {
    push(text) {
      const lines = (held + text).split('\n');
      const tail = lines.pop();
      let out = lines.map((l) => {
        const m = DAWN_LIMIT_WARNING.exec(l);
        return m ? l.slice(0, m.index) : `${l}\n`; // the warning goes with its newline; what came before it stays
      }).join('');
      let i = tail.indexOf('W');
      while (i >= 0 && !(tail.startsWith(PREFIX, i) || PREFIX.startsWith(tail.slice(i)))) i = tail.indexOf('W', i + 1);
      if (i < 0) i = tail.length;
      out += tail.slice(0, i);
      held = tail.slice(i);
      return out;
    },
    /** What is left at the end of the stream. */
    end() {
      const m = DAWN_LIMIT_WARNING.exec(held);
      return m ? held.slice(0, m.index) : held;
    },
  };
}

// The child learns from these who its parent is and whether the parent's stderr is a terminal; it deletes them so
// that its own children (the bench's Node backend) do not take them for theirs.
const PARENT = 'ONESTEP_FILTER_PARENT', TTY = 'ONESTEP_FILTER_STDERR_TTY';

/**
 * Call first in a command's entry script. In the command's own process it runs the same script (with the same
 * arguments) as a child whose stderr it filters, forwards Ctrl-C and kill signals, and exits as the child exits;
 * it never returns there. In the child it returns: stderr counts as a terminal when the parent's is one (progress
 * lines redraw in place), and the child kills itself within 0.2 s once its parent is gone (kill -9 of the command).
 */
export async function relaunchWithFilteredStderr(scriptUrl) {
  const parent = Number(process.env[PARENT]);
  if (parent) {
    if (process.env[TTY] === '1') process.stderr.isTTY = true;
    delete process.env[PARENT];
    delete process.env[TTY];
    setInterval(() => process.ppid !== parent && process.kill(process.pid, 'SIGKILL'), 200).unref();
    return;
  }
  const env = { ...process.env, [PARENT]: String(process.pid), [TTY]: process.stderr.isTTY ? '1' : '0' };
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(scriptUrl), ...process.argv.slice(2)], { stdio: ['inherit', 'inherit', 'pipe'], env });
  const filter = dawnLineFilter();
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s) => process.stderr.write(filter.push(s)));
  const forward = (sig) => child.kill(sig);
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const sig of signals) process.on(sig, forward);
  process.stderr.on('error', () => {}); // a closed pipe downstream (| head) must not take the parent down first
  const [code, signal] = await new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c, s) => resolve([c, s]));
  });
  process.stderr.write(filter.end());
  for (const sig of signals) process.off(sig, forward);
  if (signal) process.kill(process.pid, signal); // die the way the child died, so callers see the same signal
  process.exit(code ?? 1);
}
