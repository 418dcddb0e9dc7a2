// Host-only events (DESIGN §3.8) as every VM of src/vmm takes them: none may change what
// the guest observes. Swap-out, a TLB flush and reclaim are the same under any paging
// (the p2m's unmap hook already removes what maps a frame before it moves); what an MMU
// adds is a hook each for the events that touch its own structures.

import type { HostEvent } from '../../../spec/observation.ts';
import { PAGE_SHIFT } from '../../hw/arch.ts';
import type { Host } from './host.ts';
import type { P2m } from './p2m.ts';

export type HostOnlyEvent = Exclude<HostEvent, { kind: 'irq' }>;

/** What one MMU does at the host events that touch its structures. */
export interface HostEventHooks {
  /** `migrate` of a RAM gfn: move it to a new frame (P2m.migrate), and map that if need be. */
  migrate(gfn: number): void;
  /** `evict-shadow`: shed `count` of the MMU's paging structures (shadow pages, EPT tables). */
  evict(count: number): void;
  /** `switch-vm`: the host runs another VM for a while. */
  switchVm(): void;
}

export function hostEvent(host: Host, p2m: P2m, e: HostOnlyEvent, hooks: HostEventHooks): void {
  switch (e.kind) {
    case 'swap-out':
      if (e.gpa >>> 0 < p2m.ramBytes) p2m.swapOut(e.gpa >>> PAGE_SHIFT);
      return;
    case 'migrate':
      if (e.gpa >>> 0 < p2m.ramBytes) hooks.migrate(e.gpa >>> PAGE_SHIFT);
      return;
    case 'evict-shadow':
      hooks.evict(Math.max(0, e.count | 0));
      return;
    case 'flush-tlb':
      host.vmx.flushTlb();
      return;
    case 'reclaim':
      host.memory.reclaim(e.frames);
      return;
    case 'switch-vm':
      hooks.switchVm();
      return;
  }
}
