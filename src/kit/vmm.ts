// A starter VMM for popek (written by `popek init-vmm`): VX32 guests in VMX-lite non-root
// mode on the simulated host of `popek/hw`, with a shadow page table as the only page
// table the hardware ever walks. Check it with
//
//   npx popek check --engine ./vmm.ts --guests physical
//
// As written it runs guests that keep paging off (stage 1, "physical"): the guest boots
// with address translation disabled, but the real hardware runs with paging ON, on a
// shadow table the VMM fills lazily — each #PF exit is a hidden fault that maps gva = gpa
// to the guest frame's host page — while every read of CR0 shows the guest its own
// PG = 0. The later stages are marked EXERCISE below; the README next to this file lists
// them with the command that checks each. Host memory (guest frames, the pool the shadow
// lives in, a swap disk) comes from `popek/host`.
//
// Glossary (KVM's mmu.rst): gva guest virtual, gpa guest physical, gfn guest frame, hfn
// host frame, hpa host physical, gpte guest page-table entry, spte shadow page-table
// entry, p2m the map gfn → hfn, rmap the reverse map gfn → the sptes that point at it.

import type { Engine, EngineFactory, HostEvent, Image, MachineConfig, Observation, Regs, Status, StepOutcome } from 'popek/engine';
import {
  ACC_USER,
  ACC_WRITE,
  CR0_PE,
  CR0_PG,
  CR0_WP,
  CR4_PSE,
  CR_QUAL_MOV_FROM,
  Cpu,
  EFLAGS_IF,
  IO_QUAL_IN,
  MMIO_BASE,
  MMIO_END,
  PAGE_SIZE,
  PTE_P,
  PTE_RW,
  PTE_US,
  VEC_DF,
  VEC_GP,
  VEC_PF,
  Vmcs,
  Vmx,
  type EventInfo,
  type ExitInfo,
} from 'popek/hw';
import { HostMemory } from 'popek/host';

/** The console port (DESIGN §3.4): `out 0xE9` writes a byte; `in` from it reads 0xE9. */
const CONSOLE_PORT = 0xe9;
/** The real CR0 while the guest runs: paging and supervisor write protection always on. */
const HOST_CR0 = CR0_PE | CR0_PG | CR0_WP;
/** A host page no RAM backs (PhysMem holds at most 1 GiB): it reads 0xFF and drops writes, as guest open bus does. */
const OPEN_BUS_HPA = 0xc0000000;
/** Shadow page tables the VMM keeps at most; when the pool runs dry the shadow is rebuilt. */
const POOL_FRAMES = 64;
const REG_NAMES = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'] as const;

/** What handling an exit did: nothing the guest sees yet, an instruction done for it, or the end. */
type Handled = 'none' | 'retired' | 'shutdown';

/** A guest translation that succeeded: where it leads and what the guest's entries allow. */
interface Translation {
  gpa: number;
  user: boolean;
  writable: boolean;
}

/** A shadow page table: the sptes of one 4 MiB region, in a pool frame. */
interface ShadowPt {
  hpa: number;
}

export class StarterVmm implements Engine {
  readonly name = 'starter-vmm';
  private readonly ramFrames: number;
  /** Host memory (popek/host): guest frames and the VMM's pool, the swap disk. */
  private readonly host: HostMemory;
  private readonly vmId: number;
  private readonly vmx: Vmx;
  /** One vCPU: the guest's registers, the controls, the exit information. */
  private readonly vmcs = new Vmcs();
  /** The control registers as the guest wrote them (the real ones are the VMM's). */
  private cr0 = CR0_PE;
  private cr3 = 0;
  private cr4 = 0;
  /** Raised external interrupts not yet delivered, by vector. */
  private readonly pending = new Uint8Array(256);
  private readonly console: number[] = [];
  private shutdown = false;

  /** The p2m: gfn → host frame, or −1 (never touched). EXERCISE (stage swap): also "on the disk", and an rmap beside it. */
  private readonly p2m: Int32Array;

  /** hpa of the shadow page directory the hardware walks. */
  private readonly root: number;
  /** Per page-directory index, the shadow page table under it. */
  private readonly pts: (ShadowPt | null)[] = new Array<ShadowPt | null>(1024).fill(null);

