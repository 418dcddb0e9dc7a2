// Popek & Goldberg (1974) applied to VX32, computed — not typed in — by running every
// instruction through the model in contrasting machine states.
//
//  - privileged: traps when executed in user mode (cpl 3, IOPL 0) and does not trap in
//    supervisor mode (cpl 0);
//  - control-sensitive: when it completes, it changes the configuration of the machine
//    (cpl, IF, IOPL, control registers, IDTR, TR, the halted state) or the resources
//    outside the processor (the console port, the device);
//  - behaviour-sensitive: its result depends on that configuration: two states that differ
//    only in mode (cpl 0/1/3), IF, IOPL, paging (off vs an identity map) or where the
//    system tables are (the guest's vs a VMM's) lead to results that differ in more than
//    that difference.
// Theorem 1: a VMM may be built by classic trap-and-emulate if the sensitive instructions
// are a subset of the privileged ones. For VX32, as for x86, they are not.

import { OPCODES, encode, type OpInfo } from './isa.ts';
import { disassembleInsn } from './asm/disassemble.ts';
import { SpecMachine } from './machine.ts';
import { CR0_PE, CR0_PG, EAX, EBX, ESP, IF, IOPL_SHIFT, codeSelector } from './state.ts';
import type { TraceEntry } from './observation.ts';

// The test machine's layout (physical = linear: paging is off, or an identity map).
const CODE = 0x1000;
const JUMP_TARGET = 0x1100;
const IDT = 0x2000;
const HOST_IDT = 0x2800; // where a VMM would keep the real IDT
const TSS = 0x4000;
const HOST_TSS = 0x4800;
const DATA = 0x5000;
const STACK_TOP = 0x8000;
const KERNEL_STACK = 0x9000;
const PAGE_DIR = 0x10000;
const PAGE_TABLE = 0x11000;
const HANDLER = 0x3000;
const RAM = 0x40000;
/** A popped eflags image: CF, IF and IOPL 3 set — bits a deprivileged popf may drop. */
const POPPED_EFLAGS = 0x3203;

export interface Setting {
  name: string;
  cpl: number;
  iopl: number;
  interrupts: boolean;
  paging: boolean;
  hostTables: boolean;
}

const base: Setting = { name: 'cpl 0', cpl: 0, iopl: 0, interrupts: false, paging: false, hostTables: false };
export const SETTINGS: readonly Setting[] = [
  base,
  { ...base, name: 'cpl 1', cpl: 1 },
  { ...base, name: 'cpl 3', cpl: 3 },
  { ...base, name: 'cpl 3, IOPL 3', cpl: 3, iopl: 3 },
  { ...base, name: 'cpl 0, IF 1', interrupts: true },
  { ...base, name: 'cpl 0, paging on', paging: true },
  { ...base, name: 'cpl 0, VMM tables', hostTables: true },
];

/** Pairs of settings that differ in one aspect, and which state that aspect is. */
const CONTRASTS: readonly { a: string; b: string; aspect: Aspect }[] = [
  { a: 'cpl 0', b: 'cpl 1', aspect: 'cpl' },
  { a: 'cpl 0', b: 'cpl 3', aspect: 'cpl' },
  { a: 'cpl 3', b: 'cpl 3, IOPL 3', aspect: 'iopl' },
  { a: 'cpl 0', b: 'cpl 0, IF 1', aspect: 'if' },
  { a: 'cpl 0', b: 'cpl 0, paging on', aspect: 'paging' },
  { a: 'cpl 0', b: 'cpl 0, VMM tables', aspect: 'tables' },
];
type Aspect = 'cpl' | 'iopl' | 'if' | 'paging' | 'tables';

/** What one step did. */
export type RunOutcome =
  | { setting: string; trapped: true; event: string }
  | { setting: string; trapped: false; before: Snapshot; state: Snapshot; written: Map<number, number> };

