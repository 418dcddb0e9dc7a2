// `popek explain FILE.s [--engine E] [--events F] [--bug B] [--ram SIZE] [--max-steps N]
// [-o OUT.html]` and `popek explain REPLAY.json` (DESIGN §10): one self-contained page
// that steps through a run — the listing, the state, the exits with their modelled cycles,
// the guest walk beside the shadow walk or the 2-D EPT walk — or, for a counterexample,
// the spec and the engine side by side from the start to the first divergence.

import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { assemble } from '../../spec/asm/assemble.ts';
import { isReplayFile } from '../../properties/check/replay-file.ts';
import { lockstep } from '../../properties/lockstep/lockstep.ts';
import { BUG_CATALOG, findEngine } from '../engines/registry.ts';
import { collect, listingOf } from './explain-page/collect.ts';
import type { PageData } from './explain-page/model.ts';
import { renderPage } from './explain-page/page.ts';
import { parseEvents } from './events-file.ts';
import { DEFAULT_TIMEOUT_MS } from '../engines/guard.ts';
import { engineLabel } from '../engines/plugin.ts';
import { engineFactory, isPlugin, makeEngine, pluginWork, resolveEngine } from './engines.ts';
import { RUN_OPTIONS, runSetup } from './run.ts';
import { assembleFile } from './source.ts';
import { UsageError } from './usage.ts';

export const EXPLAIN_HELP = `usage: popek explain FILE.s [--engine E] [--events FILE.json] [--bug B] [--ram SIZE] [--max-steps N] [-o OUT.html]
       popek explain REPLAY.json [-o OUT.html]

Write one self-contained HTML page (no network; opens from file://) that steps through
the run: the listing, registers with EFLAGS/CR0/CR4 decoded, events and exits with
modelled cycles under a chosen CPU profile (DESIGN §9), and for each memory access the
guest's page walk beside the shadow walk (vmx-shadow) or the 2-D walk (vmx-ept). For a
counterexample written by popek check, the spec and the engine side by side, opened at
the first divergence. Keys: ←/→ step, Home/End, e next event, x next exit; #step=N in the URL.
  --engine E        engine to run on (default: vmx-shadow), or the path of a plugin module (./my-vmm.ts)
  --bug B           switch on a catalog bug (popek check --list-bugs), comma-separated
  --max-steps N     budget of steps (default: 10000)
  -o OUT.html       where to write the page (default: FILE.html beside the input's name, in the current directory)`;

const { json: _json, ...RUN_ONLY } = RUN_OPTIONS; // a page, not JSON: no --json here
const OPTIONS = {
  ...RUN_ONLY,
  engine: { type: 'string', default: 'vmx-shadow' },
  'max-steps': { type: 'string', default: '10000' },
  bug: { type: 'string' },
  output: { type: 'string', short: 'o' },
} as const;

/**
 * `popek explain` from the command line: a plugin engine (`--engine ./my-vmm.ts`, or the
 * engine a counterexample file names) is loaded first — tsx loads it asynchronously —
 * then the page is built as for any engine.
 */
export async function explainMain(args: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
  let name = values.engine;
  if (positionals.length === 1 && positionals[0]!.endsWith('.json')) name = replayEngine(positionals[0]!) ?? name;
  if (values.help || !isPlugin(name)) return explainCommand(args, out);
  const loaded = await resolveEngine(name);
  process.stderr.write(
    `popek explain: ${engineLabel(loaded)} is a plugin: the page shows its state, events and counters; exits and walks are drawn for popek's own VMX engines\n`,
  );
  return explainCommand(args, out, (n) => (n === name ? loaded : n));
}

/** The engine a counterexample file names, if it is one (errors are explainCommand's to report). */
function replayEngine(path: string): string | undefined {
  try {
    const json: unknown = JSON.parse(readFileSync(path, 'utf8'));
    return isReplayFile(json) ? json.engine : undefined;
  } catch {
    return undefined;
  }
}

