// `popek bench [--engine E]... [--steps N] [--json]` (DESIGN §10): guest instructions per
// second of each engine on each workload, with the engine's counters. Wall-clock numbers
// belong here, never in timed unit tests.

import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { caseArb } from '../../properties/check/cases.ts';
import { lockstep, release } from '../../properties/lockstep/lockstep.ts';
import { DEFAULT_SEED } from './check.ts';
import { ENGINE_NAMES } from '../engines/registry.ts';
import { engineLabel } from '../engines/plugin.ts';
import { commandEngine, engineFactory, makeEngine, pluginWork, resolveEngine } from './engines.ts';
import { parseCommand } from './options.ts';
import { progressReporter } from './progress.ts';
import { assembleFile } from './source.ts';
import { UsageError, parseCount } from './usage.ts';
import { CPU_PROFILES, modelledCycles, type CpuProfile } from './cost-model.ts';
import { figureCommand } from './figure-asplos06.ts';
import { QEMU_BENCH_RUNS, qemuBench } from './qemu-bench.ts';
import { loadWarning, probeOtherLoad } from './machine-load.ts';

export const BENCH_HELP = `usage: popek bench [--engine E]... [--workload W]... [--steps N] [--cpu PROFILE] [--counters] [--json]
       popek bench --lockstep [--engine E] [--runs N] [--baseline]
       popek bench --protocol [--engine E] [--runs N]
       popek bench --figure asplos06 [--cpu PROFILE] [--json] [--svg OUT.svg]   (details: --figure asplos06 --help)

Runs each workload of examples/bench on each engine and prints guest instructions per
second, exits, modelled cycles (DESIGN §9: counters × the costs of a CPU) and the
overhead over native. Speed is wall clock after an untimed warm-up run (up to 1,000,000
steps, so JIT compilation is not counted), over runs of the budget on fresh machines
for at least 0.3 s or 50 runs. When other processes kept the CPUs busy meanwhile,
bench says so on stderr: such figures are low and not comparable.
  --engine E     an engine (repeatable; default: every engine), or the path of a plugin module (./my-vmm.ts)
  --workload W   a workload name (repeatable; default: all)
  --steps N      step budget per run (default: 3000000)
  --cpu PROFILE  exit round-trip costs of ${CPU_PROFILES.map((c) => c.name).join(', ')} (default: nehalem)
  --lockstep     instead: lockstep property throughput on one core — generated cases of
                 popek check, the engine (default native) against the spec, runs per second
  --baseline     with --lockstep: also time the full per-step comparison on the same
                 cases and print the ratio
  --protocol     instead: the same lockstep cases with E in this process and E served by
                 \`popek serve\` in another (docs/engine-protocol.md): runs/s of both and
                 the protocol's cost per step (process start not counted)
  --runs N       with --lockstep or --protocol: how many cases (default: 500)
  --engine qemu  instead: guests/s and QEMU runs/s checking generated x86 guests under
                 qemu-system-i386 (docs/qemu.md), with --observe steps and end on the same guests,
                 and where a run's time goes (--runs, default: ${QEMU_BENCH_RUNS})
  --counters     also each engine's counters, as a table (workloads × counters)
  --json         one JSON object, counters included`;

