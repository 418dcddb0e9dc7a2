// The spec against QEMU (docs/qemu.md), in one of two modes (`observe`):
//   - `steps` (TCG only): QEMU runs the translated guest once, its log gives one observation
//     per step, and the spec is stepped beside it; the first step whose outcome or fields
//     differ is the divergence (DESIGN §2);
//   - `end` (TCG or KVM, no log): QEMU runs the guest to its end, and how it ended, the
//     console and the state the exit routine sends at hlt are compared with the spec's end;
//     what only a log shows (the trace, icount, the states between) is listed as not
//     compared in every report.
// In both, RAM is compared at the end of a run that ended on hlt: QEMU's exit routine sends
// a hash per page, and the pages whose hash differs from the spec's are fetched in full by
// a second, unlogged run. A run that leaves what the translation expresses ends with
// `beyond`, never with a divergence: found in QEMU's log in `steps` mode, and from the
// spec's own run alone in `end` mode (endHazard).

import { disassembleInsn } from '../spec/asm/disassemble.ts';
import { programAccess } from '../spec/execute.ts';
import { GP, isFault, NP } from '../spec/faults.ts';
import { SpecMachine } from '../spec/machine.ts';
import { translate, type Access } from '../spec/paging.ts';
import { MMIO_BASE, type PhysMem } from '../spec/phys.ts';
import { CR0_PG, type CpuState } from '../spec/state.ts';
import type { HostEvent, Image, Observation, StepOutcome } from '../spec/observation.ts';
import { pageHash, reservedLayout } from '../src/engines/qemu/boot.ts';
import { controlRegisterHazard, IA32_ACTIVE_EFLAGS, runQemu, stateView, type QemuOptions, type QemuRun } from '../src/engines/qemu/run.ts';
import { decodeSlot, retranslate, SLOT, translateImage } from '../src/engines/qemu/translate.ts';
import { diffState, ramDiff, type FieldDiff } from './lockstep/compare.ts';

/** How QEMU is observed: every step from its log (TCG only), or the end state the exit routine sends (TCG or KVM). */
export type Observe = 'steps' | 'end';

/**
 * How far the end-state mode runs the spec to find its end when the step budget is smaller:
 * QEMU, unlogged, runs to its own end (or its time limit), not to a step.
 */
export const END_MAX_STEPS = 100_000;

/** What the end-state mode cannot compare: only a log shows them (issue 17 item 1: listed in every report, never skipped silently). */
export const END_NOT_COMPARED = [
  'trace (each delivery: vector, error code, CR2, eip)',
  'icount',
  'every state between the start and the end',
] as const;

/** Every field a mode does not compare, in the order reports list them. */
export function notComparedIn(observe: Observe): string[] {
  return ['ram before the end', ...(observe === 'end' ? END_NOT_COMPARED : []), 'device', 'pending'];
}

export interface QemuDiff {
  observe: Observe;
  /** Steps on which both agree (`end`: the spec's steps to the end that agreed, 0 when the end was not compared). */
  steps: number;
  divergence?: { step: number; insn: string; eip: number; outcome: { spec: StepOutcome; qemu: StepOutcome }; fields: FieldDiff[] };
  /** Why the comparison stopped before the end: the guest left the translation's subset. */
  beyond?: string;
  /** What was not compared, for every report (docs/qemu.md). */
  notCompared: string[];
  /** Differences found and put down to a named exclusion (docs/qemu.md). */
  explained: string[];
  /** QEMU runs made (a second one fetches RAM pages whose hashes differ). */
  qemuRuns: number;
  seconds: number;
}

/**
 * eflags bits IA-32 software and arithmetic set and VX32 reads as 0 (PF, AF, DF, AC, ID):
 * the eflags image an event delivery pushes holds them on IA-32, and a guest may copy it
 * (exclusion `pf-af`). A RAM word that differs from the spec's only in these bits is explained.
 */
