// `popek check [--engine E] [--runs N] [--seed S] [--bug B] [--workers N] [--shard I/N] [--json]`
// (DESIGN §10): run the property suite; exit 1 on a counterexample, which is shrunk,
// saved (replay file, `.s`, events: save.ts) and printed short — the generated body and
// the fields that differ — with the one `popek diff` command that reproduces it.

import { readFileSync } from 'node:fs';
import { defaultWorkers, runCampaign, type CampaignResult } from '../../properties/check/campaign.ts';
import { formatReport, type Found } from '../../properties/check/counterexample.ts';
import { PROPERTIES, appliesTo, divergenceOf } from '../../properties/check/suite.ts';
import { FORCED_EMULATION_ENGINES } from '../../properties/check/suite.ts';
import { GUEST_PROFILES, PROFILES, isGuestProfile } from '../../properties/arbitraries/profiles.ts';
import { caseStats, formatStats } from '../../properties/check/stats.ts';
import { BUG_CATALOG, ENGINES, EQUIVALENT_ENGINES, findEngine } from '../engines/registry.ts';
import { DEFAULT_TIMEOUT_MS, EngineHung, guarded } from '../engines/guard.ts';
import { engineLabel } from '../engines/plugin.ts';
import { commandEngine, engineFactory, isPlugin, resolveEngine } from './engines.ts';
import { parseCommand, refuseWith } from './options.ts';
import { progressReporter } from './progress.ts';
import { parseAccel, parseObserve, qemuCheck } from './qemu-check.ts';
import { checkBugs } from './run.ts';
import { saveCounterexample, type Saved } from './save.ts';
import { UsageError, U32_MAX, parseCount } from './usage.ts';

export const DEFAULT_SEED = 20261125;
const MAX_RUNS = 1_000_000_000;
const MAX_WORKERS = 256;

export const CHECK_HELP = `usage: popek check [--engine E]... [--property P] [--guests P] [--forced-emulation] [--runs N] [--seed S] [--bug B]...
                   [--workers N] [--shard I/N] [--out DIR] [--keep-going] [--verbose] [--json]
       popek check --stats [--guests P] [--runs N] [--seed S] [--json]
       popek check --list-bugs [--engine E]... [--json]
       popek check --merge RESULT.json...

Generate random guest programs with host events and check, in lockstep with the spec,
that the engine gives the same guest-visible results. On a counterexample: shrink it,
save it (a replay file for popek replay, and a .s for popek run and popek diff), print
the generated body, the first divergence and the command that reproduces it; exit 1.
  --engine E      engine to check (repeatable; default: ${EQUIVALENT_ENGINES.join(', ')}, or with --bug the bug's engines),
                  or the path of a plugin module: ./my-vmm.ts (its default export or createEngine, popek/engine),
                  or qemu: guests translated to IA-32 under qemu-system-i386, alone, --guests x86 by default (docs/qemu.md);
                  --bug then names a planted translator bug (jcc-inverted)
  --engine-cmd C  check a process speaking the engine protocol (docs/engine-protocol.md), started as C
  --timeout-ms N  how long a plugin engine may take over one case before it counts as hung (default: ${DEFAULT_TIMEOUT_MS})
  --property P    ${PROPERTIES.map((p) => (p.engines ? `${p.name} (${p.engines.join(', ')})` : p.name)).join(', ')}
                  (default: equivalence)
  --guests P      generated guests of one stage: ${GUEST_PROFILES.map((g) => `${g} (${PROFILES[g].summary})`).join(';\n                  ')}
  --forced-emulation
                  ${FORCED_EMULATION_ENGINES.join(', ')}: the VMM's emulator performs every access that takes a hidden
                  fault, in every case (default: in one case in four)
  --runs N        generated cases per engine, 1 to ${MAX_RUNS} (default: 300)
  --seed S        campaign seed, 0 to ${U32_MAX} (default: ${DEFAULT_SEED}); the same seed gives the same run
  --bug B         switch on a catalog bug (repeatable); --list-bugs prints the names
  --accel A       --engine qemu: tcg (default) or kvm (needs /dev/kvm, readable and writable; implies --observe end)
  --observe O     --engine qemu: steps (default under tcg: QEMU's log, every step compared) or end (no log:
                  status, console, registers, flags, CRs, cpl, idtr, tr and RAM at the end, the spec run
                  on past the step budget to its end; the trace, icount and the states between are not
                  compared, and every report says so)
  --workers N     worker threads, 1 to ${MAX_WORKERS} (default: all cores); results do not depend on it
  --shard I/N     run slice I of N of the campaign (disjoint, reproducible, as CI matrices do)
  --out DIR       where counterexamples are saved (default: popek-replays); files are never overwritten
  --keep-going    do not stop at the first counterexample: collect the distinct ones (engine,
                  property, first diverging instruction and field), each shrunk and saved
  --verbose       print the whole program and every field of both observations
  --json          the campaign result as JSON (feed shard results to --merge)
  --stats         instead of checking: how often the campaign's cases reach each hard case
  --list-bugs     the known-bug catalog: name, engines, what the bug does
  --merge FILE..  merge the --json results of the shards of one campaign`;

