// The guest as a software VMM on legacy hardware sees it — the trap-and-emulate monitor
// (DESIGN §5 `trap-emulate`) and the binary translator (`bt`): the REAL registers of the
// deprivileged CPU, except where the guest's view is privileged state the VMM keeps in
// software. It implements the emulator's `EmuGuest`, so the shared instruction emulator
// and software IDT delivery of core/emulate.ts work on it.
//
// Real vs virtual (legacy mode, src/hw/legacy.ts):
// - regs, eip, icount, trace, chain, halted: the real CPU's (the hardware never delivers an
//   event itself in legacy mode, so `cpu.trace` holds exactly what the VMM reflected);
// - eflags: CF ZF SF OF are real (the guest's ALU sets them natively); IF and IOPL are
//   virtual. The real IF stays 1 and the real IOPL 0, so cli/sti/in/out trap at rings 1–3.
//   Under trap-and-emulate `pushf`/`popf` see and keep the real ones: the Popek–Goldberg
//   violation; under bt every instruction that reads or writes them is a callout in the
//   translation and never reaches the CPU;
// - cpl: guest ring 0 runs at real ring 1 (deprivileged); rings 2 and 3 run as
//   themselves; guest ring 1 shares real ring 1 with ring 0 (ring compression), told apart
//   by `kernelCpl`. A native iret to ring 2 or 3 changes the real ring and so the view
//   (bt makes `mov a, cs` and `iret` callouts);
// - cr2, idtr, tr: virtual (the real ones are the VMM's, which `sidt`/`str` reveal unless
//   they are callouts, as under bt).

import type { Cpu } from '../../hw/cpu.ts';
import { EFLAGS_FIXED, EFLAGS_IF, EFLAGS_IOPL, EFLAGS_IOPL_SHIFT, EFLAGS_STATUS } from '../../hw/arch.ts';
import type { EmuGuest } from './emulate.ts';

/** The real eflags besides the guest's status flags: bit 1, IF = 1, IOPL = 0. */
const REAL_FIXED = EFLAGS_IF | EFLAGS_FIXED;

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

  get chain(): number[] {
    return this.cpu.chain;
  }

  get eip(): number {
    return this.cpu.eip;
  }

  set eip(v: number) {
    this.cpu.eip = v | 0;
  }

  get eflags(): number {
    return (this.cpu.eflags & EFLAGS_STATUS) | this.vflags | EFLAGS_FIXED;
  }

  set eflags(v: number) {
    this.vflags = v & (EFLAGS_IF | EFLAGS_IOPL);
    this.cpu.eflags = (v & EFLAGS_STATUS) | REAL_FIXED;
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
    return (this.vflags & EFLAGS_IOPL) >>> EFLAGS_IOPL_SHIFT;
  }

  get interruptsEnabled(): boolean {
    return (this.vflags & EFLAGS_IF) !== 0;
  }
}
