// The binary-translating VMM (DESIGN §5 `bt`; Adams & Agesen, ASPLOS 2006): the software
// VMM of a machine without VT-x. The guest runs deprivileged on the real CPU in legacy
// mode (src/hw/legacy.ts) — kernel at ring 1, user at ring 3, real IF = 1, real IOPL 0 —
// on shadow page tables from shadow/ (its `Vm` and `ShadowMmu`, reused as they are). Unlike
// classic trap-and-emulate, no guest instruction reaches the CPU unexamined: the
// dispatcher (`slotAt`) finds each instruction's translation in the translation cache
// (translate.ts), translating its block on a miss, and
// - an IDENT slot runs natively on the CPU;
// - a callout slot is performed here, on the guest's virtual state, from the TC's copy of
//   its bytes (`callout`): popf, pushf, iret, sidt and the rest never trap and never
//   leak, which is what made BT equivalent on x86 where trap-and-emulate was not.
// What the natively run code raises still traps here (`trap`): page faults (hidden,
// true, trace faults on guest page tables, and stores into translated code, which
// invalidate it), and the guest's own exceptions, reflected through its IDT in software.
// Adaptive translation: a kernel store that keeps trace-faulting on a page table is
// retranslated into a STORE callout, which the VMM performs with the shadow update and
// no fault (paper §3.4, "adaptive binary translation").

import { match, P } from 'ts-pattern';
import type { Cpu } from '../../hw/cpu.ts';
import type { Monitor, MonitorAction, Trap } from '../../hw/legacy.ts';
import { ACC_FETCH, ACC_PFEC_MASK, ACC_USER, ACC_WRITE, EFLAGS_IF, PTE_RW, VEC_GP, VEC_PF } from '../../hw/arch.ts';
import { operandGva, type EmuFault, type EventKind } from '../core/emulate.ts';
import type { Vm } from '../shadow/vm.ts';
import type { BtBugs } from './bugs.ts';
import { GuestView } from '../core/guest-view.ts';
import {
  CALLOUT_NAMES,
  K_CLI,
  K_HLT,
  K_IDENT,
  K_IN,
  K_INT,
  K_INVLPG,
  K_IRET,
  K_LIDT,
  K_LTR,
  K_MOV_CS,
  K_MOV_FROM_CR,
  K_MOV_TO_CR,
  K_OUT,
  K_POPF,
  K_PUSHF,
  K_SIDT,
  K_STI,
  K_STORE,
  K_STR,
  TranslationCache,
  isPlainStore,
} from './translate.ts';

/** Trace faults by one kernel store before it is retranslated into a STORE callout (assumption, as the paper gives none). */
export const ADAPT_THRESHOLD = 2;

/** A dispatcher answer: let the CPU run the instruction (its fetch faults, or its bytes are open bus). */
export const RUN_NATIVE = -1;

const GP0: EmuFault = { vector: VEC_GP, errorCode: 0 };

/** How the VMM classifies a trap from natively run code (DESIGN §1: exhaustive match on events). */
type TrapClass = 'page-fault' | 'reflect' | 'host-interrupt';

export class BtVmm implements Monitor {
  readonly g: GuestView;
  readonly tc: TranslationCache;
  /** icount and trace length right after an `sti` that set IF: the STI shadow's boundary. */
  private stiIcount = -1;
  private stiTrace = -1;
  private readonly probe: (gva: number, access: number) => number;
  private readonly straddle = new Uint8Array(8);

  /** Counters (not guest-visible). Callouts: calls into the VMM; inline: cli and sti, translated into a write of the virtual IF. */
  callouts = 0;
  inline = 0;
  readonly calloutsBy = new Uint32Array(CALLOUT_NAMES.length);
  hiddenFaults = 0;
  trueFaults = 0;
  /** Stores that trapped on a traced guest page table (memory tracing's cost). */
  traceFaults = 0;
  /** Stores that trapped on translated code (each invalidates its gfn's translations). */
  codeTraceFaults = 0;
  /** Instructions emulated in software after a fault (MMIO, open bus, traced stores not yet adapted). */
  emulated = 0;
  /** Events reflected into the guest through its IDT (exceptions, interrupts; int n is a callout). */
  reflected = 0;
  /** Instructions straddling two pages, translated on the fly (never cached). */
  straddles = 0;