  constructor(image: Image, config: MachineConfig) {
    this.ramFrames = config.ramBytes / PAGE_SIZE;
    this.host = new HostMemory({ guestFrames: this.ramFrames + 1, poolFrames: POOL_FRAMES });
    // The host asks for a frame back (the `reclaim` event, or overcommit).
    this.vmId = this.host.register({ evict: (gfn) => this.swapOut(gfn) });
    this.vmx = new Vmx(new Cpu(this.host.mem));
    this.p2m = new Int32Array(this.ramFrames).fill(-1);
    this.root = this.host.allocPool();
    // DESIGN §3.2: image bytes outside RAM fall on open bus.
    for (const { addr, bytes } of image.chunks)
      for (let i = 0; i < bytes.length; i++) {
        const gpa = addr + i;
        if (gpa < config.ramBytes) this.host.mem.ram[this.frameOf(gpa >>> 12) * PAGE_SIZE + (gpa & 0xfff)] = bytes[i]!;
      }
    this.vmcs.guest.eip = image.entry | 0;
  }

  // ---- guest RAM through the p2m -------------------------------------------------------------

  /** The host frame of `gfn`, allocated (zeroed) on first touch. EXERCISE (stage swap): read it back from the disk if swapped. */
  private frameOf(gfn: number): number {
    const hfn = this.p2m[gfn]!;
    if (hfn >= 0) return hfn;
    this.p2m[gfn] = this.host.allocGuest(this.vmId, gfn);
    return this.p2m[gfn];
  }

  private page(hfn: number): Uint8Array {
    return this.host.mem.ram.subarray(hfn * PAGE_SIZE, (hfn + 1) * PAGE_SIZE);
  }

  /**
   * EXERCISE (stage swap): the page to the disk (`this.host.swap.put`), every spte that
   * maps it gone — found through an rmap gfn → sptes you keep in `fill` — the TLB flushed,
   * the frame freed (`this.host.freeGuestFrame`). The next access is a hidden fault that
   * brings it back (`frameOf`). Called for `swap-out` and when the host reclaims a frame.
   */
  private swapOut(_gfn: number): void {}

  private write32(hpa: number, value: number): void {
    new DataView(this.host.mem.ram.buffer).setInt32(hpa, value | 0, true);
  }

  // ---- the guest's page walk ----------------------------------------------------------------

  /**
   * Translate `gva` for `access` (ACC_WRITE | ACC_USER) as the guest's own MMU would: a
   * Translation, or the #PF error code. With paging off, gva = gpa and nothing is checked.
   */
  private walk(gva: number, _access: number): Translation | { err: number } {
    // EXERCISE (stage paging): with CR0.PG = 1, walk the guest's tables from this.cr3
    // (DESIGN §3.5), reading each gpte through the p2m (frameOf, and a read32 beside
    // write32; all ones outside RAM: a walk never reaches the device). A not-present entry
    // or a refused access is the guest's own fault, `{ err }` with P, W, U, RSVD; on
    // success set A (and D on a write) in the guest's entries, and compose U/S and R/W of
    // both levels (CR0.WP; 4 MiB pages with CR4.PSE).
    return { gpa: gva >>> 0, user: true, writable: true };
  }

  // ---- the shadow -------------------------------------------------------------------------

  /** The shadow page table for `gva`'s region, made on first use. */
  private shadowPt(gva: number): ShadowPt {
    const i = gva >>> 22;
    const have = this.pts[i];
    if (have) return have;
    let hpa = this.host.allocPool();
    if (hpa < 0) {
      this.dropShadow(); // the pool is dry: rebuild from nothing
      hpa = this.host.allocPool();
    }
    const pt: ShadowPt = { hpa: hpa * PAGE_SIZE };
    this.pts[i] = pt;
    // All permissions live in the leaf sptes.
    this.write32(this.root * PAGE_SIZE + 4 * i, pt.hpa | PTE_P | PTE_RW | PTE_US);
    // EXERCISE (stage tracing): the guest page table this one shadows must not change
    // behind its back: write-protect every spte that maps it (your rmap finds them).
    return pt;
  }

