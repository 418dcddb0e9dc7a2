// `popek bench --engine qemu [--runs N]` (issue 17): how fast the qemu engine checks
// guests — generated x86 guests (the campaign's, seed DEFAULT_SEED) one after another on
// one core, and where a run's time goes: QEMU's start-up (a guest that halts at once),
// the QEMU process per guest, and this side (spec pre-run, translation, log reading,
// comparison) — in both ways of observing QEMU (docs/qemu.md): every step from its log,
// and the end state alone (no log, the KVM mode; run here under TCG), on the same guests
// in the same sitting so that their ratio means something on a shared machine.
// `popek check --engine qemu --workers W` overlaps W of these.

import fc from 'fast-check';
import { checkCaseArb, type CheckCase } from '../../properties/check/cases.ts';
import { qemuCase } from '../../properties/check/qemu-campaign.ts';
import type { Observe } from '../../properties/qemu-diff.ts';
import { assemble } from '../../spec/asm/assemble.ts';
import { runQemu } from '../engines/qemu/run.ts';
import { DEFAULT_SEED } from './check.ts';
import { progressReporter } from './progress.ts';

export const QEMU_BENCH_RUNS = 20;

/** One mode over the cases: wall time, QEMU runs and their time, steps compared, guests that agreed. */
function benchMode(cases: readonly CheckCase[], observe: Observe, tick: () => void) {
  let qemuRuns = 0;
  let qemuSeconds = 0;
  let steps = 0;
  let agreed = 0;
  const t0 = performance.now();
  for (const c of cases) {
    const r = qemuCase(c, { observe });
    qemuRuns += r.qemuRuns;
    qemuSeconds += r.seconds;
    steps += r.steps;
    if (r.divergence === undefined && r.beyond === undefined) agreed++;
    tick();
  }
  const seconds = (performance.now() - t0) / 1000;
  return {
    seconds,
    guestsPerSecond: cases.length / seconds,
    agreed,
    qemuRuns,
    qemuRunsPerSecond: qemuRuns / seconds,
    qemuSecondsPerRun: qemuRuns === 0 ? 0 : qemuSeconds / qemuRuns,
    thisSideSecondsPerGuest: (seconds - qemuSeconds) / cases.length,
    stepsPerGuest: steps / cases.length,
  };
}

export function qemuBench(runs: number, json: boolean, out: (s: string) => void): number {
  const idle = assemble('hlt\n', 'idle.s').image;
  const startup = Array.from({ length: 5 }, () => runQemu(idle, 0x10000).seconds).sort((a, b) => a - b)[2]!;
  const cases = fc.sample(checkCaseArb({ guests: 'x86', forcedEmulation: 'never' }), { seed: DEFAULT_SEED, numRuns: runs });
  const progress = progressReporter('bench qemu');
  let done = 0;
  const tick = () => progress.update(++done, 2 * runs);
  const steps = benchMode(cases, 'steps', tick);
  const end = benchMode(cases, 'end', tick);
  progress.end();
  if (json) {
    out(
      JSON.stringify({
        engine: 'qemu',
        runs,
        startupSeconds: startup,
        steps,
        end,
        endSpeedup: end.guestsPerSecond / steps.guestsPerSecond,
      }) + '\n',
    );
    return 0;
  }
  const line = (name: string, m: ReturnType<typeof benchMode>) =>
    `  ${name}: ${m.guestsPerSecond.toFixed(2)} guests/s, ${m.qemuRunsPerSecond.toFixed(2)} QEMU runs/s (${m.qemuRuns} runs), ` +
    `a QEMU run ${(m.qemuSecondsPerRun * 1000).toFixed(0)} ms, this side ${(m.thisSideSecondsPerGuest * 1000).toFixed(0)} ms a guest; ${m.agreed} of ${runs} agree\n`;
  out(
    `qemu vs spec, ${runs} generated x86 guests on one core (the same guests in both modes), ${steps.stepsPerGuest.toFixed(0)} steps compared per guest with --observe steps:\n` +
      line('--observe steps', steps) +
      line('--observe end  ', end) +
      `  --observe end / --observe steps: ${(end.guestsPerSecond / steps.guestsPerSecond).toFixed(2)}× the guests/s\n` +
      `  QEMU start-up: ${(startup * 1000).toFixed(0)} ms (a guest that halts at once; a second run fetches RAM pages whose hashes differ)\n`,
  );
  return 0;
}
