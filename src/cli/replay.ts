// `popek replay FILE.json` (DESIGN §10): re-run a saved counterexample and show the
// side-by-side divergence — or say that the engine now agrees with the spec.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { isReplayFile } from '../../properties/check/replay-file.ts';
import { divergenceOf } from '../../properties/check/suite.ts';
import { parseEvents } from './events-file.ts';
import { DEFAULT_TIMEOUT_MS, EngineHung, guarded } from '../engines/guard.ts';
import { isPlugin, resolveEngine } from './engines.ts';
import { UsageError, parseCount } from './usage.ts';

export const REPLAY_HELP = `usage: popek replay FILE.json [--timeout-ms N]

Re-run a counterexample written by popek check: its assembly, events, RAM size and
budget, on the same engine with the same bugs switched on, in lockstep with the spec.
A plugin engine that does not return within --timeout-ms (default ${DEFAULT_TIMEOUT_MS})
is stopped and reported. Exit 1 if it still diverges, 0 if the engine now agrees.`;

export async function replayCommand(args: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      help: { type: 'boolean', short: 'h', default: false },
      'timeout-ms': { type: 'string', default: String(DEFAULT_TIMEOUT_MS) },
    },
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
  const timeoutMs = parseCount(values['timeout-ms'], '--timeout-ms', 1);
  const engine = await resolveEngine(json.engine, timeoutMs);
  const events = parseEvents(json.events, path);
  const bugs = json.bugs.length ? ` with --bug ${json.bugs.join(',')}` : '';
  out(
    `${json.property} on ${json.engine}${bugs}, ${json.instructions} instructions (fast-check seed ${json.seed}, path ${json.path || '-'})\n\n`,
  );
  out(json.source.trimEnd() + '\n\n');
  const c = { source: json.source, events, ramBytes: json.ramBytes, maxSteps: json.maxSteps };
  const run = () => divergenceOf(json.source, c, engine, json.bugs);
  let divergence: string | undefined;
  try {
    divergence = isPlugin(engine) ? guarded(run, timeoutMs) : run();
  } catch (e) {
    if (!(e instanceof EngineHung)) throw e;
    divergence = e.message; // a hang replays as the hang it was
  }
  out((divergence ?? `equivalent: ${json.engine} now agrees with the spec on this case`) + '\n');
  return divergence ? 1 : 0;
}
