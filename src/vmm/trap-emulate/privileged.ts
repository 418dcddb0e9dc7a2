// Emulation of the instructions that trap when the guest kernel is deprivileged to ring 1
// with IOPL 0 (DESIGN §3.4): they raise #GP at rings 1–3 and the monitor performs them on
// the guest's virtual state — or, when the GUEST's own cpl / IOPL forbids them, reflects
// the #GP the guest would have seen. Classic trap-and-emulate: exactly these are caught;
// the sensitive unprivileged ones (pushf, popf, sidt, str, `mov a, cs`) never get here.
//
// Faults are values (STYLE §3): each emulation returns 'retired' or the guest's fault.

import { ACC_READ, EFLAGS_IF, VEC_GP } from '../../hw/arch.ts';
import { operandGva, type EmuFault } from '../core/emulate.ts';
import type { Vm } from '../shadow/vm.ts';
import type { GuestView } from '../core/guest-view.ts';

const GP0: EmuFault = { vector: VEC_GP, errorCode: 0 };

/** What a trapping instruction turned out to be, for the counters. */
export type Emulated = 'hlt' | 'cli' | 'sti' | 'in' | 'out' | 'mov-to-cr' | 'mov-from-cr' | 'lidt' | 'ltr' | 'invlpg';

/** Opcodes (DESIGN §3.3) that trap with #GP at rings 1–3 and are emulated here. */
export function emulatedOp(op: number): Emulated | null {
  switch (op) {
    case 0x02:
      return 'hlt';
    case 0x62:
      return 'cli';
    case 0x63:
      return 'sti';
    case 0x66:
      return 'in';
    case 0x67:
      return 'out';
    case 0x70:
      return 'mov-to-cr';
    case 0x71:
      return 'mov-from-cr';
    case 0x72:
      return 'lidt';
    case 0x74:
      return 'ltr';
    case 0x76:
      return 'invlpg';
    default:
      return null;
  }
}

export interface PrivilegedContext {
  vm: Vm;
  g: GuestView;
  /** The guest changed CR0.PG/WP, CR4.PSE or CR3: switch shadow roots. */
  pagingChanged(): void;
  /** `sti` turned IF on: the STI shadow starts (DESIGN §3.10.6). */
  stiShadowStarts(): void;
  /** `invlpg`: drop the host TLB entry of that page (no architectural effect, §3.6). */
  invalidatePage(gva: number): void;
}

/**
 * Emulate instruction `what` (words `w0`, `imm`, already decoded by the hardware: #UD
 * came first) at the guest's eip. On 'retired' eip and icount have advanced.
 */
export function emulatePrivileged(ctx: PrivilegedContext, what: Emulated, w0: number, imm: number): 'retired' | EmuFault {
  const { vm, g } = ctx;
  const regs = g.regs;
  const a = (w0 >>> 8) & 7;
  const b = (w0 >>> 16) & 7;
  const cpl = g.cpl;
  // DESIGN §3.4: hlt, mov crN, lidt, ltr, invlpg need cpl 0; cli/sti/in/out cpl ≤ IOPL.
  const ioAllowed = cpl <= g.iopl;
  switch (what) {
    case 'hlt':
      if (cpl !== 0) return GP0;
      g.halted = true;
      break;
    case 'cli':
      if (!ioAllowed) return GP0;
      g.vflags &= ~EFLAGS_IF;
      break;
    case 'sti':
      if (!ioAllowed) return GP0;
      if ((g.vflags & EFLAGS_IF) === 0) {
        g.vflags |= EFLAGS_IF;
        retire(g);
        ctx.stiShadowStarts();
        return 'retired';
      }
      break;
    case 'in':
      if (!ioAllowed) return GP0;
      regs[a] = imm === 0xe9 ? 0xe9 : -1;
      break;
    case 'out':
      if (!ioAllowed) return GP0;
      if (imm === 0xe9) vm.console.push(regs[a]! & 0xff);
      break;
    case 'mov-to-cr': {
      if (cpl !== 0) return GP0;
      const v = regs[a]!;
      if (b === 2) g.cr2 = v;
      else {
        // b is 0, 3 or 4 here: the hardware raised #UD for a CR that does not exist.
        if (!vm.writeCr(b === 0 || b === 3 ? b : 4, v)) return GP0;
        ctx.pagingChanged();
      }
      break;
    }
    case 'mov-from-cr':
      if (cpl !== 0) return GP0;
      regs[a] = b === 0 ? vm.cr0 : b === 2 ? g.cr2 : b === 3 ? vm.cr3 : vm.cr4;
      break;
    case 'lidt': {
      if (cpl !== 0) return GP0;
      const m = operandGva(w0, imm, regs);
      // A supervisor read (DESIGN §3.4: lidt's operand), through the shared emulator.
      const bytes = vm.emulator.read(vm.syncPaging(), m, 6, ACC_READ);
      if (!(bytes instanceof Uint8Array)) return bytes;
      g.idtrLimit = bytes[0]! | (bytes[1]! << 8);
      g.idtrBase = bytes[2]! | (bytes[3]! << 8) | (bytes[4]! << 16) | (bytes[5]! << 24);
      break;
    }
    case 'ltr':
      if (cpl !== 0) return GP0;
      g.tr = regs[a]!;
      break;
    case 'invlpg':
      if (cpl !== 0) return GP0;
      ctx.invalidatePage(operandGva(w0, imm, regs));
      break;
  }
  retire(g);
  return 'retired';
}

function retire(g: GuestView): void {
  g.eip = g.eip + 8;
  g.icount++;
}
