// One VX32 instruction in a randomly chosen machine state (README.md): the case, its
// fast-check arbitrary, and its rendering as a complete program a person can paste into
// `popek run`. In the spirit of kvm-unit-tests: a tiny guest sets up a state — ring,
// IOPL, IF, flags, paging with mixed page permissions, TSS/ESP0, IDT with perhaps one
// broken gate, registers pointing at interesting places — runs ONE instruction, then
// `hlt`; every event goes to one ring-0 handler that exercises the MMIO device and halts.
// The run is a few dozen steps, so thousands of cases take seconds.
//
// The case is plain data (so fast-check shrinks each field); `render` turns it into
// assembly. Encodings are built here from DESIGN §3.3's table (not from spec/isa.ts, so a
// wrong row there is not copied into the generator).

import fc from 'fast-check';
import { assemble } from '../../spec/asm/assemble.ts';
import { disassembleInsn } from '../../spec/asm/disassemble.ts';
import type { HostEvent, Image } from '../../spec/observation.ts';

// ---- the physical layout (RAM 64 KiB, DESIGN §3.2) ------------------------------------

export const RAM_BYTES = 0x10000;
/** A few dozen steps: the prologue (~30), the instruction, `hlt`, a handler or two. */
export const MAX_STEPS = 64;

export const HANDLER = 0x0800; // the one handler of every vector (the prologue starts at 0)
export const VARS = 0x0f00; // the handler's saved eax, then the device ID it read
export const INSN_PAGE = 0x1000; // the instruction under test (random permissions)
export const INSN_PAGE2 = 0x2000; // the next page, for an instruction at a page end
export const IDT = 0x3000; // 256 gates
export const TSS = 0x3800; // ESP0 at TSS + 4 (DESIGN §3.7)
export const IDT_DESC = 0x3900;
export const PD = 0x4000;
export const PT = 0x5000; // identity map of RAM and two pages beyond it
export const PT_MMIO = 0x6000; // maps the device page
export const KSTACK = 0x7000;
export const PSTACK = 0x7800; // the prologue's stack
export const KSTACK_TOP = 0x8000; // the valid ESP0
export const DATA = [0x8000, 0x9000, 0xa000, 0xb000] as const; // D0–D3 (random permissions)
export const DSTACK = 0xc000; // the usual stack page (random permissions)
export const SPARE = 0xd000; // 0xD000–0xFFFF: user-writable, zero
export const OPEN_BUS = RAM_BYTES; // mapped, but no RAM behind it
export const UNMAPPED = 0x20000; // no PTE (paging off: open bus)
export const BIG = 0x400000; // PDE 1: with CR4.PSE a 4 MiB alias of 0–4 MiB (random permissions), else not present
export const FAR = 0x800000; // PDE 2: not present
export const MMIO = 0xfee00000;
const MMIO_PDE = MMIO >>> 22;
const MMIO_PTE = (MMIO >>> 12) & 0x3ff;

/** The pages whose permissions a case chooses, in PT order. */
export const RANDOM_PAGES = ['INSN', 'INSN2', 'D0', 'D1', 'D2', 'D3', 'DSTACK'] as const;
const RANDOM_PAGE_ADDR = [INSN_PAGE, INSN_PAGE2, ...DATA, DSTACK];

// DESIGN §3.1, §3.5, §3.7 bits.
const P = 1, RW = 2, US = 4, A = 0x20, D = 0x40, PS = 0x80;
const CF = 0x1, ZF = 0x40, SF = 0x80, IF = 0x200, OF = 0x800;
const CR0_PE = 1, CR0_WP = 1 << 16, CR0_PG = 0x80000000;
const CR4_PSE = 0x10;
export const V_UD = 6, V_DF = 8, V_NP = 11, V_GP = 13, V_PF = 14;

export const codeSelector = (ring: number): number => 0x08 + 0x11 * ring;
export const stackSelector = (ring: number): number => 0x10 + 0x11 * ring;
export const hex = (v: number): string => '0x' + (v >>> 0).toString(16).toUpperCase();

// ---- DESIGN §3.3: the encoding table --------------------------------------------------

type Form = 'none' | 'r' | 'rr' | 'ri' | 'rsh' | 'i' | 'int' | 'rm' | 'mr' | 'm' | 'in' | 'out' | 'tocr' | 'fromcr' | 'cs';

export interface Op {
  opcode: number;
  /** For counterexample headers and statistics. */
  name: string;
  form: Form;
  /** Weight in the choice of a valid instruction: the ring- and state-sensitive ones more often. */
  weight: number;
}

const op = (opcode: number, name: string, form: Form, weight: number): Op => ({ opcode, name, form, weight });
export const OPS: readonly Op[] = [
  op(0x01, 'nop', 'none', 1), op(0x02, 'hlt', 'none', 6), op(0x03, 'ud2', 'none', 1),
  op(0x10, 'mov', 'rr', 1), op(0x11, 'mov-imm', 'ri', 1),
  op(0x12, 'load', 'rm', 8), op(0x13, 'store', 'mr', 8), op(0x14, 'movzx', 'rm', 4), op(0x15, 'store-byte', 'mr', 4), op(0x16, 'lea', 'rm', 2),
  ...['add', 'sub', 'and', 'or', 'xor', 'cmp', 'test'].flatMap((n, i) => [op(0x20 + i, n, 'rr', 1), op(0x28 + i, `${n}-imm`, 'ri', 1)]),
  op(0x30, 'shl', 'rsh', 8), op(0x31, 'shr', 'rsh', 8), op(0x32, 'sar', 'rsh', 8),
  op(0x33, 'not', 'r', 1), op(0x34, 'neg', 'r', 2), op(0x35, 'inc', 'r', 2), op(0x36, 'dec', 'r', 2),
  op(0x40, 'jmp', 'i', 2), op(0x41, 'jmp-reg', 'r', 2), op(0x42, 'call', 'i', 4), op(0x43, 'call-reg', 'r', 2), op(0x44, 'ret', 'none', 6),
  op(0x45, 'push', 'r', 5), op(0x46, 'push-imm', 'i', 2), op(0x47, 'pop', 'r', 5),
  // x86 condition order; 5A and 5B do not exist (#UD)
  ...[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 14, 15].map((cc) => op(0x50 + cc, 'jcc', 'i', 1)),
  op(0x60, 'pushf', 'none', 4), op(0x61, 'popf', 'none', 14), op(0x62, 'cli', 'none', 8), op(0x63, 'sti', 'none', 10),
  op(0x64, 'int', 'int', 14), op(0x65, 'iret', 'none', 24), op(0x66, 'in', 'in', 7), op(0x67, 'out', 'out', 7),
  op(0x70, 'mov-to-cr', 'tocr', 10), op(0x71, 'mov-from-cr', 'fromcr', 10),
  op(0x72, 'lidt', 'm', 4), op(0x73, 'sidt', 'm', 4), op(0x74, 'ltr', 'r', 4), op(0x75, 'str', 'r', 2), op(0x76, 'invlpg', 'm', 4), op(0x77, 'mov-cs', 'cs', 2),
];

