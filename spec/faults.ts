// Exceptions as values (after sail-riscv's `PTW_Error`): instruction semantics and
// translation return a Fault instead of throwing, and delivery (events.ts) consumes it.

/** Exception vectors VX32 raises (DESIGN §3.7). */
export const UD = 6;
export const DF = 8;
export const NP = 11;
export const GP = 13;
export const PF = 14;

export class Fault {
  constructor(
    readonly vector: number,
    /** Present exactly for #DF, #NP, #GP, #PF (§3.10.5). */
    readonly errorCode?: number,
    /** For #PF: the linear address CR2 receives (§3.5.6). */
    readonly cr2?: number,
  ) {}
}

export const ud = (): Fault => new Fault(UD);
export const gp = (errorCode: number): Fault => new Fault(GP, errorCode >>> 0);
export const np = (errorCode: number): Fault => new Fault(NP, errorCode >>> 0);

/** A result that is either a value or the fault that prevented it. */
export type Result<T> = T | Fault;
export const isFault = (r: unknown): r is Fault => r instanceof Fault;
