// `popek run FILE.s [--engine E] [--bug B]... [--ram SIZE] [--max-steps N] [--events FILE.json] [--json] [--quiet]`
// (DESIGN §10): stdout is the guest console, or with --json the observation and counters;
// stderr says how the guest ended (issue 14.7).

import type { Observation } from '../../spec/observation.ts';
import { EFLAGS_IF } from '../hw/arch.ts';
import { observationJson } from '../../properties/observation-json.ts';
import { DEFAULT_TIMEOUT_MS } from '../engines/guard.ts';
import { BUG_CATALOG, findEngine } from '../engines/registry.ts';
import { checkEventsFit, readEventsFile } from './events-file.ts';
import { commandEngine, guardedRun, isPlugin, makeEngine, resolveEngine } from './engines.ts';
import { parseCommand } from './options.ts';
import { assembleFile } from './source.ts';
import { EngineCrash, UsageError, U32_MAX, parseCount, parseSize } from './usage.ts';

/** DESIGN §3.2: RAM lies below the MMIO window at 0xFEE00000. */
const RAM_MAX = 0xfee00000;

/** The flags of every command that runs a program, as `popek check` prints them in its reproduce line. */
export const MACHINE_HELP = `  --engine E        engine to run on (default: spec), or the path of a plugin module (./my-vmm.ts)
  --engine-cmd CMD  run on a process speaking the engine protocol (docs/engine-protocol.md)
  --timeout-ms N    how long a plugin engine may take over the run (default: ${DEFAULT_TIMEOUT_MS})
  --bug B           switch on a known bug of the engine (repeatable; popek check --list-bugs)
  --ram SIZE        guest RAM: bytes or with K/M/G, a multiple of 4096 from 4K (default: 1M)
  --max-steps N     budget of steps: retired instructions and entered handlers, 0 to ${U32_MAX} (default: 1000000)
  --events FILE     a JSON array of host events, e.g. [{"at": 10, "kind": "irq", "vector": 32}]`;

export const RUN_HELP = `usage: popek run FILE.s [--engine E] [--bug B]... [--ram SIZE] [--max-steps N] [--events FILE.json] [--json] [--quiet]

Assemble FILE.s and run it. stdout is the guest console (bytes written to port 0xE9);
stderr says how the guest ended (halted, shut down, out of steps).
${MACHINE_HELP}
  --json            print the observation (DESIGN §2) and counters as one JSON object
  --quiet           do not say on stderr how the guest ended
Exit 0 whenever the guest ran, whatever it did.`;

