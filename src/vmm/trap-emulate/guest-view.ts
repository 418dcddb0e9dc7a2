// The guest as the trap-and-emulate monitor sees it (DESIGN §5 `trap-emulate`): the REAL
// registers of the deprivileged CPU, except where the guest's view is privileged state
// the monitor keeps in software. It implements the emulator's `EmuGuest`, so the shared
// instruction emulator and software IDT delivery of src/vmm/emulate.ts work on it.
//
// Real vs virtual (legacy mode, src/hw/legacy.ts):
// - regs, eip, icount, trace, halted: the real CPU's (the hardware never delivers an
//   event itself in legacy mode, so `cpu.trace` holds exactly what the monitor reflected);
// - eflags: CF ZF SF OF are real (the guest's ALU sets them natively); IF and IOPL are
//   virtual. The real IF stays 1 and the real IOPL 0, so cli/sti/in/out trap at rings 1–3
//   — and `pushf`/`popf` see and keep the real ones: the Popek–Goldberg violation;
// - cpl: guest ring 0 runs at real ring 1 (deprivileged); rings 2 and 3 run as
//   themselves; guest ring 1 shares real ring 1 with ring 0 (ring compression), told apart
//   by `kernelCpl`. A native iret to ring 2 or 3 changes the real ring and so the view;
// - cr2, idtr, tr: virtual (the real ones are the monitor's, which `sidt`/`str` reveal).

import type { Cpu } from '../../hw/cpu.ts';
import { EFLAGS_CF as CF, EFLAGS_IF as IF, EFLAGS_IOPL as IOPL, EFLAGS_OF as OF, EFLAGS_SF as SF, EFLAGS_ZF as ZF } from '../../hw/arch.ts';
import type { EmuGuest } from '../core/emulate.ts';

const ARITH = CF | ZF | SF | OF;
/** The real eflags besides the guest's arithmetic flags: bit 1, IF = 1, IOPL = 0. */
const REAL_FIXED = IF | 2;

export class GuestView implements EmuGuest {
  /** The guest's IF and IOPL bits (DESIGN §3.1); everything else of eflags is real. */
  vflags = 0;
  /** The guest ring that real ring 1 stands for: 0 or 1 (ring compression). */
  kernelCpl = 0;
  cr2 = 0;
  idtrBase = 0;
  idtrLimit = 0;
  tr = 0;

  constructor(private readonly cpu: Cpu) {}

  get regs(): Int32Array {
    return this.cpu.regs;
  }

  get eip(): number {
    return this.cpu.eip;
  }

  set eip(v: number) {
    this.cpu.eip = v | 0;
  }

  get eflags(): number {
    return (this.cpu.eflags & ARITH) | this.vflags | 2;
  }

  set eflags(v: number) {
    this.vflags = v & (IF | IOPL);
    this.cpu.eflags = (v & ARITH) | REAL_FIXED;
  }

  get cpl(): number {
    const c = this.cpu.cpl;
    return c === 1 ? this.kernelCpl : c;
  }

  set cpl(c: number) {
    if (c <= 1) this.kernelCpl = c;
    this.cpu.setCpl(c === 0 ? 1 : c);
  }

  get halted(): boolean {
    return this.cpu.halted;
  }

  set halted(h: boolean) {
    this.cpu.halted = h;
  }

  get icount(): number {
    return this.cpu.icount;
  }

  set icount(n: number) {
    this.cpu.icount = n;
  }

  get trace(): Cpu['trace'] {
    return this.cpu.trace;
  }

  get iopl(): number {
    return (this.vflags >>> 12) & 3;
  }

  get interruptsEnabled(): boolean {
    return (this.vflags & IF) !== 0;
  }
}
