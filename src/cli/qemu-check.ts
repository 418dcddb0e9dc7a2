// `popek check --engine qemu [--guests x86] [--runs N] [--workers W] [--accel tcg|kvm]
// [--observe steps|end] [--bug B]` (issue 17, docs/qemu.md): the campaign of
// properties/check/qemu-campaign.ts, its counterexample saved with the `popek diff
// --engine qemu` command that reproduces it.

import { spawnSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { formatReport } from '../../properties/check/counterexample.ts';
import { formatQemuDivergence, qemuCase, runQemuCampaign } from '../../properties/check/qemu-campaign.ts';
import { notComparedIn, type Observe } from '../../properties/qemu-diff.ts';
import type { ReplayFile } from '../../properties/check/replay-file.ts';
import type { CaseGen } from '../../properties/check/cases.ts';
import { TRANSLATOR_BUGS } from '../engines/qemu/translate.ts';
import { progressReporter } from './progress.ts';
import { saveCounterexample } from './save.ts';
import { UsageError } from './usage.ts';

/**
 * `--accel`: tcg (default), or kvm where /dev/kvm opens for reading and writing, as QEMU
 * opens it (an existing node whose module is not loaded fails here too, ENXIO); `kvm` is
 * the path, which tests replace.
 */
export function parseAccel(text: string | undefined, kvm = '/dev/kvm'): 'tcg' | 'kvm' {
  if (text === undefined || text === 'tcg') return 'tcg';
  if (text !== 'kvm') throw new UsageError(`--accel: '${text}' is not tcg or kvm`);
  try {
    closeSync(openSync(kvm, 'r+'));
  } catch (e) {
    throw new UsageError(`--accel kvm: ${kvm} is not usable here (${(e as NodeJS.ErrnoException).code ?? 'error'}); use --accel tcg`);
  }
  return 'kvm';
}

/**
 * `--observe`: `steps` (QEMU's log, every step compared; TCG only, the default there) or
 * `end` (no log: the end state the exit routine sends; the default and only mode under KVM).
 */
export function parseObserve(text: string | undefined, accel: 'tcg' | 'kvm'): Observe {
  if (text === undefined) return accel === 'kvm' ? 'end' : 'steps';
  if (text !== 'steps' && text !== 'end') throw new UsageError(`--observe: '${text}' is not steps or end`);
  if (text === 'steps' && accel === 'kvm')
    throw new UsageError('--observe steps: QEMU logs no instruction states under KVM; use --observe end (or --accel tcg)');
  return text;
}

/** The line every report of a mode starts with: what that mode does not compare (issue 17 item 1). */
export function notComparedLine(observe: Observe): string {
  return `qemu (--observe ${observe}): not compared: ${notComparedIn(observe).join(', ')} (docs/qemu.md)`;
}

/** The binary must run before a campaign starts: a missing QEMU is a usage error, not a counterexample. */
export function checkQemuInstalled(): void {
  const r = spawnSync('qemu-system-i386', ['--version'], { encoding: 'utf8' });
  if (r.status !== 0)
    throw new UsageError(
      `--engine qemu: qemu-system-i386 does not run here (${r.error ? (r.error as NodeJS.ErrnoException).code : `exit ${r.status}`}; Debian: apt-get install qemu-system-x86)`,
    );
}

export function checkTranslatorBugs(bugs: readonly string[]): void {
  for (const b of bugs)
    if (TRANSLATOR_BUGS[b] === undefined)
      throw new UsageError(`unknown bug '${b}' for qemu (planted translator bugs: ${Object.keys(TRANSLATOR_BUGS).join(', ')})`);
}

export async function qemuCheck(
  o: {
    runs: number;
    seed: number;
    workers: number;
    gen: CaseGen;
    bugs: readonly string[];
    accel: 'tcg' | 'kvm';
    observe: Observe;
    out: string;
    json: boolean;
  },
  out: (s: string) => void,
): Promise<number> {
  checkTranslatorBugs(o.bugs);
  checkQemuInstalled();
  const progress = progressReporter(`check qemu${o.bugs.length ? ` --bug ${o.bugs.join(',')}` : ''}`);
  const r = await runQemuCampaign({
    runs: o.runs,
    seed: o.seed,
    workers: o.workers,
    gen: o.gen,
    opts: { bugs: o.bugs, accel: o.accel, observe: o.observe },
    onProgress: progress.update,
  });
  progress.end();
  const t = r.tally;
  const saved = r.failure ? saveCounterexample(o.out, { ...r.failure, campaignSeed: o.seed }) : undefined;
  if (o.json) {
    out(
      JSON.stringify(
        {
          engine: 'qemu',
          accel: o.accel,
          observe: o.observe,
          notCompared: notComparedIn(o.observe),
          seed: o.seed >>> 0,
          seconds: r.seconds,
          ...t,
          failure: r.failure ?? null,
          saved: saved ?? null,
        },
        null,
        2,
      ) + '\n',
    );
    return r.failure ? 1 : 0;
  }
  const beyond = Object.values(t.notExpressible).reduce((a, b) => a + b, 0);
  out(notComparedLine(o.observe) + '\n');
  out(
    `qemu: equivalence: ${r.failure ? 'FAILED' : 'ok'} after ${t.runs} runs in ${r.seconds.toFixed(1)} s (seed ${o.seed >>> 0}): ` +
      `${t.agreed} agree, ${beyond} not expressible, ${r.failure ? 1 : 0} diverge; ${t.qemuRuns} QEMU runs (${(t.qemuRuns / r.seconds).toFixed(2)}/s)\n`,
  );
  for (const [why, n] of Object.entries(t.notExpressible).sort((a, b) => b[1] - a[1])) out(`  not expressible (${n}): ${why}\n`);
  for (const [name, n] of Object.entries(t.explained).sort((a, b) => b[1] - a[1])) out(`  explained by exclusion ${name}: ${n} runs\n`);
  if (r.failure && saved) {
    out(
      '\n' +
        formatReport({
          found: { ...r.failure, campaignSeed: o.seed },
          runs: t.runs,
          shrinks: r.failure.shrinks,
          bugDescriptions: Object.fromEntries(o.bugs.map((b) => [b, TRANSLATOR_BUGS[b] ?? ''])),
          replayPath: saved.replayPath,
          sPath: saved.sPath,
          command: saved.command,
          divergence: r.failure.divergence,
          verbose: false,
        }),
    );
  }
  return r.failure ? 1 : 0;
}

/** `popek replay` of a counterexample saved by a qemu campaign: the case under QEMU again, beside the spec. */
export function qemuReplay(f: ReplayFile, bugs: readonly string[], out: (s: string) => void): number {
  checkTranslatorBugs(bugs);
  const observe = f.observe ?? 'steps';
  out(
    `${f.property} on qemu (--observe ${observe})${bugs.length ? ` with --bug ${bugs.join(' --bug ')}` : ''}, ${f.instructions} body instructions\n\n`,
  );
  const r = qemuCase(f, { bugs, observe });
  if (r.divergence) out(formatQemuDivergence(r) + '\n');
  else
    out(
      `${r.beyond ? `beyond the translation after ${r.steps} agreeing steps: ${r.beyond}` : 'equivalent: qemu now agrees with the spec on this case'}\n`,
    );
  return r.divergence ? 1 : 0;
}
