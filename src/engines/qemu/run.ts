// One guest under qemu-system-i386 (issue 17): translate, boot, log every instruction, and
// read the log back as VX32 steps (DESIGN §2: an instruction retired, or a handler
// entered), each with the guest-visible state QEMU shows. A step the translation cannot
// stand for ends the steps with `beyond` saying why: it is never turned into a divergence.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CR0_PE, CR0_PG, CR0_WP, CR4_PSE, EFLAGS_LIVE, VEC_DF, VEC_GP, VEC_NP, VEC_PF } from '../../hw/arch.ts';
import type { Image, Observation, StepOutcome, TraceEntry } from '../engine.ts';
import { bootFiles, END_STATE_BYTES, endStateOf, RESERVED_BYTES, RESERVED_FROM, reservedLayout } from './boot.ts';
import { parseLog, type Boundary, type CpuState, type Delivery } from './log.ts';
import { SLOT, translateImage, untranslate, type Slot } from './translate.ts';

/** The guest-visible fields QEMU's log shows (no RAM, no MMIO device: docs/qemu.md). */
export type QemuObservation = Omit<Observation, 'ram' | 'device' | 'pending'>;

export interface QemuStep {
  outcome: StepOutcome;
  after: QemuObservation;
  /** Fields QEMU's log does not show at this step (compared nowhere, said in the report). */
  unknown?: 'cr2'[];
}

export interface QemuRun {
  initial: QemuObservation;
  steps: QemuStep[];
  /** Set when the steps stop because the guest left what the translation expresses. */
  beyond?: string;
  /** Bytes QEMU's debugcon received (port 0xE9) from the guest, to check the console the steps rebuilt. */
  debugcon: string;
  /**
   * Guest RAM at the end, when the run ended on hlt: the exit routine's hash of every page
   * (boot.ts `pageHash`, over RAM as QEMU holds it: translated slots in IA-32) and the
   * bytes of the pages asked for with `dump`, given back their VX32 bytes.
   */
  ram?: { hashes: number[]; pages: Map<number, Uint8Array> };
  /** The state the exit routine sent, when the run ended on hlt. */
  end?: CpuState;
  /**
   * How QEMU ended: `halted` (the exit routine ran: a hlt retired), `shutdown` (QEMU ended
   * by itself: with -no-reboot, a triple fault; the guest reaches no other way out),
   * `timeout` (still running at the time limit), `crashed` (any other exit: a QEMU failure).
   */
  exit: 'halted' | 'shutdown' | 'timeout' | 'crashed';
  /** QEMU's exit status or signal and the end of its stderr, for a crash. */
  exitDetail: string;
  /** The slots of the translation (to hash the spec's RAM as QEMU would hold it). */
  slots: Map<number, Slot>;
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
  /**
   * From the spec run beside: the physical address of the instruction of each step (its
   * eip may be an alias through the page tables), undefined where the fetch faults. The
   * translation then covers those slots only.
   */
  physEip?: readonly (number | undefined)[];
  /** Pages of guest RAM (by index) the exit routine sends in full. */
  dump?: readonly number[];
  /**
   * false: no per-instruction log (no -singlestep, no -d): only the end (state, RAM,
   * console) — the end-state comparison, the only one under KVM, and the second run that
   * fetches pages whose hashes differed. Default true.
   */
  log?: boolean;
}

/**
 * The end-state mode's time limit: a translated guest of the campaign's size ends in
 * milliseconds unlogged and start-up is 0.1–0.3 s, so only a guest that never ends (a
 * planted bug's loop) reaches it; generous, so that a loaded machine (npm test on 2
 * cores) does not turn a slow start into a status difference.
 */
export const END_TIMEOUT_MS = 10_000;