/** `resolved` maps an engine's name as given to the name it was loaded under (a plugin's absolute path). */
export function explainCommand(args: string[], out: (s: string) => void, resolved = (name: string) => name): number {
  const { values, positionals } = parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
  if (values.help) {
    out(EXPLAIN_HELP + '\n');
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('explain: expected one FILE.s or REPLAY.json (see popek explain --help)');
  const input = positionals[0]!;
  const data = input.endsWith('.json') ? replayPage(input, resolved) : runPage({ ...values, engine: resolved(values.engine) }, positionals);
  const target = values.output ?? basename(input).replace(/\.(s|json)$/, '') + '.html';
  try {
    writeFileSync(target, renderPage(data));
  } catch (e) {
    throw new UsageError(`cannot write '${target}': ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  const steps = Math.max(...data.runs.map((r) => r.steps.length));
  out(`${target}: ${steps} steps${data.divergence ? `, first divergence at step ${data.divergence.frame}` : ''}\n`);
  return 0;
}

function bugsOf(engine: string, list: string | undefined): string[] {
  if (list === undefined) return [];
  const bugs = list.split(',').filter((b) => b !== '');
  const entry = findEngine(engine);
  for (const b of bugs) {
    if (entry && Object.hasOwn(entry.bugs, b)) continue; // a catalog bug of the engine, or a plugin's own
    if (!Object.hasOwn(BUG_CATALOG, b)) throw new UsageError(`--bug: unknown bug '${b}' (popek check --list-bugs)`);
    if (entry && !Object.hasOwn(entry.bugs, b))
      throw new UsageError(`--bug: ${b} is not a bug of ${engine} (it is one of ${BUG_CATALOG[b]!.engines.join(', ')})`);
  }
  return bugs;
}

function runPage(
  values: { engine: string; ram: string; 'max-steps': string; events?: string | undefined; bug?: string | undefined },
  positionals: string[],
): PageData {
  const setup = runSetup(values, positionals, 'explain');
  engineFactory(values.engine);
  const bugs = bugsOf(values.engine, values.bug);
  const { image, source } = assembleFile(setup.file);
  const engine = makeEngine(values.engine, image, { ramBytes: setup.ramBytes, bugs });
  const c = pluginWork(
    values.engine,
    () => collect({ engine, ramBytes: setup.ramBytes, bugs, events: setup.events, maxSteps: setup.maxSteps }),
    DEFAULT_TIMEOUT_MS,
  );
  return {
    title: `popek explain ${basename(setup.file)} on ${engineLabel(values.engine)}${bugs.length ? ` --bug ${bugs.join(',')}` : ''}`,
    source,
    listing: listingOf([c.listing], source, assemble(source, setup.file).symbols),
    runs: [c.run],
    truncated: c.truncated,
  };
}

function replayPage(path: string, resolved: (name: string) => string): PageData {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UsageError(`cannot read replay file '${path}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (!isReplayFile(json)) throw new UsageError(`${path}: not a popek counterexample file`);
  const name = resolved(json.engine);
  const make = engineFactory(name);
  const events = parseEvents(json.events, path);
  let asm;
  try {
    asm = assemble(json.source, path);
  } catch (e) {
    throw new UsageError(`${path}: its source does not assemble: ${(e as Error).message}`);
  }
  const config = { ramBytes: json.ramBytes };
  const bugs = json.bugs;
  // The divergence is the lockstep differ's, exactly as `popek replay` reports it.
  const result = pluginWork(
    name,
    () => lockstep((img, cfg) => make(img, { ...cfg, bugs }), { image: asm.image, config, events, maxSteps: json.maxSteps }),
    DEFAULT_TIMEOUT_MS,
  );
  const d = result.divergence;
  // Both sides up to the diverging step (the divergence's `step` counts the steps before it).
  const maxSteps = d ? d.step + 1 : json.maxSteps;
  const spec = collect({ engine: makeEngine('spec', asm.image, config), ramBytes: json.ramBytes, bugs: [], events, maxSteps });
  const eng = pluginWork(
    name,
    () => collect({ engine: make(asm.image, { ...config, bugs }), ramBytes: json.ramBytes, bugs, events, maxSteps }),
    DEFAULT_TIMEOUT_MS,
  );
  const data: PageData = {
    title: `popek explain ${basename(path)}: ${json.property} on ${engineLabel(json.engine)}${bugs.length ? ` --bug ${bugs.join(',')}` : ''}`,
    source: json.source,
    listing: listingOf([spec.listing, eng.listing], json.source, asm.symbols),
    runs: [spec.run, eng.run],
    truncated: false,
  };
  if (d)
    data.divergence = { frame: d.step + 1, insn: d.insn, fields: d.fields.map((f) => ({ path: f.path, spec: f.spec, engine: f.engine })) };
  return data;
}