  /** Install the spte for a hidden fault (DESIGN §6.3): gva → the host page of `t.gpa`, no more permissive than the guest allows. */
  private fill(gva: number, t: Translation, _access: number): void {
    const pt = this.shadowPt(gva);
    const spteAddr = pt.hpa + 4 * ((gva >>> 12) & 0x3ff);
    const gfn = t.gpa >>> 12;
    // EXERCISE (stage paging): writable only once the guest D bit is set (DESIGN §6.6);
    // a supervisor write under CR0.WP = 0 to a read-only page.
    // EXERCISE (stage tracing): never writable when the frame is a guest page table you
    // shadow; a guest store to it exits — let it happen once, then drop what it made stale.
    // EXERCISE (stage mmio): never map the device: each access must exit and be performed
    // exactly once (map it for one step only, or emulate it).
    const hpa = gfn < this.ramFrames ? this.frameOf(gfn) * PAGE_SIZE : t.gpa >= MMIO_BASE && t.gpa < MMIO_END ? MMIO_BASE : OPEN_BUS_HPA;
    this.write32(spteAddr, hpa | PTE_P | (t.writable ? PTE_RW : 0) | (t.user ? PTE_US : 0));
    this.vmx.invalidatePage(gva);
  }

  /** One shadow page table, with every spte in it, gone. */
  private zapPt(i: number): void {
    const pt = this.pts[i];
    if (!pt) return;
    this.host.freePoolFrame(pt.hpa / PAGE_SIZE);
    this.write32(this.root * PAGE_SIZE + 4 * i, 0);
    this.pts[i] = null;
  }

  /** Drop the whole shadow: CR3, CR0, CR4 changed, evict-shadow, or the pool ran dry. It refills on demand. */
  private dropShadow(): void {
    for (let i = 0; i < 1024; i++) this.zapPt(i);
    this.vmx.flushTlb();
  }

  // ---- entering the guest ----------------------------------------------------------------

  /** The controls for the next entry: what exits, the shadow root, the views of CR0/CR4. */
  private loadControls(): void {
    const c = this.vmcs.controls;
    const g = this.vmcs.guest;
    // Guest writes of CR0 and CR4 exit; reads see the read shadows, i.e. the guest's values.
    c.cr0Mask = CR0_PE | CR0_WP | CR0_PG;
    c.cr0ReadShadow = this.cr0;
    c.cr4Mask = CR4_PSE;
    c.cr4ReadShadow = this.cr4;
    // CR3 both ways: the real CR3 is the shadow root, the guest must only ever see its own.
    c.cr3LoadExiting = true;
    c.cr3StoreExiting = true;
    c.ioExiting = true;
    // Every #PF exits: each is a hidden fault (the shadow lacks it) or the guest's own.
    c.exceptionBitmap = 1 << VEC_PF;
    // Shadow EFLAGS: popf, pushf, cli and sti run natively on the guest's eflags in the
    // VMCS, so nothing about IF needs an exit (the lecture's answer to the popf problem).
    g.cr0 = HOST_CR0;
    g.cr4 = 0;
    g.cr3 = this.root * PAGE_SIZE;
    // An interrupt waits: inject it where IF = 1 and no STI shadow, else exit when that opens.
    c.interruptWindowExiting = false;
    const vector = this.pending.indexOf(1);
    if (vector >= 0 && !this.vmcs.injection.valid) {
      if ((g.eflags & EFLAGS_IF) !== 0 && !g.stiShadow) {
        this.pending[vector] = 0;
        this.vmcs.injection.set(vector, 'external');
      } else c.interruptWindowExiting = true;
    }
  }

  /** One entry of at most `budget` steps, and its exit handled. Returns the steps the guest took. */
  private enter(budget: number): { steps: number; handled: Handled } {
    const g = this.vmcs.guest;
    // With an interrupt waiting, one step at a time, so it is injected at the first boundary it may be.
    if (this.pending.includes(1)) budget = 1;
    this.loadControls();
    const shadowBefore = g.stiShadow;
    if (this.vmcs.injection.valid) g.stiShadow = false; // the injected event passes the boundary
    const exit = this.vmx.vmenter(this.vmcs, budget);
    // An exit before anything retired keeps the STI shadow for the instruction it covers.
    if (exit.steps === 0 && shadowBefore && exit.reason !== 'interrupt-window') g.stiShadow = true;
    const handled = this.handleExit(exit);
    if (handled === 'retired') g.stiShadow = false;
    return { steps: exit.steps + (handled === 'retired' ? 1 : 0), handled };
  }

  // ---- exits ------------------------------------------------------------------------------

  private handleExit(exit: ExitInfo): Handled {
    switch (exit.reason) {
      case 'io':
        return this.portIo(exit);
      case 'cr-access':
        return this.crAccess(exit);
      case 'exception':
        return this.pageFault(exit);
      case 'triple-fault':
        return this.tripleFault();
      case 'interrupt-window': // loadControls injects at the next entry
      case 'preemption-timer': // the budget is spent, or the guest halted
        return 'none';
      case 'hlt':
      case 'invlpg':
      case 'external-interrupt':
      case 'idtr-access':
      case 'tr-access':
      case 'ept-violation':
      case 'ept-misconfig':
        throw new Error(`starter VMM: exit '${exit.reason}', which its controls never enable`);
    }
  }