export const CHECK_OPTIONS = {
  engine: { type: 'string', multiple: true },
  'engine-cmd': { type: 'string', multiple: true },
  'timeout-ms': { type: 'string', default: String(DEFAULT_TIMEOUT_MS) },
  property: { type: 'string', default: 'equivalence' },
  runs: { type: 'string', default: '300' },
  seed: { type: 'string', default: String(DEFAULT_SEED) },
  bug: { type: 'string', multiple: true, default: [] as string[] },
  workers: { type: 'string' },
  shard: { type: 'string' },
  out: { type: 'string', default: 'popek-replays' },
  json: { type: 'boolean', default: false },
  'keep-going': { type: 'boolean', default: false },
  verbose: { type: 'boolean', short: 'v', default: false },
  'list-bugs': { type: 'boolean', default: false },
  stats: { type: 'boolean', default: false },
  guests: { type: 'string', default: 'all' },
  'forced-emulation': { type: 'boolean', default: false },
  merge: { type: 'boolean', default: false },
  accel: { type: 'string' },
  observe: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

/** A campaign seed: any 32-bit value, kept as fast-check's signed form. */
export const parseSeed = (text: string): number => parseCount(text, '--seed', 0, U32_MAX) | 0;

export async function checkCommand(args: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals, given } = parseCommand('check', args, CHECK_OPTIONS);
  if (values.help) {
    out(CHECK_HELP + '\n');
    return 0;
  }
  // A flag that does not apply in a mode is an error, not silently ignored (issue 14.8).
  refuseWith(given, 'list-bugs', ['engine', 'json']);
  refuseWith(given, 'stats', ['runs', 'seed', 'json', 'guests']);
  refuseWith(given, 'merge', []);
  if (values['list-bugs']) return listBugs(values.engine ?? [], values.json, out);
  if (values.merge) return mergeResults(positionals, out);
  if (positionals.length > 0) throw new UsageError(`check: unexpected argument '${positionals[0]}' (see popek check --help)`);
  if (given.has('json') && given.has('verbose')) throw new UsageError('--verbose does not apply with --json');

  const runs = parseCount(values.runs, '--runs', 1, MAX_RUNS);
  const seed = parseSeed(values.seed);
  if (!isGuestProfile(values.guests))
    throw new UsageError(`--guests: unknown profile '${values.guests}' (one of ${GUEST_PROFILES.join(', ')})`);
  const gen = { guests: values.guests, forcedEmulation: values['forced-emulation'] ? ('always' as const) : ('share' as const) };
  if (values.stats) {
    const stats = caseStats(runs, seed, gen);
    out(values.json ? JSON.stringify(stats, null, 2) + '\n' : formatStats(stats) + '\n');
    return 0;
  }
  const workersOf = () => (values.workers === undefined ? defaultWorkers() : parseCount(values.workers, '--workers', 1, MAX_WORKERS));
  if (values.engine?.includes('qemu')) {
    // QEMU is run once per guest and compared from its log (docs/qemu.md): its own campaign.
    if (
      values.engine.length > 1 ||
      given.has('engine-cmd') ||
      values.property !== 'equivalence' ||
      given.has('shard') ||
      given.has('keep-going')
    )
      throw new UsageError('--engine qemu: checked alone, for equivalence, without --shard or --keep-going');
    const accel = parseAccel(values.accel);
    const observe = parseObserve(values.observe, accel);
    // Other profiles mostly leave what the translation expresses: x86 unless asked.
    const qemuGen = { ...gen, guests: given.has('guests') ? gen.guests : ('x86' as const) };
    return qemuCheck(
      { runs, seed, workers: workersOf(), gen: qemuGen, bugs: values.bug, accel, observe, out: values.out, json: values.json },
      out,
    );
  }
  for (const o of ['accel', 'observe']) if (given.has(o)) throw new UsageError(`--${o} applies to --engine qemu only`);
  const property = PROPERTIES.find((p) => p.name === values.property);
  if (!property) throw new UsageError(`unknown property '${values.property}' (one of ${PROPERTIES.map((p) => p.name).join(', ')})`);
  const timeoutMs = parseCount(values['timeout-ms'], '--timeout-ms', 1);
  const named = [...(values.engine ?? []), ...(values['engine-cmd'] ?? []).map(commandEngine)];
  const resolved = await Promise.all(named.map((e) => resolveEngine(e, timeoutMs)));
  // A plugin may bring bugs of its own (plugin.ts); the catalog's are checked per engine below.
  if (resolved.length === 0)
    for (const b of values.bug) if (!BUG_CATALOG[b]) throw new UsageError(`unknown bug '${b}' (popek check --list-bugs)`);
  // Without --engine: the bugs' engines, else every equivalent engine the property is about;
  // with --forced-emulation, of those only the engines that have an emulator to force.
  const engines =
    resolved.length > 0
      ? resolved
      : (values.bug.length > 0
          ? [...new Set(values.bug.flatMap((b) => BUG_CATALOG[b]!.engines))]
          : EQUIVALENT_ENGINES.filter((e) => appliesTo(property, e))
        ).filter((e) => !values['forced-emulation'] || FORCED_EMULATION_ENGINES.includes(e));
  if (values['forced-emulation'])
    for (const e of engines)
      if (!FORCED_EMULATION_ENGINES.includes(e))
        throw new UsageError(
          `--forced-emulation: ${engineLabel(e)} has no emulator to force (one of ${FORCED_EMULATION_ENGINES.join(', ')})`,
        );
  for (const e of engines) {
    engineFactory(e);
    if (!appliesTo(property, e))
      throw new UsageError(
        `property '${property.name}' is about ${property.engines!.join(', ')}${property.name === 'audit' ? ', or a plugin whose engine has audit(): string[]' : ''}, not ${engineLabel(e)}`,
      );
    checkBugs(e, values.bug);
  }
  const workers = values.workers === undefined ? defaultWorkers() : parseCount(values.workers, '--workers', 1, MAX_WORKERS);
  const shard = values.shard === undefined ? undefined : parseShard(values.shard);

  const results: CampaignResult[] = [];
  for (const engine of engines) {
    const progress = progressReporter(`check ${engineLabel(engine)}${values.bug.length ? ` --bug ${values.bug.join(',')}` : ''}`);
    const r = await runCampaign({
      property: values.property,
      engine,
      bugs: values.bug,
      runs,
      seed,
      workers,
      shard,
      keepGoing: values['keep-going'],
      timeoutMs,
      gen,
      onProgress: progress.update,
    });
    progress.end();
    results.push(r);
    if (r.failures.length > 0 && !values['keep-going']) break;
  }
  const found = results.flatMap((r) =>
    r.failures.map((f) => ({ result: r, found: { ...f, campaignSeed: r.seed } satisfies Found, shrinks: f.shrinks })),
  );
  const saved = found.map((x) => saveCounterexample(values.out, x.found));
  if (values.json) {
    out(JSON.stringify({ results, replay: saved[0]?.replayPath ?? null, saved }, null, 2) + '\n');
    return found.length > 0 ? 1 : 0;
  }
  for (const r of results) {
    const where = r.shard.count > 1 ? ` (shard ${r.shard.index}/${r.shard.count})` : '';
    const verdict = r.failures.length === 0 ? 'ok' : r.failures.length === 1 ? 'FAILED' : `FAILED (${r.failures.length} distinct failures)`;
    out(
      `${engineLabel(r.engine)}: ${r.property}${where}: ${verdict} after ${r.runs} runs in ${r.seconds.toFixed(1)} s (seed ${r.seed >>> 0})\n`,
    );
  }
  if (found.length > 1) {
    out('\ndistinct failures:\n');
    found.forEach((x, i) => out(`  ${i + 1}. ${x.found.signature}: ${x.found.instructions} body instructions, ${saved[i]!.sPath}\n`));
  }
  found.forEach((x, i) => out('\n' + report(x.found, x.result.runs, x.shrinks, saved[i]!, values.verbose, timeoutMs)));
  return found.length > 0 ? 1 : 0;
}

