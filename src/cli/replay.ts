// `popek replay FILE.json` (DESIGN §10): re-run a saved counterexample and show the
// side-by-side divergence — or say that the engine now agrees with the spec.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { isReplayFile } from '../../properties/check/replay-file.ts';
import { divergenceOf } from '../../properties/check/suite.ts';
import { parseEvents } from './events-file.ts';
import { engineFactory } from './engines.ts';
import { UsageError } from './usage.ts';

export const REPLAY_HELP = `usage: popek replay FILE.json

Re-run a counterexample written by popek check: its assembly, events, RAM size and
budget, on the same engine with the same bugs switched on, in lockstep with the spec.
Exit 1 if it still diverges, 0 if the engine now agrees.`;

export function replayCommand(args: string[], out: (s: string) => void): number {
  const { values, positionals } = parseArgs({
    args,
    options: { help: { type: 'boolean', short: 'h', default: false } },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    out(REPLAY_HELP + '\n');
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('replay: expected one FILE.json (see popek replay --help)');
  const path = positionals[0]!;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UsageError(`cannot read replay file '${path}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (!isReplayFile(json)) throw new UsageError(`${path}: not a popek counterexample file`);
  engineFactory(json.engine);
  const events = parseEvents(json.events, path);
  const bugs = json.bugs.length ? ` with --bug ${json.bugs.join(',')}` : '';
  out(
    `${json.property} on ${json.engine}${bugs}, ${json.instructions} instructions (fast-check seed ${json.seed}, path ${json.path || '-'})\n\n`,
  );
  out(json.source.trimEnd() + '\n\n');
  const divergence = divergenceOf(
    json.source,
    { events, ramBytes: json.ramBytes, maxSteps: json.maxSteps },
    json.engine,
    json.bugs,
    json.forcedEmulation === true,
  );
  out((divergence ?? `equivalent: ${json.engine} now agrees with the spec on this case`) + '\n');
  return divergence ? 1 : 0;
}
