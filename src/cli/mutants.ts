// `popek mutants [--json]` (DESIGN §10): the known-bug catalog against the suite — caught
// or not, by which property, runs and seconds to the first failure, shrunk size.
// Exit 1 if any bug escapes.

import { formatMutants, runMutants } from '../../properties/check/mutants.ts';
import { BUG_CATALOG } from '../engines/registry.ts';
import { DEFAULT_SEED, parseSeed } from './check.ts';
import { defaultWorkers } from '../../properties/check/campaign.ts';
import { parseCommand } from './options.ts';
import { UsageError, parseCount } from './usage.ts';

/** As `popek check --workers`. */
const MAX_WORKERS = 256;

export const MUTANTS_HELP = `usage: popek mutants [--bug B]... [--runs N] [--seed S] [--workers N] [--json]

Switch on each bug of the known-bug catalog (popek check --list-bugs) in turn and run
the property suite until it finds a counterexample. Prints, per bug: caught or not, by
which property, runs and seconds to the first failure, and the shrunk size.
Exit 1 if any bug is not caught within --runs runs.
  --bug B      only this bug (repeatable)
  --runs N     the most runs per bug (default: 2000)
  --seed S     campaign seed (default: ${DEFAULT_SEED})
  --workers N  bugs checked at once, each on a worker thread, 1 to ${MAX_WORKERS} (default: all
               cores); the results do not depend on it, only the seconds do
  --json       the results as JSON, with each counterexample's assembly and divergence`;

export const MUTANTS_OPTIONS = {
  bug: { type: 'string', multiple: true },
  runs: { type: 'string', default: '2000' },
  seed: { type: 'string', default: String(DEFAULT_SEED) },
  workers: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

export async function mutantsCommand(args: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseCommand('mutants', args, MUTANTS_OPTIONS);
  if (positionals.length > 0) throw new UsageError(`mutants: unexpected argument '${positionals[0]}' (see popek mutants --help)`);
  if (values.help) {
    out(MUTANTS_HELP + '\n');
    return 0;
  }
  const names = values.bug ?? Object.keys(BUG_CATALOG);
  for (const b of names) if (!BUG_CATALOG[b]) throw new UsageError(`unknown bug '${b}' (popek check --list-bugs)`);
  const catalog = Object.fromEntries(names.map((b) => [b, BUG_CATALOG[b]!]));
  const results = await runMutants(catalog, {
    seed: parseSeed(values.seed),
    maxRuns: parseCount(values.runs, '--runs', 1, 1_000_000_000),
    workers: values.workers === undefined ? defaultWorkers() : parseCount(values.workers, '--workers', 1, MAX_WORKERS),
    onBug: (bug, engine) => process.stderr.write(`mutants: ${bug} on ${engine}...\n`),
  });
  out(values.json ? JSON.stringify(results, null, 2) + '\n' : formatMutants(results) + '\n');
  return results.every((r) => r.caught) ? 0 : 1;
}