  /** A #PF exit: hidden (fill the shadow, re-enter) or true (the guest's own fault, injected). */
  private pageFault(exit: ExitInfo): Handled {
    const gva = exit.qualification >>> 0;
    const access = (exit.interruption?.errorCode ?? 0) & (ACC_WRITE | ACC_USER);
    const t = this.walk(gva, access);
    if ('err' in t) return this.injectPf(t.err, gva, exit.idtVectoring);
    this.fill(gva, t, access);
    // The delivery this fault interrupted starts over (SDM 27.2.4).
    const e = exit.idtVectoring;
    if (e) this.vmcs.injection.set(e.vector, e.kind, e.errorCode, e.instructionLength);
    return 'none';
  }

  /** A true #PF (DESIGN §3.10.2: CR2 first), escalated as §3.7 when it hit a delivery. */
  private injectPf(err: number, gva: number, during: EventInfo | null): Handled {
    this.vmcs.guest.cr2 = gva | 0;
    if (during === null || during.kind !== 'exception' || (during.vector !== VEC_PF && during.vector !== VEC_DF)) {
      // Nothing, a benign event, or a contributory one (#NP, #GP) being delivered: the #PF replaces it.
      this.vmcs.injection.set(VEC_PF, 'exception', err, 0);
      return 'none';
    }
    if (during.vector === VEC_DF) return this.tripleFault();
    this.vmcs.injection.set(VEC_DF, 'exception', 0, 0);
    return 'none';
  }

  private tripleFault(): Handled {
    this.shutdown = true;
    this.vmcs.guest.trace.push({ icount: this.vmcs.guest.icount, kind: 'shutdown' });
    return 'shutdown';
  }

  /** The VMM performed the instruction: the guest moves past it (8 bytes, DESIGN §3.3). */
  private skip(): Handled {
    const g = this.vmcs.guest;
    g.eip = (g.eip + 8) | 0;
    g.icount++;
    return 'retired';
  }

  /** in/out (DESIGN §3.4): port 0xE9 is the console; every other port reads all ones. */
  private portIo(exit: ExitInfo): Handled {
    const g = this.vmcs.guest;
    const q = exit.qualification;
    const port = q >>> 16;
    const reg = (q >>> 8) & 7;
    if ((q & IO_QUAL_IN) !== 0) g.regs[reg] = port === CONSOLE_PORT ? CONSOLE_PORT : -1;
    else if (port === CONSOLE_PORT) this.console.push(g.regs[reg]! & 0xff);
    return this.skip();
  }

  /** mov to/from CR0, CR3, CR4 (DESIGN §6.7): the guest reads its own values; a write rebuilds the shadow. */
  private crAccess(exit: ExitInfo): Handled {
    const g = this.vmcs.guest;
    const q = exit.qualification;
    const cr = q & 0xf;
    const reg = (q >>> 8) & 7;
    if ((q & CR_QUAL_MOV_FROM) !== 0) {
      g.regs[reg] = cr === 0 ? this.cr0 : cr === 3 ? this.cr3 : this.cr4;
      return this.skip();
    }
    const v = g.regs[reg]!;
    if (cr === 0) {
      if ((v & CR0_PE) === 0 || (v & ~(CR0_PE | CR0_WP | CR0_PG)) !== 0) return this.injectGp();
      this.cr0 = v;
    } else if (cr === 4) {
      if ((v & ~CR4_PSE) !== 0) return this.injectGp();
      this.cr4 = v;
    } else this.cr3 = v & ~0xfff;
    // A new address space or paging mode: the shadow built for the old one is wrong.
    this.dropShadow();
    return this.skip();
  }

  /** DESIGN §3.4: an invalid control-register value is #GP(0), delivered at the next entry. */
  private injectGp(): Handled {
    this.vmcs.injection.set(VEC_GP, 'exception', 0, 0);
    return 'none';
  }

  // ---- the Engine interface (popek/engine) --------------------------------------------------