const IA32_ONLY_EFLAGS = 0x4 | 0x10 | 0x400 | 0x40000 | 0x200000;

const EXPLANATIONS: Readonly<Record<string, string>> = {
  'pf-af': 'eflags images that differ only in bits VX32 does not have: PF AF DF AC ID',
  'reserved-page': "differ only in A/D of an entry mapping popek's page after RAM, which QEMU reads and runs",
};

/** The exclusion a RAM word's difference is down to, if any (docs/qemu.md). */
function explainedWord(addr: number, spec: number, qemu: number, reserved: number, cr3s: ReadonlySet<number>): string | undefined {
  const diff = (spec ^ qemu) >>> 0;
  if (eflagsImageOnly(spec, qemu)) return 'pf-af';
  if ((diff & ~0x60) !== 0 || (spec & 1) === 0) return undefined;
  // A PTE (or 4 MiB PDE) whose frame is the reserved page, or the PDE that covers it in a directory the guest used.
  const frame = (spec & 0x80) !== 0 && cr3s.has((addr - 4 * (reserved >>> 22)) >>> 0) ? spec & 0xffc00000 : spec & 0xfffff000;
  if (frame >>> 0 === (reserved & ((spec & 0x80) !== 0 ? 0xffc00000 : 0xfffff000)) >>> 0) return 'reserved-page';
  if ((diff & ~0x20) === 0 && cr3s.has((addr - 4 * (reserved >>> 22)) >>> 0)) return 'reserved-page';
  return undefined;
}

interface SpecPreRun {
  /** The physical address of each step's instruction (undefined where the fetch faults): what the translation covers. */
  physEip: (number | undefined)[];
  /** The first step that leaves the subset by what it touches, and why. */
  cut?: { step: number; why: string };
  /** The spec at the end of its run (maxSteps or its end). */
  machine: SpecMachine;
  /** Every CR3 the guest had (to explain A/D bits in the directories it used). */
  cr3s: Set<number>;
}

const JMP = 0x40;
const CALL = 0x42;
const HLT = 0x02;
const POPF = 0x61;
const INT = 0x64;
const IRET = 0x65;
const LTR = 0x74;
const STR = 0x75;
const isJcc = (op: number) => op >= 0x50 && op <= 0x5f;
const SUPERVISOR_READ: Access = { kind: 'read', user: false };

/** The linear address `la` maps to itself for `acc` (always, with paging off). */
function mapsItself(mem: PhysMem, s: CpuState, la: number, acc: Access): boolean {
  return (s.cr0 & CR0_PG) === 0 || translate(mem, s, la, acc, false) === la;
}

/** The 32-bit word at linear `la` as `acc` reads it, or undefined if a byte of it faults. */
function readLinear(mem: PhysMem, read: (pa: number) => number, s: CpuState, la: number, acc: Access): number | undefined {
  let v = 0;
  for (let i = 3; i >= 0; i--) {
    const pa = translate(mem, s, (la + i) >>> 0, acc, false);
    if (isFault(pa)) return undefined;
    v = (v << 8) | read(pa);
  }
  return v >>> 0;
}

/**
 * Why step k stops being VX32 under QEMU, found from the spec's run alone — the end-state
 * mode has no log to find it in (the `steps` mode finds the same in QEMU's log, run.ts):
 * what IA-32 does beside the guest's instruction (popek's page, read for the GDT and the
 * stubs; SS0 in the TSS), eflags bits and control-register values IA-32 acts on and VX32
 * does not have, and the QEMU deviation `ext-bit`. `before` is the state before the step.
 */
