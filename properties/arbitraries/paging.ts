// Random but valid guest page tables (DESIGN §3.5): the identity map every guest runs on,
// and per address space a playground table of random mappings, an optional 4 MiB page,
// an optional recursive slot and the MMIO mapping. "Valid" means the kernel's own code,
// stacks, IDT and TSS stay mapped whatever is drawn, so a run goes on; everything else —
// RW/US/A/D bits, which frame, aliases — is random.

import fc from 'fast-check';
import {
  CODE,
  DATA0,
  DATA1,
  FRAMES,
  IDT,
  KSTACK,
  MMIO,
  MMIO_PDE,
  PD_A,
  PD_B,
  PLAY_ENTRIES,
  PT_MMIO,
  PT_PLAY_A,
  PT_PLAY_B,
  REC_SLOT,
  hex,
} from './layout.ts';

// Entry bits (DESIGN §3.5).
export const P = 1;
export const RW = 2;
export const US = 4;
export const A = 0x20;
export const D = 0x40;
export const PS = 0x80;
/** One of the reserved bits 13–21 of a 4 MiB PDE (DESIGN §3.5.2). */
export const RSVD4M = 1 << 13;

export type SpaceName = 'A' | 'B';

/**
 * Where a playground PTE points. Few choices on purpose: with 8 entries drawn from them,
 * two gvas mapping one frame (aliases) are the rule, not the exception. OWN_PT and
 * OWN_PD map the space's own tables, so ordinary stores edit live page tables; BEYOND is a
 * gpte outside RAM and MMIO a second gva for the device (DESIGN §8 catalog).
 */
export const FRAME_REFS = ['F0', 'F1', 'F2', 'F3', 'DATA0', 'DATA1', 'OWN_PT', 'OWN_PD', 'BEYOND', 'MMIO'] as const;
export type FrameRef = (typeof FRAME_REFS)[number];

export interface Perm {
  rw: boolean;
  us: boolean;
  a: boolean;
  d: boolean;
}

export interface PteSpec extends Perm {
  frame: FrameRef;
}

export interface BigPage extends Perm {
  /** A reserved bit set: every access through it is a RSVD #PF (DESIGN §3.10.1). */
  rsvd: boolean;
}

export interface SpaceSetup {
  /** PDE 1: a 4 MiB page onto physical 0 (an alias of all of RAM) when CR4.PSE; else absent. */
  big: BigPage | null;
  /** PDE 2 → the playground table; its permissions compose with each PTE's (§3.5.4). */
  playPde: Perm;
  /** PLAY_ENTRIES entries; null = not present. */
  play: (PteSpec | null)[];
  /** PDE 1023 → the directory itself. */
  recursive: boolean;
}

export const permArb: fc.Arbitrary<Perm> = fc.record({ rw: fc.boolean(), us: fc.boolean(), a: fc.boolean(), d: fc.boolean() });

/** Mostly permissive, so most accesses go through and the run reaches the next piece. */
const lenientPermArb: fc.Arbitrary<Perm> = fc.oneof(
  { weight: 3, arbitrary: fc.constant<Perm>({ rw: true, us: true, a: false, d: false }) },
  { weight: 2, arbitrary: permArb },
);

export const frameRefArb: fc.Arbitrary<FrameRef> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom<FrameRef>('F0', 'F1', 'F2', 'F3') },
  { weight: 2, arbitrary: fc.constantFrom<FrameRef>('DATA0', 'DATA1') },
  { weight: 2, arbitrary: fc.constantFrom<FrameRef>('OWN_PT', 'OWN_PD') },
  { weight: 1, arbitrary: fc.constantFrom<FrameRef>('BEYOND', 'MMIO') },
);

export const pteSpecArb: fc.Arbitrary<PteSpec> = fc.tuple(frameRefArb, lenientPermArb).map(([frame, perm]) => ({ frame, ...perm }));

const bigPageArb: fc.Arbitrary<BigPage> = fc
  .tuple(lenientPermArb, fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }))
  .map(([perm, rsvd]) => ({ ...perm, rsvd }));

export const spaceSetupArb: fc.Arbitrary<SpaceSetup> = fc.record({
  big: fc.option(bigPageArb, { freq: 3 }),
  playPde: lenientPermArb,
  play: fc.array(fc.option(pteSpecArb, { freq: 5 }), { minLength: PLAY_ENTRIES, maxLength: PLAY_ENTRIES }),
  recursive: fc.boolean(),
});

export const pdOf = (s: SpaceName): number => (s === 'A' ? PD_A : PD_B);
export const playTableOf = (s: SpaceName): number => (s === 'A' ? PT_PLAY_A : PT_PLAY_B);

/** The physical frame a reference names (numbers, for labels and host events). */
export function frameAddr(f: FrameRef, space: SpaceName, ramBytes: number): number {
  switch (f) {
    case 'F0':
      return FRAMES[0];
    case 'F1':
      return FRAMES[1];
    case 'F2':
      return FRAMES[2];
    case 'F3':
      return FRAMES[3];
    case 'DATA0':
      return DATA0;
    case 'DATA1':
      return DATA1;
    case 'OWN_PT':
      return playTableOf(space);
    case 'OWN_PD':
      return pdOf(space);
    case 'BEYOND':
      return ramBytes;
    case 'MMIO':
      return MMIO;
  }
}

