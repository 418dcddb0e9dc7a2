// The case as data (so fast-check shrinks each field) and how each part is drawn: the
// machine state the prologue sets up (ring, IOPL, IF, flags, registers, esp, TR, ESP0, CR2,
// the device, where the instruction sits), the IDT, and the crafted stack frame an `iret`,
// `ret` or `popf` may read. Paging is paging.ts's, the instruction insn.ts's.

import fc from 'fast-check';
import type { HostEvent } from '../../spec/observation.ts';
import { mostly } from '../arbitraries/pieces/common.ts';
import type { InsnSpec } from './insn.ts';
import { DATA, DSTACK, IDT, SPARE, TSS, UNMAPPED, type InsnAt } from './layout.ts';
import type { Paging } from './paging.ts';
import { esp0Arb, espArb, intArb, pick, targetArb, u32, valueArb } from './pools.ts';

// DESIGN §3.1 eflags bits.
const CF = 0x1,
  ZF = 0x40,
  SF = 0x80,
  IF = 0x200,
  OF = 0x800;

export interface State {
  cpl: number;
  iopl: number;
  if: boolean;
  /** CF ZF SF OF. */
  flags: number;
  /** eax ecx edx ebx — ebp esi edi (index 4, esp, unused: see `esp`). */
  regs: number[];
  esp: number;
  tr: number;
  esp0: number;
  cr2: number;
  counter: number;
  log: number[];
  /** The instruction at the start of its page, at its last 8 bytes, or straddling two pages. */
  insnAt: InsnAt;
  /** Words at D0–D3 + 0. */
  data: number[];
  /** At D0 + 0x100: what a `lidt [D0 + 0x100]` loads. */
  desc: { limit: number; base: number };
}

export type GateBreak = 'not-present' | 'dpl' | 'type' | 'selector';
export interface IdtSpec {
  dpl: number;
  trap: boolean;
  /** Byte 4 of every gate: ignored (DESIGN §3.10.3). */
  byte4: number;
  /** `likely`: the vector the instruction most likely raises (`likelyVector`). */
  broken: null | { which: 'likely' | 'ud' | 'gp' | 'pf' | 'irq'; how: GateBreak; type: number; selector: number };
  dfBroken: boolean;
  limit: 'full' | 'fits' | 'short' | number;
}

export interface FrameSpec {
  /** Words at esp (when esp points into the data pages): eip or eflags, CS, eflags, esp, SS. */
  present: boolean;
  eip: number;
  popfWord: number;
  ring: number;
  cs: 'valid' | 'other-rpl' | 'upper-bits' | 'data-selector' | 'random';
  eflags: number;
  esp: number;
  ss: 'valid' | 'other-ring' | 'upper-bits' | 'rpl-flip' | 'random';
  junk: number;
}

export interface InsnCase {
  state: State;
  paging: Paging;
  idt: IdtSpec;
  insn: InsnSpec;
  frame: FrameSpec;
  irq: { offset: number; vector: number } | null;
  ramBytes: number;
  maxSteps: number;
  events: HostEvent[];
}

/** The eflags the prologue's `popf` or `iret` loads. */
export const eflagsOf = (c: InsnCase): number => (2 | c.state.flags | (c.state.if ? IF : 0) | (c.state.iopl << 12)) >>> 0;

export const stateArb: fc.Arbitrary<State> = fc.record({
  cpl: fc.oneof({ weight: 7, arbitrary: fc.constant(0) }, { weight: 7, arbitrary: fc.constant(3) }, { weight: 6, arbitrary: pick(1, 2) }),
  iopl: fc.integer({ min: 0, max: 3 }),
  if: fc.boolean(),
  flags: fc.subarray([CF, ZF, SF, OF]).map((fs) => fs.reduce((x, f) => x | f, 0)),
  regs: fc.array(valueArb, { minLength: 8, maxLength: 8 }),
  esp: espArb,
  tr: fc.oneof({ weight: 14, arbitrary: fc.constant(TSS) }, { weight: 1, arbitrary: pick(UNMAPPED, 0xfffffffe) }),
  esp0: esp0Arb,
  cr2: valueArb,
  counter: intArb,
  log: fc.array(intArb, { maxLength: 2 }),
  insnAt: fc.oneof(
    { weight: 8, arbitrary: fc.constant('page' as const) },
    { weight: 1, arbitrary: pick('page-end' as const, 'straddle' as const) },
  ),
  data: fc.array(valueArb, { minLength: 4, maxLength: 4 }),
  desc: fc.record({ limit: pick(0x7ff, 0x6f, 0x67, 0, 0xffff), base: pick(IDT, UNMAPPED, 0, DATA[0]) }),
});

export const idtArb: fc.Arbitrary<IdtSpec> = fc.record({
  dpl: fc.oneof({ weight: 2, arbitrary: fc.constant(3) }, { weight: 1, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: pick(1, 2) }),
  trap: fc.boolean(),
  byte4: mostly(0, fc.integer({ min: 1, max: 255 }), 4),
  broken: fc.oneof(
    { weight: 3, arbitrary: fc.constant(null) },
    {
      weight: 3,
      arbitrary: fc.record({
        which: fc.oneof(
          { weight: 4, arbitrary: fc.constant('likely' as const) },
          { weight: 2, arbitrary: pick('gp' as const, 'pf' as const, 'ud' as const, 'irq' as const) },
        ),
        how: pick<GateBreak>('not-present', 'dpl', 'type', 'selector'),
        type: pick(0x0c, 0x05, 0x1e, 0x00, 0x0d, 0x1f), // byte 5 & 0x1F not 0xE/0xF (DESIGN §3.10.3)
        selector: pick(0x10, 0x0b, 0x09, 0x00, 0x3b, 0x18),
      }),
    },
  ),
  dfBroken: mostly(false, fc.constant(true), 9),
  limit: fc.oneof(
    { weight: 12, arbitrary: fc.constant('full' as const) },
    { weight: 1, arbitrary: pick('fits' as const, 'short' as const) },
    { weight: 1, arbitrary: pick(0, 0x37, 0x47, 0x67, 0x6f, 0x77, 0xff) },
  ),
});

const eflagsWordArb = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .tuple(fc.boolean(), fc.integer({ min: 0, max: 3 }), fc.subarray([CF, ZF, SF, OF]))
      .map(([i, l, fs]) => (2 | (i ? IF : 0) | (l << 12) | fs.reduce((x, f) => x | f, 0)) >>> 0),
  },
  { weight: 1, arbitrary: u32 },
);

export const frameArb: fc.Arbitrary<FrameSpec> = fc.record({
  present: mostly(true, fc.constant(false), 5),
  eip: targetArb,
  popfWord: eflagsWordArb,
  ring: fc.integer({ min: 0, max: 3 }),
  cs: fc.oneof(
    { weight: 5, arbitrary: fc.constant('valid' as const) },
    { weight: 3, arbitrary: pick('other-rpl' as const, 'upper-bits' as const, 'data-selector' as const, 'random' as const) },
  ),
  eflags: eflagsWordArb,
  esp: fc.oneof({ weight: 2, arbitrary: pick(DSTACK + 0x800, SPARE + 0x100) }, { weight: 1, arbitrary: valueArb }),
  ss: fc.oneof(
    { weight: 5, arbitrary: fc.constant('valid' as const) },
    { weight: 2, arbitrary: pick('other-ring' as const, 'upper-bits' as const, 'rpl-flip' as const, 'random' as const) },
  ),
  junk: u32,
});