/** The part of the machine compared between runs. */
export interface Snapshot {
  eax: number;
  ebx: number;
  esp: number;
  eip: number;
  eflags: number;
  cpl: number;
  cr0: number;
  cr2: number;
  cr3: number;
  cr4: number;
  idtr: string;
  tr: number;
  halted: boolean;
  console: string;
  device: string;
}

/** The machine's configuration, and the I/O resources outside the processor. */
const CONTROL_FIELDS = ['cpl', 'cr0', 'cr2', 'cr3', 'cr4', 'idtr', 'tr', 'halted', 'console', 'device'] as const;
const CONTROL_EFLAGS = IF | (3 << IOPL_SHIFT);

export interface Classification {
  asm: string;
  privileged: boolean;
  controlSensitive: boolean;
  behaviourSensitive: boolean;
  /** Traps in every setting (ud2, int n): the supervisor sees each execution. */
  alwaysTraps: boolean;
  runs: RunOutcome[];
  /** Why each verdict holds, one line per observation. */
  evidence: string[];
}

/** One representative encoding per instruction (and per control register for mov crN). */
export function representatives(): { bytes: Uint8Array; eax: number }[] {
  const out: { bytes: Uint8Array; eax: number }[] = [];
  for (const info of OPCODES) {
    if (info === undefined) continue;
    if (info.form === 'tocr' || info.form === 'fromcr') {
      // Values a guest kernel would load: WP on; a fault address; a new directory; PSE on.
      const loads: Record<number, number> = { 0: CR0_PE | (1 << 16), 2: 0x1234, 3: 0x20000, 4: 1 << 4 };
      for (const cr of [0, 2, 3, 4]) out.push({ bytes: encode(info.opcode, EAX, cr, false, 0), eax: loads[cr]! });
      continue;
    }
    out.push({ bytes: encode(info.opcode, EAX, info.uses.b ? EBX : 0, false, immediateFor(info)), eax: eaxFor(info) });
  }
  return out;
}

function immediateFor(info: OpInfo): number {
  switch (info.form) {
    case 'ri':
      return 5;
    case 'rsh':
      return 1;
    case 'i':
      return info.kind.k === 'pushi' ? 0x1234 : JUMP_TARGET;
    case 'int':
      return 0x80;
    case 'in':
    case 'out':
      return 0xe9;
    default:
      return 0;
  }
}

function eaxFor(info: OpInfo): number {
  switch (info.kind.k) {
    case 'jmpr':
    case 'callr':
      return JUMP_TARGET;
    case 'ltr':
      return HOST_TSS;
    default:
      return 0x80000041;
  }
}

