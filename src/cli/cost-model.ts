// DESIGN §9 — the cost model: an engine's counters × per-CPU costs give modelled cycles,
// so the lecture's trade-offs (exits vs walks vs interpretation) show as numbers that do
// not depend on how fast this machine runs JavaScript.
//
// Exit round trips are measured figures (Agesen et al., USENIX ATC 2012). The other
// costs are assumptions, stated here once: a page-walk memory reference 20 cycles (a
// cache hit in the paging-structure-heavy case), VMM software per exit — a guest PTE
// read 40, an spte write 40, an instruction decode and emulation 250 — interpretation
// 60 cycles per guest instruction (decode + dispatch + software translation, SIE-style),
// binary translation 2300 cycles per translated instruction (Adams & Agesen 2006).
// The software VMM (`bt`, issue 19) adds, all assumptions sized after Adams & Agesen's
// Figure 4 and stated once here: a callout into the VMM 200 (the paper's BT `in`, one
// callout, 217); an inline translation of cli/sti (a write of the virtual IF in VMM
// memory) 2; a trap into the VMM on legacy hardware — a fault through the host IDT and
// back — 889 (the paper's native divzero round trip, the same hardware path); a lookup of
// an indirect branch's target in the translation cache 40 (the paper's call/ret, 51 − 11).
// Every engine pays 200 per guest-visible event delivery with its return (the paper's
// native syscall, 243, is one int/iret pair), and a port access that reaches a real device
// (only `native` has one) 3209 (the paper's native `in`).

export interface CpuProfile {
  name: string;
  /** VM exit + VM entry round trip, cycles. */
  exitRoundTrip: number;
}

export const CPU_PROFILES: readonly CpuProfile[] = [
  { name: 'prescott', exitRoundTrip: 3963 },
  { name: 'merom', exitRoundTrip: 1579 },
  { name: 'penryn', exitRoundTrip: 1266 },
  { name: 'nehalem', exitRoundTrip: 1009 },
  { name: 'westmere', exitRoundTrip: 761 },
  { name: 'sandy-bridge', exitRoundTrip: 784 },
];

export const COSTS = {
  nativeInstruction: 1,
  walkReference: 20,
  gpteRead: 40,
  spteWrite: 40,
  emulatedInstruction: 250,
  interpretedInstruction: 60,
  translatedInstruction: 2300,
  callout: 200,
  inlineCallout: 2,
  legacyTrap: 889,
  indirectBranch: 40,
  eventDelivery: 200,
  devicePortAccess: 3209,
} as const;

/** Counters engines report under these names feed the model; others are shown, not costed. */
export function modelledCycles(counters: Readonly<Record<string, number>>, cpu: CpuProfile): number {
  const n = (k: string) => counters[k] ?? 0;
  return (
    n('instructions') * COSTS.nativeInstruction +
    n('walkRefs') * COSTS.walkReference +
    n('exits') * cpu.exitRoundTrip +
    n('gpteReads') * COSTS.gpteRead +
    n('spteWrites') * COSTS.spteWrite +
    n('emulated') * COSTS.emulatedInstruction +
    n('interpreted') * COSTS.interpretedInstruction +
    n('translated') * COSTS.translatedInstruction +
    n('callouts') * COSTS.callout +
    n('bt.inline') * COSTS.inlineCallout +
    n('traps') * COSTS.legacyTrap +
    n('bt.indirect') * COSTS.indirectBranch +
    n('deliveries') * COSTS.eventDelivery +
    n('devicePortAccesses') * COSTS.devicePortAccess
  );
}