function endHazard(
  mem: PhysMem,
  read: (pa: number) => number,
  before: CpuState,
  op: number | undefined,
  outcome: StepOutcome,
  delivered: Observation['trace'],
  reserved: number,
): string | undefined {
  const retired = outcome === 'retired';
  const user = before.cpl === 3;
  const ownPage = (acc: Access) => mapsItself(mem, before, reserved, acc);
  const page = `popek's page at 0x${reserved.toString(16)}`;
  if (retired && (op === POPF || op === IRET)) {
    const image = readLinear(mem, read, before, (before.regs[4]! + (op === IRET ? 8 : 0)) >>> 0, { kind: 'read', user });
    const active = (image ?? 0) & (op === IRET && before.cpl === 0 ? IA32_ACTIVE_EFLAGS : IA32_ACTIVE_EFLAGS & ~0x20000);
    if (active !== 0)
      return `${op === POPF ? 'popf' : 'iret'} of an eflags image with TF, NT or VM, which IA-32 acts on (single step, task return, virtual-8086 mode) and VX32 does not have (tf-nt)`;
  }
  if (retired && op === HLT && !ownPage({ kind: 'fetch', user: false }))
    return `hlt: the guest's page tables do not map ${page} at its own address (the exit routine runs there: reserved-page)`;
  if (retired && op === LTR && !ownPage({ kind: 'write', user: false }))
    return `ltr: the guest's page tables do not map ${page} at its own address, writable (the ltr stub writes the TSS descriptor there: reserved-page)`;
  if (retired && op === STR && !ownPage({ kind: 'read', user }))
    return `str: the guest's page tables do not map ${page} at its own address${user ? ' for cpl 3' : ''} (str reads the tr word there: reserved-page)`;
  const delivering = delivered.length > 0 || outcome === 'shutdown';
  // Every delivery reads the GDT: without it IA-32 delivers nothing, and a step the spec
  // ends in a triple fault ends so on IA-32 too.
  if (outcome !== 'shutdown' && (delivering || op === IRET || op === INT) && !ownPage(SUPERVISOR_READ))
    return `a ${delivering ? 'delivery' : 'selector load'}: the guest's page tables do not map ${page} at its own address (IA-32 reads the GDT there: reserved-page)`;
  for (const e of delivered)
    if (e.kind === 'exception' && (e.vector === GP || e.vector === NP) && ((e.errorCode ?? 0) & 1) !== 0)
      return `#${e.vector === GP ? 'GP' : 'NP'} raised while delivering an event: QEMU sets no EXT bit in its error code (ext-bit, docs/qemu.md)`;
  if (delivering && before.cpl > 0) {
    const ss0 = readLinear(mem, read, before, (before.tr + 8) >>> 0, SUPERVISOR_READ);
    if (ss0 === undefined || (ss0 & 0xffff) !== 0x10)
      return `#TS: IA-32 reads SS0 at tr+8 on a switch to ring 0 and it is not 0x10 (VX32 reads only ESP0: tss-ss0)`;
  }
  return undefined;
}

/**
 * The spec alone first, watching every physical byte each step reads or writes besides
 * its own fetch: a step that touches memory beyond RAM (open bus on VX32, RAM or devices
 * on a PC: `pc-memory`) or a slot the guest also runs as code (QEMU holds IA-32 there:
 * `data-as-code`, a page table in code included) ends the comparison before it, and so
 * does a branch that runs at another linear address than its physical one (`alias-branch`:
 * IA-32's branches are relative to where they run, VX32's are absolute). With
 * `endHazards`, also what the end-state mode cannot see without a log (endHazard, and an
 * instruction the translation does not express).
 */