  constructor(
    readonly cpu: Cpu,
    readonly vm: Vm,
    readonly bugs: BtBugs,
  ) {
    this.g = new GuestView(cpu);
    this.probe = (gva, access) => cpu.mmu.probe(gva, access);
    this.tc = new TranslationCache(vm.host.memory, cpu.mem.ram, (gfn) => this.writeProtect(gfn));
  }

  // ---------------------------------------------------------------------------------
  // Shadow roots and the real CR3 (as every shadow-paging VMM: DESIGN §6.2, §6.7)

  loadRoot(): void {
    this.vm.shadow.loadRoot(this.vm.syncPaging());
    this.syncCr3();
  }

  syncCr3(): void {
    const root = this.vm.shadow.rootHpa | 0;
    if (this.cpu.cr3 !== root) this.cpu.writeCr(3, root, 0);
  }

  /** Memory tracing of code (README): no spte maps a translated gfn writable. */
  private writeProtect(gfn: number): void {
    const ram32 = this.cpu.mem.ram32;
    let changed = false;
    for (const addr of this.vm.shadow.rmapOf(gfn)) {
      const s = ram32[addr >>> 2]!;
      if ((s & PTE_RW) !== 0) {
        ram32[addr >>> 2] = s & ~PTE_RW;
        changed = true;
      }
    }
    if (changed) this.cpu.tlb.flush(); // DESIGN §6.11: an spte lost a permission
  }

  // ---------------------------------------------------------------------------------
  // Interrupts (DESIGN §3.7, §3.10.6–7)

  interruptDeliverable(): boolean {
    return this.vm.pendingCount !== 0 && this.g.interruptsEnabled && !this.inStiShadow();
  }

  private inStiShadow(): boolean {
    return this.cpu.icount === this.stiIcount && this.cpu.trace.length === this.stiTrace;
  }

  deliverExternal(): MonitorAction {
    const v = this.vm.takePending();
    const eip = this.cpu.eip;
    return this.deliver(v, 'external', null, eip, eip);
  }

  // ---------------------------------------------------------------------------------
  // The dispatcher

  /**
   * The TC slot of the instruction at the guest's eip, translating its block on a miss;
   * RUN_NATIVE when the CPU must run it to raise what it raises: its fetch faults (the CPU
   * takes the #PF, hidden or true), or it lies in open bus (0xFF bytes: #UD).
   */
  slotAt(): number {
    const cpu = this.cpu;
    const eip = cpu.eip;
    const access = ACC_FETCH | (this.g.cpl === 3 ? ACC_USER : 0);
    const hpa = cpu.mmu.probe(eip, access);
    if (hpa < 0) return RUN_NATIVE;
    const off = eip & 0xfff;
    if (off > 0x1000 - 8) return this.straddling(eip, hpa, access);
    const hfn = hpa >>> 12;
    const memory = this.vm.host.memory;
    if (memory.owner[hfn] !== this.vm.id) return RUN_NATIVE;
    const gpa = memory.ownerGfn[hfn]! * 4096 + off;
    const s = this.tc.lookup(gpa);
    return s >= 0 ? s : this.tc.translate(gpa, hpa);
  }

  /** An instruction across two pages: its bytes from both host frames, into the TC's scratch slot. */
  private straddling(eip: number, hpa: number, access: number): number {
    const first = 0x1000 - (eip & 0xfff);
    const hpa1 = this.cpu.mmu.probe((eip + first) | 0, access);
    if (hpa1 < 0) return RUN_NATIVE;
    const ram = this.cpu.mem.ram;
    for (let i = 0; i < 8; i++) this.straddle[i] = ram[i < first ? hpa + i : hpa1 + (i - first)]!;
    this.straddles++;
    return this.tc.scratch(this.straddle);
  }