function report(f: Found, runs: number, shrinks: number, saved: Saved, verbose: boolean, timeoutMs: number): string {
  // The saved text is the full divergence; the brief one comes from one more lockstep run,
  // guarded for a plugin: one that hung keeps the saved text (the hang it was).
  const rerun = () => divergenceOf(f.source, f, f.engine, f.bugs, { brief: true });
  let brief: string | undefined;
  if (f.property === 'equivalence' && !verbose) {
    try {
      brief = isPlugin(f.engine) ? guarded(rerun, timeoutMs) : rerun();
    } catch (e) {
      if (!(e instanceof EngineHung)) throw e;
    }
  }
  return formatReport({
    found: f,
    runs,
    shrinks,
    // A plugin's own bug is described by the plugin (its `bugs` export), even under a catalog name.
    bugDescriptions: Object.fromEntries(
      f.bugs.map((b) => [b, (isPlugin(f.engine) ? findEngine(f.engine)?.bugs[b] : undefined) ?? BUG_CATALOG[b]?.description ?? '']),
    ),
    replayPath: saved.replayPath,
    sPath: saved.sPath,
    command: saved.command,
    divergence: brief ?? f.divergence,
    verbose,
  });
}

/** `--list-bugs` (issue 14.6): name, engines and the one-line description; `--engine` filters. */
function listBugs(engines: readonly string[], json: boolean, out: (s: string) => void): number {
  for (const e of engines) engineFactory(e);
  const rows = Object.entries(BUG_CATALOG)
    .filter(([, b]) => engines.length === 0 || b.engines.some((e) => engines.includes(e)))
    .map(([name, b]) => ({ name, engines: [...b.engines], description: b.description }));
  if (json) {
    out(JSON.stringify(rows, null, 2) + '\n');
    return 0;
  }
  const w = Math.max(...rows.map((r) => r.name.length));
  const we = Math.max(...rows.map((r) => r.engines.join(',').length));
  for (const r of rows) out(`${r.name.padEnd(w)}  ${r.engines.join(',').padEnd(we)}  ${r.description}\n`);
  if (rows.length === 0)
    out(
      `no catalog bugs for ${engines.join(', ')} (engines with bugs: ${Object.keys(ENGINES)
        .filter((e) => Object.keys(ENGINES[e]!.bugs).length > 0)
        .join(', ')})\n`,
    );
  return 0;
}

