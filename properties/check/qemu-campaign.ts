// `popek check --engine qemu` (issue 17, docs/qemu.md): generated guests, each translated
// and run under qemu-system-i386 beside the spec (properties/qemu-diff.ts). A divergence
// fails the campaign and is shrunk and saved like any other engine's; a guest the
// translation cannot express (or that reaches a named exclusion) is counted by its reason,
// never failed. Chunks of runs (each with its own seed, seeds.ts) go to worker threads;
// each QEMU run is a process of its own, so workers overlap QEMU with the spec.

import fc from 'fast-check';
import { assemble } from '../../spec/asm/assemble.ts';
import { qemuDiff, type QemuDiff, type QemuDiffOptions } from '../qemu-diff.ts';
import { checkCaseArb, failureFile, type CaseGen, type CheckCase } from './cases.ts';
import { chunkSeed } from './seeds.ts';
import { runOnWorkers } from './worker-pool.ts';
import type { Failure } from './replay-file.ts';

/** Fewer runs a chunk than other engines' (seeds.ts): a QEMU run costs ~0.3 s, and chunks are what workers share. */
export const QEMU_CHUNK_RUNS = 5;

export interface QemuTally {
  runs: number;
  /** Runs compared to their end (or to the step budget). */
  agreed: number;
  /** Runs that left the translation's subset, by reason (numbers abstracted). */
  notExpressible: Record<string, number>;
  /** Differences put down to a named exclusion, by exclusion. */
  explained: Record<string, number>;
  steps: number;
  qemuRuns: number;
  qemuSeconds: number;
}

export interface QemuChunkJob {
  k: number;
  seed: number;
  runs: number;
  gen: CaseGen;
  opts: QemuDiffOptions;
}

export interface QemuChunkOutcome {
  k: number;
  tally: QemuTally;
  failure?: Failure;
}

export const emptyTally = (): QemuTally => ({
  runs: 0,
  agreed: 0,
  notExpressible: {},
  explained: {},
  steps: 0,
  qemuRuns: 0,
  qemuSeconds: 0,
});

/** A reason with its addresses and values abstracted, so equal limits count together. */
const reasonOf = (beyond: string): string => beyond.replace(/^at (eip 0x[0-9a-f]+|step \d+): /, '').replace(/0x[0-9a-f]+/gi, 'N');

export function qemuCase(c: Pick<CheckCase, 'source' | 'events' | 'ramBytes' | 'maxSteps'>, opts: QemuDiffOptions): QemuDiff {
  return qemuDiff(assemble(c.source, 'generated.s').image, c.ramBytes, c.events, c.maxSteps, opts);
}

/** The first divergence as `popek diff --engine qemu` prints it. */
export function formatQemuDivergence(r: QemuDiff): string {
  const d = r.divergence!;
  return [
    `qemu: not compared: ${r.notCompared.join(', ')} (docs/qemu.md)`,
    `${r.observe === 'end' ? 'divergence at the end, step' : 'first divergence at step'} ${d.step}: ${d.insn}   (eip 0x${d.eip.toString(16)})`,
    `  step outcome: spec ${d.outcome.spec}, qemu ${d.outcome.qemu}`,
    ...d.fields.map((f) => `* ${f.path}: spec ${JSON.stringify(f.spec)}, qemu ${JSON.stringify(f.engine)}`),
  ].join('\n');
}

function add(t: QemuTally, r: QemuDiff): void {
  t.runs++;
  t.steps += r.steps;
  t.qemuRuns += r.qemuRuns;
  t.qemuSeconds += r.seconds;
  if (r.beyond !== undefined) {
    const why = reasonOf(r.beyond);
    t.notExpressible[why] = (t.notExpressible[why] ?? 0) + 1;
  } else if (r.divergence === undefined) t.agreed++;
  for (const e of r.explained) {
    const name = e.split(':')[0]!;
    t.explained[name] = (t.explained[name] ?? 0) + 1;
  }
}

