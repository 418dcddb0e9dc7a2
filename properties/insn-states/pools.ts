// The values a case draws its registers, operands, stack pointers and ESP0 from: the
// boundaries where a rule changes its answer (DESIGN §3.4 flags, §3.5 page edges, §3.2 the
// device and open bus), mostly, and a random word sometimes.

import fc from 'fast-check';
import { MMIO, V_GP, V_PF } from '../arbitraries/layout.ts';
import {
  BIG,
  DATA,
  DSTACK,
  FAR,
  HANDLER,
  IDT,
  INSN_PAGE,
  INSN_PAGE2,
  KSTACK,
  KSTACK_TOP,
  OPEN_BUS,
  PD,
  PT,
  RAM_BYTES,
  SPARE,
  TSS,
  UNMAPPED,
  VARS,
} from './layout.ts';

export const u32 = fc.integer({ min: 0, max: 0xffffffff });
export const pick = <T>(...xs: T[]): fc.Arbitrary<T> => fc.constantFrom(...xs);

/** DESIGN §3.4's flag boundaries, and a random word. */
export const intArb = fc.oneof(
  { weight: 4, arbitrary: pick(0, 1, 31, 32, 0x7fffffff, 0x80000000, 0xffffffff) },
  { weight: 1, arbitrary: u32 },
);

/** Addresses of every kind of page: mapped, unmapped, read-only, supervisor, straddling, MMIO, open bus. */
export const addrArb = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(pick(...DATA, DSTACK), pick(0, 0x100, 0xffc, 0xffe, 0x800)).map(([p, o]) => p + o) },
  { weight: 5, arbitrary: pick(0, 4, 8, 12, 4, 8, 1, 2, 0x10).map((o) => MMIO + o) },
  {
    weight: 2,
    // live tables: the PTEs of the code, of the instruction's page (the `hlt` fetch uses it next), of D0
    arbitrary: pick(
      KSTACK + 0x100,
      IDT + 8 * V_GP,
      IDT + 8 * V_PF,
      PT + 4 * (DATA[0] >>> 12),
      PT,
      PT + 4,
      PD,
      TSS + 4,
      INSN_PAGE + 8,
      HANDLER,
      VARS,
      SPARE + 0x10,
    ),
  },
  { weight: 2, arbitrary: pick(UNMAPPED, FAR, OPEN_BUS, OPEN_BUS + 0x1ffe, RAM_BYTES - 2, 0xfffffffe, 0x80000000) },
  // through the 4 MiB alias: its first access is not at its first page (a split must start from the large page)
  { weight: 2, arbitrary: fc.tuple(pick(...DATA, DSTACK, PT), pick(0, 0x800, 0xffe)).map(([p, o]) => BIG + p + o) },
);

/** CR0 (valid and invalid), CR4, CR3 values (DESIGN §3.4 mov crN rules). */
export const crValueArb = pick(
  0x80010001,
  0x80000001,
  0x10001,
  0x1,
  0x11,
  0x10,
  0x0,
  0x80000000,
  0x21,
  0x80000003,
  PD,
  PD | 0xfff,
  UNMAPPED,
);

export const valueArb = fc.oneof({ weight: 4, arbitrary: intArb }, { weight: 4, arbitrary: addrArb }, { weight: 1, arbitrary: crValueArb });

/** Code addresses: the `hlt` after the instruction, the instruction itself, zeroed code (#UD), pages a fetch may fault on. */
export const targetArb = fc.oneof(
  { weight: 4, arbitrary: fc.constant(-1) }, // the next instruction, resolved at render
  { weight: 1, arbitrary: fc.constant(-2) }, // the instruction itself
  { weight: 2, arbitrary: pick(INSN_PAGE2 + 0x800, HANDLER, UNMAPPED, MMIO, OPEN_BUS, SPARE, DATA[1] + 0xffc, 0xfffffffc) },
  { weight: 1, arbitrary: u32 },
);

export const espArb = fc.oneof(
  { weight: 6, arbitrary: pick(DSTACK + 0x800, DSTACK + 0x1000 - 20) },
  { weight: 3, arbitrary: fc.tuple(pick(...DATA), pick(0x800, 0xff8)).map(([p, o]) => p + o) },
  { weight: 2, arbitrary: pick(DSTACK + 0xff8, DSTACK + 2, DSTACK, SPARE + 0x2ffe) }, // straddling pages or RAM's end
  { weight: 2, arbitrary: pick(KSTACK + 0x800, UNMAPPED, UNMAPPED + 2, OPEN_BUS + 0x800, 0, 2, 4, FAR) },
  { weight: 3, arbitrary: pick(MMIO + 4, MMIO + 8, MMIO + 12, MMIO + 0x10) },
  { weight: 1, arbitrary: u32 },
);

export const esp0Arb = fc.oneof(
  { weight: 10, arbitrary: fc.constant(KSTACK_TOP) },
  { weight: 3, arbitrary: pick(UNMAPPED, DSTACK + 2, DATA[0] + 0x1000, DATA[2] + 0x1000, 0, MMIO + 0x10, OPEN_BUS + 0x800) },
);