function specPreRun(image: Image, ramBytes: number, maxSteps: number, endHazards: boolean): SpecPreRun {
  const m = new SpecMachine(image, { ramBytes });
  const mem = m.mem;
  const read = mem.readByte.bind(mem);
  const write = mem.writeByte.bind(mem);
  let touched: number[] = [];
  mem.readByte = (pa) => (touched.push(pa), read(pa));
  mem.writeByte = (pa, v) => (touched.push(pa), write(pa, v));
  const dev = mem.device;
  const devRead = dev.read32.bind(dev);
  const devWrite = dev.write32.bind(dev);
  dev.read32 = (off) => (touched.push(MMIO_BASE + off), devRead(off));
  dev.write32 = (off, v) => (touched.push(MMIO_BASE + off), devWrite(off, v));
  const physEip: (number | undefined)[] = [];
  const touches: number[][] = [];
  const cr3s = new Set([m.s.cr3]);
  /** The first step the spec's run alone says is beyond the translation. */
  let cut: SpecPreRun['cut'];
  const slot = new Uint8Array(SLOT);
  for (let k = 0; k < maxSteps && m.status() === 'running'; k++) {
    const pa = translate(mem, m.s, m.s.eip, programAccess(m.s, 'fetch'), false);
    physEip.push(isFault(pa) ? undefined : pa);
    let op: number | undefined;
    let a = 0;
    let b = 0;
    if (!isFault(pa) && pa + SLOT <= ramBytes) {
      for (let i = 0; i < SLOT; i++) slot[i] = read(pa + i);
      const d = decodeSlot(slot, 0);
      if (d !== undefined) ({ op, a, b } = d);
    }
    const before: CpuState = { ...m.s, regs: m.s.regs.slice(), idtr: { ...m.s.idtr } };
    const traced = m.trace.length;
    touched = [];
    const outcome = m.step();
    cr3s.add(m.s.cr3);
    touches.push(isFault(pa) ? touched : touched.filter((x) => x < pa || x >= pa + SLOT));
    touched = []; // the walks of the checks below are not the guest's
    if (cut !== undefined) continue;
    const taken = op === JMP || op === CALL || op === HLT || op === LTR || (op !== undefined && isJcc(op) && m.s.eip !== before.eip + SLOT);
    if (outcome === 'retired' && taken && !isFault(pa) && pa !== before.eip)
      cut = {
        step: k,
        why: `a branch at linear 0x${before.eip.toString(16)}, physical 0x${pa.toString(16)}: IA-32's target is relative to where it runs (alias-branch)`,
      };
    else if (endHazards) {
      const cr = outcome === 'retired' && op !== undefined ? controlRegisterHazard(op, b, before.regs[a]!) : undefined;
      const why = cr ?? endHazard(mem, read, before, op, outcome, m.trace.slice(traced), ramBytes);
      if (why !== undefined) cut = { step: k, why };
    }
  }
  const executed = new Set(physEip.filter((x) => x !== undefined).map((x) => x - (x % SLOT)));
  if (endHazards) {
    // An instruction the translation does not express (translate.ts says why), at its first step.
    const t = translateImage(image.chunks, [], reservedLayout(ramBytes), executed);
    const k = physEip.findIndex((x) => x !== undefined && t.slots.get(x)?.kind === 'unsupported');
    const s = k < 0 ? undefined : t.slots.get(physEip[k]!);
    if (s?.kind === 'unsupported' && k < (cut?.step ?? Infinity)) cut = { step: k, why: s.why };
  }
  for (let k = 0; k < touches.length && k < (cut?.step ?? Infinity); k++) {
    const at = physEip[k];
    if (at !== undefined && at + SLOT > ramBytes)
      return { physEip, machine: m, cr3s, cut: { step: k, why: `a fetch at physical 0x${at.toString(16)}, beyond RAM (pc-memory)` } };
    for (const x of touches[k]!) {
      if (x >= ramBytes)
        return { physEip, machine: m, cr3s, cut: { step: k, why: `physical 0x${x.toString(16)} is beyond RAM (pc-memory)` } };
      if (executed.has(x - (x % SLOT)))
        return {
          physEip,
          machine: m,
          cr3s,
          cut: { step: k, why: `a data access to 0x${x.toString(16)}, a slot also run as code (data-as-code)` },
        };
    }
  }
  return { physEip, machine: m, cr3s, ...(cut === undefined ? {} : { cut }) };
}