interface Uses { a: boolean; b: boolean; mem: boolean; imm: boolean; immMax: number }

/** DESIGN §3.3: which fields a form uses; every other field must be 0. */
function usesOf(form: Form): Uses {
  const U32 = 0xffffffff;
  const a = !['none', 'i', 'int', 'm'].includes(form);
  const b = ['rr', 'rm', 'mr', 'm', 'tocr', 'fromcr'].includes(form);
  const mem = ['rm', 'mr', 'm'].includes(form);
  const imm = ['ri', 'rsh', 'i', 'int', 'rm', 'mr', 'm', 'in', 'out'].includes(form);
  const immMax = form === 'rsh' ? 31 : form === 'int' ? 255 : form === 'in' || form === 'out' ? 0xffff : imm ? U32 : 0;
  return { a, b, mem, imm, immMax };
}

/** Opcodes DESIGN §3.3 leaves undefined (00 is the "zeroed memory traps" one). */
const UNDEFINED_OPCODES = [0x00, 0x04, 0x0f, 0x17, 0x27, 0x2f, 0x37, 0x3f, 0x48, 0x5a, 0x5b, 0x68, 0x6f, 0x78, 0x7f, 0x80, 0xff] as const;

/**
 * One field wrong (DESIGN §3.3 "any violation … #UD"). The rules that depend on the
 * form come first: a decoder checks them per form, so each form needs its own cases.
 */
export const FLAWS = [
  'unused a', 'unused b', 'unused imm', 'imm out of range', 'cr number', 'NOBASE on a non-memory op', 'NOBASE with b != 0',
  'A bits 3-7', 'B bits 4-7', 'byte 3', 'undefined opcode',
] as const;
export type Flaw = (typeof FLAWS)[number];
const FORM_FLAWS = 7;

/** The flaws that can break an instruction of `form`; the form's own rules count twice. */
export function flawsOf(form: Form): readonly Flaw[] {
  const uses = usesOf(form);
  const applies: Record<Flaw, boolean> = {
    'unused a': !uses.a,
    'unused b': !uses.b,
    'unused imm': !uses.imm,
    'imm out of range': uses.imm && uses.immMax < 0xffffffff,
    'cr number': form === 'tocr' || form === 'fromcr',
    'NOBASE on a non-memory op': !uses.mem,
    'NOBASE with b != 0': uses.mem,
    'A bits 3-7': true,
    'B bits 4-7': true,
    'byte 3': true,
    'undefined opcode': true,
  };
  const own = FLAWS.slice(0, FORM_FLAWS).filter((f) => applies[f]);
  return [...own, ...own, ...FLAWS.slice(FORM_FLAWS)];
}

// ---- the case ------------------------------------------------------------------------

export interface PagePerm { p: boolean; rw: boolean; us: boolean; ad: number }

export interface Paging {
  /** `4m`: PDE 0 a 4 MiB page (CR4.PSE on); `ps-without-pse`: PDE 0 → PT with PS set but CR4.PSE off (PS ignored). */
  mode: 'off' | '4k' | '4m' | 'ps-without-pse';
  pse: boolean;
  wp: boolean;
  pde: { rw: boolean; us: boolean; rsvd: boolean };
  /** Permissions of RANDOM_PAGES. */
  pages: PagePerm[];
  mmio: { rw: boolean; us: boolean };
  /** PDE 1's permissions, when it is the 4 MiB alias BIG. */
  big: { rw: boolean; us: boolean };
}

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
  insnAt: 'page' | 'page-end' | 'straddle';
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

export interface InsnSpec {
  enc: 'valid' | 'near' | 'random';
  op: Op;
  a: number;
  b: number;
  /** The immediate of each form (only the one the form uses is read). */
  value: number;
  count: number;
  target: number;
  vector: number;
  port: number;
  cr: number;
  mem: { nobase: false; b: number; off: number } | { nobase: true; addr: number };
  /** For `mov crN, a`: what the prologue loads into register a (`jmp a`, `call a` load `target`). */
  aValue: number;
  /** Which of the flaws that apply to the form (`flawsOf`) a near-valid encoding has. */
  flaw: number;
  junk: number;
  raw: [number, number];
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

// ---- value pools ---------------------------------------------------------------------

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const pick = <T>(...xs: T[]): fc.Arbitrary<T> => fc.constantFrom(...xs);
const mostly = <T>(common: T, rare: fc.Arbitrary<T>, weight = 4): fc.Arbitrary<T> =>
  fc.oneof({ weight, arbitrary: fc.constant(common) }, { weight: 1, arbitrary: rare });

/** DESIGN §3.4's flag boundaries, and a random word. */
const intArb = fc.oneof({ weight: 4, arbitrary: pick(0, 1, 31, 32, 0x7fffffff, 0x80000000, 0xffffffff) }, { weight: 1, arbitrary: u32 });

/** Addresses of every kind of page: mapped, unmapped, read-only, supervisor, straddling, MMIO, open bus. */
const addrArb = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(pick(...DATA, DSTACK), pick(0, 0x100, 0xffc, 0xffe, 0x800)).map(([p, o]) => p + o) },
  { weight: 5, arbitrary: pick(0, 4, 8, 12, 4, 8, 1, 2, 0x10).map((o) => MMIO + o) },
  {
    weight: 2,
    // live tables: the PTEs of the code, of the instruction's page (the `hlt` fetch uses it next), of D0
    arbitrary: pick(KSTACK + 0x100, IDT + 8 * V_GP, IDT + 8 * V_PF, PT + 4 * (DATA[0] >>> 12), PT, PT + 4, PD, TSS + 4, INSN_PAGE + 8, HANDLER, VARS, SPARE + 0x10),
  },
  { weight: 2, arbitrary: pick(UNMAPPED, FAR, OPEN_BUS, OPEN_BUS + 0x1ffe, RAM_BYTES - 2, 0xfffffffe, 0x80000000) },
  // through the 4 MiB alias: its first access is not at its first page (a split must start from the large page)
  { weight: 2, arbitrary: fc.tuple(pick(...DATA, DSTACK, PT), pick(0, 0x800, 0xffe)).map(([p, o]) => BIG + p + o) },
);

