// `popek bench --engine qemu [--runs N]` (issue 17): how fast the qemu engine checks
// guests — generated x86 guests (the campaign's, seed DEFAULT_SEED) one after another on
// one core, and where a run's time goes: QEMU's start-up (a guest that halts at once),
// the QEMU process per guest, and this side (spec pre-run, translation, log reading,
// comparison). `popek check --engine qemu --workers W` overlaps W of these.

import fc from 'fast-check';
import { checkCaseArb } from '../../properties/check/cases.ts';
import { qemuCase } from '../../properties/check/qemu-campaign.ts';
import { assemble } from '../../spec/asm/assemble.ts';
import { runQemu } from '../engines/qemu/run.ts';
import { DEFAULT_SEED } from './check.ts';
import { progressReporter } from './progress.ts';

export const QEMU_BENCH_RUNS = 20;

export function qemuBench(runs: number, json: boolean, out: (s: string) => void): number {
  const idle = assemble('hlt\n', 'idle.s').image;
  const startup = Array.from({ length: 5 }, () => runQemu(idle, 0x10000).seconds).sort((a, b) => a - b)[2]!;
  const cases = fc.sample(checkCaseArb({ guests: 'x86', forcedEmulation: 'never' }), { seed: DEFAULT_SEED, numRuns: runs });
  const progress = progressReporter('bench qemu');
  let qemuRuns = 0;
  let qemuSeconds = 0;
  let steps = 0;
  const t0 = performance.now();
  cases.forEach((c, i) => {
    const r = qemuCase(c, {});
    qemuRuns += r.qemuRuns;
    qemuSeconds += r.seconds;
    steps += r.steps;
    progress.update(i + 1, runs);
  });
  const seconds = (performance.now() - t0) / 1000;
  progress.end();
  const r = {
    engine: 'qemu',
    runs,
    seconds,
    guestsPerSecond: runs / seconds,
    qemuRuns,
    qemuRunsPerSecond: qemuRuns / seconds,
    startupSeconds: startup,
    qemuSecondsPerRun: qemuSeconds / qemuRuns,
    thisSideSecondsPerGuest: (seconds - qemuSeconds) / runs,
    stepsPerGuest: steps / runs,
  };
  out(
    json
      ? JSON.stringify(r) + '\n'
      : `qemu vs spec, ${runs} generated x86 guests on one core, ${r.stepsPerGuest.toFixed(0)} steps compared per guest on average:\n` +
          `  ${r.guestsPerSecond.toFixed(2)} guests/s, ${r.qemuRunsPerSecond.toFixed(2)} QEMU runs/s (${qemuRuns} runs: a second one fetches RAM pages whose hashes differ)\n` +
          `  a QEMU run: ${(r.qemuSecondsPerRun * 1000).toFixed(0)} ms, of which start-up ${(startup * 1000).toFixed(0)} ms (a guest that halts at once)\n` +
          `  this side per guest: ${(r.thisSideSecondsPerGuest * 1000).toFixed(0)} ms (spec pre-run and comparison, translation, log reading)\n`,
  );
  return 0;
}
