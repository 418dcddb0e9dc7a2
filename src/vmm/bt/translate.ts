// The translator and its translation cache (DESIGN §5 `bt`, after Adams & Agesen 2006 §3):
// guest code is translated block by block, a block running from its first instruction to
// the first control transfer or sensitive instruction, never past its page. Each guest
// instruction becomes exactly one TC slot, so guest instruction boundaries — icount, the
// eip a fault saves, lockstep — stay exact:
// - an innocuous instruction is IDENT: its 8 bytes copied one for one, run natively;
// - a sensitive one (popf, pushf, cli, sti, iret, int, mov to/from CR, `mov a, cs`,
//   lidt/sidt, ltr/str, in/out, hlt, invlpg) becomes a CALLOUT into the VMM, which
//   performs it on the guest's virtual state from the TC's copy of its bytes;
// - a store that keeps trace-faulting on a guest page table is retranslated into a STORE
//   callout (adaptive translation, §3.4 of the paper): the VMM performs it and updates the
//   shadow without the fault.
// The TC lives in host frames of the VMM pool, which no guest mapping reaches (DESIGN §6.1).
// It is indexed by the guest physical address of each instruction, so address-space
// switches and host swapping (which move frames, not gpas) leave it valid; what makes a
// translation stale is a store into its gfn, and every gfn with a translation is traced
// (write-protected in every spte, like a guest page table) so that such a store faults
// and invalidates the gfn's translations first.
//
// VX32 has no segment limits to hide a translation cache inside the guest's flat address
// space (VMware used segment truncation), so the CPU runs a block's IDENT slots at their
// guest addresses; those bytes equal the TC's copies, which tracing guarantees. The TC's
// copy is what a callout executes, and the slot kinds are what decide where the CPU stops.

import { FIELDS, IMM_MAX, badNobase, isCr } from '../../hw/decode.ts';
import type { HostMemory } from '../core/host-memory.ts';

/** Slot kinds. IDENT runs natively; every other kind is a callout, named in CALLOUT_NAMES. */
export const K_IDENT = 0;
export const K_HLT = 1;
export const K_PUSHF = 2;
export const K_POPF = 3;
export const K_CLI = 4;
export const K_STI = 5;
export const K_INT = 6;
export const K_IRET = 7;
export const K_IN = 8;
export const K_OUT = 9;
export const K_MOV_TO_CR = 10;
export const K_MOV_FROM_CR = 11;
export const K_LIDT = 12;
export const K_SIDT = 13;
export const K_LTR = 14;
export const K_STR = 15;
export const K_INVLPG = 16;
export const K_MOV_CS = 17;
/** A store retranslated by adaptive translation (never produced by `classify`). */
export const K_STORE = 18;

export const CALLOUT_NAMES = [
  'ident',
  'hlt',
  'pushf',
  'popf',
  'cli',
  'sti',
  'int',
  'iret',
  'in',
  'out',
  'mov-to-cr',
  'mov-from-cr',
  'lidt',
  'sidt',
  'ltr',
  'str',
  'invlpg',
  'mov-cs',
  'store',
] as const;

const OP_STORE32 = 0x13;
const OP_STORE8 = 0x15;

/** Whether the instruction words decode (DESIGN §3.3); an undecodable one stays IDENT and raises #UD natively. */
function decodes(w0: number, imm: number): boolean {
  const op = w0 & 0xff;
  if ((w0 & ~FIELDS[op]!) !== 0 || badNobase(w0)) return false;
  const immMax = IMM_MAX[op]!;
  if (immMax !== -1 && imm >>> 0 > immMax) return false;
  if ((op === 0x70 || op === 0x71) && !isCr((w0 >>> 16) & 7)) return false;
  return true;
}

