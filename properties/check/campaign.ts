// A campaign: `runs` generated cases of one property on one engine, cut into chunks
// (seeds.ts), run in this thread or on worker threads, stopped at the first failure.
// Deterministic whatever the number of workers: the failure reported is the one in the
// lowest-numbered failing chunk, and every chunk below it is run to completion.

import { availableParallelism } from 'node:os';
import { chunkSeed, chunksOf, type Shard } from './seeds.ts';
import { runOnWorkers } from './worker-pool.ts';
import { PROPERTIES, appliesTo, runChunk, runChunkKeepGoing, type ChunkOutcome, type Failure, type PropertyDef } from './suite.ts';
import { DEFAULT_TIMEOUT_MS } from '../../src/engines/guard.ts';
import { isPluginPath } from '../../src/engines/plugin.ts';
import type { CaseGen } from './cases.ts';

export interface CampaignOptions {
  property?: string;
  engine: string;
  bugs: readonly string[];
  runs: number;
  seed: number;
  workers?: number;
  shard?: Shard;
  /** How long a plugin engine may take over one case (guard.ts); built-in engines are not guarded. */
  timeoutMs?: number;
  /** Do not stop at the first failure: collect the distinct ones (issue 14.5; in this thread, chunks in order). */
  keepGoing?: boolean;
  /** Guest profile and forced emulation (default: every guest, forced emulation at a share). */
  gen?: CaseGen;
  onProgress?: (done: number, total: number) => void;
}

export interface CampaignResult {
  property: string;
  engine: string;
  bugs: readonly string[];
  seed: number;
  shard: Shard;
  /** Runs actually made (fast-check stops a chunk at its first failure). */
  runs: number;
  chunks: number;
  seconds: number;
  failure?: Failure & { chunk: number };
  /** Every failure: the first one, or with keepGoing each distinct one, by chunk. */
  failures: (Failure & { chunk: number })[];
}

export function propertyNamed(name = 'equivalence'): PropertyDef {
  const p = PROPERTIES.find((x) => x.name === name);
  if (!p) throw new RangeError(`unknown property '${name}' (one of ${PROPERTIES.map((x) => x.name).join(', ')})`);
  return p;
}

export const defaultWorkers = (): number => Math.max(1, availableParallelism());

export async function runCampaign(o: CampaignOptions): Promise<CampaignResult> {
  const prop = propertyNamed(o.property);
  if (!appliesTo(prop, o.engine)) throw new RangeError(`property '${prop.name}' is about ${prop.engines!.join(', ')}, not ${o.engine}`);
  const shard = o.shard ?? { index: 1, count: 1 };
  const chunks = chunksOf(o.runs, shard);
  const t0 = performance.now();
  const outcomes: ChunkOutcome[] = [];
  const workers = Math.min(o.workers ?? 1, chunks.length);
  let done = 0;
  if (o.keepGoing) return keepGoing(prop, o, shard, chunks, t0);
  const record = (r: ChunkOutcome) => {
    outcomes.push(r);
    done += r.runs;
    o.onProgress?.(done, o.runs);
  };
  // Only a plugin runs guarded: the engines shipped here are trusted to return.
  const timeoutMs = isPluginPath(o.engine) ? (o.timeoutMs ?? DEFAULT_TIMEOUT_MS) : undefined;
  if (workers <= 1) {
    for (const { k, runs } of chunks) {
      const r = runChunk(prop, o.engine, o.bugs, k, chunkSeed(o.seed, k), runs, timeoutMs, o.gen);
      record(r);
      if (r.failure) break;
    }
  } else {
    await runOnWorkers<{ k: number; runs: number }, ChunkJob, ChunkOutcome>(
      new URL('./worker-entry.mjs', import.meta.url),
      workers,
      chunks,
      ({ k, runs }) => ({
        property: prop.name,
        engine: o.engine,
        bugs: [...o.bugs],
        k,
        seed: chunkSeed(o.seed, k),
        runs,
        timeoutMs,
        gen: o.gen ?? {},
      }),
      record,
    );
  }
  const failed = outcomes.filter((r) => r.failure).sort((a, b) => a.k - b.k)[0];
  const result: CampaignResult = {
    property: prop.name,
    engine: o.engine,
    bugs: o.bugs,
    seed: o.seed,
    shard,
    runs: outcomes.filter((r) => !failed || r.k <= failed.k).reduce((n, r) => n + r.runs, 0),
    chunks: outcomes.length,
    seconds: (performance.now() - t0) / 1000,
    failures: [],
  };
  if (failed?.failure) {
    result.failure = { ...failed.failure, chunk: failed.k };
    result.failures.push(result.failure);
  }
  return result;
}

/** Every chunk, in order, sharing the signatures found so far: deterministic, whatever `workers` says. */
function keepGoing(prop: PropertyDef, o: CampaignOptions, shard: Shard, chunks: { k: number; runs: number }[], t0: number): CampaignResult {
  const known = new Set<string>();
  const failures: CampaignResult['failures'] = [];
  let runs = 0;
  let done = 0;
  for (const { k, runs: n } of chunks) {
    const timeoutMs = isPluginPath(o.engine) ? (o.timeoutMs ?? DEFAULT_TIMEOUT_MS) : undefined;
    const r = runChunkKeepGoing(prop, o.engine, o.bugs, chunkSeed(o.seed, k), n, known, timeoutMs, o.gen);
    failures.push(...r.failures.map((f) => ({ ...f, chunk: k })));
    done += n;
    runs += n;
    o.onProgress?.(done, o.runs);
  }
  const result: CampaignResult = {
    property: prop.name,
    engine: o.engine,
    bugs: o.bugs,
    seed: o.seed,
    shard,
    runs,
    chunks: chunks.length,
    seconds: (performance.now() - t0) / 1000,
    failures,
  };
  if (failures[0]) result.failure = failures[0];
  return result;
}

export interface ChunkJob {
  property: string;
  engine: string;
  bugs: string[];
  k: number;
  seed: number;
  runs: number;
  /** Set for a plugin engine, which the worker loads by its path. */
  timeoutMs: number | undefined;
  gen: CaseGen;
}
