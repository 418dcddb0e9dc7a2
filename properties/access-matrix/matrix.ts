// The combination space of the paging access matrix, after kvm-unit-tests x86/access.c
// (STYLE §7): every flag is one bit of a counter, bumping the counter enumerates every
// combination, `legal` prunes the classes that cannot tell anything new (each with its
// reason), and a names table prints a combination as `pde.us pte.rw cr0.wp user write`.
//
// The combination is turned into machine state here (the two page-table words, CR0,
// CR4, cpl, the access and its linear address) so that the oracle (oracle.ts) sees only
// what DESIGN §3.5 talks about, and the program generator (program.ts) knows where the
// test page lives.

/** One bit of the counter per flag, in the order the names table prints them. */
export const FLAG_NAMES = [
  'pde.p',
  'pde.rw',
  'pde.us',
  'pde.a',
  'pde.d',
  'pde.ps',
  'pde.rsvd',
  'pte.p',
  'pte.rw',
  'pte.us',
  'pte.a',
  'pte.d',
  'cr0.wp',
  'cr4.pse',
  'user',
  'write',
  'fetch',
] as const;
export type FlagName = (typeof FLAG_NAMES)[number];

export const FLAG_COUNT = FLAG_NAMES.length;
/** Every value of the counter, legal or not: 2^17 = 131072. */
export const COMBO_SPACE = 1 << FLAG_COUNT;

/** A combination is the counter value itself. */
export type Combo = number;

const BIT: Readonly<Record<FlagName, number>> = Object.fromEntries(FLAG_NAMES.map((name, i) => [name, 1 << i])) as Record<FlagName, number>;

export function has(combo: Combo, flag: FlagName): boolean {
  return (combo & BIT[flag]) !== 0;
}

/** Build a combination from flag names (tests and regressions read best this way). */
export function comboOf(...flags: FlagName[]): Combo {
  return flags.reduce((c, f) => c | BIT[f], 0);
}

/** The names table: set flags in table order, then the access kind (`read` is the absence of write and fetch). */
export function comboName(combo: Combo): string {
  const parts = FLAG_NAMES.filter((f) => f !== 'write' && f !== 'fetch' && has(combo, f)) as string[];
  if (!has(combo, 'user')) parts.push('supervisor');
  parts.push(accessKind(combo));
  return parts.join(' ');
}

export type AccessKind = 'read' | 'write' | 'fetch';

export function accessKind(combo: Combo): AccessKind {
  return has(combo, 'write') ? 'write' : has(combo, 'fetch') ? 'fetch' : 'read';
}

/** True when the PDE maps a 4 MiB page: DESIGN §3.5.2 needs both CR4.PSE and PDE.PS. */
export function mapsLargePage(combo: Combo): boolean {
  return has(combo, 'pde.p') && has(combo, 'pde.ps') && has(combo, 'cr4.pse');
}

const PTE_FLAGS: readonly FlagName[] = ['pte.p', 'pte.rw', 'pte.us', 'pte.a', 'pte.d'];
const PDE_FLAGS_BUT_P: readonly FlagName[] = ['pde.rw', 'pde.us', 'pde.a', 'pde.d', 'pde.ps', 'pde.rsvd'];

/**
 * The PTE flags a combination carries when the walk never reads the PTE (PDE not
 * present, or a 4 MiB page). Any fixed value would do; the most permissive present
 * entry is chosen so that an engine that reads it by mistake turns the expected fault
 * into a success (or, for a 4 MiB page, a wrong page) and is caught.
 */
export const UNREAD_PTE_FLAGS: readonly FlagName[] = ['pte.p', 'pte.rw', 'pte.us'];

function only(combo: Combo, flags: readonly FlagName[], wanted: readonly FlagName[]): boolean {
  return flags.every((f) => has(combo, f) === wanted.includes(f));
}

/**
 * Whether a combination is worth running. Each pruned class keeps exactly one
 * representative, so nothing the architecture distinguishes is lost:
 *
 * 1. `write` and `fetch` together: an access is one kind (read = neither).
 * 2. `pde.rsvd` (PDE bit 13) without a 4 MiB mapping: bits 13–21 are reserved only in
 *    a 4 MiB PDE (DESIGN §3.5.2); in a PDE that points to a page table bit 13 is an
 *    address bit, so "setting" it would move the page table, not test a flag.
 * 3. Every other PDE flag when PDE.P = 0: the walk stops at the not-present PDE
 *    (DESIGN §3.5.1), nothing else in it is read. Representative: no other PDE flag.
 *    (`pde.ps` without CR4.PSE is kept whenever the PDE is present: PS is then ignored
 *    and the PTE is walked, a case worth having.)
 * 4. PTE flags when the walk never reads the PTE — PDE not present (§3.5.1) or a 4 MiB
 *    page (§3.5.2: permissions come from the PDE alone). Representative:
 *    UNREAD_PTE_FLAGS.
 * 5. PTE flags other than P when the PTE is not present: the walk stops there
 *    (§3.5.3). Representative: no other PTE flag.
 *
 * The CPU-mode bits (cpl, CR0.WP, CR4.PSE, access kind) are never pruned, even where
 * §3.5 makes them irrelevant: a shadow MMU keys its pages on them (DESIGN §6.1), so a
 * VMM can get them wrong exactly where the architecture ignores them.
 */
