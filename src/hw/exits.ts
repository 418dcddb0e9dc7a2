// VM exits of VMX-lite (DESIGN §4): the exhaustive list of reasons, the exit-information
// record the hardware fills in the VMCS, and the bit layouts of the qualifications.
// Modelled on Intel SDM vol. 3C: Appendix C (basic exit reasons), ch. 27 "VM Exits"
// (27.2 recording exit information: Tables 27-1 … 27-7 for the qualifications) and
// 24.9.3 (IDT-vectoring information). Where VT-x keeps a detail in a separate field
// (instruction information, interruption information) this file keeps a typed field.

/**
 * Every reason a guest can leave non-root mode. A VMM's exit dispatch matches this union
 * exhaustively (DESIGN §1: ts-pattern `.exhaustive()` for VM-exit dispatch).
 */
export type ExitReason =
  /** An exception whose vector is set in the exception bitmap (SDM 25.2). */
  | 'exception'
  /** A host external interrupt while external-interrupt exiting is on (SDM 25.2). */
  | 'external-interrupt'
  /** A fault while delivering #DF: never a guest shutdown in non-root mode (SDM 25.2). */
  | 'triple-fault'
  /** Guest IF = 1 and no STI shadow while interrupt-window exiting is on (SDM 25.2). */
  | 'interrupt-window'
  | 'hlt'
  | 'invlpg'
  /** `mov crN, a` / `mov a, crN` as the controls select (SDM 25.1.3). */
  | 'cr-access'
  /** `lidt` / `sidt` under descriptor-table exiting (VT-x reason 46, GDTR/IDTR access). */
  | 'idtr-access'
  /** `ltr` / `str` under descriptor-table exiting (VT-x reason 47, LDTR/TR access). */
  | 'tr-access'
  /** `in` / `out` under I/O exiting. */
  | 'io'
  /** A guest-physical access the EPT does not permit (SDM 28.3.3.2). */
  | 'ept-violation'
  /** An EPT entry with reserved bits or write-without-read (SDM 28.3.3.1). */
  | 'ept-misconfig'
  /**
   * The entry's step budget ran out (VT-x's VMX-preemption timer, SDM 26.5.1). A guest
   * halted with nothing that can wake it jumps to the timer's expiry at once (DESIGN
   * §3.10.9: while halted, time jumps), with `halted` set in the guest state.
   */
  | 'preemption-timer';

/** Every reason, for counters and tables. */
export const EXIT_REASONS: readonly ExitReason[] = [
  'exception',
  'external-interrupt',
  'triple-fault',
  'interrupt-window',
  'hlt',
  'invlpg',
  'cr-access',
  'idtr-access',
  'tr-access',
  'io',
  'ept-violation',
  'ept-misconfig',
  'preemption-timer',
];

export type ExitCounts = Record<ExitReason, number>;

export function zeroExitCounts(): ExitCounts {
  const c = {} as ExitCounts;
  for (const r of EXIT_REASONS) c[r] = 0;
  return c;
}

/** How an event reaches the guest (VT-x interruption types 0, 3 and 4). */
export type EventKind = 'external' | 'exception' | 'software';

/**
 * An event: in IDT-vectoring information (one whose delivery an exit interrupted), in
 * the interruption information of an exception or external-interrupt exit, and in
 * event injection. `instructionLength` is 8 for `int n` (the frame saves eip + 8) and 0
 * otherwise, like VT-x's VM-exit / VM-entry instruction length.
 */
export interface EventInfo {
  vector: number;
  kind: EventKind;
  /** Pushed error code, or null (DESIGN §3.10.5: #DF #NP #GP #PF only). */
  errorCode: number | null;
  instructionLength: number;
}

// Qualification layouts -----------------------------------------------------------------

/** cr-access (SDM Table 27-3): bits 3:0 CR number, 5:4 access type, 11:8 the GPR. */
export const CR_QUAL_MOV_TO = 0 << 4;
export const CR_QUAL_MOV_FROM = 1 << 4;
export const crQual = (cr: number, from: boolean, reg: number): number => cr | (from ? CR_QUAL_MOV_FROM : CR_QUAL_MOV_TO) | (reg << 8);

/**
 * io (SDM Table 27-5): bits 2:0 size − 1 (VX32 ports are always 4 bytes: 3), bit 3
 * direction (1 = in), bits 11:8 the GPR (a VX32 addition: x86 always uses eAX), bits
 * 31:16 the port.
 */
export const IO_QUAL_IN = 1 << 3;
export const ioQual = (port: number, input: boolean, reg: number): number => 3 | (input ? IO_QUAL_IN : 0) | (reg << 8) | (port << 16);

/**
 * idtr-access / tr-access (VT-x puts this in the instruction-information field):
 * bit 0 = 1 for a store (`sidt`, `str`), 0 for a load (`lidt`, `ltr`); bits 11:8 the GPR
 * of `ltr`/`str`. The memory operand of `lidt`/`sidt` is the exit's guest linear address.
 */
export const DT_QUAL_STORE = 1;
export const dtQual = (store: boolean, reg: number): number => (store ? DT_QUAL_STORE : 0) | (reg << 8);

/**
 * ept-violation (SDM Table 27-7): bits 0–2 the access (read, write, fetch); bits 3–5 the
 * permissions the EPT granted (R, W, X — all 0 when an entry was not present); bit 7 the
 * guest linear address is valid (always, in VX32: every access is linear); bit 8 set when
 * the access was to the final translation, clear when it was to a guest paging-structure
 * entry (the 2-D walk's reads and A/D writes).
 */
export const EPT_QUAL_READ = 1 << 0;
export const EPT_QUAL_WRITE = 1 << 1;
export const EPT_QUAL_FETCH = 1 << 2;
export const EPT_QUAL_PERM_SHIFT = 3;
export const EPT_QUAL_GLA_VALID = 1 << 7;
export const EPT_QUAL_FINAL = 1 << 8;

/**
 * What the hardware records at an exit (SDM 27.2). Reused per VMCS: every field is
 * rewritten at every exit. The guest's eip in the VMCS is the eip of the instruction
 * that exited (not retired; the VMM advances it by `instructionLength` when it emulates),
 * or for boundary exits (interrupts, window, timer) the eip of the next instruction.
 */
export class ExitInfo {
  reason: ExitReason = 'preemption-timer';
  /** Reason-specific detail, layouts above; for #PF the faulting gva; for invlpg its operand. */
  qualification = 0;
  /** The guest linear address involved (memory operand, faulting gva), or null. */
  guestLinear: number | null = null;
  /** The guest physical address of an EPT violation or misconfiguration, or null. */
  guestPhysical: number | null = null;
  /** 8 for instruction exits, 0 otherwise. */
  instructionLength = 0;
  /** The exiting instruction's 8 bytes (DESIGN §3.3), so the VMM need not fetch them. */
  readonly instructionBytes = new Uint8Array(8);
  /** The exception of an 'exception' exit or the vector of an 'external-interrupt' exit. */
  interruption: EventInfo | null = null;
  /** The event being delivered when the exit happened, for the VMM to re-inject (SDM 24.9.3). */
  idtVectoring: EventInfo | null = null;
  /** Steps (retired instructions + handlers entered) the entry ran before this exit. */
  steps = 0;

  reset(): void {
    this.qualification = 0;
    this.guestLinear = null;
    this.guestPhysical = null;
    this.instructionLength = 0;
    this.instructionBytes.fill(0);
    this.interruption = null;
    this.idtVectoring = null;
    this.steps = 0;
  }
}
