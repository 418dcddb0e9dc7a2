// `popek run FILE.s [--engine E] [--ram SIZE] [--max-steps N] [--events FILE.json] [--json]`
// (DESIGN §10): stdout is the guest console, or with --json the observation and counters.

import { parseArgs } from 'node:util';
import { commandEngine, guardedRun, isPlugin, makeEngine, resolveEngine } from './engines.ts';
import { DEFAULT_TIMEOUT_MS } from '../engines/guard.ts';
import { readEventsFile } from './events-file.ts';
import { observationJson } from '../../properties/observation-json.ts';
import { assembleFile } from './source.ts';
import { EngineCrash, UsageError, parseCount, parseSize } from './usage.ts';

export const RUN_HELP = `usage: popek run FILE.s [--engine E] [--ram SIZE] [--max-steps N] [--events FILE.json] [--json]

Assemble FILE.s and run it. stdout is the guest console (bytes written to port 0xE9).
  --engine E        engine to run on (default: spec), or the path of a plugin module (./my-vmm.ts)
  --engine-cmd CMD  run on a process speaking the engine protocol (docs/engine-protocol.md)
  --ram SIZE        guest RAM: bytes or with K/M/G, a multiple of 4096 (default: 1M)
  --max-steps N     budget of steps: retired instructions and entered handlers (default: 1000000)
  --events FILE     a JSON array of host events, e.g. [{"at": 10, "kind": "irq", "vector": 32}]
  --timeout-ms N    how long a plugin engine may take over the run (default: ${DEFAULT_TIMEOUT_MS})
  --json            print the observation (DESIGN §2) and counters as one JSON object
Exit 0 whenever the guest ran, whatever it did.`;

/** Options shared by every command that runs a program. */
export const RUN_OPTIONS = {
  engine: { type: 'string', default: 'spec' },
  'engine-cmd': { type: 'string' },
  ram: { type: 'string', default: '1M' },
  'max-steps': { type: 'string', default: '1000000' },
  events: { type: 'string' },
  json: { type: 'boolean', default: false },
  'timeout-ms': { type: 'string', default: String(DEFAULT_TIMEOUT_MS) },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

export interface RunSetup {
  file: string;
  ramBytes: number;
  maxSteps: number;
  events: ReturnType<typeof readEventsFile>;
}

export function runSetup(
  values: { ram: string; 'max-steps': string; events?: string | undefined },
  positionals: string[],
  command: string,
): RunSetup {
  if (positionals.length !== 1) throw new UsageError(`${command}: expected one FILE.s (see popek ${command} --help)`);
  const ramBytes = parseSize(values.ram, '--ram');
  if (ramBytes === 0 || ramBytes % 4096 !== 0) throw new UsageError(`--ram: ${values.ram} is not a positive multiple of 4096`);
  // DESIGN §3.2: RAM lies below the MMIO window.
  if (ramBytes > 0xfee00000) throw new UsageError(`--ram: ${values.ram} would overlap the MMIO window at 0xFEE00000`);
  return {
    file: positionals[0]!,
    ramBytes,
    maxSteps: parseCount(values['max-steps'], '--max-steps'),
    events: values.events === undefined ? [] : readEventsFile(values.events),
  };
}

export async function runCommand(args: string[], out: (s: string | Uint8Array) => void): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: RUN_OPTIONS, allowPositionals: true, strict: true });
  if (values.help) {
    out(RUN_HELP + '\n');
    return 0;
  }
  const setup = runSetup(values, positionals, 'run');
  const { image } = assembleFile(setup.file);
  const timeoutMs = parseCount(values['timeout-ms'], '--timeout-ms', 1);
  const name = await resolveEngine(values['engine-cmd'] === undefined ? values.engine : commandEngine(values['engine-cmd']), timeoutMs);
  const engine = makeEngine(name, image, { ramBytes: setup.ramBytes });
  let obs;
  try {
    obs = isPlugin(name) ? guardedRun(() => engine.run(setup.events, setup.maxSteps), timeoutMs) : engine.run(setup.events, setup.maxSteps);
  } catch (e) {
    if (e instanceof EngineCrash) throw e;
    // A plugin that throws is a finding about that engine, not a crash of popek (DESIGN §10).
    if (!isPlugin(name)) throw e;
    throw new EngineCrash(`engine crashed: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (values.json) out(JSON.stringify({ ...observationJson(obs), counters: engine.counters() }) + '\n');
  else out(Buffer.from(obs.console, 'latin1')); // console code points 0–255 are bytes (§3.10.14)
  return 0;
}
