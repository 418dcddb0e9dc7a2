// The fixed physical layout every generated guest shares (DESIGN §3.2: RAM from 0).
// Fixed addresses keep the generated pieces independent of each other — any subset in any
// order assembles — and keep a shrunk counterexample readable: the assembly names every
// region with an `.equ`. Everything fits below 0x20000, so the smallest RAM size leaves
// the last page free for accesses that straddle the end of RAM.

/** Code: prologue, body, epilogue, handlers. The assembler rejects a body that outgrows it. */
export const CODE = 0x00000;
export const IDT = 0x10000; // 256 gates × 8 bytes
export const TSS = 0x10800; // ESP0 at TSS + 4 (DESIGN §3.7)
export const VARS = 0x10900; // kernel variables written by the handlers
export const DATA0 = 0x11000; // data page, user-writable
export const DATA1 = 0x12000; // data page with random permissions (DESIGN §3.5.4)
export const USTACK = 0x13000; // user stack page
export const KSTACK = 0x14000; // kernel stack page; KSTACK_TOP is ESP0
export const PD_A = 0x15000; // address space A
export const PD_B = 0x16000; // address space B (shares PT_LOW with A)
export const PT_LOW = 0x17000; // identity map of RAM (+ one page beyond it), shared
export const PT_PLAY_A = 0x18000; // playground table of A: random mappings at PLAY
export const PT_PLAY_B = 0x19000; // playground table of B
export const PT_MMIO = 0x1a000; // maps the MMIO window 0xFEE00000 one-to-one
export const FRAMES = [0x1b000, 0x1c000, 0x1d000, 0x1e000] as const; // F0–F3, start with a code stub
export const SPARE = 0x1f000; // the last page of the smallest RAM

export const KSTACK_TOP = KSTACK + 0x1000;
/** Ring 1–3 code starts with its esp a little below the top, so a stray `pop` stays on the page. */
export const USTACK_TOP = USTACK + 0x1000 - 16;

/** Linear windows (DESIGN §3.5): PDE 1 a 4 MiB page onto frame 0, PDE 2 the playground. */
export const BIG = 0x400000;
export const PLAY = 0x800000;
/** Playground PTEs the generator fills; entry PLAY_ENTRIES is never present (straddles fault). */
export const PLAY_ENTRIES = 8;
/** PDE 1023 → the directory itself: PTEs of table k at REC + 0x1000·k, PDEs at REC_PD. */
export const REC_SLOT = 1023;
export const REC = 0xffc00000;
export const REC_PD = 0xfffff000;
export const MMIO = 0xfee00000; // DESIGN §3.2
export const MMIO_PDE = MMIO >>> 22; // 0x3FB

/** Vectors with their own handler (DESIGN §3.7): the only exceptions VX32 raises. */
export const V_UD = 6;
export const V_DF = 8;
export const V_NP = 11;
export const V_GP = 13;
export const V_PF = 14;
/** `int 0x80` (DPL 3): back to the kernel after a ring 1–3 piece. */
export const V_RETURN = 0x80;
/** `int 0x81` (DPL 3): a system call that returns to its caller. */
export const V_SYSCALL = 0x81;
/** Vectors a software `int` may name without confusing a handler about error codes (§3.10.5). */
export const FAULT_VECTORS: readonly number[] = [V_UD, V_DF, V_NP, V_GP, V_PF];

/** DESIGN §3.1: selectors are a function of the ring. */
export const codeSelector = (ring: number): number => 0x08 + 0x11 * ring;
export const stackSelector = (ring: number): number => 0x10 + 0x11 * ring;

/** RAM sizes: the smallest leaves SPARE as the last page; 0x21000 ends on an odd page. */
export const RAM_SIZES = [0x20000, 0x21000, 0x40000] as const;

/** Frames a piece or a host event may name symbolically (each has an `.equ` in the prologue). */
export const NAMED_FRAMES: Readonly<Record<string, number>> = {
  CODE0: 0x0000,
  CODE1: 0x1000,
  IDT,
  DATA0,
  DATA1,
  USTACK,
  KSTACK,
  PD_A,
  PD_B,
  PT_LOW,
  PT_PLAY_A,
  PT_PLAY_B,
  PT_MMIO,
  F0: FRAMES[0],
  F1: FRAMES[1],
  F2: FRAMES[2],
  F3: FRAMES[3],
  SPARE,
};

export const hex = (v: number): string => '0x' + (v >>> 0).toString(16).toUpperCase();
