// `popek bench [--engine E]... [--steps N] [--json]` (DESIGN §10): guest instructions per
// second of each engine on each workload, with the engine's counters. Wall-clock numbers
// belong here, never in timed unit tests.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { assemble } from '../../spec/asm/assemble.ts';
import fc from 'fast-check';
import { caseArb } from '../../properties/check/cases.ts';
import { lockstep } from '../../properties/lockstep/lockstep.ts';
import { DEFAULT_SEED } from './check.ts';
import { ENGINES, engineFactory, makeEngine } from './engines.ts';
import { UsageError, parseCount } from './usage.ts';

export const BENCH_HELP = `usage: popek bench [--engine E]... [--workload W]... [--steps N] [--json]
       popek bench --lockstep [--engine E] [--runs N]

Runs each workload of examples/bench on each engine and prints guest instructions per
second (wall clock) and the engine's counters.
  --engine E     an engine (repeatable; default: every engine)
  --workload W   a workload name (repeatable; default: all)
  --steps N      step budget per run (default: 3000000)
  --lockstep     instead: lockstep property throughput on one core — generated cases of
                 popek check, the engine (default native) against the spec, runs per second
  --runs N       with --lockstep: how many cases (default: 500)
  --json         one JSON object`;

const WORKLOADS_DIR = fileURLToPath(new URL('../../examples/bench/', import.meta.url));
export const WORKLOADS = ['tight-loop', 'paging-loop'] as const;

export interface BenchRow {
  engine: string;
  workload: string;
  instructions: number;
  seconds: number;
  mips: number;
  counters: Record<string, number>;
}

export function benchOne(engine: string, workload: string, steps: number): BenchRow {
  const source = readFileSync(`${WORKLOADS_DIR}${workload}.s`, 'utf8');
  const { image } = assemble(source, `examples/bench/${workload}.s`);
  const e = makeEngine(engine, image, { ramBytes: 1 << 20 });
  const t0 = performance.now();
  const obs = e.run([], steps);
  const seconds = (performance.now() - t0) / 1000;
  return { engine, workload, instructions: obs.icount, seconds, mips: obs.icount / seconds / 1e6, counters: e.counters() };
}

/** Lockstep throughput: the cases `popek check` generates, at its default seed, on this thread. */
export function benchLockstep(engine: string, runs: number) {
  const cases = fc.sample(caseArb, { seed: DEFAULT_SEED, numRuns: runs });
  const make = engineFactory(engine);
  const images = cases.map((c) => assemble(c.source, 'generated.s').image);
  let steps = 0;
  const t0 = performance.now();
  cases.forEach((c, i) => {
    steps += lockstep(make, { image: images[i]!, config: { ramBytes: c.ramBytes }, events: c.events, maxSteps: c.maxSteps }).steps;
  });
  const seconds = (performance.now() - t0) / 1000;
  return { engine, runs, seconds, runsPerSecond: runs / seconds, stepsPerRun: steps / runs };
}

export function benchCommand(args: string[], out: (s: string) => void): number {
  const { values } = parseArgs({
    args,
    options: {
      engine: { type: 'string', multiple: true },
      workload: { type: 'string', multiple: true },
      steps: { type: 'string', default: '3000000' },
      json: { type: 'boolean', default: false },
      lockstep: { type: 'boolean', default: false },
      runs: { type: 'string', default: '500' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    out(BENCH_HELP + '\n');
    return 0;
  }
  if (values.lockstep) {
    const engine = values.engine?.[0] ?? 'native';
    engineFactory(engine);
    const r = benchLockstep(engine, parseCount(values.runs, '--runs', 1));
    out(values.json ? JSON.stringify(r) + '\n' : `lockstep ${engine} vs spec: ${r.runs} generated cases, ${r.stepsPerRun.toFixed(0)} steps per run on average, ${r.seconds.toFixed(2)} s: ${r.runsPerSecond.toFixed(0)} runs/s on one core\n`);
    return 0;
  }
  const engines = values.engine ?? Object.keys(ENGINES);
  const workloads = values.workload ?? [...WORKLOADS];
  for (const w of workloads) {
    if (!(WORKLOADS as readonly string[]).includes(w)) throw new UsageError(`unknown workload '${w}' (one of ${WORKLOADS.join(', ')})`);
  }
  const steps = parseCount(values.steps, '--steps', 1);
  const rows: BenchRow[] = [];
  for (const engine of engines) {
    for (const workload of workloads) {
      process.stderr.write(`bench: ${engine} × ${workload}...\n`);
      rows.push(benchOne(engine, workload, steps));
    }
  }
  if (values.json) {
    out(JSON.stringify(rows, null, 2) + '\n');
    return 0;
  }
  out(`${'engine'.padEnd(12)} ${'workload'.padEnd(14)} ${'instructions'.padStart(12)} ${'seconds'.padStart(8)} ${'M instr/s'.padStart(10)}  counters\n`);
  for (const r of rows) {
    const counters = Object.entries(r.counters).map(([k, v]) => `${k}=${v}`).join(' ');
    out(`${r.engine.padEnd(12)} ${r.workload.padEnd(14)} ${String(r.instructions).padStart(12)} ${r.seconds.toFixed(3).padStart(8)} ${r.mips.toFixed(2).padStart(10)}  ${counters}\n`);
  }
  return 0;
}
