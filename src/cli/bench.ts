// `popek bench [--engine E]... [--steps N] [--json]` (DESIGN §10): guest instructions per
// second of each engine on each workload, with the engine's counters. Wall-clock numbers
// belong here, never in timed unit tests.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { assemble } from '../../spec/asm/assemble.ts';
import { ENGINES, makeEngine } from './engines.ts';
import { UsageError, parseCount } from './usage.ts';

export const BENCH_HELP = `usage: popek bench [--engine E]... [--workload W]... [--steps N] [--json]

Runs each workload of examples/bench on each engine and prints guest instructions per
second (wall clock) and the engine's counters.
  --engine E     an engine (repeatable; default: every engine)
  --workload W   a workload name (repeatable; default: all)
  --steps N      step budget per run (default: 3000000)
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

export function benchCommand(args: string[], out: (s: string) => void): number {
  const { values } = parseArgs({
    args,
    options: {
      engine: { type: 'string', multiple: true },
      workload: { type: 'string', multiple: true },
      steps: { type: 'string', default: '3000000' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    out(BENCH_HELP + '\n');
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
