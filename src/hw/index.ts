/**
 * `popek/hw`: the simulated host hardware a VMM is written against (DESIGN §4).
 *
 * A machine is physical memory, one CPU with its MMU and TLB, and one of three ways to
 * run a guest on it: natively (a bare {@link Cpu}), in legacy mode under a trap-and-emulate
 * {@link Monitor} ({@link LegacyMode}), or in VMX-lite non-root mode ({@link Vmx} with a
 * {@link Vmcs} per vCPU, shadow paging or {@link Ept}). The VMM itself is root mode: plain
 * TypeScript that reads and writes host memory through {@link PhysMem}, never through
 * the TLB.
 *
 * ```ts
 * const mem = new PhysMem(hostRamBytes);
 * const cpu = new Cpu(mem);
 * const vmx = new Vmx(cpu);
 * const vmcs = new Vmcs();                  // per vCPU: guest state, controls
 * vmcs.controls.hltExiting = true;
 * const exit = vmx.vmenter(vmcs, budget);   // runs the guest until an exit
 * ```
 *
 * Everything here is independent of the reference model in `spec/` (DESIGN §1); the
 * numbers of the VX32 architecture are the ones of `arch.ts`, exported here too.
 *
 * @module
 */

/**
 * VX32's architectural numbers, defined once on the `src/` side: EFLAGS bits, CR0/CR4
 * bits, exception vectors, page-table entry bits, #PF error-code bits, and the access
 * word `ACC_WRITE | ACC_USER | ACC_FETCH` that {@link Cpu.access}, {@link Mmu.walk} and
 * {@link Mmu.probe} take (KVM's PFERR mask).
 */
export * from './arch.ts';

/**
 * Host physical memory: RAM, the MMIO device window and open bus (DESIGN §3.2). Data
 * accesses may reach the device; page-structure accesses (`read32Walk`) never do.
 */
export { PhysMem } from './memory.ts';
/** The MMIO device (ID, COUNTER, LOG) and its window. */
export { DEVICE_ID, MMIO_BASE, MMIO_END, MmioDevice } from './device.ts';

/**
 * The CPU: VX32 with rings 0–3 as a fast interpreter. `step`/`runBurst` run it natively;
 * `raise` posts an external interrupt; `icount`, `trace` and `console` are the
 * guest-visible outputs. `step` returns one of the step outcomes `S_*`.
 */
export { Cpu } from './cpu.ts';
export { S_DELIVERED, S_EXIT, S_HALTED, S_RETIRED, S_SHUTDOWN } from './seams.ts';

/**
 * The MMU's one page walker (2-level paging, 4 MiB pages, A/D, #PF error codes) with its
 * gpa→hpa stage, and `probe`, the same walk without side effects. A walk returns the
 * hpa (≥ 0) or the complement of its cause (< 0): for a guest #PF, `~result` is the
 * error code; {@link XF_EPT} marks an EPT failure.
 */
export { eptFailGpa, Mmu, XF_EPT, XF_EPT_FINAL, XF_EPT_PTE, XF_EPT_QUAL } from './mmu.ts';

/**
 * The TLB: one `Int32Array` entry per gva page, host frame in the high bits and
 * permission flags `TLB_*` in the low ones; `forEachValid` for audits.
 */
export {
  MASK_READ_SUP,
  MASK_READ_USER,
  MASK_WRITE_SUP,
  MASK_WRITE_USER,
  Tlb,
  TLB_D,
  TLB_FRAME,
  TLB_U,
  TLB_V,
  TLB_WS,
  TLB_WU,
} from './tlb.ts';

/**
 * VMX-lite: `vmenter` runs a VMCS's guest until an exit; `invept`, `flushTlb`,
 * `invalidatePage` and `vmxoff` are the root-mode instructions around it.
 */
export { Vmx } from './vmx.ts';

/**
 * The VMCS, one per vCPU: guest state (the "shadow EFLAGS" included), host state,
 * execution controls, event injection, and the exit information of the last exit.
 */
export { Controls, EventInjection, GuestState, HostState, Vmcs } from './vmcs.ts';

/**
 * Exit reasons (an exhaustive union), the exit-information record, events in
 * IDT-vectoring and interruption information, and the qualification layouts with
 * their helpers (after Intel SDM vol. 3C ch. 27).
 */
export {
  CR_QUAL_MOV_FROM,
  CR_QUAL_MOV_TO,
  crQual,
  DT_QUAL_STORE,
  dtQual,
  EPT_QUAL_FETCH,
  EPT_QUAL_FINAL,
  EPT_QUAL_GLA_VALID,
  EPT_QUAL_PERM_SHIFT,
  EPT_QUAL_READ,
  EPT_QUAL_WRITE,
  EXIT_REASONS,
  ExitInfo,
  IO_QUAL_IN,
  ioQual,
  zeroExitCounts,
} from './exits.ts';
export type { EventInfo, EventKind, ExitCounts, ExitReason } from './exits.ts';

/**
 * EPT: the second translation gpa→hpa of non-root mode, in a 2-level format of its own
 * (R W X in bits 0–2); `eptEntry` builds an entry.
 */
export { Ept, EPT_R, EPT_RWX, EPT_W, EPT_X, eptEntry } from './ept.ts';

/**
 * Legacy mode: the host as trap-and-emulate saw it before VT-x. Every event goes to the
 * installed {@link Monitor}; sensitive unprivileged instructions do not trap.
 */
export { LegacyMode } from './legacy.ts';
export type { HostTables, Monitor, MonitorAction, Trap, TrapKind } from './legacy.ts';

/** Known hardware bugs that can be switched on, to show the suite has teeth (DESIGN §8). */
export { HW_BUGS, HwBugs, isHwBug } from './bugs.ts';
export type { HwBug } from './bugs.ts';