/**
 * qemu-system-i386's command line. Start-up is most of a run (docs/qemu.md, speed): isapc
 * is the PC without PCI, a quarter faster to start (qemu32 is the pc machine's default
 * CPU); one TCG thread and a 16 MiB translation cache (not 1 GiB) another quarter. The log
 * (of every linear address but popek's page and the ROM, as code runs at aliases too)
 * exists under TCG only: KVM runs the guest on the CPU, with no instruction to log.
 */
export function qemuArgs(dir: string, ramBytes: number, accel: 'tcg' | 'kvm', log: boolean): string[] {
  if (log && accel === 'kvm') throw new Error('QEMU logs no instruction states under KVM: only the end state can be observed');
  return [
    ...['-M', 'isapc', '-cpu', 'qemu32', '-accel', accel === 'tcg' ? 'tcg,thread=single,tb-size=16' : 'kvm'],
    ...['-display', 'none', '-nodefaults', '-no-reboot', '-m', '2'],
    ...['-bios', join(dir, 'bios.bin'), '-device', `loader,file=${join(dir, 'ram.bin')},addr=0,force-raw=on`],
    ...['-debugcon', `file:${join(dir, 'debugcon')}`, '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04'],
    ...(log
      ? [
          '-d',
          'cpu,int,cpu_reset,nochain',
          '-singlestep',
          '-dfilter',
          `0..0x${(ramBytes - 1).toString(16)},0x${(ramBytes + RESERVED_BYTES).toString(16)}..0xfffeffff`,
        ]
      : []),
  ];
}

const WITH_ERROR_CODE = new Set([VEC_DF, VEC_NP, VEC_GP, VEC_PF]);

/** VX32's view of an IA-32 state: EFLAGS without PF, AF and the other IA-32-only bits; CR0 without ET. */
export function stateView(s: CpuState): Omit<QemuObservation, 'status' | 'icount' | 'console' | 'trace'> {
  const [eax, ecx, edx, ebx, esp, ebp, esi, edi] = s.regs;
  return {
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
  };
}

