// The trap-and-emulate monitor (DESIGN §5 `trap-emulate`, after Popek & Goldberg 1974):
// the VMM of a machine without VT-x. The guest runs deprivileged on the real CPU in
// legacy mode — kernel at ring 1, user at ring 3, real IF = 1, real IOPL = 0 — on shadow
// page tables from the shadow MMU of src/vmm. Every exception and `int n` traps here
// (src/hw/legacy.ts), and the monitor:
// 1. #PF: walks the guest's tables (core/walker.ts). A true fault is reflected to the guest
//    with the guest walk's error code and CR2; a hidden fault fills the shadow (§6.3)
//    and resumes, or — MMIO, open bus, a store to a traced table — the instruction is
//    emulated in software (core/emulate.ts), exactly once (§6.5, §6.9);
// 2. #GP from a privileged or IOPL-sensitive instruction (hlt, mov crN, lidt, ltr,
//    invlpg, cli, sti, in, out): emulates it on the virtual state if the guest's own cpl
//    and IOPL allow it, else reflects the #GP (privileged.ts);
// 3. #GP from `iret` to a more privileged ring (the guest kernel's iret to its ring 0 at
//    real ring 1): emulates the whole iret on the virtual state (core/emulate.ts);
// 4. anything else (#UD, a true #GP, `int n`): reflected through the GUEST's IDT by
//    software delivery at the guest's cpl (core/emulate.ts `deliver`: the frame on the guest's
//    stack, ESP0 from the guest's TSS, escalation to #DF and shutdown).
// External interrupts never reach the hardware: they wait in the VM's pending set and
// the engine reflects one at a boundary where the virtual IF allows it (`deliverExternal`).
//
// What it cannot see — and the suite must find (DESIGN §5, §7): pushf, popf, sidt, str
// and `mov a, cs` run natively at ring 1 and read or keep the REAL state; so does an
// iret to an outer ring (it pops eflags at real cpl 1 or 3 with IOPL 0: IF and IOPL
// stay as they were), and an iret from the guest's ring 0 to its ring 1 (ring compression).

import { match, P } from 'ts-pattern';
import type { Cpu } from '../../hw/cpu.ts';
import type { Monitor, MonitorAction, Trap } from '../../hw/legacy.ts';
import { ACC_FETCH, ACC_PFEC_MASK, ACC_USER, VEC_GP, VEC_PF } from '../../hw/arch.ts';
import type { EmuFault, EventKind } from '../core/emulate.ts';
import type { Vm } from '../shadow/vm.ts';
import { GuestView } from '../core/guest-view.ts';
import { emulatedOp, emulatePrivileged, type Emulated, type PrivilegedContext } from './privileged.ts';

const OP_IRET = 0x65;

/** How the monitor classifies a trap (DESIGN §1: exhaustive match on events). */
type TrapClass = 'page-fault' | 'general-protection' | 'reflect' | 'host-interrupt';

export class TrapEmulateMonitor implements Monitor {
  readonly g: GuestView;
  /** icount and trace length right after an `sti` that set IF: the STI shadow's boundary. */
  private stiIcount = -1;
  private stiTrace = -1;
  private readonly insn = new Int32Array(2);
  private readonly ctx: PrivilegedContext;
  /** The real MMU's side-effect-free translation through the shadow (bound once). */
  private readonly probe: (gva: number, access: number) => number;

  /** Counters (not guest-visible). */
  hiddenFaults = 0;
  trueFaults = 0;
  /** Instructions the monitor performed in software (privileged ones, irets, MMIO and traced stores). */
  emulated = 0;
  readonly emulatedBy: Record<string, number> = {};
  /** Events reflected into the guest through its IDT (exceptions, int n, interrupts). */
  reflected = 0;

  constructor(
    readonly cpu: Cpu,
    readonly vm: Vm,
  ) {
    this.g = new GuestView(cpu);
    this.probe = (gva, access) => cpu.mmu.probe(gva, access);
    this.ctx = {
      vm,
      g: this.g,
      pagingChanged: () => this.loadRoot(),
      stiShadowStarts: () => {
        this.stiIcount = cpu.icount;
        this.stiTrace = cpu.trace.length;
      },
      invalidatePage: (gva) => cpu.tlb.invalidate(gva >>> 12),
    };
  }

  // ---------------------------------------------------------------------------------
  // Shadow roots and the real CR3

  /** Switch to the shadow root of the guest's paging mode and load it as the real CR3. */
  loadRoot(): void {
    this.vm.shadow.loadRoot(this.vm.syncPaging());
    this.syncCr3();
  }

  /** The real CR3 must name the active shadow root (a flush when it changes). */
  syncCr3(): void {
    const root = this.vm.shadow.rootHpa | 0;
    if (this.cpu.cr3 !== root) this.cpu.writeCr(3, root, 0);
  }

  // ---------------------------------------------------------------------------------
  // Interrupts (DESIGN §3.7, §3.10.6–7)

  /** At this boundary: a pending vector, virtual IF = 1, and not the boundary right after a shadowing sti. */
  interruptDeliverable(): boolean {
    return this.vm.pendingCount !== 0 && this.g.interruptsEnabled && !this.inStiShadow();
  }

  private inStiShadow(): boolean {
    return this.cpu.icount === this.stiIcount && this.cpu.trace.length === this.stiTrace;
  }