/** Build the machine for one setting with the instruction at CODE, and run one step. */
export function runOne(bytes: Uint8Array, eax: number, setting: Setting): RunOutcome {
  const m = new SpecMachine({ chunks: [{ addr: CODE, bytes }], entry: CODE }, { ramBytes: RAM });
  const { s, mem } = m;
  const ram = mem.ram;
  const dv = new DataView(ram.buffer);
  for (const idt of [IDT, HOST_IDT]) {
    for (let v = 0; v < 256; v++) {
      // A trap gate, DPL 3, selector 0x08, to HANDLER (§3.7 gate format).
      dv.setUint16(idt + 8 * v, HANDLER & 0xffff, true);
      dv.setUint16(idt + 8 * v + 2, 0x08, true);
      ram[idt + 8 * v + 5] = 0x80 | (3 << 5) | 0x0f;
      dv.setUint16(idt + 8 * v + 6, HANDLER >>> 16, true);
    }
  }
  dv.setUint32(TSS + 4, KERNEL_STACK, true);
  dv.setUint32(HOST_TSS + 4, KERNEL_STACK, true);
  // lidt's operand: limit 0x7FF, base HOST_IDT.
  dv.setUint16(DATA, 0x7ff, true);
  dv.setUint32(DATA + 2, HOST_IDT, true);
  // Stack: what popf, ret and iret (to the same ring) pop.
  dv.setUint32(STACK_TOP, JUMP_TARGET, true);
  dv.setUint32(STACK_TOP + 4, codeSelector(setting.cpl), true); // iret returns to the same ring
  dv.setUint32(STACK_TOP + 8, POPPED_EFLAGS, true);
  if (popsEflagsFirst(bytes[0]!)) dv.setUint32(STACK_TOP, POPPED_EFLAGS, true);
  // Identity map of the first 4 MiB, user and writable.
  dv.setUint32(PAGE_DIR, PAGE_TABLE | 7, true);
  for (let i = 0; i < 1024; i++) dv.setUint32(PAGE_TABLE + 4 * i, (i << 12) | 7, true);

  s.regs[EAX] = eax;
  s.regs[EBX] = DATA;
  s.regs[ESP] = STACK_TOP;
  s.cpl = setting.cpl;
  s.eflags = 0x2 | (setting.iopl << IOPL_SHIFT) | (setting.interrupts ? IF : 0);
  s.idtr = { base: setting.hostTables ? HOST_IDT : IDT, limit: 0x7ff };
  s.tr = setting.hostTables ? HOST_TSS : TSS;
  if (setting.paging) {
    s.cr0 = CR0_PE | CR0_PG;
    s.cr3 = PAGE_DIR;
  }
  const before = ram.slice();
  const initial = snapshot(m);
  m.step();
  if (m.trace.length > 0) return { setting: setting.name, trapped: true, event: describeEvent(m.trace[0]!) };
  const written = new Map<number, number>();
  for (let i = 0; i < ram.length; i++) {
    if (ram[i] !== before[i] && !(i >= PAGE_DIR && i < PAGE_TABLE + 0x1000)) written.set(i, ram[i]!);
  }
  return { setting: setting.name, trapped: false, before: initial, state: snapshot(m), written };
}

/** popf pops eflags from the top of the stack; ret and iret pop an eip first. */
const popsEflagsFirst = (opcode: number): boolean => OPCODES[opcode]?.kind.k === 'popf';

function snapshot(m: SpecMachine): Snapshot {
  const s = m.s;
  return {
    eax: s.regs[EAX]!,
    ebx: s.regs[EBX]!,
    esp: s.regs[ESP]!,
    eip: s.eip,
    eflags: s.eflags,
    cpl: s.cpl,
    cr0: s.cr0,
    cr2: s.cr2,
    cr3: s.cr3,
    cr4: s.cr4,
    idtr: `${hex(s.idtr.base)}/${hex(s.idtr.limit)}`,
    tr: s.tr,
    halted: s.halted,
    console: JSON.stringify(String.fromCharCode(...m.console)),
    device: JSON.stringify({ counter: m.mem.device.counter, log: m.mem.device.log }),
  };
}

const hex = (n: number): string => '0x' + n.toString(16);

function describeEvent(e: TraceEntry): string {
  if (e.kind === 'shutdown') return 'shutdown';
  const names: Record<number, string> = { 6: '#UD', 8: '#DF', 11: '#NP', 13: '#GP', 14: '#PF' };
  const name = e.kind === 'software' ? `int ${hex(e.vector)}` : (names[e.vector] ?? `vector ${e.vector}`);
  return e.errorCode === undefined ? name : `${name}(${hex(e.errorCode)})`;
}

/** Fields of a snapshot to ignore when comparing runs that differ in `aspect`. */
function masked(st: Snapshot, aspect: Aspect): Snapshot {
  const c = { ...st };
  switch (aspect) {
    case 'cpl':
      c.cpl = 0;
      break;
    case 'iopl':
      c.eflags &= ~(3 << IOPL_SHIFT);
      break;
    case 'if':
      c.eflags &= ~IF;
      break;
    case 'paging':
      c.cr0 &= ~CR0_PG;
      c.cr3 = 0;
      break;
    case 'tables':
      c.idtr = '';
      c.tr = 0;
      break;
  }
  return c;
}