/** One chunk: `runs` cases from `seed`; the first divergence is shrunk (the tally counts the runs before shrinking). */
export function runQemuChunk(job: QemuChunkJob): QemuChunkOutcome {
  const tally = emptyTally();
  let shrinking = false;
  const result = fc.check(
    fc.property(checkCaseArb({ ...job.gen, forcedEmulation: 'never' }), (c) => {
      const r = qemuCase(c, job.opts);
      if (!shrinking) add(tally, r);
      if (r.divergence !== undefined) shrinking = true;
      return r.divergence === undefined;
    }),
    { seed: job.seed, numRuns: job.runs },
  );
  if (!result.failed || result.counterexample === null) return { k: job.k, tally };
  const c = result.counterexample[0];
  const r = qemuCase(c, job.opts);
  const text = r.divergence ? formatQemuDivergence(r) : String(result.errorInstance);
  const d = r.divergence;
  return {
    k: job.k,
    tally,
    failure: failureFile(result, c, {
      property: 'equivalence',
      engine: 'qemu',
      bugs: [...(job.opts.bugs ?? [])],
      ...(job.opts.observe === 'end' ? { observe: 'end' as const } : {}),
      divergence: text,
      signature: d
        ? `qemu equivalence: ${d.insn.replace(/0x[0-9a-f]+|\d+/gi, 'n')} -> ${d.fields[0]?.path.replace(/\[.*$/, '') ?? 'outcome'}`
        : 'qemu: threw',
    }),
  };
}

export interface QemuCampaign {
  tally: QemuTally;
  seconds: number;
  /** The failure of the lowest failing chunk (deterministic whatever the number of workers). */
  failure?: Failure & { chunk: number };
}

/** `runs` cases from `seed` in chunks of QEMU_CHUNK_RUNS, on `workers` threads; stops handing out chunks above a failure. */
export async function runQemuCampaign(o: {
  runs: number;
  seed: number;
  workers: number;
  gen: CaseGen;
  opts: QemuDiffOptions;
  onProgress?: (done: number, total: number) => void;
}): Promise<QemuCampaign> {
  const t0 = performance.now();
  const chunks = Array.from({ length: Math.ceil(o.runs / QEMU_CHUNK_RUNS) }, (_, k) => ({
    k,
    seed: chunkSeed(o.seed, k),
    runs: Math.min(QEMU_CHUNK_RUNS, o.runs - k * QEMU_CHUNK_RUNS),
    gen: o.gen,
    opts: o.opts,
  }));
  const outcomes: QemuChunkOutcome[] = [];
  let done = 0;
  let lowestFailure = Infinity;
  const record = (r: QemuChunkOutcome) => {
    outcomes.push(r);
    done += r.tally.runs;
    if (r.failure) lowestFailure = Math.min(lowestFailure, r.k);
    o.onProgress?.(done, o.runs);
  };
  const workers = Math.min(o.workers, chunks.length);
  if (workers <= 1) {
    for (const job of chunks) {
      record(runQemuChunk(job));
      if (lowestFailure < Infinity) break;
    }
  } else {
    await runOnWorkers(new URL('./qemu-worker-entry.mjs', import.meta.url), workers, chunks, (job) => job, record);
  }
  // Only chunks up to the failing one count: the same campaign whatever the number of workers.
  const counted = outcomes.filter((r) => r.k <= lowestFailure).sort((a, b) => a.k - b.k);
  const tally = emptyTally();
  for (const { tally: t } of counted) {
    tally.runs += t.runs;
    tally.agreed += t.agreed;
    tally.steps += t.steps;
    tally.qemuRuns += t.qemuRuns;
    tally.qemuSeconds += t.qemuSeconds;
    for (const [k, n] of Object.entries(t.notExpressible)) tally.notExpressible[k] = (tally.notExpressible[k] ?? 0) + n;
    for (const [k, n] of Object.entries(t.explained)) tally.explained[k] = (tally.explained[k] ?? 0) + n;
  }
  const failed = counted.find((r) => r.failure);
  return {
    tally,
    seconds: (performance.now() - t0) / 1000,
    ...(failed?.failure ? { failure: { ...failed.failure, chunk: failed.k } } : {}),
  };
}
