// `popek replay FILE.json` (DESIGN §10): re-run a saved counterexample and show the
// divergence — or say that the engine now agrees with the spec. The engine, bugs, RAM,
// budget and events come from the file; each flag overrides one of them (to try a fix:
// `--engine` another engine, `--bug` another bug set).

import { readFileSync } from 'node:fs';
import { splitCase } from '../../properties/check/counterexample.ts';
import { isReplayFile } from '../../properties/check/replay-file.ts';
import { PROPERTIES, appliesTo, divergenceOf } from '../../properties/check/suite.ts';
import { checkEventsFit, parseEvents, readEventsFile } from './events-file.ts';
import { DEFAULT_TIMEOUT_MS, EngineHung, guarded } from '../engines/guard.ts';
import { isPlugin, resolveEngine } from './engines.ts';
import { qemuReplay } from './qemu-check.ts';
import { parseCommand } from './options.ts';
import { checkBugs } from './run.ts';
import { UsageError, parseCount, parseSize } from './usage.ts';

export const REPLAY_HELP = `usage: popek replay FILE.json [--engine E] [--bug B]... [--ram SIZE] [--max-steps N] [--events FILE.json] [--verbose]

Re-run a counterexample saved by popek check: its assembly, events, RAM size and budget,
on the same engine with the same bugs switched on, against the same property (for
equivalence: in lockstep with the spec).
  --engine E        run it on another engine
  --bug B           switch on these bugs instead of the file's (repeatable)
  --ram SIZE        another RAM size (bytes or with K/M/G, a multiple of 4096)
  --max-steps N     another step budget
  --events FILE     another schedule of host events
  --timeout-ms N    how long a plugin engine may take over the case (default: ${DEFAULT_TIMEOUT_MS})
  --verbose         print the whole program and every field of both observations
Exit 1 if it still fails, 0 if the engine now agrees.`;

export const REPLAY_OPTIONS = {
  engine: { type: 'string' },
  bug: { type: 'string', multiple: true },
  ram: { type: 'string' },
  'max-steps': { type: 'string' },
  events: { type: 'string' },
  'timeout-ms': { type: 'string', default: String(DEFAULT_TIMEOUT_MS) },
  verbose: { type: 'boolean', short: 'v', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

export async function replayCommand(args: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseCommand('replay', args, REPLAY_OPTIONS);
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
  if ((values.engine ?? json.engine) === 'qemu') return qemuReplay(json, values.bug ?? json.bugs, out);
  const engine = await resolveEngine(values.engine ?? json.engine, timeoutMs);
  const property = PROPERTIES.find((p) => p.name === json.property);
  if (!property) throw new UsageError(`${path}: unknown property '${json.property}' (one of ${PROPERTIES.map((p) => p.name).join(', ')})`);
  if (!appliesTo(property, engine))
    throw new UsageError(`property '${property.name}' is about ${property.engines!.join(', ')}, not ${engine}`);
  const bugs = values.bug ?? json.bugs;
  checkBugs(engine, bugs);
  const ramBytes = values.ram === undefined ? json.ramBytes : parseSize(values.ram, '--ram', 4096, 0xfee00000);
  if (ramBytes % 4096 !== 0) throw new UsageError(`--ram: ${values.ram} is not a multiple of 4096`);
  const maxSteps = values['max-steps'] === undefined ? json.maxSteps : parseCount(values['max-steps'], '--max-steps');
  const events = values.events === undefined ? parseEvents(json.events, path) : readEventsFile(values.events);
  checkEventsFit(events, ramBytes, values.events ?? path);
  const withBugs = bugs.length ? ` with --bug ${bugs.join(' --bug ')}` : '';
  out(
    `${json.property} on ${engine}${withBugs}, ${json.instructions} body instructions (fast-check seed ${json.seed}, path ${json.path || '-'})\n\n`,
  );
  if (values.verbose) out(json.source.trimEnd() + '\n\n');
  else out((splitCase(json.source)?.body.join('\n') ?? json.source.trimEnd()) + '\n\n');
  const c = { source: json.source, events, ramBytes, maxSteps, forcedEmulation: json.forcedEmulation === true };
  // A plugin runs guarded; a hang replays as the hang it was (DESIGN §10).
  const guard = (run: () => string | undefined): string | undefined => {
    try {
      return isPlugin(engine) ? guarded(run, timeoutMs) : run();
    } catch (e) {
      if (!(e instanceof EngineHung)) throw e;
      return e.message;
    }
  };
  if (property.name === 'equivalence') {
    const divergence = guard(() => divergenceOf(json.source, c, engine, bugs, { brief: !values.verbose }));
    out((divergence ?? `equivalent: ${engine} now agrees with the spec on this case`) + '\n');
    return divergence ? 1 : 0;
  }
  const failure = guard(() => property.check(c, engine, bugs));
  out((failure ?? `holds: ${property.name} now holds for ${engine} on this case`) + '\n');
  return failure === undefined ? 0 : 1;
}