  /** Reflect the lowest pending vector; it leaves `pending` as delivery begins (§3.10.7). */
  deliverExternal(): MonitorAction {
    const v = this.vm.takePending();
    const eip = this.cpu.eip;
    return this.deliver(v, 'external', null, eip, eip);
  }

  // ---------------------------------------------------------------------------------
  // Traps (legacy.ts Monitor)

  trap(cpu: Cpu, t: Trap): MonitorAction {
    const cls = match<[Trap['kind'], number], TrapClass>([t.kind, t.vector])
      .with(['interrupt', P._], () => 'host-interrupt')
      .with(['software', P._], () => 'reflect')
      .with(['exception', VEC_PF], () => 'page-fault')
      .with(['exception', VEC_GP], () => 'general-protection')
      .with(['exception', P._], () => 'reflect')
      .exhaustive();
    this.syncCr3();
    const action = match(cls)
      .with('page-fault', () => this.pageFault(t))
      .with('general-protection', () => this.generalProtection(cpu, t))
      .with('reflect', () => this.deliver(t.vector, t.kind === 'software' ? 'software' : 'exception', t.errorCode, t.eip, t.faultEip))
      .with('host-interrupt', () => {
        // External interrupts are raised into the VM's pending set, never on the CPU.
        throw new Error(`popek: trap-emulate got a host interrupt ${t.vector}, which it never raises`);
      })
      .exhaustive();
    this.syncCr3();
    return action;
  }

  /** README: hidden fault vs true fault (DESIGN §6.3, §6.4). */
  private pageFault(t: Trap): MonitorAction {
    const vm = this.vm;
    const cpu = this.cpu;
    const gva = t.faultAddress! >>> 0;
    const hwErr = t.errorCode ?? 0;
    // The hardware error code's W and U bits are the access word's (src/hw/arch.ts).
    const access = hwErr & ACC_PFEC_MASK;
    const paging = vm.syncPaging();
    vm.emulator.prefetch(this.probe, cpu.mem.ram, cpu.eip, this.g.cpl === 3);
    const rec = vm.walker.walk(paging, gva, access, true);
    if (!rec.ok) {
      this.trueFaults++;
      return this.reflect({ vector: VEC_PF, errorCode: rec.err, cr2: gva }, t.eip, t.faultEip);
    }
    this.hiddenFaults++;
    if (vm.shadow.fill(paging, gva, rec, access) === 'mapped') return 'resume';
    // MMIO, open bus, or a store to a traced guest table: the whole instruction in software.
    return this.emulateStep('memory');
  }

  /** #GP at rings 1–3: a trapping instruction to emulate, an iret to emulate, or the guest's own #GP. */
  private generalProtection(cpu: Cpu, t: Trap): MonitorAction {
    if (!this.fetch(cpu)) return this.deliver(t.vector, 'exception', t.errorCode, t.eip, t.faultEip);
    const w0 = this.insn[0]!;
    const op = w0 & 0xff;
    if (op === OP_IRET) return this.emulateStep('iret');
    const what: Emulated | null = emulatedOp(op);
    if (what === null) return this.deliver(t.vector, 'exception', t.errorCode, t.eip, t.faultEip);
    this.count(what);
    return this.after(emulatePrivileged(this.ctx, what, w0, this.insn[1]!), cpu.eip);
  }

  /** The trapping instruction's words, read through the real MMU without side effects. */
  private fetch(cpu: Cpu): boolean {
    const eip = cpu.eip;
    const user = this.g.cpl === 3;
    const first = 0x1000 - (eip & 0xfff);
    const hpa0 = cpu.mmu.probe(eip, ACC_FETCH | (user ? ACC_USER : 0));
    const hpa1 = first < 8 ? cpu.mmu.probe((eip + first) | 0, ACC_FETCH | (user ? ACC_USER : 0)) : 0;
    if (hpa0 < 0 || hpa1 < 0) return false;
    const ram = cpu.mem.ram;
    let w0 = 0;
    let imm = 0;
    for (let i = 7; i >= 0; i--) {
      const byte = ram[i < first ? hpa0 + i : hpa1 + (i - first)]!;
      if (i >= 4) imm = (imm << 8) | byte;
      else w0 = (w0 << 8) | byte;
    }
    this.insn[0] = w0;
    this.insn[1] = imm;
    return true;
  }

  /** The shared emulator performs the instruction at eip on the virtual state. */
  private emulateStep(what: string): MonitorAction {
    const vm = this.vm;
    const cpu = this.cpu;
    const eip = cpu.eip;
    if (what === 'iret') vm.emulator.prefetch(this.probe, cpu.mem.ram, eip, this.g.cpl === 3);
    this.count(what);
    const r = vm.emulator.step(this.g, vm.syncPaging());
    if (r === 'unsupported') throw new Error(`popek: trap-emulate cannot emulate the instruction at 0x${(eip >>> 0).toString(16)}`);
    return this.after(r, eip);
  }

  private count(what: string): void {
    this.emulated++;
    this.emulatedBy[what] = (this.emulatedBy[what] ?? 0) + 1;
  }

  /** An emulation either retired the instruction or raised the guest's fault at `eip`. */
  private after(r: 'retired' | EmuFault, eip: number): MonitorAction {
    if (r === 'retired') return 'resume';
    return this.reflect(r, eip, eip);
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
    if (r === 'shutdown') {
      this.cpu.shutdown = true;
      return 'shutdown';
    }
    return 'resume';
  }
}
