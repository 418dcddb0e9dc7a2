// `popek check [--engine E] [--runs N] [--seed S] [--bug B] [--workers N] [--shard I/N] [--json]`
// (DESIGN §10): run the property suite; exit 1 on a counterexample, which is shrunk,
// written to a replay file and printed as VX32 assembly with the first divergence.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultWorkers, runCampaign, type CampaignResult } from '../../properties/check/campaign.ts';
import { FORCED_EMULATION_ENGINES, PROPERTIES, appliesTo } from '../../properties/check/suite.ts';
import { GUEST_PROFILES, PROFILES, isGuestProfile } from '../../properties/arbitraries/profiles.ts';
import { caseStats, formatStats } from '../../properties/check/stats.ts';
import { BUG_CATALOG, EQUIVALENT_ENGINES } from '../engines/registry.ts';
import { engineFactory } from './engines.ts';
import { progressReporter } from './progress.ts';
import { UsageError, parseCount } from './usage.ts';

export const DEFAULT_SEED = 20261125;

export const CHECK_HELP = `usage: popek check [--engine E]... [--guests P] [--forced-emulation] [--runs N] [--seed S] [--bug B]... [--workers N] [--shard I/N] [--json]
       popek check --stats [--guests P] [--runs N] [--seed S]
       popek check --list-bugs
       popek check --merge RESULT.json...

Generate random guest programs with host events and check, in lockstep with the spec,
that the engine gives the same guest-visible results. On a counterexample: shrink it,
write it to a replay file (popek replay FILE.json) and print it as VX32 assembly with the
first divergence; exit 1.
  --engine E      engine to check (repeatable; default: ${EQUIVALENT_ENGINES.join(', ')}, or with --bug the bug's engines)
  --property P    ${PROPERTIES.map((p) => (p.engines ? `${p.name} (${p.engines.join(', ')})` : p.name)).join(', ')}
                  (default: equivalence)
  --guests P      generated guests of one stage: ${GUEST_PROFILES.map((g) => `${g} (${PROFILES[g].summary})`).join(';\n                  ')}
  --forced-emulation
                  ${FORCED_EMULATION_ENGINES.join(', ')}: the VMM's emulator performs every access that takes a hidden
                  fault, in every case (default: in one case in four)
  --runs N        generated cases per engine (default: 300)
  --seed S        campaign seed (default: ${DEFAULT_SEED}); the same seed gives the same run
  --bug B         switch on a catalog bug (repeatable); --list-bugs prints the names
  --workers N     worker threads (default: all cores); results do not depend on it
  --shard I/N     run slice I of N of the campaign (disjoint, reproducible, as CI matrices do)
  --out DIR       where replay files go (default: popek-replays)
  --json          the campaign result as JSON (feed shard results to --merge)
  --stats         instead of checking: how often the campaign's cases reach each hard case
  --merge FILE..  merge the --json results of the shards of one campaign`;

