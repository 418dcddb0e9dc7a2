// A starter VMM for popek (written by `popek init-vmm`): VX32 guests in VMX-lite non-root
// mode on the simulated host of `popek/hw`, with a shadow page table as the only page
// table the hardware ever walks. Check it with
//
//   npx popek check --engine ./vmm.ts --guests physical
//
// As written it runs guests that keep paging off (stage 1, "physical"): the guest boots
// with address translation disabled, but the real hardware runs with paging ON, on a
// shadow table the VMM built — the physical-mode map, gpa → hpa — while every read of
// CR0 shows the guest its own PG = 0. The later stages are marked EXERCISE below; the
// README next to this file lists them with the command that checks each.
//
// Glossary (KVM's mmu.rst): gva guest virtual, gpa guest physical, gfn guest frame,
// hpa host physical, gpte guest page-table entry, spte shadow page-table entry, p2m the
// map gfn → host frame, rmap the reverse map gfn → the sptes that point at it.

import type { Engine, EngineFactory, HostEvent, Image, MachineConfig, Observation, Regs, Status, StepOutcome } from 'popek/engine';
import {
  CR0_PE,
  CR0_PG,
  CR0_WP,
  CR4_PSE,
  CR_QUAL_MOV_FROM,
  Cpu,
  EFLAGS_IF,
  IO_QUAL_IN,
  PAGE_SIZE,
  PDE_PS,
  PTE_P,
  PTE_RW,
  PTE_US,
  PhysMem,
  VEC_GP,
  Vmcs,
  Vmx,
  type ExitInfo,
} from 'popek/hw';

/** The console port (DESIGN §3.4): `out 0xE9` writes a byte; `in` from it reads 0xE9. */
const CONSOLE_PORT = 0xe9;
/** The real CR0 while the guest runs: paging and supervisor write protection always on. */
const HOST_CR0 = CR0_PE | CR0_PG | CR0_WP;
/** 4 MiB, what one page-directory entry maps. */
const PDE_SPAN = 1 << 22;
const REG_NAMES = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'] as const;

/** What handling an exit did: nothing the guest sees yet, an instruction done for it, or the end. */
type Handled = 'none' | 'retired' | 'shutdown';

export class StarterVmm implements Engine {
  readonly name = 'starter-vmm';
  private readonly ramBytes: number;
  /** Host memory: guest RAM at hpa = gpa, then the VMM's pool, which no guest mapping reaches. */
  private readonly mem: PhysMem;
  private readonly vmx: Vmx;
  /** One vCPU: the guest's registers, the controls, the exit information. */
  private readonly vmcs = new Vmcs();
  /** The control registers as the guest wrote them (the real ones are the VMM's). */
  private cr0 = CR0_PE;
  private cr3 = 0;
  private cr4 = 0;
  /** hpa of the shadow page directory the hardware walks. */
  private readonly physicalRoot: number;
  /** Raised external interrupts not yet delivered, by vector. */
  private readonly pending = new Uint8Array(256);
  private readonly console: number[] = [];
  private shutdown = false;

  constructor(image: Image, config: MachineConfig) {
    this.ramBytes = config.ramBytes;
    // The pool: one page directory and one page table per 4 MiB that host RAM touches.
    const poolStart = this.ramBytes;
    const tables = Math.ceil((this.ramBytes + 2 * PAGE_SIZE) / PDE_SPAN);
    this.mem = new PhysMem(poolStart + (1 + tables) * PAGE_SIZE);
    // DESIGN §3.2: image bytes outside RAM fall on open bus — never into the pool.
    for (const { addr, bytes } of image.chunks)
      for (let i = 0; i < bytes.length; i++) if (addr + i < this.ramBytes) this.mem.ram[addr + i] = bytes[i]!;
    this.vmx = new Vmx(new Cpu(this.mem));
    this.vmcs.guest.eip = image.entry | 0;
    this.physicalRoot = this.buildPhysicalMap(poolStart, tables);
  }

  // ---- the physical-mode shadow (DESIGN §6.7) ------------------------------------------

  /**
   * The map the hardware walks while the guest's paging is off: gva = gpa, and every
   * gpa to the host address that behaves the same — a RAM page to its host frame (here
   * gfn = hfn), anything else to host addresses that are open bus (or, in the top 4 MiB,
   * the MMIO device itself). User, writable everywhere: with paging off, nothing checks.
   */
  private buildPhysicalMap(pool: number, tables: number): number {
    const pd = pool;
    const hostTop = pool + (1 + tables) * PAGE_SIZE;
    /** An hpa no host RAM backs: it reads 0xFF and drops writes, as guest open bus does. */
    const openBus = Math.ceil(hostTop / PDE_SPAN) * PDE_SPAN;
    for (let i = 0; i < 1024; i++) {
      const base = i * PDE_SPAN;
      if (base >= hostTop) {
        // Above host RAM, a 4 MiB page onto the same hpa is open bus (or the device) on both sides.
        this.write32(pd + 4 * i, base | PDE_PS | PTE_P | PTE_RW | PTE_US);
        continue;
      }
      const pt = pool + (1 + i) * PAGE_SIZE;
      this.write32(pd + 4 * i, pt | PTE_P | PTE_RW | PTE_US);
      for (let j = 0; j < 1024; j++) {
        const gpa = base + j * PAGE_SIZE;
        const hpa = gpa < this.ramBytes ? this.gpaToHpa(gpa) : openBus;
        this.write32(pt + 4 * j, hpa | PTE_P | PTE_RW | PTE_US);
      }
    }
    return pd;
  }

