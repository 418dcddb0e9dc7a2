// The spec against QEMU (docs/qemu.md): QEMU runs the translated guest once, its log gives
// one observation per step, and the spec is stepped beside it; the first step whose
// outcome or fields differ is the divergence (DESIGN §2). RAM is compared at the end of a
// run that ended on hlt: QEMU's exit routine sends a hash per page, and the pages whose
// hash differs from the spec's are fetched in full by a second, unlogged run. A run that
// leaves what the translation expresses ends with `beyond`, never with a divergence.

import { disassembleInsn } from '../spec/asm/disassemble.ts';
import { programAccess } from '../spec/execute.ts';
import { isFault } from '../spec/faults.ts';
import { SpecMachine } from '../spec/machine.ts';
import { translate } from '../spec/paging.ts';
import { MMIO_BASE } from '../spec/phys.ts';
import type { HostEvent, Image, StepOutcome } from '../spec/observation.ts';
import { pageHash } from '../src/engines/qemu/boot.ts';
import { runQemu, type QemuOptions } from '../src/engines/qemu/run.ts';
import { retranslate } from '../src/engines/qemu/translate.ts';
import { diffState, ramDiff, type FieldDiff } from './lockstep/compare.ts';

export interface QemuDiff {
  /** Steps on which both agree. */
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
}

/**
 * The spec alone first, watching every physical byte each step reads or writes besides
 * its own fetch: a step that touches memory beyond RAM (open bus on VX32, RAM or devices
 * on a PC: `pc-memory`) or a slot the guest also runs as code (QEMU holds IA-32 there:
 * `data-as-code`, a page table in code included) ends the comparison before it.
 */
function specPreRun(image: Image, ramBytes: number, maxSteps: number): SpecPreRun {
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
  for (let k = 0; k < maxSteps && m.status() === 'running'; k++) {
    const pa = translate(mem, m.s, m.s.eip, programAccess(m.s, 'fetch'), false);
    physEip.push(isFault(pa) ? undefined : pa);
    touched = [];
    m.step();
    touches.push(isFault(pa) ? touched : touched.filter((a) => a < pa || a >= pa + 8));
  }
  const executed = new Set(physEip.filter((a) => a !== undefined).map((a) => a - (a % 8)));
  for (let k = 0; k < touches.length; k++) {
    const at = physEip[k];
    if (at !== undefined && at + 8 > ramBytes)
      return { physEip, cut: { step: k, why: `a fetch at physical 0x${at.toString(16)}, beyond RAM (pc-memory)` } };
    for (const a of touches[k]!) {
      if (a >= ramBytes) return { physEip, cut: { step: k, why: `physical 0x${a.toString(16)} is beyond RAM (pc-memory)` } };
      if (executed.has(a - (a % 8)))
        return { physEip, cut: { step: k, why: `a data access to 0x${a.toString(16)}, a slot also run as code (data-as-code)` } };
    }
  }
  return { physEip };
}

/** Two words that differ only in IA-32's extra eflags bits, the spec's with bit 1 set (an eflags image). */
const eflagsImageOnly = (spec: number, qemu: number): boolean =>
  spec !== qemu && (spec & 2) !== 0 && ((spec ^ qemu) & ~IA32_ONLY_EFLAGS) === 0;

export type QemuDiffOptions = Pick<QemuOptions, 'accel' | 'binary' | 'bugs' | 'timeoutMs'>;