/** Two words that differ only in IA-32's extra eflags bits, the spec's with bit 1 set (an eflags image). */
const eflagsImageOnly = (spec: number, qemu: number): boolean =>
  spec !== qemu && (spec & 2) !== 0 && ((spec ^ qemu) & ~IA32_ONLY_EFLAGS) === 0;

export type QemuDiffOptions = Pick<QemuOptions, 'accel' | 'binary' | 'bugs' | 'timeoutMs'> & {
  /** Default: `steps` under TCG, `end` under KVM (the only one there). */
  observe?: Observe;
};

export function qemuDiff(
  image: Image,
  ramBytes: number,
  events: readonly HostEvent[],
  maxSteps: number,
  opts: QemuDiffOptions = {},
): QemuDiff {
  const observe = opts.observe ?? (opts.accel === 'kvm' ? 'end' : 'steps');
  if (observe === 'steps' && opts.accel === 'kvm') throw new Error('QEMU logs no instruction states under KVM: only --observe end');
  const notCompared = notComparedIn(observe);
  const explained: string[] = [];
  if (events.some((e) => e.kind === 'irq'))
    return {
      observe,
      steps: 0,
      beyond: 'an irq event: QEMU cannot take an interrupt at a given instruction',
      notCompared,
      explained,
      qemuRuns: 0,
      seconds: 0,
    };
  // Host-only events change nothing guest-visible (DESIGN §3.8): QEMU runs without them.
  // QEMU cannot be stopped at a step without a log: the end-state mode looks for the spec's end past maxSteps.
  const pre = specPreRun(image, ramBytes, observe === 'end' ? Math.max(maxSteps, END_MAX_STEPS) : maxSteps, observe === 'end');
  const { physEip, cut } = pre;
  const qopts = { accel: opts.accel, binary: opts.binary, bugs: opts.bugs, timeoutMs: opts.timeoutMs };
  const r =
    observe === 'end'
      ? endDiff(image, ramBytes, Math.max(maxSteps, END_MAX_STEPS), qopts, pre, notCompared, explained)
      : stepsDiff(image, ramBytes, maxSteps, qopts, physEip, cut, notCompared, explained);
  return { ...r, observe };
}

type RunOptions = Pick<QemuOptions, 'accel' | 'binary' | 'bugs' | 'timeoutMs'>;

/** `steps`: the spec stepped beside QEMU's log. */
function stepsDiff(
  image: Image,
  ramBytes: number,
  maxSteps: number,
  opts: RunOptions,
  physEip: (number | undefined)[],
  cut: SpecPreRun['cut'],
  notCompared: string[],
  explained: string[],
): Omit<QemuDiff, 'observe'> {
  // QEMU need not log beyond where the spec stops or the comparison is cut: its log budget ends the run there.
  const q = runQemu(image, ramBytes, { ...opts, maxSteps: Math.min(maxSteps, cut?.step ?? physEip.length) + 2, physEip });
  const spec = new SpecMachine(image, { ramBytes });
  const n = Math.min(q.steps.length, maxSteps, cut?.step ?? Infinity);
  let eflagsInRegs = 0;
  let steps = 0;
  const cost = { qemuRuns: 1, seconds: q.seconds };
  const result = (r: Partial<QemuDiff> & { steps: number }) => ({ notCompared, explained, ...cost, ...r });
  for (; steps < n; steps++) {
    const eip = spec.s.eip;
    const bytes = spec.peekInsn();
    const so = spec.step();
    const a = spec.observe();
    const { outcome, after, unknown } = q.steps[steps]!;
    for (const u of unknown ?? []) notCompared.push(`${u} at step ${steps} (a triple fault ending in #PF: not in QEMU's log)`);
    const fields = tolerateEflagsImages(
      diffState(a, { ...a, ...after, ...(unknown?.includes('cr2') ? { cr2: a.cr2 } : {}) }),
      () => eflagsInRegs++,
    );
    if (so !== outcome || fields.length > 0) {
      const insn = bytes ? disassembleInsn(bytes) : '(fetch faults)';
      return result({ steps, divergence: { step: steps, insn, eip, outcome: { spec: so, qemu: outcome }, fields } });
    }
  }
  if (eflagsInRegs > 0) explained.push(`pf-af: ${eflagsInRegs} register value${eflagsInRegs > 1 ? 's' : ''} (${EXPLANATIONS['pf-af']})`);
  const end = spec.observe();
  if (cut !== undefined && steps === cut.step) return result({ steps, beyond: `at step ${cut.step}: ${cut.why}` });
  if (q.ram !== undefined && steps === q.steps.length) {
    const cr3s = new Set([q.initial.cr3, ...q.steps.map((x) => x.after.cr3)]);
    const ram = compareRam(image, ramBytes, opts, physEip, end, q, cr3s, cost, explained);
    if (typeof ram === 'string') return result({ steps, beyond: ram });
    if (ram !== undefined) return result({ steps: steps - 1, divergence: { ...ram, step: steps - 1 } });
  } else notCompared[0] = 'ram (the run did not end on hlt)';
  const r = result({ steps });
  if (steps < maxSteps && end.status === 'running' && q.beyond !== undefined) r.beyond = q.beyond;
  return r;
}

