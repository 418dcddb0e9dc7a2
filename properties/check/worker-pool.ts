// Campaign chunks on worker threads (campaign.ts; qemu-campaign.ts): chunks are handed out
// in order, and after a failure in chunk f nothing above f is handed out, so the failure
// reported is the lowest failing chunk's whatever the number of workers.

import { Worker } from 'node:worker_threads';

/** `entry` is the worker's module; it answers each job with one outcome carrying its chunk `k`. */
export async function runOnWorkers<C extends { k: number }, J, R extends { k: number; failure?: unknown }>(
  entry: URL,
  n: number,
  chunks: readonly C[],
  job: (chunk: C) => J,
  record: (r: R) => void,
): Promise<void> {
  let next = 0;
  let lowestFailure = Infinity;
  const pool = Array.from({ length: n }, () => new Worker(entry));
  try {
    await Promise.all(
      pool.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            const feed = () => {
              const c = chunks[next];
              if (c === undefined || c.k > lowestFailure) return resolve();
              next++;
              w.postMessage(job(c));
            };
            w.on('message', (r: R) => {
              record(r);
              if (r.failure) lowestFailure = Math.min(lowestFailure, r.k);
              feed();
            });
            w.on('error', reject);
            feed();
          }),
      ),
    );
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
}
