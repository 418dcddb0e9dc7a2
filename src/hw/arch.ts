// VX32's architectural numbers as the src/ side spells them, defined once (DESIGN §3):
// EFLAGS bits, control-register bits, exception vectors, page-table entry bits, #PF error
// code bits and the access word. src/hw, src/vmm and src/engines import them from here;
// spec/ keeps its own (DESIGN §1: two independent implementations). Names follow the
// spec's and KVM's mmu.rst.

// ---- EFLAGS (DESIGN §3.1) ----
export const EFLAGS_CF = 1 << 0;
/** Bit 1 always reads 1. */
export const EFLAGS_FIXED = 1 << 1;
export const EFLAGS_ZF = 1 << 6;
export const EFLAGS_SF = 1 << 7;
export const EFLAGS_IF = 1 << 9;
export const EFLAGS_OF = 1 << 11;
export const EFLAGS_IOPL_SHIFT = 12;
export const EFLAGS_IOPL = 3 << EFLAGS_IOPL_SHIFT;
/** The status flags `popf` may always change (DESIGN §3.4). */
export const EFLAGS_STATUS = EFLAGS_CF | EFLAGS_ZF | EFLAGS_SF | EFLAGS_OF;
/** Every bit that exists; the others read 0 and ignore writes. */
export const EFLAGS_LIVE = EFLAGS_STATUS | EFLAGS_FIXED | EFLAGS_IF | EFLAGS_IOPL;

// ---- control registers (DESIGN §3.1) ----
export const CR0_PE = 1 << 0;
export const CR0_WP = 1 << 16;
export const CR0_PG = 1 << 31;
export const CR4_PSE = 1 << 4;

// ---- exception vectors (DESIGN §3.7) ----
export const VEC_UD = 6;
export const VEC_DF = 8;
export const VEC_NP = 11;
export const VEC_GP = 13;
export const VEC_PF = 14;

// ---- paging (DESIGN §3.5) ----
export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;
export const PAGE_OFFSET_MASK = PAGE_SIZE - 1;
/** Bits 12–31, as an int32 (a small integer for V8: bitwise use only, like every mask here). */
export const FRAME_MASK = ~PAGE_OFFSET_MASK;
export const PTE_P = 1 << 0;
export const PTE_RW = 1 << 1;
export const PTE_US = 1 << 2;
export const PTE_A = 1 << 5;
export const PTE_D = 1 << 6;
/** In a PDE with CR4.PSE: a 4 MiB page. */
export const PDE_PS = 1 << 7;
/** DESIGN §3.5.2: bits 13–21 of a 4 MiB PDE are reserved (original Pentium PSE). */
export const PDE_4M_RSVD = 0x003fe000;
/** Bits 22–31 of a 4 MiB PDE, as an int32. */
export const PDE_4M_FRAME_MASK = ~0x3fffff;

// ---- #PF error code (DESIGN §3.5.6) ----
export const PFEC_P = 1 << 0;
export const PFEC_W = 1 << 1;
export const PFEC_U = 1 << 2;
export const PFEC_RSVD = 1 << 3;

// ---- the access word ----
// What an access is, as one small integer (KVM's PFERR mask): the write and user bits are
// the #PF error code's own, so a fault's code is `PFEC_P? | (access & (W|U))`; fetch is
// KVM's PFERR_FETCH bit, which VX32's error code never carries (DESIGN §3.5.6: fetches
// are checked as reads). Passed as an int so hot paths allocate nothing.
export const ACC_READ = 0;
export const ACC_WRITE = PFEC_W;
export const ACC_USER = PFEC_U;
export const ACC_FETCH = 1 << 4;
/** The access bits that a #PF error code keeps. */
export const ACC_PFEC_MASK = ACC_WRITE | ACC_USER;