/** Fields whose only difference is a register holding an eflags image (bit 1 set) that differs in IA-32's extra bits: read from a delivery's frame (pf-af). */
function tolerateEflagsImages(fields: FieldDiff[], tolerated: () => void): FieldDiff[] {
  return fields.filter((f) => {
    const ok = f.path.startsWith('regs.') && eflagsImageOnly(f.spec as number, f.engine as number);
    if (ok) tolerated();
    return !ok;
  });
}

/**
 * RAM at the end: page hashes, then the pages whose hash differs fetched by a second,
 * unlogged run and compared word by word, differences down to a named exclusion counted
 * in `explained`. The first unexplained difference, or why RAM could not be compared.
 */
function compareRam(
  image: Image,
  ramBytes: number,
  opts: RunOptions,
  physEip: (number | undefined)[],
  end: Observation,
  q: QemuRun,
  cr3s: ReadonlySet<number>,
  cost: { qemuRuns: number; seconds: number },
  explained: string[],
): Omit<NonNullable<QemuDiff['divergence']>, 'step'> | string | undefined {
  const expected = retranslate(end.ram, q.slots);
  const differing = q.ram!.hashes.map((h, p) => (pageHash(expected, p * 0x1000) === h ? -1 : p)).filter((p) => p >= 0);
  if (differing.length === 0) return undefined;
  const again = runQemu(image, ramBytes, { ...opts, physEip, dump: differing, log: false });
  cost.qemuRuns++;
  cost.seconds += again.seconds;
  const tolerated = new Map<string, number>();
  for (const p of differing) {
    const page = again.ram?.pages.get(p);
    if (page === undefined) return `RAM page ${p} differs by its hash and the second run did not send it`;
    for (let off = 0; off < 0x1000; off += 4) {
      const at = p * 0x1000 + off;
      const s = end.ram[at]! | (end.ram[at + 1]! << 8) | (end.ram[at + 2]! << 16) | (end.ram[at + 3]! << 24);
      const g = page[off]! | (page[off + 1]! << 8) | (page[off + 2]! << 16) | (page[off + 3]! << 24);
      if (s === g) continue;
      const why = explainedWord(at, s, g, ramBytes, cr3s);
      if (why !== undefined) {
        tolerated.set(why, (tolerated.get(why) ?? 0) + 1);
        continue;
      }
      const byte = [0, 1, 2, 3].find((i) => end.ram[at + i] !== page[off + i])!;
      const qram = end.ram.slice();
      qram.set(page, p * 0x1000);
      return {
        insn: '(RAM at the end)',
        eip: end.eip,
        outcome: { spec: 'retired', qemu: 'retired' },
        fields: [ramDiff(end, { ...end, ram: qram }, at + byte)],
      };
    }
  }
  for (const [why, count] of tolerated) explained.push(`${why}: ${count} RAM word${count > 1 ? 's' : ''} (${EXPLANATIONS[why]})`);
  return undefined;
}

