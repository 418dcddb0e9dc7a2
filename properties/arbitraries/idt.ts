// The IDT every generated guest starts with (DESIGN §3.7): which handler and which gate
// byte 5 (P, DPL, type) each vector has. Pieces that break a gate on purpose restore it
// from here, and the prologue renders the table from here.

import { V_DF, V_GP, V_NP, V_PF, V_RETURN, V_SYSCALL, V_UD } from './layout.ts';
import type { Setup } from './setup.ts';

export const INTERRUPT_GATE = 0x8e; // P, DPL 0, type 0xE: clears IF
export const TRAP_GATE = 0x8f; // P, DPL 0, type 0xF
export const USER_TRAP_GATE = 0xef; // P, DPL 3, trap gate

export interface Gate {
  handler: string;
  /** Byte 5: P(7) DPL(6:5) type(3:0). */
  attr: number;
}

/** Exceptions skip the faulting instruction; other vectors just return (see render.ts). */
export function gateOf(v: number, setup: Setup): Gate {
  switch (v) {
    case V_UD:
      return { handler: 'h_ud', attr: INTERRUPT_GATE };
    case V_DF:
      return { handler: 'h_df', attr: INTERRUPT_GATE };
    case V_NP:
      return { handler: 'h_np', attr: INTERRUPT_GATE };
    case V_GP:
      return { handler: 'h_gp', attr: INTERRUPT_GATE };
    case V_PF:
      return { handler: 'h_pf', attr: INTERRUPT_GATE };
    // A trap gate, so coming back from ring 3 does not turn IF off behind the body's back.
    case V_RETURN:
      return { handler: 'h_return', attr: USER_TRAP_GATE };
    case V_SYSCALL:
      return { handler: 'h_irq', attr: USER_TRAP_GATE };
    default:
      if (v < 32) return { handler: 'h_irq', attr: INTERRUPT_GATE };
      return { handler: 'h_irq', attr: setup.irqGate === 'interrupt' ? INTERRUPT_GATE : TRAP_GATE };
  }
}
