// The per-step fingerprint of the fast lockstep (DESIGN §2): every guest-visible scalar
// of an observation, exactly, plus the lengths of its sequences (console, device log,
// trace, pending), written into a reused Int32Array so a step costs no allocation. The
// layout is the one `Fingerprinting` (src/engines/engine.ts) documents for engines; the
// spec's side is read here straight from the reference model's state.

import type { SpecMachine } from '../../spec/machine.ts';
import type { Observation, Status } from '../../spec/observation.ts';

export const FINGERPRINT_SLOTS = 25;

const STATUS_CODE: Readonly<Record<Status, number>> = { running: 0, halted: 1, shutdown: 2 };

/** The reference model's fingerprint, from its state (no observation built). */
export function specFingerprint(m: SpecMachine, into: Int32Array): void {
  const s = m.s;
  into[0] = s.shutdown ? 2 : s.halted ? 1 : 0;
  into[1] = s.icount;
  for (let i = 0; i < 8; i++) into[2 + i] = s.regs[i]!;
  into[10] = s.eip;
  into[11] = s.eflags;
  into[12] = s.cpl;
  into[13] = s.cr0;
  into[14] = s.cr2;
  into[15] = s.cr3;
  into[16] = s.cr4;
  into[17] = s.idtr.base;
  into[18] = s.idtr.limit;
  into[19] = s.tr;
  into[20] = m.console.length;
  into[21] = m.mem.device.counter;
  into[22] = m.mem.device.log.length;
  into[23] = m.trace.length;
  into[24] = s.pending.length;
}

/** The same fingerprint read from an observation (what an engine's `fingerprint` must agree with). */
export function observationFingerprint(o: Observation, into: Int32Array): void {
  into[0] = STATUS_CODE[o.status];
  into[1] = o.icount;
  into[2] = o.regs.eax;
  into[3] = o.regs.ecx;
  into[4] = o.regs.edx;
  into[5] = o.regs.ebx;
  into[6] = o.regs.esp;
  into[7] = o.regs.ebp;
  into[8] = o.regs.esi;
  into[9] = o.regs.edi;
  into[10] = o.eip;
  into[11] = o.eflags;
  into[12] = o.cpl;
  into[13] = o.cr0;
  into[14] = o.cr2;
  into[15] = o.cr3;
  into[16] = o.cr4;
  into[17] = o.idtr.base;
  into[18] = o.idtr.limit;
  into[19] = o.tr;
  into[20] = o.console.length;
  into[21] = o.device.counter;
  into[22] = o.device.log.length;
  into[23] = o.trace.length;
  into[24] = o.pending.length;
}

export function sameFingerprint(a: Int32Array, b: Int32Array): boolean {
  for (let i = 0; i < FINGERPRINT_SLOTS; i++) if (a[i] !== b[i]) return false;
  return true;
}
