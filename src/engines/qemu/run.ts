// One guest under qemu-system-i386 (issue 17): translate, boot, log every instruction, and
// read the log back as VX32 steps (DESIGN §2: an instruction retired, or a handler
// entered), each with the guest-visible state QEMU shows. A step the translation cannot
// stand for ends the steps with `beyond` saying why: it is never turned into a divergence.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CR0_PE, CR0_PG, CR0_WP, CR4_PSE, EFLAGS_LIVE, VEC_DF, VEC_GP, VEC_NP, VEC_PF } from '../../hw/arch.ts';
import type { Image, Observation, StepOutcome, TraceEntry } from '../engine.ts';
import { exitRoutine, gdtBase, multibootKernel, RESERVED_FROM } from './boot.ts';
import { parseLog, type Boundary, type CpuState } from './log.ts';
import { SLOT, translateImage, untranslate } from './translate.ts';

/** The guest-visible fields QEMU's log shows (no RAM, no MMIO device: docs/qemu.md). */
export type QemuObservation = Omit<Observation, 'ram' | 'device' | 'pending'>;

export interface QemuStep {
  outcome: StepOutcome;
  after: QemuObservation;
}

export interface QemuRun {
  initial: QemuObservation;
  steps: QemuStep[];
  /** Set when the steps stop because the guest left what the translation expresses. */
  beyond?: string;
  /** Bytes QEMU's debugcon received (port 0xE9) from the guest, to check the console the steps rebuilt. */
  debugcon: string;
  /**
   * Guest RAM at the end, as VX32 sees it (translated slots given back their VX32 bytes,
   * the GDT's 128 bytes zero), when the run ended on hlt; else undefined.
   */
  ram?: Uint8Array;
  seconds: number;
}

export interface QemuOptions {
  binary?: string;
  accel?: 'tcg' | 'kvm';
  timeoutMs?: number;
  /** Steps wanted: the log is cut a little after them. */
  maxSteps?: number;
  /** Planted translator bugs (TRANSLATOR_BUGS). */
  bugs?: readonly string[];
}

const WITH_ERROR_CODE = new Set([VEC_DF, VEC_NP, VEC_GP, VEC_PF]);

/** VX32's view of an IA-32 state: EFLAGS without PF, AF and the other IA-32-only bits; CR0 without ET. */
function view(s: CpuState, icount: number, status: QemuObservation['status'], trace: TraceEntry[], console: string): QemuObservation {
  const [eax, ecx, edx, ebx, esp, ebp, esi, edi] = s.regs;
  return {
    status,
    icount,
    regs: { eax, ecx, edx, ebx, esp, ebp, esi, edi },
    eip: s.eip,
    eflags: s.eflags & EFLAGS_LIVE,
    cpl: s.cpl,
    cr0: (s.cr0 & (CR0_PE | CR0_WP | CR0_PG)) >>> 0,
    cr2: s.cr2,
    cr3: s.cr3,
    cr4: s.cr4,
    idtr: { ...s.idtr },
    tr: s.trBase,
    console,
    trace: [...trace],
  };
}

/**
 * QEMU sometimes logs one boundary twice: the state is dumped as a translation block is
 * entered, and a block can be left before its instruction runs (an exit request from the
 * I/O thread, a block looked up again after a page-table write). Two identical states in
 * a row with no delivery between them are one boundary. The price: a jump to itself also
 * repeats its state, so such a loop ends the steps (at the log budget, beyond).
 */
function repeated(prev: Boundary | undefined, b: Boundary): boolean {
  return prev !== undefined && b.deliveries.length === 0 && JSON.stringify(prev.state) === JSON.stringify(b.state);
}

/** `mov crN, a` with a value VX32 refuses (#GP) or trims, which IA-32 takes as it is (DESIGN §3.4). */
function controlRegisterHazard(op: number, n: number, value: number): string | undefined {
  if (op !== 0x70) return undefined;
  const hex = `0x${value.toString(16)}`;
  if (n === 0 && ((value & ~(CR0_PE | CR0_WP | CR0_PG)) !== 0 || (value & CR0_PE) === 0))
    return `mov cr0, ${hex}: VX32 raises #GP, IA-32 takes bits other than PE, WP, PG (and PE = 0 means real mode)`;
  if (n === 3 && (value & 0xfff) !== 0) return `mov cr3, ${hex}: VX32 drops the low 12 bits, IA-32 keeps PWT and PCD`;
  if (n === 4 && (value & ~CR4_PSE) !== 0) return `mov cr4, ${hex}: VX32 raises #GP, IA-32 takes bits other than PSE`;
  return undefined;
}