function parseShard(text: string) {
  const m = /^(\d+)\/(\d+)$/.exec(text);
  if (!m) throw new UsageError(`--shard: '${text}' is not I/N`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || index < 1 || index > count) throw new UsageError(`--shard: ${text}: need 1 ≤ I ≤ N`);
  return { index, count };
}

/** The shards of one campaign: runs add up; the failure is the lowest chunk's. */
function mergeResults(files: string[], out: (s: string) => void): number {
  if (files.length === 0) throw new UsageError('--merge: give the --json result files of the shards');
  const all: CampaignResult[] = [];
  for (const f of files) {
    let json: { results?: CampaignResult[] };
    try {
      json = JSON.parse(readFileSync(f, 'utf8')) as { results?: CampaignResult[] };
    } catch (e) {
      throw new UsageError(`--merge: cannot read '${f}': ${(e as Error).message}`);
    }
    if (!Array.isArray(json.results)) throw new UsageError(`--merge: '${f}' is not a popek check --json result`);
    all.push(...json.results);
  }
  const byEngine = new Map<string, CampaignResult[]>();
  for (const r of all)
    byEngine.set(`${r.engine} ${r.property} ${r.seed}`, [...(byEngine.get(`${r.engine} ${r.property} ${r.seed}`) ?? []), r]);
  let failed = false;
  for (const [key, rs] of byEngine) {
    const shards = rs.map((r) => r.shard.index).sort((a, b) => a - b);
    const count = rs[0]!.shard.count;
    const missing = Array.from({ length: count }, (_, i) => i + 1).filter((i) => !shards.includes(i));
    const failure = rs.flatMap((r) => r.failures).sort((a, b) => a.chunk - b.chunk)[0];
    failed ||= failure !== undefined;
    const runs = rs.reduce((n, r) => n + r.runs, 0);
    const seconds = Math.max(...rs.map((r) => r.seconds));
    out(
      `${key.split(' ').slice(0, 2).join(': ')}: ${failure ? 'FAILED' : 'ok'} — ${runs} runs over ${rs.length}/${count} shards (slowest ${seconds.toFixed(1)} s)${missing.length ? `, missing shards ${missing.join(', ')}` : ''}\n`,
    );
    if (failure)
      out(`  first failure in chunk ${failure.chunk}: ${failure.instructions} instructions (popek replay a file of that shard)\n`);
  }
  return failed ? 1 : 0;
}
