// A divergence for people: the step, the instruction, then both observations side by
// side with the differing fields marked (DESIGN §2: "report the first diverging step,
// with both observations"). Brief, the table keeps only the differing rows (issue 14.3).
// Which rows differ is decided by the structural comparison of compare.ts alone, never
// by the text shown: two engines may build equal trace entries with keys in another order.

import type { Observation, TraceEntry } from '../../spec/observation.ts';
import { REG_NAMES } from '../../spec/observation.ts';
import type { Divergence } from './lockstep.ts';

const hex = (n: number) => '0x' + (n >>> 0).toString(16);

/** The fields shown side by side, in DESIGN §2 order. */
/** A trace entry in DESIGN §2 field order, whatever order the engine built it in. */
function traceText(e: TraceEntry): string {
  if (e.kind === 'shutdown') return JSON.stringify({ icount: e.icount, kind: e.kind });
  const { icount, kind, vector, errorCode, cr2, eip } = e;
  return JSON.stringify({ icount, kind, vector, errorCode, cr2, eip });
}

function rows(o: Observation): [string, string][] {
  const traceTail = o.trace.slice(-3).map(traceText);
  return [
    ['status', o.status],
    ['icount', String(o.icount)],
    ...REG_NAMES.map((r): [string, string] => [`regs.${r}`, hex(o.regs[r])]),
    ['eip', hex(o.eip)],
    ['eflags', hex(o.eflags)],
    ['cpl', String(o.cpl)],
    ['cr0', hex(o.cr0)],
    ['cr2', hex(o.cr2)],
    ['cr3', hex(o.cr3)],
    ['cr4', hex(o.cr4)],
    ['idtr', `${hex(o.idtr.base)}/${hex(o.idtr.limit)}`],
    ['tr', hex(o.tr)],
    ['console', JSON.stringify(o.console.slice(-40))],
    ['device.counter', String(o.device.counter)],
    ['device.log', JSON.stringify(o.device.log.slice(-4))],
    ['pending', JSON.stringify(o.pending)],
    [`trace (${o.trace.length})`, traceTail.join(' ') || '[]'],
  ];
}

export interface FormatOptions {
  /** ANSI bold red on the differing rows. */
  color?: boolean;
  /** Only the rows that differ. */
  brief?: boolean;
}

/** The table row a field path belongs to: `regs.eax` is its own row, `trace[3]` is `trace`, `ram[…]` none. */
const rowOf = (path: string) => path.replace(/\[.*$/, '');

export function formatDivergence(d: Divergence, engineName: string, opts: FormatOptions = {}): string {
  const { color = false, brief = false } = opts;
  const mark = (s: string) => (color ? `\x1b[1;31m${s}\x1b[0m` : s);
  const lines: string[] = [];
  // An engine that threw during the run: this first line is the finding, word for word.
  if (d.error !== undefined) lines.push(`engine crashed: ${d.error}`);
  lines.push(`first divergence at step ${d.step}: ${d.insn}   (eip ${hex(d.eip)})`);
  if (d.fired.length > 0) lines.push(`  events fired before this step: ${d.fired.map((e) => JSON.stringify(e)).join(', ')}`);
  lines.push(`  step outcome: spec ${d.outcome.spec}, ${engineName} ${d.outcome.engine}`);
  const differing = new Set(d.fields.map((f) => rowOf(f.path)));
  // Brief: the differing rows only, and not the trace tail, which the `* trace[i]` line below says exactly.
  const shown = (k: string) => !brief || (differing.has(k.replace(/ \(.*$/, '')) && !k.startsWith('trace'));
  const a = rows(d.spec).filter(([k]) => shown(k));
  const b = rows(d.engine).filter(([k]) => shown(k));
  const w0 = Math.max(0, ...a.map(([k]) => k.length)) + 2;
  const w1 = Math.max(20, ...a.map(([, v]) => Math.min(v.length, 60)));
  if (a.length > 0) lines.push(`  ${''.padEnd(w0)}${'spec'.padEnd(w1)}  ${engineName}`);
  for (let i = 0; i < a.length; i++) {
    const [k, va] = a[i]!;
    const vb = b[i]![1];
    const differs = differing.has(k.replace(/ \(.*$/, ''));
    const line = `${differs ? '*' : ' '} ${k.padEnd(w0)}${va.slice(0, 60).padEnd(w1)}  ${vb.slice(0, 60)}`;
    lines.push(differs ? mark(line) : line);
  }
  const show = (v: unknown) => (v !== null && typeof v === 'object' && 'kind' in v ? traceText(v as TraceEntry) : JSON.stringify(v));
  for (const f of d.fields) {
    if (f.path.startsWith('ram') || f.path.startsWith('trace'))
      lines.push(mark(`* ${f.path}: spec ${show(f.spec)}, ${engineName} ${show(f.engine)}`));
  }
  return lines.join('\n');
}