/** The slot kind of one guest instruction (DESIGN §3.3 opcodes). */
export function classify(w0: number, imm: number): number {
  if (!decodes(w0, imm)) return K_IDENT;
  switch (w0 & 0xff) {
    case 0x02:
      return K_HLT;
    case 0x60:
      return K_PUSHF;
    case 0x61:
      return K_POPF;
    case 0x62:
      return K_CLI;
    case 0x63:
      return K_STI;
    case 0x64:
      return K_INT;
    case 0x65:
      return K_IRET;
    case 0x66:
      return K_IN;
    case 0x67:
      return K_OUT;
    case 0x70:
      return K_MOV_TO_CR;
    case 0x71:
      return K_MOV_FROM_CR;
    case 0x72:
      return K_LIDT;
    case 0x73:
      return K_SIDT;
    case 0x74:
      return K_LTR;
    case 0x75:
      return K_STR;
    case 0x76:
      return K_INVLPG;
    case 0x77:
      return K_MOV_CS;
    default:
      return K_IDENT;
  }
}

/** Control transfers end a block: jmp, call, ret, jcc (their targets are found at run time). */
function endsBlock(w0: number, imm: number, kind: number): boolean {
  if (kind !== K_IDENT || !decodes(w0, imm)) return true;
  const op = w0 & 0xff;
  return (op >= 0x40 && op <= 0x44) || (op >= 0x50 && op <= 0x5f);
}

/** Whether adaptive translation can turn the instruction into a STORE callout (a plain store). */
export function isPlainStore(w0: number): boolean {
  const op = w0 & 0xff;
  return op === OP_STORE32 || op === OP_STORE8;
}

/** Longest block, in guest instructions (a bound on translation work per miss). */
export const MAX_BLOCK = 32;
/** Host pool frames of translation cache: 512 slots each. */
export const TC_FRAMES = 4;
const SLOTS_PER_FRAME = 512;

export interface TcStats {
  /** Blocks translated (each a TC miss). */
  blocks: number;
  /** Guest instructions translated into the TC. */
  translated: number;
  /** Block lookups that found a translation. */
  hits: number;
  misses: number;
  /** Translations dropped because the guest wrote their gfn. */
  invalidations: number;
  /** Whole-cache flushes when it filled up. */
  flushes: number;
  /** Slots retranslated into STORE callouts. */
  adaptive: number;
}

export class TranslationCache {
  readonly capacity: number;
  /** The host frames that hold the translated code (VMM pool). */
  readonly hfns: number[] = [];
  /** Per slot: its kind and the gpa of the guest instruction it translates (−1 when free or dropped). */
  readonly kind: Uint8Array;
  readonly gpa: Int32Array;
  /** Per slot: 1 when it is the last slot of its block. */
  readonly last: Uint8Array;
  /** Per slot: trace faults its instruction caused (adaptive translation's trigger). */
  readonly traceFaults: Uint8Array;
  /** gpa of a guest instruction → its slot. */
  private readonly byGpa = new Map<number, number>();
  /** gfn → the slots translated from it: the code gfns, traced. */
  private readonly byGfn = new Map<number, number[]>();
  private next = 0;
  /** Bumped whenever a translation is dropped (a dispatcher's cached slot is then stale). */
  generation = 0;
  readonly stats: TcStats = { blocks: 0, translated: 0, hits: 0, misses: 0, invalidations: 0, flushes: 0, adaptive: 0 };

  constructor(
    host: HostMemory,
    private readonly ram: Uint8Array,
    /** A gfn got its first translation: write-protect it in every spte (memory tracing). */
    private readonly trace: (gfn: number) => void,
  ) {
    for (let i = 0; i < TC_FRAMES; i++) {
      const hfn = host.allocPool();
      if (hfn < 0) throw new Error('popek: bt has no pool frame for its translation cache');
      this.hfns.push(hfn);
    }
    // The last slot is scratch, for an instruction that straddles two pages (never cached).
    this.capacity = TC_FRAMES * SLOTS_PER_FRAME - 1;
    this.kind = new Uint8Array(this.capacity + 1);
    this.gpa = new Int32Array(this.capacity + 1).fill(-1);
    this.last = new Uint8Array(this.capacity + 1);
    this.traceFaults = new Uint8Array(this.capacity + 1);
  }

  /** The hpa of slot `s` in host RAM. */
  addr(s: number): number {
    return this.hfns[s >>> 9]! * 4096 + (s & (SLOTS_PER_FRAME - 1)) * 8;
  }

