// gpte/spte helpers: VX32 paging (DESIGN §3.5) is what the guest writes and what the host
// MMU walks, so gptes and sptes share one layout, whose bits are src/hw/arch.ts's.
// (Transitional aliases: the src/vmm renaming to the arch.ts names is under way.)

export {
  CR0_PE,
  CR0_PG,
  CR0_WP,
  CR4_PSE,
  EFLAGS_IF,
  FRAME_MASK,
  PAGE_SHIFT,
  PAGE_SIZE,
  PDE_4M_RSVD as PDE4M_RSVD,
  PDE_PS as PTE_PS,
  PFEC_P as PF_P,
  PFEC_RSVD as PF_RSVD,
  PFEC_U as PF_U,
  PFEC_W as PF_W,
  PTE_A,
  PTE_D,
  PTE_P,
  PTE_RW,
  PTE_US,
} from '../../hw/arch.ts';
import { PAGE_SHIFT, PTE_P } from '../../hw/arch.ts';

/** The guest frame a 4 KiB gpte (or a PDE pointing at a table) names. */
export const gpteToGfn = (gpte: number): number => gpte >>> PAGE_SHIFT;
/** The first guest frame of the 4 MiB page a PS gpde names (bits 13–21 are reserved, 12 ignored). */
export const largeGpdeToGfn = (gpde: number): number => (gpde & 0xffc00000) >>> PAGE_SHIFT;
export const isPresent = (e: number): boolean => (e & PTE_P) !== 0;