export async function checkCommand(args: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      engine: { type: 'string', multiple: true },
      property: { type: 'string', default: 'equivalence' },
      runs: { type: 'string', default: '300' },
      seed: { type: 'string', default: String(DEFAULT_SEED) },
      bug: { type: 'string', multiple: true, default: [] },
      workers: { type: 'string' },
      shard: { type: 'string' },
      out: { type: 'string', default: 'popek-replays' },
      json: { type: 'boolean', default: false },
      'list-bugs': { type: 'boolean', default: false },
      stats: { type: 'boolean', default: false },
      guests: { type: 'string', default: 'all' },
      'forced-emulation': { type: 'boolean', default: false },
      merge: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    out(CHECK_HELP + '\n');
    return 0;
  }
  if (values['list-bugs']) {
    out(Object.keys(BUG_CATALOG).join('\n') + '\n');
    return 0;
  }
  if (values.merge) return mergeResults(positionals, out);
  if (positionals.length > 0) throw new UsageError(`check: unexpected argument '${positionals[0]}'`);

  // A bug switched on without --engine means: check the engines that have that switch.
  const property = PROPERTIES.find((p) => p.name === values.property);
  if (!property) throw new UsageError(`unknown property '${values.property}' (one of ${PROPERTIES.map((p) => p.name).join(', ')})`);
  // Without --engine: the bugs' engines, else every equivalent engine the property is about.
  // With --forced-emulation: only the engines that have an emulator to force.
  const engines =
    values.engine ??
    (values.bug.length > 0
      ? [...new Set(values.bug.flatMap((b) => BUG_CATALOG[b]?.engines ?? []))]
      : EQUIVALENT_ENGINES.filter((e) => appliesTo(property, e))
    ).filter((e) => !values['forced-emulation'] || FORCED_EMULATION_ENGINES.includes(e));
  for (const e of engines) {
    engineFactory(e);
    if (!appliesTo(property, e)) throw new UsageError(`property '${property.name}' is about ${property.engines!.join(', ')}, not ${e}`);
  }
  for (const b of values.bug) {
    const entry = BUG_CATALOG[b];
    if (!entry) throw new UsageError(`unknown bug '${b}' (popek check --list-bugs)`);
    for (const e of engines)
      if (!entry.engines.includes(e)) throw new UsageError(`bug '${b}' is a switch of ${entry.engines.join(', ')}, not of ${e}`);
  }
  if (!isGuestProfile(values.guests))
    throw new UsageError(`--guests: unknown profile '${values.guests}' (one of ${GUEST_PROFILES.join(', ')})`);
  if (values['forced-emulation'])
    for (const e of engines)
      if (!FORCED_EMULATION_ENGINES.includes(e))
        throw new UsageError(`--forced-emulation: ${e} has no emulator to force (one of ${FORCED_EMULATION_ENGINES.join(', ')})`);
  const gen = { guests: values.guests, forcedEmulation: values['forced-emulation'] ? ('always' as const) : ('share' as const) };
  const runs = parseCount(values.runs, '--runs', 1);
  if (!/^-?\d+$/.test(values.seed)) throw new UsageError(`--seed: '${values.seed}' is not an integer`);
  const seed = Number(values.seed) | 0;
  if (values.stats) {
    const stats = caseStats(runs, seed, gen);
    out(values.json ? JSON.stringify(stats, null, 2) + '\n' : formatStats(stats) + '\n');
    return 0;
  }
  const workers = values.workers === undefined ? defaultWorkers() : parseCount(values.workers, '--workers', 1);
  const shard = values.shard === undefined ? undefined : parseShard(values.shard);

  const results: CampaignResult[] = [];
  for (const engine of engines) {
    const progress = progressReporter(`check ${engine}${values.bug.length ? ` --bug ${values.bug.join(',')}` : ''}`);
    const r = await runCampaign({
      property: values.property,
      engine,
      bugs: values.bug,
      runs,
      seed,
      workers,
      shard,
      gen,
      onProgress: progress.update,
    });
    progress.end();
    results.push(r);
    if (r.failure) break;
  }
  const failed = results.find((r) => r.failure);
  let replayPath: string | undefined;
  if (failed?.failure) {
    mkdirSync(values.out, { recursive: true });
    replayPath = join(values.out, `${failed.engine}-${failed.property}-${failed.seed >>> 0}-${failed.failure.chunk}.json`);
    const { shrinks: _shrinks, chunk: _chunk, ...file } = failed.failure;
    writeFileSync(replayPath, JSON.stringify(file, null, 2) + '\n');
  }
  if (values.json) {
    out(JSON.stringify({ results, replay: replayPath ?? null }, null, 2) + '\n');
  } else {
    for (const r of results) {
      const where = r.shard.count > 1 ? ` (shard ${r.shard.index}/${r.shard.count})` : '';
      out(
        `${r.engine}: ${r.property}${where}: ${r.failure ? 'FAILED' : 'ok'} after ${r.runs} runs in ${r.seconds.toFixed(1)} s (seed ${r.seed})\n`,
      );
    }
    if (failed?.failure) out('\n' + formatCounterexample(failed.failure, replayPath!));
  }
  return failed ? 1 : 0;
}

export function formatCounterexample(f: NonNullable<CampaignResult['failure']>, replayPath: string): string {
  const bugs = f.bugs.length ? ` with --bug ${f.bugs.join(',')}` : '';
  return [
    `counterexample for ${f.property} on ${f.engine}${bugs}: ${f.instructions} instructions after ${f.shrinks} shrinks`,
    `replay: popek replay ${replayPath}`,
    ...(f.events.length ? [`events: ${JSON.stringify(f.events)}`] : []),
    `ram: ${f.ramBytes} bytes, budget ${f.maxSteps} steps`,
    '',
    f.source.trimEnd(),
    '',
    f.divergence,
    '',
  ].join('\n');
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
    const failure = rs.filter((r) => r.failure).sort((a, b) => a.failure!.chunk - b.failure!.chunk)[0]?.failure;
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