export const BENCH_OPTIONS = {
  engine: { type: 'string', multiple: true },
  workload: { type: 'string', multiple: true },
  steps: { type: 'string', default: '3000000' },
  cpu: { type: 'string', default: 'nehalem' },
  json: { type: 'boolean', default: false },
  counters: { type: 'boolean', default: false },
  lockstep: { type: 'boolean', default: false },
  protocol: { type: 'boolean', default: false },
  runs: { type: 'string', default: '500' },
  baseline: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

const WORKLOADS_DIR = fileURLToPath(new URL('../../examples/bench/', import.meta.url));
/** tight-loop and paging-loop measure raw speed; user-loop, fork and ptemod are the three workloads of the VMM trade-offs (issue 6, DESIGN §9). */
export const WORKLOADS = ['tight-loop', 'paging-loop', 'user-loop', 'fork', 'ptemod'] as const;

export interface BenchRow {
  engine: string;
  workload: string;
  /** Of one run (each timed run retires the same). */
  instructions: number;
  /** Wall clock of one run, averaged over the timed runs. */
  seconds: number;
  mips: number;
  exits: number;
  modelledCycles: number;
  /** Modelled cycles over native's on the same workload (when native ran). */
  overhead?: number;
  counters: Record<string, number>;
}

/**
 * Steps of the untimed warm-up run before the timed ones: the rows report steady-state
 * speed, not V8 compiling the interpreter (a cold 3 M-step native run spent up to a third
 * of its time before its hot loop was optimized).
 */
const WARM_UP_STEPS = 1_000_000;
/**
 * A row is timed over runs on fresh machines until this much time has passed: one 3 M-step
 * native run lasts ~30 ms, and windows that short gave 51–124 M instr/s for the same code
 * (a collection or a background compile in the window is a large part of it).
 */
const MIN_TIMED_SECONDS = 0.3;
/** ...or until this many runs (a tiny --steps would otherwise build machines for long). */
const MAX_TIMED_RUNS = 50;

export function benchOne(engine: string, workload: string, steps: number, cpu: CpuProfile): BenchRow {
  const { image } = assembleFile(`${WORKLOADS_DIR}${workload}.s`);
  const warm = makeEngine(engine, image, { ramBytes: 1 << 20 });
  warm.run([], Math.min(steps, WARM_UP_STEPS));
  release(warm);
  // Runs are deterministic: every timed run retires the same instructions with the same
  // counters, so the first one's stand for the row and only the clock adds up.
  let first: { icount: number; counters: Record<string, number> } | undefined;
  let instructions = 0;
  let seconds = 0;
  let runs = 0;
  do {
    const e = makeEngine(engine, image, { ramBytes: 1 << 20 });
    const t0 = performance.now();
    const obs = e.run([], steps);
    seconds += (performance.now() - t0) / 1000;
    instructions += obs.icount;
    first ??= { icount: obs.icount, counters: e.counters() };
    release(e);
    runs++;
  } while (seconds < MIN_TIMED_SECONDS && runs < MAX_TIMED_RUNS);
  return {
    engine,
    workload,
    instructions: first.icount,
    seconds: seconds / runs,
    mips: instructions / seconds / 1e6,
    exits: first.counters.exits ?? 0,
    modelledCycles: modelledCycles(first.counters, cpu),
    counters: first.counters,
  };
}

export interface LockstepBench {
  engine: string;
  runs: number;
  stepsPerRun: number;
  /** The fast comparison (fingerprints per step, observations at checkpoints). */
  seconds: number;
  runsPerSecond: number;
  /** The full per-step comparison, on the same cases in the same process (with --baseline). */
  baseline?: { seconds: number; runsPerSecond: number };
  /** runsPerSecond over the baseline's. */
  speedup?: number;
}

/**
 * Lockstep throughput: the cases `popek check` generates, at its default seed, on this
 * thread (generated and assembled before the clock starts). Each path runs the cases
 * once to warm up, then once timed; with `baseline` the full comparison is timed on the
 * same cases right after the fast one, so the ratio comes from one run.
 */
export function benchLockstep(
  engine: string,
  runs: number,
  baseline = false,
  onProgress?: (done: number, total: number) => void,
): LockstepBench {
  const total = (baseline ? 4 : 2) * runs;
  let done = 0;
  const cases = fc.sample(caseArb, { seed: DEFAULT_SEED, numRuns: runs });
  const make = engineFactory(engine);
  const pass = (compare: 'fast' | 'full'): { seconds: number; steps: number } => {
    let steps = 0;
    const t0 = performance.now();
    cases.forEach((c) => {
      const run = { image: c.image, config: { ramBytes: c.ramBytes }, events: c.events, maxSteps: c.maxSteps };
      steps += lockstep(make, run, { compare }).steps;
      onProgress?.(++done, total);
    });
    return { seconds: (performance.now() - t0) / 1000, steps };
  };
  pass('fast');
  const fast = pass('fast');
  const r: LockstepBench = { engine, runs, stepsPerRun: fast.steps / runs, seconds: fast.seconds, runsPerSecond: runs / fast.seconds };
  if (baseline) {
    pass('full');
    const full = pass('full');
    r.baseline = { seconds: full.seconds, runsPerSecond: runs / full.seconds };
    r.speedup = r.runsPerSecond / r.baseline.runsPerSecond;
  }
  return r;
}

function warnIfBusy(otherCpus: number): void {
  const warning = loadWarning(otherCpus);
  if (warning !== undefined) process.stderr.write(warning + '\n');
}

export async function benchCommand(args: string[], out: (s: string) => void): Promise<number> {
  if (args.some((a) => a === '--figure' || a.startsWith('--figure='))) return figureCommand(args, out);
  const { values, positionals, given } = parseCommand('bench', args, BENCH_OPTIONS);
  if (positionals.length > 0) throw new UsageError(`bench: unexpected argument '${positionals[0]}' (see popek bench --help)`);
  if (values.lockstep || values.protocol)
    for (const flag of ['counters', 'workload', 'steps', 'cpu'])
      if (given.has(flag)) throw new UsageError(`--${flag} does not apply with --${values.lockstep ? 'lockstep' : 'protocol'}`);
  if (given.has('baseline') && !values.lockstep) throw new UsageError('--baseline applies only with --lockstep');
  if (values.help) {
    out(BENCH_HELP + '\n');
    return 0;
  }
  if (values.engine?.includes('qemu'))
    return qemuBench(given.has('runs') ? parseCount(values.runs, '--runs', 1) : QEMU_BENCH_RUNS, values.json, out);
  if (values.protocol) {
    // A plugin is loaded and probed first, and named by its absolute path from then on.
    const engine = await resolveEngine(values.engine?.[0] ?? 'native');
    const runs = parseCount(values.runs, '--runs', 1);
    const served = commandEngine(`node ${fileURLToPath(new URL('../../bin/popek.js', import.meta.url))} serve --engine ${engine}`);
    engineFactory(served); // starts the process and shakes hands before the clock runs
    const local = pluginWork(engine, () => benchLockstep(engine, runs));
    const remote = benchLockstep(served, runs);
    const steps = remote.stepsPerRun * runs;
    const perStepUs = ((remote.seconds - local.seconds) / steps) * 1e6;
    const r = { engine, runs, stepsPerRun: remote.stepsPerRun, local: local.runsPerSecond, served: remote.runsPerSecond, perStepUs };
    out(
      values.json
        ? JSON.stringify(r) + '\n'
        : `lockstep ${engine} vs spec, ${runs} generated cases, ${r.stepsPerRun.toFixed(0)} steps per run on average, on one core:\n` +
            `  in this process            ${local.runsPerSecond.toFixed(1)} runs/s\n` +
            `  served over the protocol   ${remote.runsPerSecond.toFixed(1)} runs/s\n` +
            `  protocol cost per step     ${perStepUs.toFixed(0)} µs (one step + observe round trip, JSON both ways)\n`,
    );
    return 0;
  }
  if (values.lockstep) {
    const engine = await resolveEngine(values.engine?.[0] ?? 'native');
    const runs = parseCount(values.runs, '--runs', 1, 1_000_000);
    const progress = progressReporter(`bench --lockstep ${engineLabel(engine)}`);
    const otherLoad = probeOtherLoad();
    const r = pluginWork(engine, () => benchLockstep(engine, runs, values.baseline, progress.update));
    progress.end();
    warnIfBusy(otherLoad());
    const line = (what: string, seconds: number, rps: number) =>
      `lockstep ${engineLabel(engine)} vs spec, ${what}: ${r.runs} generated cases, ${r.stepsPerRun.toFixed(0)} steps per run on average, ${seconds.toFixed(2)} s: ${rps.toFixed(0)} runs/s on one core\n`;
    if (values.json) out(JSON.stringify(r) + '\n');
    else {
      out(line('fast comparison', r.seconds, r.runsPerSecond));
      if (r.baseline) {
        out(line('full comparison (baseline)', r.baseline.seconds, r.baseline.runsPerSecond));
        out(`speed-up: ${r.speedup!.toFixed(2)}x\n`);
      }
    }
    return 0;
  }
  const engines = values.engine ?? ENGINE_NAMES;
  const workloads = values.workload ?? [...WORKLOADS];
  for (const w of workloads) {
    if (!(WORKLOADS as readonly string[]).includes(w)) throw new UsageError(`unknown workload '${w}' (one of ${WORKLOADS.join(', ')})`);
  }
  const steps = parseCount(values.steps, '--steps', 1);
  const cpu = CPU_PROFILES.find((c) => c.name === values.cpu);
  if (!cpu) throw new UsageError(`--cpu: unknown profile '${values.cpu}' (one of ${CPU_PROFILES.map((c) => c.name).join(', ')})`);
  const resolved: string[] = [];
  for (const e of engines) resolved.push(await resolveEngine(e));
  const rows: BenchRow[] = [];
  const otherLoad = probeOtherLoad();
  for (const engine of resolved) {
    for (const workload of workloads) {
      process.stderr.write(`bench: ${engineLabel(engine)} × ${workload}...\n`);
      rows.push(pluginWork(engine, () => benchOne(engine, workload, steps, cpu)));
    }
  }
  warnIfBusy(otherLoad());
  for (const r of rows) {
    const native = rows.find((x) => x.engine === 'native' && x.workload === r.workload);
    if (native && native.modelledCycles > 0 && r.engine !== 'spec') r.overhead = r.modelledCycles / native.modelledCycles;
  }
  if (values.json) {
    out(JSON.stringify(rows, null, 2) + '\n');
    return 0;
  }
  out(`cpu profile: ${cpu.name} (exit round trip ${cpu.exitRoundTrip} cycles)\n`);
  out(
    `${'engine'.padEnd(12)} ${'workload'.padEnd(12)} ${'instructions'.padStart(12)} ${'M instr/s'.padStart(10)} ${'exits'.padStart(9)} ${'modelled Mcycles'.padStart(17)} ${'vs native'.padStart(9)}\n`,
  );
  for (const r of rows) {
    const model = r.engine === 'spec' ? '-' : (r.modelledCycles / 1e6).toFixed(2);
    const overhead = r.overhead === undefined ? '-' : `${r.overhead.toFixed(2)}x`;
    out(
      `${engineLabel(r.engine).padEnd(12)} ${r.workload.padEnd(12)} ${String(r.instructions).padStart(12)} ${r.mips.toFixed(2).padStart(10)} ${String(r.exits).padStart(9)} ${model.padStart(17)} ${overhead.padStart(9)}\n`,
    );
  }
  if (values.counters) out('\n' + countersTable(rows) + '\n');
  return 0;
}

/** `--counters` (issue 14.10): per workload, one row per counter, one column per engine ('-': the engine has no such counter). */
export function countersTable(rows: readonly BenchRow[]): string {
  const out: string[] = [];
  for (const workload of [...new Set(rows.map((r) => r.workload))]) {
    const rs = rows.filter((r) => r.workload === workload);
    const names = [...new Set(rs.flatMap((r) => Object.keys(r.counters)))];
    const w0 = Math.max(`counters: ${workload}`.length, ...names.map((n) => n.length));
    const ws = rs.map((r) => Math.max(r.engine.length, ...names.map((n) => String(r.counters[n] ?? '-').length)));
    out.push(`${`counters: ${workload}`.padEnd(w0)}  ${rs.map((r, i) => r.engine.padStart(ws[i]!)).join('  ')}`);
    for (const n of names) out.push(`${n.padEnd(w0)}  ${rs.map((r, i) => String(r.counters[n] ?? '-').padStart(ws[i]!)).join('  ')}`);
    out.push('');
  }
  return out.join('\n').trimEnd();
}
