// The known-bug catalog against the suite (DESIGN §8, §10 `popek mutants`): switch each
// bug on, run the campaign until the first counterexample, and record what caught it.

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
  workers?: number;
  onBug?: (bug: string, engine: string) => void;
}

export async function runMutant(bug: string, engine: string, o: MutantOptions): Promise<MutantResult> {
  const r = await runCampaign({ engine, bugs: [bug], runs: o.maxRuns, seed: o.seed, workers: o.workers ?? 1 });
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

export async function runMutants(
  catalog: Readonly<Record<string, { engines: readonly string[] }>>,
  o: MutantOptions,
): Promise<MutantResult[]> {
  const out: MutantResult[] = [];
  for (const [bug, { engines }] of Object.entries(catalog)) {
    for (const engine of engines) {
      o.onBug?.(bug, engine);
      out.push(await runMutant(bug, engine, o));
    }
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