  fire(event: HostEvent): void {
    // Host-only events (DESIGN §3.8) never change what the guest sees; `irq` is the guest's.
    switch (event.kind) {
      case 'irq':
        if (Number.isInteger(event.vector) && event.vector >= 0 && event.vector <= 255) this.pending[event.vector] = 1;
        return;
      case 'evict-shadow':
        this.dropShadow();
        return;
      case 'flush-tlb':
      case 'switch-vm': // one VM: the host comes back to it with the TLB flushed
        this.vmx.flushTlb();
        return;
      case 'swap-out':
      case 'migrate':
      case 'reclaim':
        // EXERCISE (stage swap): swap-out → swapOut(gfn); migrate → the frame to a new one
        // at once, its sptes gone; reclaim → this.host.reclaim(frames), which calls swapOut.
        return;
    }
  }

  private blocked(): boolean {
    const g = this.vmcs.guest;
    if (!g.halted || this.shutdown || this.vmcs.injection.valid) return false;
    return !this.pending.includes(1) || (g.eflags & EFLAGS_IF) === 0;
  }

  step(): StepOutcome {
    const g = this.vmcs.guest;
    for (;;) {
      if (this.shutdown) return 'shutdown';
      if (this.blocked()) return 'halted';
      const traceBefore = g.trace.length;
      const { steps, handled } = this.enter(1);
      if (handled === 'shutdown') return 'shutdown';
      if (steps > 0) return g.trace.length > traceBefore ? 'delivered' : 'retired';
    }
  }

  run(events: readonly HostEvent[], maxSteps: number): Observation {
    const g = this.vmcs.guest;
    const queue = [...events].sort((a, b) => a.at - b.at);
    let next = 0;
    let steps = 0;
    for (;;) {
      while (next < queue.length && queue[next]!.at <= g.icount) this.fire(queue[next++]!);
      if (this.shutdown || steps >= maxSteps) break;
      if (this.blocked()) {
        if (next >= queue.length) break;
        const at = queue[next]!.at;
        while (next < queue.length && queue[next]!.at === at) this.fire(queue[next++]!);
        continue;
      }
      const nextAt = next < queue.length ? queue[next]!.at : Infinity;
      steps += this.enter(Math.max(1, Math.min(maxSteps - steps, nextAt - g.icount))).steps;
    }
    return this.observe();
  }

  observe(): Observation {
    const g = this.vmcs.guest;
    const regs = {} as Regs;
    REG_NAMES.forEach((name, i) => (regs[name] = g.regs[i]! >>> 0));
    const pending: number[] = [];
    this.pending.forEach((p, v) => p && pending.push(v));
    // Guest RAM wherever it is. EXERCISE (stage swap): swapped pages are on the disk (`this.host.swap.peek`).
    const ram = new Uint8Array(this.ramFrames * PAGE_SIZE);
    for (let gfn = 0; gfn < this.ramFrames; gfn++) if (this.p2m[gfn]! >= 0) ram.set(this.page(this.p2m[gfn]!), gfn * PAGE_SIZE);
    return {
      status: this.status(),
      icount: g.icount,
      regs,
      eip: g.eip >>> 0,
      eflags: g.eflags >>> 0,
      cpl: g.cpl,
      cr0: this.cr0 >>> 0,
      cr2: g.cr2 >>> 0,
      cr3: this.cr3 >>> 0,
      cr4: this.cr4 >>> 0,
      idtr: { base: g.idtrBase >>> 0, limit: g.idtrLimit },
      tr: g.tr >>> 0,
      ram,
      console: String.fromCharCode(...this.console),
      device: { counter: this.host.mem.device.counter, log: [...this.host.mem.device.log] },
      trace: g.trace.map((t) => ({ ...t })),
      pending,
    };
  }

  icount(): number {
    return this.vmcs.guest.icount;
  }

  status(): Status {
    return this.shutdown ? 'shutdown' : this.vmcs.guest.halted ? 'halted' : 'running';
  }

  counters(): Record<string, number> {
    // Named as popek's own engines name them, so `popek bench` costs them (DESIGN §9).
    const c: Record<string, number> = { instructions: this.vmcs.guest.icount, entries: this.vmx.entries, exits: 0 };
    for (const [reason, n] of Object.entries(this.vmx.exits)) {
      c[`exit.${reason}`] = n;
      c.exits! += n;
    }
    return c;
  }
}

/** What `popek --engine ./vmm.ts` calls: one engine per guest (popek/engine). */
const createEngine: EngineFactory = (image, config) => new StarterVmm(image, config);
export default createEngine;
