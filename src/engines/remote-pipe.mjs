// The I/O thread of one engine process (remote.ts): spawns it, writes the request lines
// the caller posts, and posts back every line the process writes, its exit and its
// stderr. The caller blocks on `flag` (Atomics.wait) and reads the port synchronously,
// so the Engine interface stays synchronous while pipe I/O stays asynchronous here.
// Plain JavaScript: a thread started per engine process should not pay for a loader.

import { spawn } from 'node:child_process';
import { workerData } from 'node:worker_threads';

/** @type {{ argv: string[], port: import('node:worker_threads').MessagePort, flag: Int32Array, stderr: Uint8Array }} */
const { argv, port, flag, stderr } = workerData;

/** Wake the caller: a message is waiting on its port. */
function post(message) {
  port.postMessage(message);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
}

// The last bytes of the engine's stderr, kept where the caller can read them at any time
// (flag[1] holds their length) to put into the report of a crash or a hang.
let tail = Buffer.alloc(0);
function keepStderr(chunk) {
  tail = Buffer.concat([tail, chunk]);
  if (tail.length > stderr.length) tail = tail.subarray(tail.length - stderr.length);
  stderr.set(tail);
  Atomics.store(flag, 1, tail.length);
}

const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
let pending = '';
child.stdout.setEncoding('utf8');
child.stdout.on('data', (text) => {
  pending += text;
  let nl;
  while ((nl = pending.indexOf('\n')) >= 0) {
    post({ kind: 'line', line: pending.slice(0, nl) });
    pending = pending.slice(nl + 1);
  }
});
child.stderr.on('data', keepStderr);
// A write to a process that died is reported by its exit, not by an EPIPE here.
child.stdin.on('error', () => {});
child.on('error', (e) => {
  post({ kind: 'exit', why: `could not be started: ${e.message}` });
  port.close();
});
child.on('exit', (code, signal) => {
  const rest = pending.length > 0 ? ` after writing an unterminated line '${pending.slice(0, 120)}'` : '';
  post({ kind: 'exit', why: (signal ? `was killed by ${signal}` : `exited with code ${code}`) + rest });
  port.close();
});

port.on('message', (m) => {
  if (m.kind === 'send') child.stdin.write(m.line + '\n');
  else if (m.kind === 'kill') {
    child.kill('SIGKILL');
    port.close();
  }
});