function view(s: CpuState, icount: number, status: QemuObservation['status'], trace: TraceEntry[], console: string): QemuObservation {
  return { status, icount, ...stateView(s), console, trace: [...trace] };
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
export function controlRegisterHazard(op: number, n: number, value: number): string | undefined {
  if (op !== 0x70) return undefined;
  const hex = `0x${value.toString(16)}`;
  if (n === 0 && ((value & ~(CR0_PE | CR0_WP | CR0_PG)) !== 0 || (value & CR0_PE) === 0))
    return `mov cr0, ${hex}: VX32 raises #GP, IA-32 takes bits other than PE, WP, PG (and PE = 0 means real mode)`;
  if (n === 3 && (value & 0xfff) !== 0) return `mov cr3, ${hex}: VX32 drops the low 12 bits, IA-32 keeps PWT and PCD`;
  if (n === 4 && (value & ~CR4_PSE) !== 0) return `mov cr4, ${hex}: VX32 raises #GP, IA-32 takes bits other than PSE`;
  return undefined;
}

/** eflags bits IA-32 acts on that VX32 does not have: TF single-steps (#DB), NT makes iret a task return, VM (iret at cpl 0) enters virtual-8086 mode. */
export const IA32_ACTIVE_EFLAGS = 0x100 | 0x4000 | 0x20000;
/** IA-32 vectors VX32 never raises: #DB (TF), #TS (a TSS it cannot use). */
const VEC_DB = 1;
const VEC_TS = 10;

/** Why a run stops being VX32 at this delivery, if it does. */
function deliveryHazard(d: Delivery, reserved: number): string | undefined {
  const inReserved = (v: number | undefined) => v !== undefined && v >= reserved && v < reserved + RESERVED_BYTES;
  if (d.vector === VEC_PF && inReserved(d.cr2))
    return `the guest's page tables do not map popek's page at 0x${reserved.toString(16)} at its own address (GDT, ltr, str, hlt need it)`;
  if (inReserved(d.eip)) return `vector ${d.vector} raised in popek's page at 0x${d.eip.toString(16)} (an ltr stub or the exit routine)`;
  if (d.software) return undefined; // `int 1`, `int 10`: vectors the guest chose
  if (d.vector === VEC_TS) return `#TS: IA-32 reads SS0 at tr+8 on a switch to ring 0 and it is not 0x10 (VX32 reads only ESP0)`;
  if (d.vector === VEC_DB) return '#DB: IA-32 single-steps with eflags.TF';
  return undefined;
}

export function runQemu(image: Image, ramBytes: number, opts: QemuOptions = {}): QemuRun {
  const layout = reservedLayout(ramBytes);
  const executed = opts.physEip === undefined ? undefined : new Set(opts.physEip.filter((a) => a !== undefined));
  const t = translateImage(image.chunks, opts.bugs ?? [], layout, executed);
  const none = (beyond: string): QemuRun => ({
    initial: undefined!,
    steps: [],
    beyond,
    debugcon: '',
    slots: t.slots,
    seconds: 0,
    exit: 'crashed',
    exitDetail: 'not run',
  });
  if (ramBytes + RESERVED_BYTES > RESERVED_FROM)
    return none(`RAM of ${ramBytes} bytes and popek's page after it reach the PC hole at 0xA0000`);
  const log = opts.log ?? true;
  const accel = opts.accel ?? 'tcg';
  const dump = opts.dump ?? [];
  const files = bootFiles(t.chunks, image.entry, ramBytes, t.stubs, dump);
  const dir = mkdtempSync(join(tmpdir(), 'popek-qemu-'));
  try {
    writeFileSync(join(dir, 'bios.bin'), files.bios);
    writeFileSync(join(dir, 'ram.bin'), files.ram);
    const t0 = performance.now();
    // The log goes to stderr, in memory; a guest that never halts is stopped by the log
    // budget (a state dump is about 1 KiB) or the time limit, and its steps end there.
    const r = spawnSync(opts.binary ?? 'qemu-system-i386', qemuArgs(dir, ramBytes, accel, log), {
      timeout: opts.timeoutMs ?? (log ? 20_000 : END_TIMEOUT_MS),
      encoding: 'latin1',
      maxBuffer: 256 * 1024 + (opts.maxSteps ?? 100_000) * 2048,
    });
    const seconds = (performance.now() - t0) / 1000;
    const code = r.error === undefined ? undefined : (r.error as NodeJS.ErrnoException).code;
    if (r.error && code !== 'ENOBUFS' && code !== 'ETIMEDOUT') throw new Error(`qemu-system-i386 could not run: ${r.error.message}`);
    // A QEMU that failed before opening its chardevs leaves no file: its exit says why.
    let debugcon = existsSync(join(dir, 'debugcon')) ? readFileSync(join(dir, 'debugcon'), 'latin1') : '';
    const pages = ramBytes / 0x1000;
    const ramTail = END_STATE_BYTES + 4 * pages + 0x1000 * dump.length;
    const halted = r.status === 0x21; // isa-debug-exit: status (0x10 << 1) | 1
    const exit: QemuRun['exit'] = halted
      ? 'halted'
      : code === 'ETIMEDOUT' || (code === 'ENOBUFS' && log)
        ? 'timeout'
        : r.status === 0 && r.signal === null
          ? 'shutdown'
          : 'crashed';
    const exitDetail = `exit ${r.status ?? r.signal}${exit === 'crashed' ? `: ${r.stderr.trim().split('\n').slice(-2).join(' ')}` : ''}`;
    let end: CpuState | undefined;
    /** The exit routine's output at the end of debugcon: the end state, a hash per page, the dumped pages after their hash. */
    const endRam = (): QemuRun['ram'] => {
      if (debugcon.length < ramTail) return undefined;
      const tail = Buffer.from(debugcon.slice(debugcon.length - ramTail), 'latin1');
      debugcon = debugcon.slice(0, debugcon.length - ramTail);
      end = endStateOf(tail.subarray(0, END_STATE_BYTES));
      const hashes: number[] = [];
      const got = new Map<number, Uint8Array>();
      let at = END_STATE_BYTES;
      for (let p = 0; p < pages; p++) {
        hashes.push(tail.readUInt32LE(at));
        at += 4;
        if (!dump.includes(p)) continue;
        const page = new Uint8Array(tail.subarray(at, at + 0x1000));
        at += 0x1000;
        // Slots wholly in the page get their VX32 bytes back.
        const bytes = new Uint8Array(ramBytes);
        bytes.set(page, p * 0x1000);
        untranslate(bytes, t.slots);
        got.set(p, bytes.slice(p * 0x1000, (p + 1) * 0x1000));
      }
      return { hashes, pages: got };
    };
    if (!log) {
      const ram = halted ? endRam() : undefined;
      return { initial: undefined!, steps: [], debugcon, slots: t.slots, seconds, exit, exitDetail, ...(ram ? { ram, end } : {}) };
    }
    const parsed = parseLog(r.stderr, image.entry, layout.gdt);
    const { tail, tripleFault } = parsed;
    // A boundary inside a slot (hlt's and ltr's jump after their clts) is not VX32's: its
    // deliveries go to the next one. Translated slots are 8-byte aligned, at any alias.
    const merged: Boundary[] = [];
    let carried: Delivery[] = [];
    for (const b of parsed.boundaries) {
      if (b.state.eip % SLOT !== 0) {
        carried = [...carried, ...b.deliveries];
        continue;
      }
      merged.push(carried.length ? { ...b, deliveries: [...carried, ...b.deliveries] } : b);
      carried = [];
    }
    const boundaries = merged.filter((b, k, all) => !repeated(all[k - 1], b));
    if (boundaries.length === 0)
      throw new Error(
        `qemu-system-i386 never reached the guest's entry 0x${image.entry.toString(16)}: ${r.stderr.trim().split('\n').slice(-3).join(' ')}`,
      );
    let icount = 0;
    let console = '';
    const trace: TraceEntry[] = [];
    const initial = view(boundaries[0]!.state, 0, 'running', trace, console);
    const steps: QemuStep[] = [];
    const run = (beyond?: string): QemuRun => ({
      initial,
      steps,
      debugcon,
      slots: t.slots,
      seconds,
      exit,
      exitDetail,
      ...(beyond === undefined ? {} : { beyond }),
    });
    /** The slot of step k: by the spec's physical address of its instruction when given, else at eip. */
    const slotOf = (eip: number): Slot | undefined => t.slots.get(opts.physEip?.[steps.length] ?? eip);
    /** One group of deliveries that ends with a handler entered (the earlier ones faulted during delivery). */
    const delivered = (group: Delivery[], after: CpuState): string | undefined => {
      const last = group[group.length - 1]!;
      if (group.length > 1 && !group[0]!.software && (last.vector === VEC_GP || last.vector === VEC_NP))
        return `#${last.vector === VEC_GP ? 'GP' : 'NP'} while delivering vector ${group[0]!.vector}: QEMU sets no EXT bit in its error code (ext-bit, docs/qemu.md)`;
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
      steps.push({ outcome: 'delivered', after: view(after, icount, 'running', trace, console) });
      return undefined;
    };
    /**
     * A triple fault: the state as the failed delivery began. A #PF on the way writes CR2
     * (§3.10.2); QEMU logs no state after the last fault, so when that one is a #PF the
     * CR2 it wrote is unknown.
     */
    const shutdown = (cur: CpuState, group: Delivery[]) => {
      trace.push({ icount, kind: 'shutdown' });
      const at = group[0]?.state ?? cur;
      const step: QemuStep = { outcome: 'shutdown', after: view(at, icount, 'shutdown', trace, console) };
      if (parsed.lastFault === VEC_PF) step.unknown = ['cr2'];
      steps.push(step);
    };
    for (let k = 0; k < boundaries.length; k++) {
      const cur = boundaries[k]!.state;
      const next = boundaries[k + 1];
      const at = `at eip 0x${cur.eip.toString(16)}`;
      if ((cur.eflags & IA32_ACTIVE_EFLAGS) !== 0)
        return run(
          `${at}: eflags 0x${cur.eflags.toString(16)} has TF, NT or VM, which IA-32 acts on (single step, task return, virtual-8086 mode) and VX32 does not have`,
        );
      const deliveries = next?.deliveries ?? tail;
      for (const d of deliveries) {
        const h = deliveryHazard(d, layout.base);
        if (h !== undefined) return run(`${at}: ${h}`);
      }
      // A fetch that faults is logged as no boundary: a delivery at another eip than this
      // boundary's means this instruction retired and the next one's fetch faulted.
      const first = deliveries[0];
      const fetchFaultFirst = first !== undefined && !first.software && first.eip !== cur.eip;
      if (first === undefined || fetchFaultFirst) {
        const slot = slotOf(cur.eip);
        if (slot === undefined)
          return run(`${at}: the guest runs bytes the image did not hold as a VX32 instruction (VX32 raises #UD; IA-32 would run them)`);
        if (slot.kind === 'unsupported') return run(`${at}: ${slot.why}`);
        const hazard = controlRegisterHazard(slot.op, slot.b, cur.regs[slot.a]!);
        if (hazard !== undefined) return run(`${at}: ${hazard}`);
        if (slot.op === 0x02 && first === undefined) {
          // hlt (the jump to the exit routine) retired and nothing can wake the CPU (§3.10.9).
          icount++;
          steps.push({ outcome: 'retired', after: view({ ...cur, eip: (cur.eip + SLOT) >>> 0 }, icount, 'halted', trace, console) });
          const ram = halted ? endRam() : undefined;
          if (ram === undefined) return run(`${at}: the exit routine did not send the RAM hashes (QEMU status ${r.status})`);
          return { ...run(), debugcon, ram, ...(end ? { end } : {}) };
        }
        if (next === undefined && first === undefined) {
          if (tripleFault) shutdown(cur, deliveries);
          return run(tripleFault ? undefined : `${at}: the QEMU log ends here (time or log budget)`);
        }
        icount++;
        if (slot.op === 0x67) console += String.fromCharCode(cur.regs[0] & 0xff);
        // The state QEMU dumps at a delivery has the #PF's CR2 already: the retired
        // instruction left CR2 as it was, unless it was `mov cr2, a`.
        const atDelivery = first?.state;
        const afterRetire =
          first === undefined
            ? next!.state
            : atDelivery && { ...atDelivery, cr2: slot.op === 0x70 && slot.b === 2 ? cur.regs[slot.a]! : cur.cr2 };
        if (afterRetire === undefined) return run(`${at}: the QEMU log has no state at the delivery that follows`);
        steps.push({ outcome: 'retired', after: view(afterRetire, icount, 'running', trace, console) });
        if (first === undefined) continue;
      } else {
        const slot = slotOf(cur.eip);
        if (slot?.kind === 'unsupported') return run(`${at}: ${slot.why}`);
      }
      // The deliveries, in groups: a group starts at a delivery whose eip is not the eip of the
      // group before (a fetch fault after that group's handler was entered).
      let group: Delivery[] = [];
      for (const d of deliveries) {
        if (group.length > 0 && !d.software && d.eip !== group[0]!.eip) {
          if (d.state === undefined) return run(`${at}: the QEMU log has no state at a delivery`);
          const why = delivered(group, d.state);
          if (why !== undefined) return run(`${at}: ${why}`);
          group = [];
        }
        group.push(d);
      }
      if (next === undefined) {
        if (tripleFault) {
          shutdown(cur, group);
          return run();
        }
        return run(`${at}: the QEMU log ends here (time or log budget)`);
      }
      const why = delivered(group, next.state);
      if (why !== undefined) return run(`${at}: ${why}`);
    }
    return run();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