/** Options shared by every command that runs a program. */
export const MACHINE_OPTIONS = {
  engine: { type: 'string' },
  'engine-cmd': { type: 'string' },
  'timeout-ms': { type: 'string', default: String(DEFAULT_TIMEOUT_MS) },
  bug: { type: 'string', multiple: true, default: [] as string[] },
  ram: { type: 'string', default: '1M' },
  'max-steps': { type: 'string', default: '1000000' },
  events: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

export const RUN_OPTIONS = {
  ...MACHINE_OPTIONS,
  json: { type: 'boolean', default: false },
  quiet: { type: 'boolean', short: 'q', default: false },
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
  const ramBytes = parseSize(values.ram, '--ram', 4096, RAM_MAX);
  if (ramBytes % 4096 !== 0) throw new UsageError(`--ram: ${values.ram} is not a multiple of 4096`);
  const events = values.events === undefined ? [] : readEventsFile(values.events);
  if (values.events !== undefined) checkEventsFit(events, ramBytes, values.events);
  return { file: positionals[0]!, ramBytes, maxSteps: parseCount(values['max-steps'], '--max-steps'), events };
}

/** Each bug must be a switch of the engine (DESIGN §8): a bug the engine lacks would be silently off. */
export function checkBugs(engine: string, bugs: readonly string[]): void {
  for (const b of bugs) {
    if (Object.hasOwn(findEngine(engine)?.bugs ?? {}, b)) continue; // a plugin's own bugs too
    const entry = BUG_CATALOG[b];
    if (!entry) throw new UsageError(`unknown bug '${b}' (popek check --list-bugs)`);
    if (!entry.engines.includes(engine)) throw new UsageError(`bug '${b}' is a switch of ${entry.engines.join(', ')}, not of ${engine}`);
  }
}

/** The engine a command that runs a program names: --engine (a registered name or a plugin's path) or --engine-cmd. */
export async function engineOf(
  values: { engine?: string | undefined; 'engine-cmd'?: string | undefined; 'timeout-ms': string },
  fallback: string,
): Promise<{ engine: string; timeoutMs: number }> {
  if (values.engine !== undefined && values['engine-cmd'] !== undefined) throw new UsageError('--engine and --engine-cmd: name one engine');
  const timeoutMs = parseCount(values['timeout-ms'], '--timeout-ms', 1);
  const name = values['engine-cmd'] === undefined ? (values.engine ?? fallback) : commandEngine(values['engine-cmd']);
  return { engine: await resolveEngine(name, timeoutMs), timeoutMs };
}

export async function runCommand(args: string[], out: (s: string | Uint8Array) => void): Promise<number> {
  const { values, positionals } = parseCommand('run', args, RUN_OPTIONS);
  if (values.help) {
    out(RUN_HELP + '\n');
    return 0;
  }
  const setup = runSetup(values, positionals, 'run');
  const { engine: engineName, timeoutMs } = await engineOf(values, 'spec');
  checkBugs(engineName, values.bug);
  const { image } = assembleFile(setup.file);
  const engine = makeEngine(engineName, image, { ramBytes: setup.ramBytes, bugs: values.bug });
  let obs: Observation;
  try {
    const run = () => engine.run(setup.events, setup.maxSteps);
    obs = isPlugin(engineName) ? guardedRun(run, timeoutMs) : run();
  } catch (e) {
    if (e instanceof EngineCrash) throw e;
    // A plugin that throws is a finding about that engine, not a crash of popek (DESIGN §10).
    if (!isPlugin(engineName)) throw e;
    throw new EngineCrash(`engine crashed: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (values.json) out(JSON.stringify({ ...observationJson(obs), counters: engine.counters() }) + '\n');
  else out(Buffer.from(obs.console, 'latin1')); // console code points 0–255 are bytes (§3.10.14)
  if (!values.quiet) process.stderr.write(`popek run: ${howItEnded(obs, setup.maxSteps)}\n`);
  return 0;
}

const hex = (n: number) => '0x' + (n >>> 0).toString(16);
const VECTOR_NAMES: Readonly<Record<number, string>> = { 6: '#UD', 8: '#DF', 11: '#NP', 13: '#GP', 14: '#PF' };
const vectorName = (v: number) => VECTOR_NAMES[v] ?? `vector ${v}`;

/** One line: how the run ended (DESIGN §2 status, §3.7 shutdown, §3.8 the end of a run). */
export function howItEnded(o: Observation, maxSteps: number): string {
  const at = `after ${o.icount} instructions, eip ${hex(o.eip)}`;
  switch (o.status) {
    case 'halted':
      return (o.eflags & EFLAGS_IF) !== 0
        ? `the guest halted ${at}, still waiting for an interrupt (none is left to come)`
        : `the guest halted ${at} with interrupts off: nothing can wake it`;
    case 'shutdown': {
      // §3.7 (docs/vx32.md §7.5): the chain, when the engine records it, says how it came about.
      const end = o.trace[o.trace.length - 1];
      if (end?.kind === 'shutdown' && end.chain !== undefined)
        return `the guest shut down by a triple fault ${at}: ${end.chain.map(vectorName).join(' → ')} (each arrow: a fault raised while delivering the event before it, or the #DF it became)`;
      const entered = o.trace.filter((e) => e.kind !== 'shutdown').slice(-3);
      const last = entered.length
        ? `; the last handlers entered: ${entered.map((e) => ('vector' in e ? vectorName(e.vector) : '')).join(', ')}`
        : '';
      return `the guest shut down by a triple fault (a fault while delivering #DF) ${at}${last}; this engine does not record the vector chain`;
    }
    case 'running':
      return `the step budget (--max-steps ${maxSteps}) is used up ${at}; the guest was still running`;
  }
}
