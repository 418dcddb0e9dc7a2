// The instruction emulator of core/emulate.ts, for a VM without shadow pages. The
// emulator reports every store it performs to a `ShadowMmu` (`tracedWrite`, memory
// tracing, DESIGN §6.5); nested paging traces nothing, but it must still hear of those
// stores: a store that allocated a frame for a gfn the EPT maps to the zero frame must
// move the EPT leaf, and a store into a host frame a cached translation was walked
// through must flush the TLB (the hardware's coherence marks see only the CPU's stores).

import type { MmioDevice } from '../../hw/device.ts';
import type { VmmBugs } from '../core/bugs.ts';
import { Emulator } from '../core/emulate.ts';
import type { P2m } from '../core/p2m.ts';
import type { GuestWalker } from '../core/walker.ts';

/** Called after each emulated store of `len` bytes at `gpa` (one call per page). */
export type StoreHook = (gpa: number, len: number) => void;

export function eptEmulator(p2m: P2m, walker: GuestWalker, device: MmioDevice, bugs: VmmBugs, onStore: StoreHook): Emulator {
  return new Emulator(p2m, walker, { tracedWrite: onStore }, device, bugs);
}