function differences(x: Snapshot, y: Snapshot): string[] {
  return (Object.keys(x) as (keyof Snapshot)[]).filter((k) => x[k] !== y[k]).map((k) => `${k} ${fmt(x[k])} vs ${fmt(y[k])}`);
}
const fmt = (v: number | string | boolean): string => (typeof v === 'number' ? hex(v) : String(v));

function writtenDifference(x: Map<number, number>, y: Map<number, number>): string | undefined {
  const addrs = [...new Set([...x.keys(), ...y.keys()])].sort((a, b) => a - b);
  const a = addrs.find((k) => x.get(k) !== y.get(k));
  if (a === undefined) return undefined;
  const show = (m: Map<number, number>) => (m.has(a) ? hex(m.get(a)!) : 'unchanged');
  return `memory byte ${hex(a)} ${show(x)} vs ${show(y)}`;
}

export function classifyInstruction(bytes: Uint8Array, eax: number): Classification {
  const runs = SETTINGS.map((st) => runOne(bytes, eax, st));
  const byName = new Map(runs.map((r) => [r.setting, r]));
  const evidence: string[] = [];

  const sup = byName.get('cpl 0')!;
  const user = byName.get('cpl 3')!;
  const privileged = !sup.trapped && user.trapped;
  if (privileged && user.trapped) evidence.push(`privileged: cpl 3 traps with ${user.event}; cpl 0 completes`);
  const alwaysTraps = runs.every((r) => r.trapped);
  if (alwaysTraps && runs[0]!.trapped) evidence.push(`traps in every setting (${runs[0]!.event})`);

  let controlSensitive = false;
  for (const r of runs) {
    if (r.trapped) continue;
    const initial = r.before;
    const changed = CONTROL_FIELDS.filter((f) => r.state[f] !== initial[f]);
    const flagChange = (r.state.eflags ^ initial.eflags) & CONTROL_EFLAGS;
    if (changed.length > 0 || flagChange) {
      controlSensitive = true;
      const what = [
        ...changed.map((f) => `${f} ${fmt(initial[f])} -> ${fmt(r.state[f])}`),
        ...(flagChange ? [`eflags ${hex(initial.eflags)} -> ${hex(r.state.eflags)}`] : []),
      ];
      evidence.push(`control-sensitive: at ${r.setting} it changes ${what.join(', ')}`);
      break;
    }
  }

  let behaviourSensitive = false;
  for (const { a, b, aspect } of CONTRASTS) {
    const ra = byName.get(a)!;
    const rb = byName.get(b)!;
    if (ra.trapped || rb.trapped) continue;
    const diffs = differences(masked(ra.state, aspect), masked(rb.state, aspect));
    const mem = writtenDifference(ra.written, rb.written);
    if (mem) diffs.push(mem);
    if (diffs.length > 0) {
      behaviourSensitive = true;
      evidence.push(`behaviour-sensitive: ${a} vs ${b}: ${diffs.join('; ')}`);
    }
  }
  return { asm: disassembleInsn(bytes), privileged, controlSensitive, behaviourSensitive, alwaysTraps, runs, evidence };
}

export interface Theorem1 {
  holds: boolean;
  /** Sensitive instructions that are not privileged (and do not always trap). */
  violations: { asm: string; why: string[] }[];
}

export function classifyAll(): { table: Classification[]; theorem1: Theorem1 } {
  const table = representatives().map(({ bytes, eax }) => classifyInstruction(bytes, eax));
  const violations = table
    .filter((c) => (c.controlSensitive || c.behaviourSensitive) && !c.privileged && !c.alwaysTraps)
    .map((c) => ({ asm: c.asm, why: c.evidence.filter((e) => e.startsWith('control') || e.startsWith('behaviour')) }));
  return { table, theorem1: { holds: violations.length === 0, violations } };
}
