// The interpreter's contract with what sits around it (DESIGN §4), in one low module so
// that imports in src/hw point one way: cpu.ts, deliver.ts, vmx.ts and legacy.ts all
// import this file and never each other in a circle. It holds the small integers the
// interpreter returns (exec results, step outcomes, event kinds) and the two seams a
// mode plugs into: `NonRoot` (vmx.ts implements it) and `TrapHandler` (legacy.ts).
// The CPU holds each seam as a field that is null in native use and consults it only on
// slow paths, so an interface costs the fast paths nothing.

import type { ExitReason } from './exits.ts';
import type { Controls } from './vmcs.ts';

/** `exec` results. */
export const R_RETIRED = 0;
export const R_FAULT = 1;
export const R_INT = 2;

/** `step` outcomes. */
export const S_RETIRED = 0;
export const S_DELIVERED = 1;
export const S_HALTED = 2;
export const S_SHUTDOWN = 3;
/** A VM exit ended the step (non-root mode only; the VMCS holds the exit information). */
export const S_EXIT = 4;

/** What is being delivered: a CPU exception, an external interrupt, or `int n`. */
export const KIND_EXC = 0;
export const KIND_EXT = 1;
export const KIND_SW = 2;

/**
 * The CPU's pending-fault field (`Cpu.fv`) holds this instead of a vector when what
 * stopped an instruction or a delivery is a VM exit, already recorded in the VMCS.
 */
export const FV_EXIT = 256;

/**
 * Takes over event delivery (legacy mode, legacy.ts). Returns a step outcome
 * (S_DELIVERED or S_SHUTDOWN). `kind` is KIND_EXC, KIND_EXT or KIND_SW; `errorCode` is
 * −1 when the event has none; `faultEip` is the eip a fault raised while delivering
 * would save (DESIGN §3.10.4).
 */
export interface TrapHandler {
  event(vector: number, kind: number, errorCode: number, savedEip: number, faultEip: number): number;
}

/**
 * VMX non-root mode as the CPU and delivery see it (vmx.ts `Vmx` implements it): the
 * controls the exiting instructions test in their own `case`, and the exits they and
 * delivery record. Every method that ends an instruction with an exit sets the CPU's
 * `fv` to FV_EXIT and returns R_FAULT (instructions) or S_EXIT (delivery).
 */
export interface NonRoot {
  /** The running VMCS's execution controls. */
  readonly ctl: Controls;
  /** The exception bitmap has #PF: a page fault leaves the guest's CR2 alone (SDM 27.1). */
  readonly pfExits: boolean;
  /** An instruction exit; returns R_FAULT for `exec`. */
  exitInstruction(reason: ExitReason, qualification: number, gla: number | null, w0: number, imm: number): number;
  /** `mov crN, a` after the privilege check; returns an `exec` result. */
  movToCr(n: number, reg: number, w0: number, imm: number): number;
  /** `mov a, crN` after the privilege check; returns an `exec` result. */
  movFromCr(n: number, reg: number, w0: number, imm: number): number;
  /** An EPT violation or misconfiguration: `xlate` is the failed walk's result (mmu.ts). */
  eptExit(gva: number, xlate: number): void;
  /** Whether exception `vector` exits (the exception bitmap). */
  exceptionExits(vector: number): boolean;
  /** An 'exception' exit; returns S_EXIT. */
  exceptionExit(vector: number, errorCode: number): number;
  /** The exit just recorded interrupted the delivery of this event; returns S_EXIT. */
  duringDelivery(vector: number, kind: number, errorCode: number): number;
  /** A fault while delivering #DF; returns S_EXIT. */
  tripleFault(): number;
}
