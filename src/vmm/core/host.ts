// The host (DESIGN §4, §6.12): one CPU with VMX-lite, host RAM shared by the VMs through
// one frame allocator and one swap disk, and the VMs themselves. The CPU's TLB holds one
// VM's translations at a time; `tlbOwner` says whose (entering another VMCS flushes it).

import { Cpu } from '../../hw/cpu.ts';
import { HwBugs } from '../../hw/bugs.ts';
import { Vmx } from '../../hw/vmx.ts';
import { HostMemory, type HostMemoryConfig } from './host-memory.ts';

/**
 * The fewest host frames for guest RAM a host runs with, whatever it is configured with.
 * An instruction without memory operands must run natively (the emulator performs only
 * memory accesses): its fetch may straddle two pages, and the walk to each — in hardware
 * under nested paging, in the VMM's walker under shadow paging — reads a page directory
 * and a page table. Anything an instruction needs beyond that is emulated (THRASHING_STALLS).
 */
export const MIN_GUEST_FRAMES = 5;

export class Host {
  readonly memory: HostMemory;
  readonly cpu: Cpu;
  readonly vmx: Vmx;
  /** The VM whose translations the TLB may hold (the last one entered); compared by identity only. */
  tlbOwner: object | null = null;
  /** Another VM to run at `switch-vm` (DESIGN §3.8), if any. */
  companion: { vm: object; run(steps: number): void } | null = null;
  switches = 0;

  constructor(c: HostMemoryConfig, hwBugs: readonly string[] = []) {
    this.memory = new HostMemory({ ...c, guestFrames: Math.max(MIN_GUEST_FRAMES, c.guestFrames) });
    this.cpu = new Cpu(this.memory.mem, new HwBugs(hwBugs));
    this.vmx = new Vmx(this.cpu);
  }

  /** `switch-vm`: the host runs another VM for a while, then comes back. */
  switchVm(from: object): void {
    this.switches++;
    const c = this.companion;
    if (c && c.vm !== from) c.run(64);
    else this.vmx.flushTlb();
  }
}
