// Entry bits shared by guest page-table entries (gpte) and shadow entries (spte): VX32
// paging (DESIGN §3.5) is what the guest writes and what the host MMU walks, so both use
// one layout. Written here, independently of spec/ and of src/hw/mmu.ts (DESIGN §1).

export const PTE_P = 1;
export const PTE_RW = 2;
export const PTE_US = 4;
export const PTE_A = 0x20;
export const PTE_D = 0x40;
export const PTE_PS = 0x80;
/** DESIGN §3.5.2: bits 13–21 of a 4 MiB PDE are reserved (original Pentium PSE). */
export const PDE4M_RSVD = 0x003fe000;
export const FRAME_MASK = 0xfffff000;

// #PF error-code bits (DESIGN §3.5.6).
export const PF_P = 1;
export const PF_W = 2;
export const PF_U = 4;
export const PF_RSVD = 8;

// Control-register bits (DESIGN §3.1).
export const CR0_PE = 1;
export const CR0_WP = 1 << 16;
export const CR0_PG = 1 << 31;
export const CR4_PSE = 1 << 4;
export const EFLAGS_IF = 1 << 9;

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 4096;

/** The guest frame a 4 KiB gpte (or a PDE pointing at a table) names. */
export const gpteToGfn = (gpte: number): number => gpte >>> PAGE_SHIFT;
/** The first guest frame of the 4 MiB page a PS gpde names (bits 13–21 are reserved, 12 ignored). */
export const largeGpdeToGfn = (gpde: number): number => (gpde & 0xffc00000) >>> PAGE_SHIFT;
export const isPresent = (e: number): boolean => (e & PTE_P) !== 0;