export function qemuDiff(
  image: Image,
  ramBytes: number,
  events: readonly HostEvent[],
  maxSteps: number,
  opts: QemuDiffOptions = {},
): QemuDiff {
  const notCompared = ['ram before the end', 'device', 'pending'];
  const explained: string[] = [];
  if (events.some((e) => e.kind === 'irq'))
    return {
      steps: 0,
      beyond: 'an irq event: QEMU cannot take an interrupt at a given instruction',
      notCompared,
      explained,
      qemuRuns: 0,
      seconds: 0,
    };
  // Host-only events change nothing guest-visible (DESIGN §3.8): QEMU runs without them.
  const { physEip, cut } = specPreRun(image, ramBytes, maxSteps);
  // QEMU need not log beyond where the spec stops or the comparison is cut: its log budget ends the run there.
  const q = runQemu(image, ramBytes, { ...opts, maxSteps: Math.min(maxSteps, cut?.step ?? physEip.length) + 2, physEip });
  let qemuRuns = 1;
  let seconds = q.seconds;
  const spec = new SpecMachine(image, { ramBytes });
  const n = Math.min(q.steps.length, maxSteps, cut?.step ?? Infinity);
  const result = (r: Partial<QemuDiff> & { steps: number }): QemuDiff => ({ notCompared, explained, qemuRuns, seconds, ...r });
  let eflagsInRegs = 0;
  let steps = 0;
  for (; steps < n; steps++) {
    const eip = spec.s.eip;
    const bytes = spec.peekInsn();
    const so = spec.step();
    const a = spec.observe();
    const { outcome, after, unknown } = q.steps[steps]!;
    for (const u of unknown ?? []) notCompared.push(`${u} at step ${steps} (a triple fault ending in #PF: not in QEMU's log)`);
    const fields = diffState(a, { ...a, ...after, ...(unknown?.includes('cr2') ? { cr2: a.cr2 } : {}) }).filter((f) => {
      // A register holding an eflags image (bit 1 set) that differs only in IA-32's extra bits: read from a delivery's frame (pf-af).
      const tolerated = f.path.startsWith('regs.') && eflagsImageOnly(f.spec as number, f.engine as number);
      if (tolerated) eflagsInRegs++;
      return !tolerated;
    });
    if (so !== outcome || fields.length > 0) {
      const insn = bytes ? disassembleInsn(bytes) : '(fetch faults)';
      return result({ steps, divergence: { step: steps, insn, eip, outcome: { spec: so, qemu: outcome }, fields } });
    }
  }
  if (eflagsInRegs > 0) explained.push(`pf-af: ${eflagsInRegs} register value${eflagsInRegs > 1 ? 's' : ''} (${EXPLANATIONS['pf-af']})`);
  const end = spec.observe();
  if (cut !== undefined && steps === cut.step) return result({ steps, beyond: `at step ${cut.step}: ${cut.why}` });
  if (q.ram !== undefined && steps === q.steps.length) {
    const expected = retranslate(end.ram, q.slots);
    const differing = q.ram.hashes.map((h, p) => (pageHash(expected, p * 0x1000) === h ? -1 : p)).filter((p) => p >= 0);
    if (differing.length > 0) {
      const again = runQemu(image, ramBytes, { ...opts, physEip, dump: differing, log: false });
      qemuRuns++;
      seconds += again.seconds;
      const tolerated = new Map<string, number>();
      const cr3s = new Set([q.initial.cr3, ...q.steps.map((x) => x.after.cr3)]);
      for (const p of differing) {
        const page = again.ram?.pages.get(p);
        if (page === undefined) return result({ steps, beyond: `RAM page ${p} differs by its hash and the second run did not send it` });
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
          const last = steps - 1;
          return result({
            steps: last,
            divergence: {
              step: last,
              insn: '(RAM at the end)',
              eip: end.eip,
              outcome: { spec: 'retired', qemu: 'retired' },
              fields: [ramDiff(end, { ...end, ram: qram }, at + byte)],
            },
          });
        }
      }
      for (const [why, count] of tolerated) explained.push(`${why}: ${count} RAM word${count > 1 ? 's' : ''} (${EXPLANATIONS[why]})`);
    }
  } else notCompared[0] = 'ram (the run did not end on hlt)';
  const r = result({ steps });
  if (steps < maxSteps && end.status === 'running' && q.beyond !== undefined) r.beyond = q.beyond;
  return r;
}