  /**
   * The p2m: where a guest frame lives in host memory. Here, at the same address.
   * EXERCISE (stage swap): make this a table, so a frame can move (migrate) or leave
   * (swap-out), and keep an rmap to find every spte that points at a frame.
   */
  private gpaToHpa(gpa: number): number {
    return gpa;
  }

  private write32(hpa: number, value: number): void {
    new DataView(this.mem.ram.buffer).setUint32(hpa, value >>> 0, true);
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
    // EXERCISE (stage paging): with shadow tables filled lazily, #PF must exit too
    // (c.exceptionBitmap = 1 << VEC_PF) — each one is a hidden fault or the guest's own.
    c.exceptionBitmap = 0;
    // Shadow EFLAGS: popf, pushf, cli and sti run natively on the guest's eflags in the
    // VMCS, so nothing about IF needs an exit (the lecture's answer to the popf problem).
    g.cr0 = HOST_CR0;
    g.cr4 = CR4_PSE; // the physical map uses 4 MiB pages above host RAM
    g.cr3 = this.physicalRoot; // EXERCISE (stage paging): the shadow of the guest's CR3 once PG = 1
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
      case 'triple-fault':
        this.shutdown = true;
        this.vmcs.guest.trace.push({ icount: this.vmcs.guest.icount, kind: 'shutdown' });
        return 'shutdown';
      case 'interrupt-window': // loadControls injects at the next entry
      case 'preemption-timer': // the budget is spent, or the guest halted
        return 'none';
      // EXERCISE (stage paging): a #PF exit. Walk the guest's tables in software (setting
      // A and D as DESIGN §3.5 says): a true fault is injected with its error code and
      // CR2; a hidden fault installs the spte and re-enters (re-injecting exit.idtVectoring).
      // EXERCISE (stage tracing): a write to a guest page table is a #PF on a read-only
      // spte — perform the write for the guest and zap the sptes it made stale.
      // EXERCISE (stage mmio): an access to the device window exits and is emulated once.
      case 'exception':
      case 'hlt':
      case 'invlpg':
      case 'external-interrupt':
      case 'idtr-access':
      case 'tr-access':
      case 'ept-violation':
      case 'ept-misconfig':
        throw new Error(`starter VMM: exit '${exit.reason}' at eip 0x${(this.vmcs.guest.eip >>> 0).toString(16)} is not handled yet`);
    }
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

  /** mov to/from CR0, CR3, CR4 (DESIGN §3.4, §6.7): the guest reads and writes its own values. */
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
      // EXERCISE (stage paging): PG = 1 means the guest's own tables now translate. Build
      // (or find) the shadow of the table at this.cr3 and load it in loadControls; until
      // then the guest keeps running on the physical map, which is wrong.
    } else if (cr === 4) {
      if ((v & ~CR4_PSE) !== 0) return this.injectGp();
      this.cr4 = v;
    } else {
      this.cr3 = v & ~0xfff;
      // EXERCISE (stage paging): a new address space — switch to its shadow root.
    }
    return this.skip();
  }

  /** DESIGN §3.4: an invalid control-register value is #GP(0), delivered at the next entry. */
  private injectGp(): Handled {
    this.vmcs.injection.set(VEC_GP, 'exception', 0, 0);
    return 'none';
  }

  // ---- the Engine interface (popek/engine) --------------------------------------------------

  fire(event: HostEvent): void {
    switch (event.kind) {
      case 'irq':
        if (Number.isInteger(event.vector) && event.vector >= 0 && event.vector <= 255) this.pending[event.vector] = 1;
        return;
      case 'flush-tlb':
        this.vmx.flushTlb();
        return;
      case 'swap-out':
      case 'migrate':
      case 'evict-shadow':
      case 'reclaim':
      case 'switch-vm':
        // EXERCISE (stage swap): host-only events (DESIGN §3.8) must never change what the
        // guest sees. swap-out: copy the frame to a disk, zap every spte of it through the
        // rmap, flush the TLB; the next access is a hidden fault that brings it back into a
        // new frame. migrate: the same, into a new frame at once. evict-shadow: drop shadow pages.
        return;
    }
  }

  /** Halted with nothing that can wake it now. */
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
        // DESIGN §3.10.9: time jumps to the next event; halted with none left ends the run.
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
      ram: this.mem.ram.subarray(0, this.ramBytes), // EXERCISE (stage swap): read swapped frames from the disk
      console: String.fromCharCode(...this.console),
      device: { counter: this.mem.device.counter, log: [...this.mem.device.log] },
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
    return { instructions: this.vmcs.guest.icount, entries: this.vmx.entries };
  }
}

/** What `popek --engine ./vmm.ts` calls: one engine per guest (popek/engine). */
const createEngine: EngineFactory = (image, config) => new StarterVmm(image, config);
export default createEngine;