/** CR0 (valid and invalid), CR4, CR3 values (DESIGN §3.4 mov crN rules). */
const crValueArb = pick(0x80010001, 0x80000001, 0x10001, 0x1, 0x11, 0x10, 0x0, 0x80000000, 0x21, 0x80000003, PD, PD | 0xfff, UNMAPPED);

export const valueArb = fc.oneof({ weight: 4, arbitrary: intArb }, { weight: 4, arbitrary: addrArb }, { weight: 1, arbitrary: crValueArb });

/** Code addresses: the `hlt` after the instruction, the instruction itself, zeroed code (#UD), pages a fetch may fault on. */
const targetArb = fc.oneof(
  { weight: 4, arbitrary: fc.constant(-1) }, // the next instruction, resolved at render
  { weight: 1, arbitrary: fc.constant(-2) }, // the instruction itself
  { weight: 2, arbitrary: pick(INSN_PAGE2 + 0x800, HANDLER, UNMAPPED, MMIO, OPEN_BUS, SPARE, DATA[1] + 0xffc, 0xfffffffc) },
  { weight: 1, arbitrary: u32 },
);

const espArb = fc.oneof(
  { weight: 6, arbitrary: pick(DSTACK + 0x800, DSTACK + 0x1000 - 20) },
  { weight: 3, arbitrary: fc.tuple(pick(...DATA), pick(0x800, 0xff8)).map(([p, o]) => p + o) },
  { weight: 2, arbitrary: pick(DSTACK + 0xff8, DSTACK + 2, DSTACK, SPARE + 0x2ffe) }, // straddling pages or RAM's end
  { weight: 2, arbitrary: pick(KSTACK + 0x800, UNMAPPED, UNMAPPED + 2, OPEN_BUS + 0x800, 0, 2, 4, FAR) },
  { weight: 3, arbitrary: pick(MMIO + 4, MMIO + 8, MMIO + 12, MMIO + 0x10) },
  { weight: 1, arbitrary: u32 },
);

const esp0Arb = fc.oneof(
  { weight: 10, arbitrary: fc.constant(KSTACK_TOP) },
  { weight: 3, arbitrary: pick(UNMAPPED, DSTACK + 2, DATA[0] + 0x1000, DATA[2] + 0x1000, 0, MMIO + 0x10, OPEN_BUS + 0x800) },
);

const pageArb = (usual: number): fc.Arbitrary<PagePerm> =>
  fc.record({ p: mostly(true, fc.constant(false), usual * 2), rw: mostly(true, fc.constant(false), usual), us: mostly(true, fc.constant(false), usual), ad: pick(0, 0, 0, A, A | D) });

// ---- arbitraries ---------------------------------------------------------------------

const stateArb: fc.Arbitrary<State> = fc.record({
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
  insnAt: fc.oneof({ weight: 8, arbitrary: fc.constant('page' as const) }, { weight: 1, arbitrary: pick('page-end' as const, 'straddle' as const) }),
  data: fc.array(valueArb, { minLength: 4, maxLength: 4 }),
  desc: fc.record({ limit: pick(0x7ff, 0x6f, 0x67, 0, 0xffff), base: pick(IDT, UNMAPPED, 0, DATA[0]) }),
});

const pagingArb: fc.Arbitrary<Paging> = fc.record({
  mode: fc.oneof(
    { weight: 7, arbitrary: fc.constant('off' as const) },
    { weight: 9, arbitrary: fc.constant('4k' as const) },
    { weight: 4, arbitrary: fc.constant('4m' as const) },
    { weight: 1, arbitrary: fc.constant('ps-without-pse' as const) },
  ),
  pse: fc.boolean(),
  wp: fc.boolean(),
  pde: fc.record({ rw: mostly(true, fc.constant(false), 9), us: mostly(true, fc.constant(false), 9), rsvd: mostly(false, fc.constant(true), 19) }),
  pages: fc.tuple(pageArb(8), pageArb(8), pageArb(2), pageArb(2), pageArb(2), pageArb(2), pageArb(4)),
  mmio: fc.record({ rw: mostly(true, fc.constant(false), 3), us: mostly(true, fc.constant(false), 3) }),
  big: fc.record({ rw: mostly(true, fc.constant(false), 3), us: mostly(true, fc.constant(false), 3) }),
});