  /**
   * Perform callout slot `s` at the guest's eip (README: callouts). Its words are the TC's
   * copy; the cpl and IOPL checks are the guest's own (DESIGN §3.4).
   */
  callout(s: number): MonitorAction {
    const tc = this.tc;
    const kind = tc.kind[s]!;
    const w0 = tc.w0(s);
    const imm = tc.imm(s);
    const g = this.g;
    const vm = this.vm;
    const regs = g.regs;
    const eip = g.eip;
    const a = (w0 >>> 8) & 7;
    const b = (w0 >>> 16) & 7;
    const cpl = g.cpl;
    const ioAllowed = cpl <= g.iopl;
    if (kind === K_CLI || kind === K_STI) this.inline++;
    else this.callouts++;
    this.calloutsBy[kind]!++;
    let fault: EmuFault | null = null;
    switch (kind) {
      case K_PUSHF:
      case K_POPF:
      case K_IRET:
      case K_LIDT:
      case K_SIDT:
      case K_STORE: {
        // The shared emulator performs them on the virtual state, from the TC's bytes.
        const at = tc.addr(s);
        const first = 0x1000 - (eip & 0xfff);
        vm.emulator.prefetch((gva) => (gva === eip ? at : at + first), this.cpu.mem.ram, eip, cpl === 3);
        const iflag = g.vflags & EFLAGS_IF;
        const r = vm.emulator.step(g, vm.syncPaging());
        if (r === 'unsupported') throw new Error(`popek: bt cannot perform the callout at 0x${(eip >>> 0).toString(16)}`);
        if (r !== 'retired') fault = r;
        else if (kind === K_POPF && this.bugs.popfIgnoresIf) g.vflags = (g.vflags & ~EFLAGS_IF) | iflag;
        if (kind === K_IRET || kind === K_LIDT) this.syncCr3();
        return fault === null ? 'resume' : this.calloutFault(fault, eip);
      }
      case K_INT:
        // DESIGN §3.10.4: the frame saves the next eip; a fault while delivering saves the int's.
        return this.deliver(imm & 0xff, 'software', null, (eip + 8) | 0, eip);
      case K_HLT:
        if (cpl !== 0) fault = GP0;
        else g.halted = true;
        break;
      case K_CLI:
        if (!ioAllowed) fault = GP0;
        else g.vflags &= ~EFLAGS_IF;
        break;
      case K_STI:
        if (!ioAllowed) fault = GP0;
        else if ((g.vflags & EFLAGS_IF) === 0) {
          g.vflags |= EFLAGS_IF;
          this.retire();
          this.stiIcount = this.cpu.icount;
          this.stiTrace = this.cpu.trace.length;
          return 'resume';
        }
        break;
      case K_IN:
        if (!ioAllowed) fault = GP0;
        else regs[a] = imm === 0xe9 ? 0xe9 : -1;
        break;
      case K_OUT:
        if (!ioAllowed) fault = GP0;
        else if (imm === 0xe9) vm.console.push(regs[a]! & 0xff);
        break;
      case K_MOV_TO_CR:
        if (cpl !== 0) fault = GP0;
        else if (b === 2) g.cr2 = regs[a]!;
        else if (!vm.writeCr(b === 0 || b === 3 ? b : 4, regs[a]!)) fault = GP0;
        else this.loadRoot();
        break;
      case K_MOV_FROM_CR:
        if (cpl !== 0) fault = GP0;
        else regs[a] = b === 0 ? vm.cr0 : b === 2 ? g.cr2 : b === 3 ? vm.cr3 : vm.cr4;
        break;
      case K_LTR:
        if (cpl !== 0) fault = GP0;
        else g.tr = regs[a]!;
        break;
      case K_STR:
        regs[a] = g.tr;
        break;
      case K_INVLPG:
        // No architectural effect (DESIGN §3.6); the host TLB entry goes.
        if (cpl !== 0) fault = GP0;
        else this.cpu.tlb.invalidate(operandGva(w0, imm, regs) >>> 12);
        break;
      case K_MOV_CS:
        regs[a] = 0x08 + 0x11 * cpl;
        break;
      case K_IDENT:
        throw new Error('popek: bt called out for an IDENT slot');
      default:
        throw new Error(`popek: bt has no callout of kind ${kind}`);
    }
    if (fault !== null) return this.calloutFault(fault, eip);
    this.retire();
    return 'resume';
  }

  private retire(): void {
    this.g.eip = this.g.eip + 8;
    this.g.icount++;
  }

  /** A callout raised the guest's fault: it saves the callout's own eip (DESIGN §3.10.4). */
  private calloutFault(f: EmuFault, eip: number): MonitorAction {
    const saved = this.bugs.calloutWrongEip ? (eip + 8) | 0 : eip;
    return this.reflect(f, saved, saved);
  }

  // ---------------------------------------------------------------------------------
  // Traps from natively run code (legacy.ts Monitor)