export function legal(combo: Combo): boolean {
  if (has(combo, 'write') && has(combo, 'fetch')) return false; // 1
  if (has(combo, 'pde.rsvd') && !mapsLargePage(combo)) return false; // 2
  if (!has(combo, 'pde.p')) {
    return only(combo, PDE_FLAGS_BUT_P, []) && only(combo, PTE_FLAGS, UNREAD_PTE_FLAGS); // 3, 4
  }
  if (mapsLargePage(combo)) return only(combo, PTE_FLAGS, UNREAD_PTE_FLAGS); // 4
  if (!has(combo, 'pte.p')) return only(combo, PTE_FLAGS, []); // 5
  return true;
}

/**
 * Legal combinations, counted by hand.
 * CPU modes: user × cr0.wp × access(3) = 12 per value of cr4.pse.
 * CR4.PSE = 0: PDE not present 1; present: rw us a d ps free (ps is ignored) = 32 PDEs,
 *   each with PTE not present 1 + present (rw us a d) 16 = 17 → 1 + 32·17 = 545.
 * CR4.PSE = 1: PDE not present 1; 4 MiB page: rw us a d rsvd = 32; page table (ps = 0):
 *   rw us a d = 16 PDEs × 17 PTEs = 272 → 1 + 32 + 272 = 305.
 * Total 12 · (545 + 305) = 10200 of the 131072 counter values.
 */
export const LEGAL_COUNT = 10200;

/** Every legal combination, in counter order. */
export function legalCombos(): Combo[] {
  const out: Combo[] = [];
  for (let c = 0; c < COMBO_SPACE; c++) if (legal(c)) out.push(c);
  return out;
}

// ---- From a combination to machine state --------------------------------------------

/** Architectural bit positions (DESIGN §3.1, §3.5). */
export const PG = {
  P: 1 << 0,
  RW: 1 << 1,
  US: 1 << 2,
  A: 1 << 5,
  D: 1 << 6,
  PS: 1 << 7,
  /** The reserved bit the matrix sets in a 4 MiB PDE (one of bits 13–21, §3.5.2). */
  RSVD: 1 << 13,
} as const;
export const CR0_PE = 1 << 0;
export const CR0_WP = 1 << 16;
export const CR0_PG = 1 << 31;
export const CR4_PSE = 1 << 4;

/**
 * Where the test page lives (physical, identity-mapped by the kernel tables) and the
 * linear addresses the access uses. The test PDE is PDE[1] (la 4–8 MiB), apart from the
 * kernel's PDE[0]; a 4 MiB PDE maps frame 0, so in both page sizes the test linear page
 * reaches the same physical page.
 */
export const LAYOUT = {
  /** Page directory; PDE[0] maps the kernel, PDE[1] is the combination's PDE. */
  pd: 0x1000,
  /** The kernel's page table (identity map of the low pages). */
  pt0: 0x2000,
  /** The page table the test PDE points to (4 KiB case); its entry 5 is the test PTE. */
  ptTest: 0x3000,
  /** The physical test page: code for `fetch` at +0, a data word for read/write at +0x800. */
  testPhys: 0x5000,
  /** The linear test page: PDE[1], PTE[5]. */
  testLa: 0x00405000,
  dataOffset: 0x800,
} as const;

export const TEST_PDE_ADDR = LAYOUT.pd + 4 * (LAYOUT.testLa >>> 22);
export const TEST_PTE_ADDR = LAYOUT.ptTest + 4 * ((LAYOUT.testLa >>> 12) & 0x3ff);

/** The machine state a combination sets up: exactly the inputs of DESIGN §3.5. */
export interface Scenario {
  pde: number;
  pte: number;
  cr0: number;
  cr4: number;
  cpl: 0 | 3;
  access: AccessKind;
  /** The linear address accessed (the instruction fetched, for `fetch`). */
  la: number;
}

function flagBits(combo: Combo, prefix: 'pde' | 'pte'): number {
  let v = 0;
  if (has(combo, `${prefix}.p`)) v |= PG.P;
  if (has(combo, `${prefix}.rw`)) v |= PG.RW;
  if (has(combo, `${prefix}.us`)) v |= PG.US;
  if (has(combo, `${prefix}.a`)) v |= PG.A;
  if (has(combo, `${prefix}.d`)) v |= PG.D;
  return v;
}

export function scenarioOf(combo: Combo): Scenario {
  const large = has(combo, 'pde.ps') && has(combo, 'cr4.pse');
  // A 4 MiB PDE maps frame 0 (so the test page is physical testPhys); otherwise the PDE
  // points to the test page table, whatever PS says.
  let pde = (large ? 0 : LAYOUT.ptTest) | flagBits(combo, 'pde');
  if (has(combo, 'pde.ps')) pde |= PG.PS;
  if (has(combo, 'pde.rsvd')) pde |= PG.RSVD;
  const pte = LAYOUT.testPhys | flagBits(combo, 'pte');
  const access = accessKind(combo);
  return {
    pde: pde >>> 0,
    pte: pte >>> 0,
    cr0: (CR0_PE | CR0_PG | (has(combo, 'cr0.wp') ? CR0_WP : 0)) >>> 0,
    cr4: has(combo, 'cr4.pse') ? CR4_PSE : 0,
    cpl: has(combo, 'user') ? 3 : 0,
    access,
    la: access === 'fetch' ? LAYOUT.testLa : LAYOUT.testLa + LAYOUT.dataOffset,
  };
}