  /** The slot translating the instruction at `gpa`, or −1. */
  lookup(gpa: number): number {
    const s = this.byGpa.get(gpa);
    if (s === undefined) {
      this.stats.misses++;
      return -1;
    }
    this.stats.hits++;
    return s;
  }

  isCode(gfn: number): boolean {
    return this.byGfn.has(gfn);
  }

  /** The first word of slot `s`'s copy, and its imm. */
  w0(s: number): number {
    const a = this.addr(s);
    const r = this.ram;
    return r[a]! | (r[a + 1]! << 8) | (r[a + 2]! << 16) | (r[a + 3]! << 24);
  }

  imm(s: number): number {
    const a = this.addr(s) + 4;
    const r = this.ram;
    return r[a]! | (r[a + 1]! << 8) | (r[a + 2]! << 16) | (r[a + 3]! << 24);
  }

  /**
   * Translate the block starting at guest physical `gpa`, whose bytes are at host `hpa`
   * (the page is resident: the CPU's shadow maps it). Returns the first slot.
   */
  translate(gpa: number, hpa: number): number {
    if (this.next + MAX_BLOCK > this.capacity) this.flush();
    this.stats.blocks++;
    const first = this.next;
    const gfn = gpa >>> 12;
    let slots = this.byGfn.get(gfn);
    if (!slots) {
      slots = [];
      this.byGfn.set(gfn, slots);
      this.trace(gfn);
    }
    const ram = this.ram;
    for (let i = 0; i < MAX_BLOCK && (gpa & 0xfff) + 8 * i + 8 <= 4096; i++) {
      const s = this.next++;
      const to = this.addr(s);
      ram.copyWithin(to, hpa + 8 * i, hpa + 8 * i + 8);
      const w0 = this.w0(s);
      const imm = this.imm(s);
      const k = classify(w0, imm);
      this.kind[s] = k;
      this.gpa[s] = gpa + 8 * i;
      this.traceFaults[s] = 0;
      // An instruction already translated by another block keeps its slot (one translation per gpa).
      if (!this.byGpa.has(gpa + 8 * i)) this.byGpa.set(gpa + 8 * i, s);
      slots.push(s);
      this.stats.translated++;
      this.last[s] = 0;
      if (endsBlock(w0, imm, k)) break;
    }
    this.last[this.next - 1] = 1;
    return first;
  }

  /** The scratch slot holding a copy of a straddling instruction's 8 bytes (read from two host frames). */
  scratch(bytes: ArrayLike<number>): number {
    const s = this.capacity;
    const to = this.addr(s);
    for (let i = 0; i < 8; i++) this.ram[to + i] = bytes[i]!;
    this.kind[s] = classify(this.w0(s), this.imm(s));
    this.last[s] = 1;
    return s;
  }

  /** Adaptive translation: slot `s` becomes a STORE callout. */
  retranslateStore(s: number): void {
    this.kind[s] = K_STORE;
    this.stats.adaptive++;
  }

  /**
   * The guest stores into `gfn`: drop every translation made from it (README: invalidation).
   * Returns whether there were any. The caller makes the gfn writable again.
   */
  invalidate(gfn: number): boolean {
    const slots = this.byGfn.get(gfn);
    if (!slots) return false;
    this.byGfn.delete(gfn);
    for (const s of slots) {
      const gpa = this.gpa[s]!;
      if (this.byGpa.get(gpa) === s) this.byGpa.delete(gpa);
      this.gpa[s] = -1;
    }
    this.stats.invalidations++;
    this.generation++;
    return true;
  }

  /**
   * The `bt-stale-translation` bug: the gfn stops being traced, its translations stay.
   */
  forget(gfn: number): void {
    this.byGfn.delete(gfn);
  }

  /** Drop everything (the cache is full). Traced gfns stay write-protected until their next write. */
  flush(): void {
    this.byGpa.clear();
    this.byGfn.clear();
    this.gpa.fill(-1);
    this.next = 0;
    this.stats.flushes++;
    this.generation++;
  }

  /** Every code gfn (for tests and `explain`). */
  codeGfns(): number[] {
    return [...this.byGfn.keys()];
  }
}