  trap(_cpu: Cpu, t: Trap): MonitorAction {
    const cls = match<[Trap['kind'], number], TrapClass>([t.kind, t.vector])
      .with(['interrupt', P._], () => 'host-interrupt')
      .with(['exception', VEC_PF], () => 'page-fault')
      .with(['exception', P._], ['software', P._], () => 'reflect')
      .exhaustive();
    this.syncCr3();
    const action = match(cls)
      .with('page-fault', () => this.pageFault(t))
      .with('reflect', () => this.deliver(t.vector, t.kind === 'software' ? 'software' : 'exception', t.errorCode, t.eip, t.faultEip))
      .with('host-interrupt', () => {
        throw new Error(`popek: bt got a host interrupt ${t.vector}, which it never raises`);
      })
      .exhaustive();
    this.syncCr3();
    return action;
  }

  /** Hidden fault, true fault, trace fault on a page table, or a store into translated code. */
  private pageFault(t: Trap): MonitorAction {
    const vm = this.vm;
    const cpu = this.cpu;
    const gva = t.faultAddress! >>> 0;
    const access = (t.errorCode ?? 0) & ACC_PFEC_MASK;
    const paging = vm.syncPaging();
    vm.emulator.prefetch(this.probe, cpu.mem.ram, cpu.eip, this.g.cpl === 3);
    const rec = vm.walker.walk(paging, gva, access, true);
    if (!rec.ok) {
      this.trueFaults++;
      return this.reflect({ vector: VEC_PF, errorCode: rec.err, cr2: gva }, t.eip, t.faultEip);
    }
    this.hiddenFaults++;
    const gfn = rec.gpa >>> 12;
    const write = (access & ACC_WRITE) !== 0;
    const code = write && this.tc.isCode(gfn);
    if (code) {
      // A store into translated code: its translations go (the bug keeps them: a stale
      // translation), and the store is performed here, so that a block storing into its own
      // page — code and data sharing a page — cannot retranslate and refault forever.
      this.codeTraceFaults++;
      if (this.bugs.staleTranslation) this.tc.forget(gfn);
      else this.tc.invalidate(gfn);
    }
    const traced = write && vm.shadow.isTraced(gfn);
    const filled = vm.shadow.fill(paging, gva, rec, access);
    if (this.tc.isCode(gfn)) this.writeProtect(gfn);
    if (filled === 'mapped' && !code) return 'resume';
    if (traced) this.traceFault(cpu.eip);
    // MMIO, open bus, or a store to a traced guest table: the whole instruction in software.
    this.emulated++;
    const eip = cpu.eip;
    const r = vm.emulator.step(this.g, vm.syncPaging());
    if (r === 'unsupported') throw new Error(`popek: bt cannot emulate the instruction at 0x${(eip >>> 0).toString(16)}`);
    return r === 'retired' ? 'resume' : this.reflect(r, eip, eip);
  }

  /** The emulator stored into guest RAM (a callout, a delivery frame, an emulated store): translated code it hit goes. */
  emulatedStore(gpa: number): void {
    const gfn = gpa >>> 12;
    if (!this.tc.isCode(gfn)) return;
    if (this.bugs.staleTranslation) this.tc.forget(gfn);
    else this.tc.invalidate(gfn);
  }

  /** A store trapped on a traced page table: count it against its slot, and adapt a kernel store that keeps doing it. */
  private traceFault(eip: number): void {
    this.traceFaults++;
    if (this.g.cpl === 3) return; // user code runs as it is: only kernel code is retranslated
    const s = this.slotAt();
    if (s < 0 || s === this.tc.capacity || this.tc.kind[s] !== K_IDENT || this.cpu.eip !== eip) return;
    if (!isPlainStore(this.tc.w0(s))) return;
    if (++this.tc.traceFaults[s]! >= ADAPT_THRESHOLD) this.tc.retranslateStore(s);
  }

  /** A fault the guest raised: CR2 first for a #PF (DESIGN §3.10.2), then delivery. */
  private reflect(f: EmuFault, savedEip: number, faultEip: number): MonitorAction {
    if (f.vector === VEC_PF && f.cr2 !== undefined) this.g.cr2 = f.cr2 | 0;
    return this.deliver(f.vector, 'exception', f.errorCode, savedEip, faultEip);
  }

  /** Software delivery through the guest's IDT at its view of cpl (DESIGN §3.7). */
  private deliver(vector: number, kind: EventKind, errorCode: number | null, savedEip: number, faultEip: number): MonitorAction {
    this.reflected++;
    const r = this.vm.emulator.deliver(this.g, this.vm.syncPaging(), vector, kind, errorCode, savedEip, faultEip);
    this.syncCr3();
    if (r === 'shutdown') {
      this.cpu.shutdown = true;
      return 'shutdown';
    }
    return 'resume';
  }
}