/** The same frame as assembly: an `.equ` name from the prologue. */
export function frameText(f: FrameRef, space: SpaceName): string {
  switch (f) {
    case 'OWN_PT':
      return space === 'A' ? 'PT_PLAY_A' : 'PT_PLAY_B';
    case 'OWN_PD':
      return space === 'A' ? 'PD_A' : 'PD_B';
    case 'BEYOND':
      return 'RAM_END';
    default:
      return f;
  }
}

export const permBits = (p: Perm): number => (p.rw ? RW : 0) | (p.us ? US : 0) | (p.a ? A : 0) | (p.d ? D : 0);
export const permText = (p: Perm): string =>
  ['P', p.rw && 'RW', p.us && 'US', p.a && 'A', p.d && 'D'].filter((x): x is string => typeof x === 'string').join(' | ');

export const pteText = (e: PteSpec | null, space: SpaceName): string =>
  e === null ? '0' : `${frameText(e.frame, space)} | ${permText(e)}`;

export const bigPdeText = (b: BigPage): string => `0 | PS | ${permText(b)}${b.rsvd ? ' | RSVD4M' : ''}`;

/** DESIGN §3.5.4: permissions of the identity map — code user-runnable, kernel structures supervisor. */
function identityFlags(frame: number, data1: Perm, presetAD: boolean): string {
  const ad = presetAD ? ' | A | D' : '';
  if (frame === DATA1) return permText(data1);
  const supervisor = frame === IDT || frame === KSTACK || (frame >= PD_A && frame <= PT_MMIO);
  return (supervisor ? 'P | RW' : 'P | RW | US') + ad;
}

/** `.dd` lines of the shared identity table: RAM and one page beyond it (a gpte outside RAM). */
export function identityTableLines(ramBytes: number, data1: Perm, presetAD: boolean): string[] {
  const out: string[] = [];
  const pages = ramBytes / 0x1000 + 1;
  for (let i = 0; i < pages; i += 4) {
    const words: string[] = [];
    for (let j = i; j < Math.min(i + 4, pages); j++)
      words.push(`${hex(CODE + j * 0x1000)} | ${identityFlags(j * 0x1000, data1, presetAD)}`);
    out.push(`    .dd ${words.join(', ')}`);
  }
  return out;
}

/** One address space's directory and playground table, as `.org`/`.dd` lines with comments. */
export function spaceLines(name: SpaceName, sp: SpaceSetup, presetAD = false): string[] {
  // With A and D preset, the fixed entries carry A too: no walk ever sets a bit (profiles.ts, x86).
  const a = presetAD ? ' | A' : '';
  const pd = name === 'A' ? 'PD_A' : 'PD_B';
  const pt = name === 'A' ? 'PT_PLAY_A' : 'PT_PLAY_B';
  const out = [
    `.org ${pd}                      ; address space ${name}`,
    `    .dd PT_LOW | P | RW | US${a}    ; PDE 0: the identity map, shared by A and B`,
    `    .dd ${sp.big ? bigPdeText(sp.big) : '0'}${sp.big ? '    ; PDE 1: 4 MiB page onto 0 at BIG (needs CR4.PSE)' : '    ; PDE 1: absent'}`,
    `    .dd ${pt} | ${permText(sp.playPde)}    ; PDE 2: the playground at PLAY`,
    `.org ${pd} + 4 * ${hex(MMIO_PDE)}`,
    `    .dd PT_MMIO | P | RW | US${a}    ; the device window`,
  ];
  if (sp.recursive) out.push(`.org ${pd} + 4 * ${REC_SLOT}`, `    .dd ${pd} | P | RW${a}    ; recursive: the directory maps itself at REC`);
  out.push(`.org ${pt}                 ; playground of ${name}: PLAY + 0x1000·i`);
  for (let i = 0; i < sp.play.length; i += 4) {
    out.push(
      `    .dd ${sp.play
        .slice(i, i + 4)
        .map((e) => pteText(e, name))
        .join(', ')}`,
    );
  }
  return out;
}

/** The MMIO table: PTE 0x200 maps gva MMIO to the device (DESIGN §3.2). */
export function mmioTableLines(presetAD = false): string[] {
  return [`.org PT_MMIO + 4 * ${hex((MMIO >>> 12) & 0x3ff)}`, `    .dd MMIO | P | RW | US${presetAD ? ' | A' : ''}`];
}

/** Frames mapped by more than one playground gva of a space, or by the 4 MiB alias too. */
export function aliasedFrames(sp: SpaceSetup, space: SpaceName, ramBytes: number, pse: boolean): number[] {
  const seen = new Map<number, number>();
  for (const e of sp.play) if (e) seen.set(frameAddr(e.frame, space, ramBytes), (seen.get(frameAddr(e.frame, space, ramBytes)) ?? 0) + 1);
  const bigAliases = pse && sp.big !== null && !sp.big.rsvd;
  return [...seen].filter(([f, n]) => n > 1 || (bigAliases && f < 0x400000)).map(([f]) => f);
}