const idtArb: fc.Arbitrary<IdtSpec> = fc.record({
  dpl: fc.oneof({ weight: 2, arbitrary: fc.constant(3) }, { weight: 1, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: pick(1, 2) }),
  trap: fc.boolean(),
  byte4: mostly(0, fc.integer({ min: 1, max: 255 }), 4),
  broken: fc.oneof(
    { weight: 3, arbitrary: fc.constant(null) },
    {
      weight: 3,
      arbitrary: fc.record({
        which: fc.oneof({ weight: 4, arbitrary: fc.constant('likely' as const) }, { weight: 2, arbitrary: pick('gp' as const, 'pf' as const, 'ud' as const, 'irq' as const) }),
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

const insnArb: fc.Arbitrary<InsnSpec> = fc.record({
  enc: fc.oneof({ weight: 16, arbitrary: fc.constant('valid' as const) }, { weight: 8, arbitrary: fc.constant('near' as const) }, { weight: 1, arbitrary: fc.constant('random' as const) }),
  op: fc.oneof(...OPS.map((o) => ({ weight: o.weight, arbitrary: fc.constant(o) }))),
  a: fc.integer({ min: 0, max: 7 }),
  b: fc.integer({ min: 0, max: 7 }),
  value: valueArb,
  count: fc.oneof(pick(1, 1, 0, 2, 31, 16), fc.integer({ min: 0, max: 31 })), // OF differs at 1 (DESIGN §3.4)
  target: targetArb,
  vector: fc.oneof(pick(V_UD, V_DF, V_NP, V_GP, V_PF, 0x20, 0x80, 3, 0, 255), fc.integer({ min: 0, max: 255 })),
  port: fc.oneof(pick(0xe9, 0x60, 0, 0xffff, 0xe8, 0xea), fc.integer({ min: 0, max: 0xffff })),
  cr: pick(0, 2, 3, 4),
  mem: fc.oneof(
    { weight: 3, arbitrary: fc.record({ nobase: fc.constant(false as const), b: fc.integer({ min: 0, max: 7 }), off: pick(0, 4, 0xfffffffc, 2, 0xffe, 1, 0x100) }) },
    { weight: 2, arbitrary: fc.record({ nobase: fc.constant(true as const), addr: addrArb }) },
  ),
  aValue: fc.oneof({ weight: 2, arbitrary: crValueArb }, { weight: 1, arbitrary: valueArb }),
  flaw: fc.nat({ max: 63 }),
  junk: u32,
  raw: fc.tuple(u32, u32),
});

const ringArb = fc.integer({ min: 0, max: 3 });
const eflagsWordArb = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 3 }), fc.subarray([CF, ZF, SF, OF])).map(([i, l, fs]) => (2 | (i ? IF : 0) | (l << 12) | fs.reduce((x, f) => x | f, 0)) >>> 0) },
  { weight: 1, arbitrary: u32 },
);

const frameArb: fc.Arbitrary<FrameSpec> = fc.record({
  present: mostly(true, fc.constant(false), 5),
  eip: targetArb,
  popfWord: eflagsWordArb,
  ring: ringArb,
  cs: fc.oneof({ weight: 5, arbitrary: fc.constant('valid' as const) }, { weight: 3, arbitrary: pick('other-rpl' as const, 'upper-bits' as const, 'data-selector' as const, 'random' as const) }),
  eflags: eflagsWordArb,
  esp: fc.oneof({ weight: 2, arbitrary: pick(DSTACK + 0x800, SPARE + 0x100) }, { weight: 1, arbitrary: valueArb }),
  ss: fc.oneof({ weight: 5, arbitrary: fc.constant('valid' as const) }, { weight: 2, arbitrary: pick('other-ring' as const, 'upper-bits' as const, 'rpl-flip' as const, 'random' as const) }),
  junk: u32,
});

const irqArb = fc.oneof(
  { weight: 2, arbitrary: fc.constant(null) },
  {
    weight: 1,
    arbitrary: fc.record({
      offset: pick(0, 0, 1, 1, 2, 3),
      vector: fc.oneof(pick(0x20, 0x21, 0xff, 0x80), fc.integer({ min: 32, max: 255 })),
    }),
  },
);

/** The arbitrary of "one instruction in one machine state". Its values print as programs. */
export const insnCaseArb: fc.Arbitrary<InsnCase> = fc
  .record({ state: stateArb, paging: pagingArb, idt: idtArb, insn: insnArb, frame: frameArb, irq: irqArb })
  .map((parts) => {
    const c: InsnCase = { ...parts, ramBytes: RAM_BYTES, maxSteps: MAX_STEPS, events: [] };
    c.events = parts.irq ? [{ at: prologueSteps(c) + parts.irq.offset, kind: 'irq', vector: parts.irq.vector }] : [];
    // fast-check prints a counterexample with this: the program, ready for `popek run`.
    Object.defineProperty(c, fc.toStringMethod, { value: () => render(c), enumerable: false });
    return c;
  });

// ---- encoding ------------------------------------------------------------------------

export const insnAddr = (c: InsnCase): number =>
  ({ page: INSN_PAGE, 'page-end': INSN_PAGE + 0xff8, straddle: INSN_PAGE + 0xffc })[c.state.insnAt];

const resolveTarget = (c: InsnCase, t: number): number => (t === -1 ? insnAddr(c) + 8 : t === -2 ? insnAddr(c) : t);

export interface Encoded {
  bytes: Uint8Array;
  /** The instruction as the case meant it: valid, or which field breaks it. */
  what: string;
}

/** The 8 bytes `op A B 0 imm32` (DESIGN §3.3). */
export function encodeInsn(c: InsnCase): Encoded {
  const i = c.insn;
  const pack = (opcode: number, A: number, B: number, byte3: number, imm: number): Uint8Array =>
    Uint8Array.of(opcode, A, B, byte3, imm, imm >>> 8, imm >>> 16, imm >>> 24);
  if (i.enc === 'random') {
    const [w0, imm] = i.raw;
    // Half of them keep a defined opcode, so the other bytes are what breaks them.
    const opcode = w0 & 0x100 ? i.op.opcode : w0 & 0xff;
    return { bytes: pack(opcode, (w0 >>> 8) & 0xff, (w0 >>> 16) & 0xff, w0 >>> 24, imm), what: 'random bytes' };
  }
  const { form } = i.op;
  const uses = usesOf(form);
  let opcode = i.op.opcode;
  let a = uses.a ? i.a : 0;
  let b = 0;
  let nobase = false;
  let imm = 0;
  if (uses.mem) {
    if (i.mem.nobase) {
      nobase = true;
      imm = i.mem.addr;
    } else {
      b = i.mem.b;
      imm = i.mem.off;
    }
  } else if (form === 'rr') b = i.b;
  else if (form === 'tocr' || form === 'fromcr') b = i.cr;
  if (form === 'ri') imm = i.value;
  else if (form === 'rsh') imm = i.count;
  else if (form === 'i') imm = i.op.name === 'push-imm' ? i.value : resolveTarget(c, i.target);
  else if (form === 'int') imm = i.vector;
  else if (form === 'in' || form === 'out') imm = i.port;
  let A = a;
  let byte3 = 0;
  let what = 'valid';
  if (i.enc === 'near') {
    const j = i.junk >>> 0;
    const flaw = flawsOf(form)[i.flaw % flawsOf(form).length]!;
    what = `#UD: ${flaw}`;
    switch (flaw) {
      case 'A bits 3-7': A = a | (8 << (j % 5)); break;
      case 'B bits 4-7': b |= 0x10 << (j % 4); break;
      case 'byte 3': byte3 = 1 + (j % 255); break;
      case 'unused a': A = 1 + (j % 7); break;
      case 'unused b': b = 1 + (j % 7); break;
      case 'NOBASE on a non-memory op': nobase = true; break;
      case 'NOBASE with b != 0': nobase = true; b = 1 + (j % 7); break;
      case 'unused imm': imm = j % 3 === 0 ? 1 : j || 1; break;
      // the first value out of range most often: the boundary is where mutants hide
      case 'imm out of range': imm = j % 2 === 0 ? uses.immMax + 1 : Math.max(uses.immMax + 1, j); break;
      case 'cr number': b = [1, 5, 6, 7][j % 4]!; break;
      case 'undefined opcode': opcode = UNDEFINED_OPCODES[j % UNDEFINED_OPCODES.length]!; break;
    }
  }
  return { bytes: pack(opcode, A, b | (nobase ? 8 : 0), byte3, imm >>> 0), what };
}

/** The register values the prologue loads (index 4, esp, is `state.esp`). */
export function registersOf(c: InsnCase): number[] {
  const regs = c.state.regs.map((v) => v >>> 0);
  regs[4] = c.state.esp >>> 0;
  const i = c.insn;
  // The value an instruction takes from register a, when the pool would rarely give a useful one.
  if (i.enc === 'valid' && i.a !== 4) {
    if (i.op.form === 'tocr') regs[i.a] = i.aValue >>> 0;
    if (i.op.name === 'jmp-reg' || i.op.name === 'call-reg') regs[i.a] = resolveTarget(c, i.target) >>> 0;
  }
  return regs;
}

// ---- IDT -----------------------------------------------------------------------------

/** The vector whose gate the case breaks, and the one the IDT limit is measured against. */
export function brokenVector(c: InsnCase): number | null {
  const br = c.idt.broken;
  if (!br) return null;
  switch (br.which) {
    case 'ud': return V_UD;
    case 'gp': return V_GP;
    case 'pf': return V_PF;
    case 'likely': return likelyVector(c);
    case 'irq': return c.irq ? c.irq.vector : V_GP;
  }
}

const PRIVILEGED = ['hlt', 'mov-to-cr', 'mov-from-cr', 'lidt', 'ltr', 'invlpg'];
const IO_PRIVILEGED = ['cli', 'sti', 'in', 'out'];
const ACCESSES = ['load', 'store', 'movzx', 'store-byte', 'lidt', 'sidt', 'push', 'push-imm', 'pop', 'pushf', 'popf', 'call', 'call-reg', 'ret'];

/**
 * The vector the instruction most likely raises (DESIGN §3.3–3.4), so a broken gate is
 * met often: #UD for bad encodings, the vector of `int n`, #GP for privilege and for
 * iret, #PF for memory accesses, else the #GP of the `hlt` that follows at cpl > 0.
 */
export function likelyVector(c: InsnCase): number {
  const { insn, state } = c;
  if (insn.enc !== 'valid' || insn.op.name === 'ud2') return V_UD;
  const name = insn.op.name;
  if (name === 'int') return insn.vector;
  if (PRIVILEGED.includes(name) && state.cpl > 0) return V_GP;
  if (IO_PRIVILEGED.includes(name) && state.cpl > state.iopl) return V_GP;
  if (ACCESSES.includes(name) && pagingOn(c)) return V_PF;
  return V_GP;
}

export function idtLimit(c: InsnCase): number {
  const v = brokenVector(c) ?? V_GP;
  const l = c.idt.limit;
  return l === 'full' ? 0x7ff : l === 'fits' ? 8 * v + 7 : l === 'short' ? 8 * v + 6 : l;
}

interface GateWords { lo: number; hi: number; note?: string }

function gateOf(c: InsnCase, v: number): GateWords {
  const { idt } = c;
  const type = idt.trap ? 0xf : 0xe;
  let attr = 0x80 | (idt.dpl << 5) | type;
  let selector = 0x08;
  let note: string | undefined;
  const br = idt.broken;
  if (br && v === brokenVector(c)) {
    switch (br.how) {
      case 'not-present': attr &= ~0x80; note = 'P = 0: #NP'; break;
      case 'dpl': attr &= ~0x60; note = 'DPL 0: #GP for int n at cpl > 0'; break;
      case 'type': attr = (attr & ~0x1f) | br.type; note = `type ${hex(br.type)}: #GP`; break;
      case 'selector': selector = br.selector; note = `selector ${hex(br.selector)}: #GP`; break;
    }
  }
  if (v === V_DF && idt.dfBroken) {
    attr &= ~0x80;
    note = '#DF gate not present: a fault delivering #DF shuts down';
  }
  const lo = ((HANDLER & 0xffff) | (selector << 16)) >>> 0;
  const hi = ((HANDLER & 0xffff0000) | (attr << 8) | idt.byte4) >>> 0;
  return note === undefined ? { lo, hi } : { lo, hi, note };
}

// ---- paging --------------------------------------------------------------------------

const permText = (v: number): string => ['P', 'RW', 'US', 'A', 'D', 'PS'].filter((_, i) => v & [P, RW, US, A, D, PS][i]!).join(' | ') || '0';
const permOf = (p: PagePerm): number => (p.p ? P : 0) | (p.rw ? RW : 0) | (p.us ? US : 0) | p.ad;

export const pagingOn = (c: InsnCase): boolean => c.paging.mode !== 'off';
export const cr4Of = (c: InsnCase): number => (c.paging.mode === '4m' || (c.paging.mode === '4k' && c.paging.pse) ? CR4_PSE : 0);
export const cr0Of = (c: InsnCase): number => (CR0_PE | (c.paging.wp ? CR0_WP : 0) | (pagingOn(c) ? CR0_PG : 0)) >>> 0;

function pde0(c: InsnCase): number {
  const { pde, mode } = c.paging;
  const perms = P | (pde.rw ? RW : 0) | (pde.us ? US : 0);
  if (mode === '4m') return (perms | PS | (pde.rsvd ? 1 << 13 : 0)) >>> 0; // frame 0: 0–4 MiB
  // Without CR4.PSE the PS bit is ignored (DESIGN §3.5.2): PT maps the pages as in '4k'.
  if (mode === 'ps-without-pse') return PT | perms | PS;
  return PT | perms;
}

/** PT entries: page number → (value, comment). */
function ptEntries(c: InsnCase): [number, number, string][] {
  const out: [number, number, string][] = [];
  const fixed: Record<number, string> = { 0: 'CODE', 3: 'IDT, TSS', 4: 'PD', 5: 'PT', 6: 'PT_MMIO', 7: 'KSTACK' };
  for (let n = 0; n < RAM_BYTES / 0x1000 + 2; n++) {
    const addr = n << 12;
    const r = RANDOM_PAGE_ADDR.indexOf(addr);
    if (r >= 0) out.push([n, addr | permOf(c.paging.pages[r]!), RANDOM_PAGES[r]!]);
    else if (fixed[n] !== undefined) out.push([n, addr | P | RW, `${fixed[n]} (supervisor)`]);
    else if (addr < RAM_BYTES) out.push([n, addr | P | RW | US, 'SPARE']);
    else out.push([n, addr | P | RW | US, 'open bus (no RAM)']);
  }
  return out;
}

// ---- rendering -----------------------------------------------------------------------

const REG_NAMES = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'] as const;

/** `D1 + 0xFFC`, `MMIO + 0x4`: a name for an address a person can place, if it has one. */
export function describe(v: number): string | undefined {
  v >>>= 0;
  const regions: [string, number, number][] = [
    ['HANDLER', HANDLER, 0x700], ['INSN_PAGE', INSN_PAGE, 0x1000], ['INSN_PAGE2', INSN_PAGE2, 0x1000], ['IDT', IDT, 0x800], ['TSS', TSS, 0x100],
    ['PD', PD, 0x1000], ['PT', PT, 0x1000], ['PT_MMIO', PT_MMIO, 0x1000], ['KSTACK', KSTACK, 0x1000],
    ...DATA.map((d, i): [string, number, number] => [`D${i}`, d, 0x1000]), ['DSTACK', DSTACK, 0x1000], ['SPARE', SPARE, 0x3000],
    ['OPEN_BUS', OPEN_BUS, 0x2000], ['UNMAPPED', UNMAPPED, 0x1000], ['BIG', BIG, 0x12000], ['FAR', FAR, 0x1000], ['MMIO', MMIO, 0x1000],
  ];
  for (const [name, base, size] of regions) if (v >= base && v < base + size) return v === base ? name : `${name} + ${hex(v - base)}`;
  return undefined;
}

const valueText = (v: number): string => {
  const d = describe(v);
  return d ? `${hex(v)}`.padEnd(12) + `; ${d}` : hex(v);
};
const ins = (text: string, comment?: string): string => (comment ? `    ${text.padEnd(30)}; ${comment}` : `    ${text}`);

export const eflagsOf = (c: InsnCase): number => (2 | c.state.flags | (c.state.if ? IF : 0) | (c.state.iopl << 12)) >>> 0;

/** The prologue's instructions, from `start` to the jump into the instruction under test. */
function prologueLines(c: InsnCase): string[] {
  const s = c.state;
  const regs = registersOf(c);
  const lines = [
    ins('mov esp, PSTACK'),
    ins('lidt [IDT_DESC]'),
    ins(`mov eax, ${hex(s.counter)}`),
    ins('mov [MMIO + 4], eax', 'COUNTER (paging is still off)'),
    ...s.log.flatMap((v) => [ins(`mov eax, ${hex(v)}`), ins('mov [MMIO + 8], eax', 'a LOG entry')]),
    ins(`mov eax, ${valueText(s.tr)}`),
    ins('ltr eax'),
    ins(`mov eax, ${hex(s.cr2)}`),
    ins('mov cr2, eax'),
    ins('mov eax, PD'),
    ins('mov cr3, eax'),
    ins(`mov eax, ${hex(cr4Of(c))}`),
    ins('mov cr4, eax'),
  ];
  if (s.cpl > 0) {
    lines.push(
      ins(`push ${hex(stackSelector(s.cpl))}`, `iret frame to ring ${s.cpl}: SS`),
      ins(`push ${valueText(s.esp)}`),
      ins(`push ${hex(eflagsOf(c))}`, 'eflags'),
      ins(`push ${hex(codeSelector(s.cpl))}`, 'CS'),
      ins('push insn'),
    );
  } else lines.push(ins(`push ${hex(eflagsOf(c))}`, 'eflags for the popf below'));
  lines.push(ins(`mov eax, ${hex(cr0Of(c))}`), ins('mov cr0, eax', pagingOn(c) ? 'paging on' : 'paging off'));
  for (const r of [0, 1, 2, 3, 5, 6, 7]) lines.push(ins(`mov ${REG_NAMES[r]}, ${valueText(regs[r]!)}`));
  if (s.cpl > 0) lines.push(ins('iret', `to ring ${s.cpl} at insn`));
  else lines.push(ins('popf', 'ring 0: every bit applies'), ins(`mov esp, ${valueText(s.esp)}`), ins('jmp insn'));
  return lines;
}

/** Instructions the prologue retires before the one under test (irq times count from here). */
export const prologueSteps = (c: InsnCase): number => prologueLines(c).length;

/** Words of initial RAM outside the code: data, the IDT descriptor at D0 + 0x100, the crafted stack. */
function ramWords(c: InsnCase): [number, number, string][] {
  const s = c.state;
  const out: [number, number, string][] = [];
  const claimed = new Set<number>();
  const put = (addr: number, v: number, note: string): void => {
    const bytes = [0, 1, 2, 3].map((k) => addr + k);
    if (bytes.some((x) => x < DATA[0] || x >= RAM_BYTES || claimed.has(x))) return;
    bytes.forEach((x) => claimed.add(x));
    out.push([addr, v >>> 0, note]);
  };
  s.data.forEach((v, i) => put(DATA[i]!, v, `D${i}`));
  put(DATA[0] + 0x100, (s.desc.limit | (s.desc.base << 16)) >>> 0, 'an IDT descriptor: limit, base');
  put(DATA[0] + 0x104, s.desc.base >>> 16, '');
  const f = c.frame;
  if (f.present) {
    const ring = f.ring;
    const csGood = codeSelector(ring);
    const cs = { valid: csGood, 'other-rpl': (csGood & ~3) | ((ring + 1) & 3), 'upper-bits': (csGood | 0xabcd0000) >>> 0, 'data-selector': stackSelector(ring), random: f.junk & 0xffff }[f.cs];
    const ssGood = stackSelector(cs & 3);
    const ss = { valid: ssGood, 'other-ring': stackSelector((ring + 1) & 3), 'upper-bits': (ssGood | 0x55550000) >>> 0, 'rpl-flip': ssGood ^ 1, random: f.junk >>> 16 }[f.ss];
    const w0 = c.insn.op.name === 'popf' ? f.popfWord : resolveTarget(c, f.eip);
    const words: [number, string][] = [[w0, c.insn.op.name === 'popf' ? 'eflags for popf' : 'eip'], [cs, 'CS'], [f.eflags, 'eflags'], [f.esp, 'esp'], [ss, 'SS']];
    words.forEach(([v, note], k) => put((s.esp + 4 * k) >>> 0, v, `stack: ${note}`));
  }
  return out.sort((x, y) => x[0] - y[0]);
}

/** Data words loaded at `addr`, and the lines that print them (the same words, as `.org`/`.dd`). */
export interface Block {
  addr: number;
  words: number[];
  /** Only printing needs them: a run does not pay for building the text. */
  lines: () => string[];
}

function idtBlock(c: InsnCase): Block {
  // Only the broken vector and #DF can differ from the usual gate.
  const usual = gateOf(c, 0x100);
  const special = new Set([brokenVector(c), V_DF]);
  const gates = Array.from({ length: 256 }, (_, v) => (special.has(v) ? gateOf(c, v) : usual));
  const lines = (): string[] => [
    `.equ GATE_LO, ${hex(usual.lo)}            ; offset 15:0 = HANDLER, selector 0x08`,
    `.equ GATE_HI, ${hex(usual.hi)}            ; P, DPL ${c.idt.dpl}, ${c.idt.trap ? 'trap' : 'interrupt'} gate${c.idt.byte4 ? `, byte 4 = ${hex(c.idt.byte4)} (ignored)` : ''}`,
    '.org IDT',
    ...Array.from({ length: 32 }, (_, row) => {
      const v = 8 * row;
      const eight = gates.slice(v, v + 8);
      const notes = eight.flatMap((g, k) => (g.note ? [`${v + k}: ${g.note}`] : []));
      const text = eight.map((g) => (g.note ? `${hex(g.lo)}, ${hex(g.hi)}` : 'GATE_LO, GATE_HI'));
      return `    .dd ${text.join(', ')}    ; ${v}–${v + 7}${notes.length ? ` (${notes.join('; ')})` : ''}`;
    }),
  ];
  return { addr: IDT, words: gates.flatMap((g) => [g.lo, g.hi]), lines };
}

function pagingBlocks(c: InsnCase): Block[] {
  const pg = c.paging;
  const pde = pde0(c);
  // DESIGN §3.5.2: only with CR4.PSE is PS a 4 MiB page; without it PDE 1 stays not present.
  const big = cr4Of(c) ? P | PS | (pg.big.rw ? RW : 0) | (pg.big.us ? US : 0) : 0;
  const what = pg.mode === '4m' ? '4 MiB page at 0' : pg.mode === 'ps-without-pse' ? 'PT; PS set but CR4.PSE = 0, so ignored' : 'PT';
  const pt = ptEntries(c);
  // Read-only only without CR0.WP, so the handler's supervisor writes to the device go through.
  const mmio = [MMIO | P | (pg.mmio.rw || pg.wp ? RW : 0) | (pg.mmio.us ? US : 0), (MMIO + 0x1000) | P | RW | US].map((w) => w >>> 0);
  return [
    { addr: PD, words: [pde], lines: () => ['.org PD', `    .dd ${hex(pde)}`.padEnd(24) + `; PDE 0 (${what}): ${permText(pde)}${pg.pde.rsvd && pde & PS ? ' + bit 13' : ''}`] },
    ...(big === 0 ? [] : [{ addr: PD + 4, words: [big], lines: () => ['.org PD + 4', `    .dd ${hex(big)}`.padEnd(24) + `; PDE 1 (BIG, a 4 MiB alias of frame 0): ${permText(big)}`] }]),
    { addr: PD + 4 * MMIO_PDE, words: [PT_MMIO | P | RW | US], lines: () => [`.org PD + 4 * ${hex(MMIO_PDE)}`, '    .dd PT_MMIO | 0x7'.padEnd(24) + '; PDE of the device window'] },
    { addr: PT, words: pt.map(([, v]) => v), lines: () => ['.org PT', ...pt.map(([n, v, note]) => `    .dd ${hex(v)}`.padEnd(24) + `; ${hex(n << 12)} ${note}: ${permText(v)}`)] },
    {
      addr: PT_MMIO + 4 * MMIO_PTE,
      words: mmio,
      lines: () => [`.org PT_MMIO + 4 * ${hex(MMIO_PTE)}`, `    .dd ${hex(mmio[0]!)}, ${hex(mmio[1]!)}`.padEnd(24) + '; the device page, then open bus'],
    },
  ];
}

/** Everything but the code: IDT, TSS, IDT descriptor, page tables, initial data and stack. */
export function dataBlocks(c: InsnCase): Block[] {
  const limit = idtLimit(c);
  const desc = [((limit & 0xffff) | (IDT << 16)) >>> 0, IDT >>> 16];
  return [
    idtBlock(c),
    { addr: TSS, words: [0, c.state.esp0 >>> 0], lines: () => ['.org TSS', `    .dd 0, ${valueText(c.state.esp0)}`] },
    { addr: IDT_DESC, words: desc, lines: () => ['.org IDT_DESC', `    .dd ${hex(desc[0]!)}, ${hex(desc[1]!)}`.padEnd(24) + `; limit ${hex(limit)}, base IDT`] },
    ...pagingBlocks(c),
    ...ramWords(c).map(([addr, v, note]): Block => ({ addr, words: [v], lines: () => [`.org ${hex(addr)}`.padEnd(20) + (note ? `; ${note}` : ''), `    .dd ${hex(v)}`] })),
  ];
}

function headerLines(c: InsnCase, enc: Encoded): string[] {
  const s = c.state;
  const pg = c.paging;
  const paging = pg.mode === 'off' ? 'off'
    : `on (${pg.mode === '4m' ? '4 MiB page at 0' : pg.mode === 'ps-without-pse' ? 'PDE 0 has PS but CR4.PSE = 0' : '4 KiB pages'}, CR0.WP ${+pg.wp}, CR4.PSE ${cr4Of(c) ? 1 : 0})`;
  return [
    `; popek insn-states case: ${disassembleInsn(enc.bytes)} (${enc.what}) at cpl ${s.cpl}`,
    `;   popek run case.s --ram 64K --max-steps ${c.maxSteps}${c.events.length ? ' --events case.events.json' : ''}`,
    ...(c.events.length ? [`; case.events.json: ${JSON.stringify(c.events)}`] : []),
    `; state: cpl ${s.cpl}, IOPL ${s.iopl}, IF ${+s.if}, eflags ${hex(eflagsOf(c))}, esp ${hex(s.esp)}, TR ${hex(s.tr)}, ESP0 ${hex(s.esp0)}, paging ${paging}`,
  ];
}

/** The names the code uses (the rest of the layout is named in comments, see `describe`). */
const CODE_NAMES: [string, number][] = [['HANDLER', HANDLER], ['VARS', VARS], ['IDT_DESC', IDT_DESC], ['PD', PD], ['PSTACK', PSTACK], ['MMIO', MMIO]];
/** The names the data uses. */
const DATA_NAMES: [string, number][] = [['IDT', IDT], ['TSS', TSS], ['PT', PT], ['PT_MMIO', PT_MMIO]];

/** The code half of the program: header, names, prologue, handler, the instruction under test. */
export function codeText(c: InsnCase): string {
  const enc = encodeInsn(c);
  const text = disassembleInsn(enc.bytes);
  // What decode rejects prints as .db; as .dd it reads like the encoding table (op A B 0, imm).
  const w0 = (enc.bytes[0]! | (enc.bytes[1]! << 8) | (enc.bytes[2]! << 16) | (enc.bytes[3]! << 24)) >>> 0;
  const imm = (enc.bytes[4]! | (enc.bytes[5]! << 8) | (enc.bytes[6]! << 16) | (enc.bytes[7]! << 24)) >>> 0;
  const insnLine = text.startsWith('.db') ? ins(`.dd ${hex(w0)}, ${hex(imm)}`, enc.what) : ins(text, 'the instruction under test');
  return [
    ...headerLines(c, enc),
    '',
    ...CODE_NAMES.map(([n, v]) => `.equ ${n}, ${hex(v)}`),
    '',
    '.org 0',
    '.entry start',
    'start:',
    ...prologueLines(c),
    '',
    '; every vector: exercise the device (DESIGN §3.2), keep eax, halt',
    '.org HANDLER',
    'handler:',
    ins('mov [VARS], eax', 'no stack: esp may be anything'),
    ins('mov [MMIO], eax', 'ID is read-only: this write must not stick'),
    ins('mov eax, [MMIO]'),
    ins('mov [VARS + 4], eax'),
    ins('mov eax, [MMIO + 4]', 'COUNTER: returns the value, then increments it'),
    ins('mov [MMIO + 8], eax', 'LOG: appends it'),
    ins('mov eax, [VARS]'),
    'halt:',
    ins('hlt'),
    ins('jmp halt'),
    '',
    `.org ${hex(insnAddr(c))}`,
    'insn:',
    insnLine,
    ins('hlt', 'at cpl > 0: #GP(0)'),
    '',
  ].join('\n');
}

/** The complete program (DESIGN §3.9), ready for `popek run`. */
export const render = (c: InsnCase): string =>
  [codeText(c), '; ---- data', ...DATA_NAMES.map(([n, v]) => `.equ ${n}, ${hex(v)}`), ...dataBlocks(c).flatMap((b) => b.lines()), ''].join('\n');

const littleEndian = (words: readonly number[]): Uint8Array => {
  const out = new Uint8Array(4 * words.length);
  const view = new DataView(out.buffer);
  words.forEach((w, i) => view.setUint32(4 * i, w >>> 0, true));
  return out;
};

/**
 * The image of `render(c)` without parsing its 40-odd data lines: the code is assembled,
 * the data words are loaded as they are. insn-states.test.ts checks that this equals
 * `assemble(render(c))` byte for byte, so the program printed is the program run.
 */
export function imageOf(c: InsnCase): Image {
  const { image } = assemble(codeText(c), 'case.s');
  const chunks = [...image.chunks, ...dataBlocks(c).map((b) => ({ addr: b.addr, bytes: littleEndian(b.words) }))];
  return { chunks: chunks.sort((x, y) => x.addr - y.addr), entry: image.entry };
}
