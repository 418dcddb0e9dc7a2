// `popek classify [--json]` (DESIGN §10): the Popek–Goldberg table of VX32, computed by
// spec/classify.ts, and the verdict of Theorem 1.

import { classifyAll, SETTINGS } from '../../spec/classify.ts';
import { parseCommand } from './options.ts';
import { UsageError } from './usage.ts';

export const CLASSIFY_HELP = `usage: popek classify [--json] [--runs]

The Popek–Goldberg table of VX32: each instruction is run through the reference model
in contrasting states (${SETTINGS.map((s) => s.name).join('; ')}).
  privileged          traps at cpl 3 (IOPL 0), completes at cpl 0
  control-sensitive   changes the machine's configuration (cpl, IF, IOPL, CRs, IDTR, TR, halt) or does I/O
  behaviour-sensitive its result depends on that configuration
Then Theorem 1: classic trap-and-emulate works iff every sensitive instruction is privileged.
  --json   the table, every run and the verdict as JSON
  --runs   also print the outcome of every run`;

export const CLASSIFY_OPTIONS = {
  json: { type: 'boolean', default: false },
  runs: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

export function classifyCommand(args: string[], out: (s: string) => void): number {
  const { values, positionals } = parseCommand('classify', args, CLASSIFY_OPTIONS);
  if (positionals.length > 0) throw new UsageError(`classify: unexpected argument '${positionals[0]}' (see popek classify --help)`);
  if (values.help) {
    out(CLASSIFY_HELP + '\n');
    return 0;
  }
  const { table, theorem1 } = classifyAll();
  if (values.json) {
    const runs = (c: (typeof table)[number]) =>
      c.runs.map((r) => (r.trapped ? { setting: r.setting, traps: r.event } : { setting: r.setting, completes: true }));
    out(JSON.stringify({ instructions: table.map((c) => ({ ...c, runs: runs(c) })), theorem1 }, null, 2) + '\n');
    return 0;
  }
  const mark = (b: boolean) => (b ? 'yes' : '-');
  const w = Math.max(...table.map((c) => c.asm.length));
  const lines = [`${'instruction'.padEnd(w)}  privileged  control-sens.  behaviour-sens.  how it was derived`];
  for (const c of table) {
    const verdict = c.alwaysTraps ? 'always traps' : '';
    lines.push(
      `${c.asm.padEnd(w)}  ${mark(c.privileged).padEnd(10)}  ${mark(c.controlSensitive).padEnd(13)}  ${mark(c.behaviourSensitive).padEnd(15)}  ${verdict}`,
    );
    for (const e of c.evidence) lines.push(`${''.padEnd(w)}    ${e}`);
    if (values.runs)
      for (const r of c.runs) lines.push(`${''.padEnd(w)}    [${r.setting}] ${r.trapped ? `traps: ${r.event}` : 'completes'}`);
  }
  lines.push('');
  if (theorem1.holds) {
    lines.push('Theorem 1 holds: every sensitive instruction is privileged; trap-and-emulate can virtualize VX32.');
  } else {
    lines.push(`Theorem 1 does not hold: VX32, like x86, is not classically virtualizable.`);
    lines.push(
      `${theorem1.violations.length} sensitive instructions do not trap at cpl 3, so a deprivileged guest kernel runs them unseen:`,
    );
    for (const v of theorem1.violations) {
      lines.push(`  ${v.asm}`);
      for (const why of v.why) lines.push(`      ${why}`);
    }
  }
  out(lines.join('\n') + '\n');
  return 0;
}