export function runQemu(image: Image, ramBytes: number, opts: QemuOptions = {}): QemuRun {
  if (ramBytes > RESERVED_FROM)
    return { initial: undefined!, steps: [], beyond: `RAM of ${ramBytes} bytes reaches the PC hole at 0xA0000`, debugcon: '', seconds: 0 };
  const gdt = gdtBase(ramBytes);
  if (image.chunks.some((c) => c.addr + c.bytes.length > gdt && c.bytes.some((v, i) => v !== 0 && c.addr + i >= gdt)))
    return {
      initial: undefined!,
      steps: [],
      beyond: `the image puts bytes in the last 128 bytes of RAM, where popek's GDT lives`,
      debugcon: '',
      seconds: 0,
    };
  const t = translateImage(image.chunks, opts.bugs, exitRoutine(ramBytes));
  const dir = mkdtempSync(join(tmpdir(), 'popek-qemu-'));
  try {
    writeFileSync(join(dir, 'kernel.bin'), multibootKernel(t.chunks, image.entry, ramBytes));
    const t0 = performance.now();
    const r = spawnSync(
      opts.binary ?? 'qemu-system-i386',
      [
        ...['-accel', opts.accel ?? 'tcg', '-display', 'none', '-nodefaults', '-no-reboot', '-m', '8'],
        ...['-kernel', join(dir, 'kernel.bin'), '-debugcon', `file:${join(dir, 'debugcon')}`],
        ...['-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04'],
        ...['-d', 'cpu,int,cpu_reset,nochain', '-singlestep', '-dfilter', `0..0x${(gdtBase(ramBytes) - 1).toString(16)}`],
      ],
      // The log goes to stderr; a guest that never halts is stopped by the log budget (a
      // state dump is about 1 KiB) or the time limit, and its steps end there.
      { timeout: opts.timeoutMs ?? 20_000, encoding: 'latin1', maxBuffer: 256 * 1024 + (opts.maxSteps ?? 100_000) * 2048 },
    );
    const seconds = (performance.now() - t0) / 1000;
    const code = r.error === undefined ? undefined : (r.error as NodeJS.ErrnoException).code;
    if (r.error && code !== 'ENOBUFS' && code !== 'ETIMEDOUT') throw new Error(`qemu-system-i386 could not run: ${r.error.message}`);
    const log = r.stderr;
    let debugcon = readFileSync(join(dir, 'debugcon'), 'latin1');
    const parsed = parseLog(log, image.entry, gdtBase(ramBytes));
    const { tail, tripleFault } = parsed;
    const boundaries = parsed.boundaries.filter((b, k, all) => !repeated(all[k - 1], b));
    if (boundaries.length === 0)
      throw new Error(
        `qemu-system-i386 never reached the guest's entry 0x${image.entry.toString(16)}: ${r.stderr.trim().split('\n').slice(-3).join(' ')}`,
      );
    let icount = 0;
    let console = '';
    const trace: TraceEntry[] = [];
    const initial = view(boundaries[0]!.state, 0, 'running', trace, console);
    const steps: QemuStep[] = [];
    const run = (beyond?: string): QemuRun => ({ initial, steps, debugcon, seconds, ...(beyond === undefined ? {} : { beyond }) });
    for (let k = 0; k < boundaries.length; k++) {
      const cur = boundaries[k]!.state;
      const next = boundaries[k + 1];
      const at = `at eip 0x${cur.eip.toString(16)}`;
      const slot = t.slots.get(cur.eip);
      if (slot === undefined)
        return run(`${at}: the guest runs bytes the image did not hold as a VX32 instruction (VX32 raises #UD; IA-32 would run them)`);
      if (slot.kind === 'unsupported') return run(`${at}: ${slot.why}`);
      const hazard = controlRegisterHazard(slot.op, slot.b, cur.regs[slot.a]!);
      if (hazard !== undefined) return run(`${at}: ${hazard}`);
      const deliveries = next?.deliveries ?? tail;
      const last = deliveries[deliveries.length - 1];
      if (deliveries.some((d) => d.vector === VEC_PF && d.cr2 !== undefined && d.cr2 >= gdt && d.cr2 < gdt + 0x80))
        return run(`${at}: delivering an event needs popek's GDT at 0x${gdt.toString(16)}, which the guest's page tables do not map`);
      if (slot.op === 0x02 && last === undefined) {
        // hlt (the out to isa-debug-exit) retired and nothing can wake the CPU (§3.10.9).
        if (cur.cpl !== 0) return run(`${at}: hlt at cpl ${cur.cpl} (the isa-debug-exit translation holds at cpl 0 only)`);
        icount++;
        steps.push({ outcome: 'retired', after: view({ ...cur, eip: (cur.eip + SLOT) >>> 0 }, icount, 'halted', trace, console) });
        if (debugcon.length < ramBytes) return run(`${at}: the exit routine sent ${debugcon.length} bytes, fewer than RAM`);
        const ram = new Uint8Array(Buffer.from(debugcon.slice(debugcon.length - ramBytes), 'latin1'));
        debugcon = debugcon.slice(0, debugcon.length - ramBytes);
        untranslate(ram, t.slots);
        ram.fill(0, gdt);
        return { ...run(), debugcon, ram };
      }
      if (next === undefined) {
        if (tripleFault) {
          trace.push({ icount, kind: 'shutdown' });
          steps.push({ outcome: 'shutdown', after: view(cur, icount, 'shutdown', trace, console) });
        }
        return run(tripleFault ? undefined : `${at}: the QEMU log ends here (time or log budget)`);
      }
      let outcome: StepOutcome = 'retired';
      if (last === undefined) {
        icount++;
        if (slot.op === 0x67) console += String.fromCharCode(cur.regs[0] & 0xff);
      } else {
        if (deliveries.length > 1 && deliveries.some((d) => d.vector === VEC_DF))
          return run(`${at}: a fault during delivery (QEMU sets no EXT bit in its error code; docs/qemu.md)`);
        const entry: TraceEntry = {
          icount,
          kind: last.software ? 'software' : 'exception',
          vector: last.vector,
          eip: last.software ? (last.eip + SLOT) >>> 0 : last.eip,
        };
        if (!last.software && WITH_ERROR_CODE.has(last.vector)) entry.errorCode = last.errorCode;
        if (last.vector === VEC_PF && !last.software && last.cr2 !== undefined) entry.cr2 = last.cr2;
        trace.push(entry);
        if (last.software) icount++;
        outcome = 'delivered';
      }
      steps.push({ outcome, after: view(next.state, icount, 'running', trace, console) });
    }
    return run();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
