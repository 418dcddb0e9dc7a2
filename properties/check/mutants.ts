// The known-bug catalog against the suite (DESIGN §8, §10 `popek mutants`): switch each
// bug on, run the campaign until the first counterexample, and record what caught it.

import { Worker } from 'node:worker_threads';
import { runCampaign, type CampaignResult } from './campaign.ts';

export interface MutantResult {
  bug: string;
  engine: string;
  caught: boolean;
  property?: string;
  /** Runs to the first failure (or all runs when not caught). */
  runs: number;
  seconds: number;
  /** Instructions in the shrunk counterexample's body. */
  instructions?: number;
  source?: string;
  divergence?: string;
  /** The campaign's failure, as `popek check` reports it. */
  failure?: CampaignResult['failure'];
}

export interface MutantOptions {
  seed: number;
  maxRuns: number;
  /** Bugs checked at once, each on its own worker thread (its campaign runs in that thread); default 1, in this thread. */
  workers?: number;
  onBug?: (bug: string, engine: string) => void;
}

export async function runMutant(bug: string, engine: string, o: MutantOptions): Promise<MutantResult> {
  const r = await runCampaign({ engine, bugs: [bug], runs: o.maxRuns, seed: o.seed, workers: 1 });
  const f = r.failure;
  if (!f) return { bug, engine, caught: false, runs: r.runs, seconds: r.seconds };
  return {
    bug,
    engine,
    caught: true,
    property: f.property,
    runs: r.runs,
    seconds: r.seconds,
    instructions: f.instructions,
    source: f.source,
    divergence: f.divergence,
    failure: f,
  };
}

/** What a worker thread is asked (worker.ts): one bug's campaign. */
export interface MutantJob {
  mutant: { bug: string; engine: string; seed: number; maxRuns: number };
}

/**
 * Every bug of `catalog` on each of its engines, in catalog order. With `workers` > 1 the
 * bugs are handed out in that order to worker threads and the results put back in it:
 * each campaign is the same whichever thread runs it (seeded), so the results are too,
 * but for their seconds.
 */
export async function runMutants(
  catalog: Readonly<Record<string, { engines: readonly string[] }>>,
  o: MutantOptions,
): Promise<MutantResult[]> {
  const jobs = Object.entries(catalog).flatMap(([bug, { engines }]) => engines.map((engine) => ({ bug, engine })));
  const workers = Math.min(o.workers ?? 1, jobs.length);
  const out: MutantResult[] = [];
  if (workers <= 1) {
    for (const { bug, engine } of jobs) {
      o.onBug?.(bug, engine);
      out.push(await runMutant(bug, engine, o));
    }
    return out;
  }
  const entry = new URL('./worker-entry.mjs', import.meta.url);
  const pool = Array.from({ length: workers }, () => new Worker(entry));
  let next = 0;
  try {
    await Promise.all(
      pool.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            let at = -1;
            const feed = () => {
              if (next >= jobs.length) return resolve();
              at = next++;
              const { bug, engine } = jobs[at]!;
              o.onBug?.(bug, engine);
              const job: MutantJob = { mutant: { bug, engine, seed: o.seed, maxRuns: o.maxRuns } };
              w.postMessage(job);
            };
            w.on('message', (r: MutantResult) => {
              out[at] = r;
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
  return out;
}

export function formatMutants(rs: readonly MutantResult[]): string {
  const w = Math.max(3, ...rs.map((r) => r.bug.length));
  const head = `${'bug'.padEnd(w)}  ${'engine'.padEnd(12)}  ${'caught'.padEnd(6)}  ${'property'.padEnd(12)}  ${'runs'.padStart(5)}  ${'seconds'.padStart(7)}  shrunk size`;
  const rows = rs.map(
    (r) =>
      `${r.bug.padEnd(w)}  ${r.engine.padEnd(12)}  ${(r.caught ? 'yes' : 'NO').padEnd(6)}  ${(r.property ?? '-').padEnd(12)}  ${String(r.runs).padStart(5)}  ${r.seconds.toFixed(2).padStart(7)}  ${r.instructions === undefined ? '-' : `${r.instructions} instructions`}`,
  );
  const missed = rs.filter((r) => !r.caught).length;
  return [head, ...rows, '', missed === 0 ? `all ${rs.length} bugs caught` : `${missed} of ${rs.length} bugs NOT caught`].join('\n');
}