/**
 * `end`: the spec's end beside QEMU's. A guest the spec's run says leaves the subset is
 * not run at all (nothing of QEMU could be compared before that step: QEMU runs on past
 * it); a spec run that does not end within maxSteps (END_MAX_STEPS at least) has no end to compare.
 */
function endDiff(
  image: Image,
  ramBytes: number,
  maxSteps: number,
  opts: RunOptions,
  pre: SpecPreRun,
  notCompared: string[],
  explained: string[],
): Omit<QemuDiff, 'observe'> {
  const cost = { qemuRuns: 0, seconds: 0 };
  const result = (r: Partial<QemuDiff> & { steps: number }) => ({ notCompared, explained, ...cost, ...r });
  const end = pre.machine.observe();
  const steps = pre.physEip.length;
  if (pre.cut !== undefined)
    return result({ steps: 0, beyond: `at step ${pre.cut.step}: ${pre.cut.why} (the end-state mode compares nothing before it)` });
  if (end.status === 'running')
    return result({ steps: 0, beyond: `the spec does not end within ${maxSteps} steps: nothing to compare in the end-state mode` });
  const q = runQemu(image, ramBytes, { ...opts, physEip: pre.physEip, log: false });
  cost.qemuRuns++;
  cost.seconds += q.seconds;
  const status = q.exit === 'halted' ? 'halted' : q.exit === 'shutdown' ? 'shutdown' : 'running';
  const at = { step: steps - 1, insn: '(the end: no step before it is compared in this mode)', eip: end.eip };
  const diverge = (fields: FieldDiff[]) =>
    result({
      steps: steps - 1,
      divergence: {
        ...at,
        // The last step's outcome: a hlt retired, or a triple fault (a time-out is a run still retiring).
        outcome: { spec: end.status === 'shutdown' ? 'shutdown' : 'retired', qemu: q.exit === 'shutdown' ? 'shutdown' : 'retired' },
        fields,
      },
    });
  if (q.exit === 'crashed') throw new Error(`qemu-system-i386 failed: ${q.exitDetail}`);
  if (status !== end.status) {
    const qemuStatus = q.exit === 'timeout' ? `running after ${q.seconds.toFixed(1)} s (stopped)` : status;
    return diverge([{ path: 'status', spec: end.status, engine: qemuStatus }]);
  }
  if (q.debugcon !== end.console) return diverge([{ path: 'console', spec: end.console, engine: q.debugcon }]);
  if (status === 'shutdown') {
    notCompared.push('registers, eflags, cpl, CR0–CR4, idtr, tr and RAM at a triple fault (no exit routine runs after one)');
    return result({ steps });
  }
  if (q.end === undefined || q.ram === undefined)
    throw new Error(`qemu-system-i386 halted without the exit routine's end state (${q.exitDetail})`);
  let eflagsInRegs = 0;
  const qemu: Observation = { ...end, ...stateView(q.end) };
  const fields = tolerateEflagsImages(diffState(end, qemu), () => eflagsInRegs++);
  if (fields.length > 0) return diverge(fields);
  if (eflagsInRegs > 0) explained.push(`pf-af: ${eflagsInRegs} register value${eflagsInRegs > 1 ? 's' : ''} (${EXPLANATIONS['pf-af']})`);
  const ram = compareRam(image, ramBytes, opts, pre.physEip, end, q, pre.cr3s, cost, explained);
  if (typeof ram === 'string') return result({ steps: 0, beyond: ram });
  if (ram !== undefined) return diverge(ram.fields);
  return result({ steps });
}
