// How QEMU starts a translated guest (issue 17): no PC BIOS and no multiboot loader, whose
// thousands of instructions, single-stepped, cost most of a run. QEMU is given
//   - `-bios`: a 64 KiB ROM of ours, mapped below 4 GiB, that leaves real mode at once and
//     puts the CPU in VX32's reset state (DESIGN §3.1): GDT with VX32's selectors
//     (CS = 0x08 + 0x11·cpl, SS = 0x10 + 0x11·cpl, DS = 0x43), idtr = {0, 0}, tr = 0,
//     eflags = 0x2, every register 0, then a jump to the guest's entry;
//   - `-device loader`: guest RAM as it is at reset (the translated image, zero elsewhere:
//     §3.10.13), followed by one page of popek's own (the reserved page, below).
// The IA-32 bytes are written out by hand (SDM vol. 2): no assembler is needed at run time.
//
// The reserved page sits right after guest RAM, at physical `ramBytes`. It holds the GDT,
// the TSS descriptor `ltr` rewrites, the stubs that stand for `ltr`, and the exit routine
// VX32's `hlt` jumps to. With paging on, the CPU reads the GDT at its linear address when
// it delivers an event or loads a selector, and the stubs run there, so the guest must map
// that page at its own address (the generated guests map RAM and one page beyond it:
// properties/arbitraries/layout.ts); docs/qemu.md names it (`reserved-page`).

import type { CpuState } from './log.ts';

/** Where the ROM sits: the last 64 KiB below 4 GiB (the reset vector is its last 16 bytes). */
const ROM = 0xffff0000;
const ROM_BYTES = 0x10000;

/** Offsets in the reserved page. */
const GDT = 0x000;
/** The TSS descriptor (selector 0x48): base = VX32's tr, limit 11 (ESP0 and SS0 only). */
export const TSS_SELECTOR = 0x48;
const GDT_LIMIT = TSS_SELECTOR + 7;
const TR_VAL = 0x80;
const SAVE_EAX = 0x84;
/** The end state the exit routine sends (END_STATE_BYTES: endStateOf reads it). */
const END_STATE = 0x88;
const EXIT = 0x100;
const STUBS = 0x200;
const DUMP_FLAGS = 0xe00;
const STACK_TOP = 0xff0;
export const RESERVED_BYTES = 0x1000;

/** The PC's memory hole starts here: guest RAM and the reserved page must end below it. */
export const RESERVED_FROM = 0xa0000;

/** Bytes of one `ltr` stub (ltrStub) and of one `hlt` stub (hltStub). */
export const LTR_STUB_BYTES = 66;
export const HLT_STUB_BYTES = 16;

export interface ReservedLayout {
  /** Physical (and, for the guest's page tables, linear) address of the reserved page. */
  base: number;
  /** The GDT, at the page's start. */
  gdt: number;
  /** The word VX32's tr lives in (ltr writes it, str reads it). */
  trVal: number;
  /** The exit routine hlt jumps to. */
  exit: number;
  /** Room for ltr stubs: [stubs, stubsEnd). */
  stubs: number;
  stubsEnd: number;
}

export const reservedLayout = (ramBytes: number): ReservedLayout => ({
  base: ramBytes,
  gdt: ramBytes + GDT,
  trVal: ramBytes + TR_VAL,
  exit: ramBytes + EXIT,
  stubs: ramBytes + STUBS,
  stubsEnd: ramBytes + DUMP_FLAGS,
});

const u16le = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff];
const u32le = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
const rel32 = (target: number, next: number): number[] => u32le((target - next) >>> 0);

/**
 * A flat 4 GiB descriptor: code (type 0xB) or data (type 0x3), present, 32-bit, 4 KiB
 * granular. The accessed bit is preset, so loading a selector never writes the GDT.
 */
function descriptor(code: boolean, dpl: number): number[] {
  return [0xff, 0xff, 0, 0, 0, 0x90 | (dpl << 5) | (code ? 0xb : 0x3), 0xcf, 0];
}

/** The GDT: null, code and data for rings 0–3 (VX32's selectors), the TSS descriptor (base 0, limit 11, available). */
function gdt(): number[] {
  const g = [0, 0, 0, 0, 0, 0, 0, 0];
  for (let dpl = 0; dpl < 4; dpl++) g.push(...descriptor(true, dpl), ...descriptor(false, dpl));
  g.push(11, 0, 0, 0, 0, 0x89, 0, 0);
  return g;
}

/**
 * `ltr a` as IA-32 can do it: VX32's tr is a linear address, IA-32's a selector, so the
 * stub writes a into the TSS descriptor's base (and into the word `str` reads), marks the
 * descriptor available again and loads it. Only `mov`s: no flag changes. The descriptor's
 * limit is 11: IA-32 reads ESP0 at tr+4 as VX32 does (and SS0 at tr+8, which must hold
 * 0x10), and an I/O instruction above IOPL finds no I/O bitmap and raises #GP, as in VX32.
 */
export function ltrStub(at: number, a: number, back: number, r: ReservedLayout): number[] {
  const desc = r.gdt + TSS_SELECTOR;
  const code = [
    ...[0x89, (a << 3) | 5, ...u32le(r.trVal)], // mov [tr], a
    ...[0xa3, ...u32le(r.base + SAVE_EAX)], // mov [save], eax
    ...[0xa1, ...u32le(r.trVal)], // mov eax, [tr]
    ...[0x66, 0xa3, ...u32le(desc + 2)], // mov [desc + 2], ax: base 15–0
    ...[0xa0, ...u32le(r.trVal + 2), 0xa2, ...u32le(desc + 4)], // base 23–16
    ...[0xa0, ...u32le(r.trVal + 3), 0xa2, ...u32le(desc + 7)], // base 31–24
    ...[0xc6, 0x05, ...u32le(desc + 5), 0x89], // available 32-bit TSS (ltr set busy)
    ...[0x66, 0xb8, ...u16le(TSS_SELECTOR), 0x0f, 0x00, 0xd8], // mov ax, 0x48; ltr ax
    ...[0xa1, ...u32le(r.base + SAVE_EAX)], // mov eax, [save]
  ];
  code.push(0xe9, ...rel32(back, at + code.length + 5)); // jmp to the next VX32 instruction
  if (code.length !== LTR_STUB_BYTES) throw new Error(`ltr stub is ${code.length} bytes`);
  return code;
}

/**
 * `hlt` at `at − 8`… as the exit routine needs it: the guest's eax goes to DR0 and the eip
 * after the hlt (VX32's eip once hlt retired) to DR1, then the exit routine. The debug
 * registers hold them because nothing else can without a write to memory while the guest's
 * paging is still on (a write would set D in the guest's entry for popek's page, and fault
 * where that entry is read-only); DR7 = 0 since reset, so they break nowhere. MOV DR leaves
 * the arithmetic flags "undefined" in the SDM; QEMU and the CPUs KVM runs on leave them as
 * they are, and the end-state test compares them (tests/qemu).
 */
export function hltStub(at: number, eipAfter: number, r: ReservedLayout): number[] {
  const code = [0x0f, 0x23, 0xc0, 0xb8, ...u32le(eipAfter), 0x0f, 0x23, 0xc8]; // mov dr0, eax; mov eax, eipAfter; mov dr1, eax
  code.push(0xe9, ...rel32(r.exit, at + code.length + 5)); // jmp exit
  if (code.length !== HLT_STUB_BYTES) throw new Error(`hlt stub is ${code.length} bytes`);
  return code;
}

/** A few instructions with backward and forward rel8 jumps, by label. */
class Code {
  readonly bytes: number[] = [];
  private readonly labels = new Map<string, number>();
  private readonly fixups: { at: number; label: string }[] = [];
  constructor(private readonly origin: number) {}
  get here(): number {
    return this.origin + this.bytes.length;
  }
  emit(...b: number[]): this {
    this.bytes.push(...b);
    return this;
  }
  label(name: string): this {
    this.labels.set(name, this.bytes.length);
    return this;
  }
  /** A short jump (opcode `op`: EB, 72, 74, E2…) to a label. */
  jump8(op: number, label: string): this {
    this.bytes.push(op, 0);
    this.fixups.push({ at: this.bytes.length - 1, label });
    return this;
  }
  done(): number[] {
    for (const { at, label } of this.fixups) {
      const d = this.labels.get(label)! - (at + 1);
      if (d < -128 || d > 127) throw new Error(`jump to ${label} out of rel8 range`);
      this.bytes[at] = d & 0xff;
    }
    return this.bytes;
  }
}

/** The end state the exit routine sends, in this order, 32-bit words (`sidt` is sidt's 6 bytes, limit then base, and 2 of padding). */
const END_STATE_WORDS = [
  'eax',
  'ecx',
  'edx',
  'ebx',
  'esp',
  'ebp',
  'esi',
  'edi',
  'eip',
  'eflags',
  'cs',
  'cr0',
  'cr2',
  'cr3',
  'cr4',
  'sidt',
  'sidt+4',
  'tr',
] as const;
export const END_STATE_BYTES = 4 * END_STATE_WORDS.length;
const stateAt = (name: (typeof END_STATE_WORDS)[number]) => END_STATE + 4 * END_STATE_WORDS.indexOf(name);

/**
 * Read the END_STATE_BYTES the exit routine sent: the state a log dump would show at the
 * end of a run that ended on hlt (IA-32's view; eip is the hlt's address + 8, trBase
 * VX32's tr: the linear address the last ltr gave, 0 from reset).
 */
export function endStateOf(b: Buffer): CpuState {
  const w = (name: (typeof END_STATE_WORDS)[number]) => b.readUInt32LE(stateAt(name) - END_STATE);
  return {
    regs: (['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'] as const).map(w) as CpuState['regs'],
    eip: w('eip'),
    eflags: w('eflags'),
    cpl: w('cs') & 3,
    cr0: w('cr0'),
    cr2: w('cr2'),
    cr3: w('cr3'),
    cr4: w('cr4'),
    idtr: { limit: b.readUInt16LE(stateAt('sidt') - END_STATE), base: b.readUInt32LE(stateAt('sidt') - END_STATE + 2) },
    trBase: w('tr'),
  };
}

/**
 * The exit routine, reached from a hlt stub at cpl 0 (hlt's `clts` raised #GP above it),
 * with the guest's eax in DR0 and the eip after the hlt in DR1. It reads the guest-visible
 * state the guest left without changing it: CR0 into DR2, paging off (a `mov` of a constant:
 * no flag changes; from here on every access is physical and sets no A/D bit in the guest's
 * tables), the registers, eflags (pushfd on popek's own stack), CS (its RPL is the cpl: 0,
 * since hlt is privileged), CR2–CR4, sidt, and VX32's tr (the word ltr's stub wrote). It
 * sends that state (END_STATE_WORDS) through debugcon, then for every page of guest RAM a
 * hash (h = 31·h + dword, over its 1024 dwords) as 4 bytes, followed by the page's bytes
 * when its flag is set; then isa-debug-exit. Hashes instead of all of RAM: one byte per
 * `out` costs a VM exit and a write, 5 µs a byte (docs/qemu.md, speed).
 */
function exitRoutine(r: ReservedLayout): number[] {
  const c = new Code(r.exit);
  const abs = (name: (typeof END_STATE_WORDS)[number]) => u32le(r.base + stateAt(name));
  c.emit(0x0f, 0x20, 0xc0, 0x0f, 0x23, 0xd0); // mov eax, cr0; mov dr2, eax
  c.emit(0xb8, ...u32le(0x11), 0x0f, 0x22, 0xc0); // mov eax, PE | ET; mov cr0, eax: paging off
  const regs = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'] as const;
  for (let reg = 1; reg < 8; reg++) c.emit(0x89, (reg << 3) | 5, ...abs(regs[reg]!)); // mov [state.reg], reg
  c.emit(0xbc, ...u32le(r.base + STACK_TOP), 0x9c, 0x58, 0xa3, ...abs('eflags')); // mov esp, top; pushfd; pop eax; mov [eflags], eax
  c.emit(0x0f, 0x21, 0xc0, 0xa3, ...abs('eax')); // mov eax, dr0
  c.emit(0x0f, 0x21, 0xc8, 0xa3, ...abs('eip')); // mov eax, dr1
  c.emit(0x8c, 0xc8, 0xa3, ...abs('cs')); // mov eax, cs
  c.emit(0x0f, 0x21, 0xd0, 0xa3, ...abs('cr0')); // mov eax, dr2
  c.emit(0x0f, 0x20, 0xd0, 0xa3, ...abs('cr2')); // mov eax, cr2
  c.emit(0x0f, 0x20, 0xd8, 0xa3, ...abs('cr3')); // mov eax, cr3
  c.emit(0x0f, 0x20, 0xe0, 0xa3, ...abs('cr4')); // mov eax, cr4
  c.emit(0x0f, 0x01, 0x0d, ...abs('sidt')); // sidt [idtr]: limit, then base
  c.emit(0xa1, ...u32le(r.trVal), 0xa3, ...abs('tr')); // mov eax, [tr word]
  c.emit(0xbe, ...u32le(r.base + END_STATE), 0xb9, ...u32le(END_STATE_BYTES), 0x66, 0xba, 0xe9, 0x00); // esi, ecx, dx = 0xE9
  c.label('state').emit(0x8a, 0x06, 0xee, 0x46).jump8(0xe2, 'state'); // mov al, [esi]; out dx, al; inc esi; loop
  c.emit(0x31, 0xf6); // xor esi, esi
  c.label('page').emit(0x31, 0xc0, 0xb9, ...u32le(1024)); // xor eax, eax; mov ecx, 1024
  c.label('word').emit(0x6b, 0xc0, 0x1f, 0x03, 0x06, 0x83, 0xc6, 0x04).jump8(0xe2, 'word'); // imul; add eax, [esi]; add esi, 4; loop
  for (let i = 0; i < 4; i++) c.emit(0xee, 0xc1, 0xe8, 0x08); // out dx, al; shr eax, 8 (debugcon takes bytes only), low byte first
  c.emit(0x89, 0xf3, 0xc1, 0xeb, 0x0c); // mov ebx, esi; shr ebx, 12: page index + 1
  c.emit(0x80, 0xbb, ...u32le(r.base + DUMP_FLAGS - 1), 0x00).jump8(0x74, 'next'); // cmp byte [ebx + flags - 1], 0; je
  c.emit(0x89, 0xf7, 0x81, 0xef, ...u32le(0x1000)); // mov edi, esi; sub edi, 4096
  c.label('dump').emit(0x8a, 0x07, 0xee, 0x47, 0x39, 0xf7).jump8(0x72, 'dump'); // mov al, [edi]; out dx, al; inc edi; cmp edi, esi; jb
  c.label('next')
    .emit(0x81, 0xfe, ...u32le(r.base))
    .jump8(0x72, 'page'); // cmp esi, RAM; jb page
  c.emit(0xb0, 0x10, 0xe6, 0xf4); // mov al, 0x10; out 0xF4, al: isa-debug-exit, QEMU's status (0x10 << 1) | 1
  return c.done();
}

/** The hash the exit routine sends for one page of guest RAM. */
export function pageHash(ram: Uint8Array, at: number): number {
  let h = 0;
  for (let i = at; i < at + 0x1000; i += 4)
    h = (Math.imul(h, 31) + (ram[i]! | (ram[i + 1]! << 8) | (ram[i + 2]! << 16) | (ram[i + 3]! << 24))) >>> 0;
  return h;
}

export interface BootFiles {
  /** The 64 KiB ROM for `-bios`. */
  bios: Uint8Array;
  /** Guest RAM at reset and the reserved page, for `-device loader` at address 0. */
  ram: Uint8Array;
}

/**
 * The ROM and the RAM image. `stubs` are the ltr stubs the translation asked for; `dump`
 * the pages of guest RAM the exit routine sends in full.
 */
export function bootFiles(
  chunks: readonly { addr: number; bytes: Uint8Array }[],
  entry: number,
  ramBytes: number,
  stubs: readonly { at: number; bytes: readonly number[] }[],
  dump: readonly number[] = [],
): BootFiles {
  if (ramBytes % 0x1000 !== 0 || ramBytes + RESERVED_BYTES > RESERVED_FROM)
    throw new RangeError(`guest RAM of ${ramBytes} bytes and popek's page must end below the PC hole at 0xA0000`);
  const r = reservedLayout(ramBytes);
  const ram = new Uint8Array(ramBytes + RESERVED_BYTES);
  for (const c of chunks) ram.set(c.bytes, c.addr);
  ram.set(gdt(), r.gdt);
  const exit = exitRoutine(r);
  if (exit.length > STUBS - EXIT) throw new Error(`the exit routine is ${exit.length} bytes`);
  ram.set(exit, r.exit);
  for (const s of stubs) ram.set(s.bytes, s.at);
  for (const p of dump) ram[r.base + DUMP_FLAGS + p] = 1;

  const bios = new Uint8Array(ROM_BYTES);
  const BOOT_GDT = 0x100;
  const BOOT_GDTR = 0x120;
  const GUEST_GDTR = 0x130;
  const IDTR0 = 0x138;
  const PM = 0x200;
  bios.set([0, 0, 0, 0, 0, 0, 0, 0, ...descriptor(true, 0), ...descriptor(false, 0)], BOOT_GDT);
  bios.set([...u16le(0x17), ...u32le(ROM + BOOT_GDT)], BOOT_GDTR);
  bios.set([...u16le(GDT_LIMIT), ...u32le(r.gdt)], GUEST_GDTR);
  // Real mode, CS base 0xFFFF0000: lgdt (o32, CS-relative), protected mode, far jump into 32-bit code.
  bios.set([
    ...[0xfa, 0x2e, 0x66, 0x0f, 0x01, 0x16, ...u16le(BOOT_GDTR)],
    ...[0x66, 0xb8, ...u32le(0x11), 0x0f, 0x22, 0xc0], // cr0 = PE | ET: not the reset value's CD and NW
    ...[0x66, 0xea, ...u32le(ROM + PM), 0x08, 0x00],
  ]);
  bios.set([0xe9, ...u16le((0x0000 - 0xfff3) & 0xffff)], 0xfff0); // the reset vector: jmp 0
  const pm: number[] = [];
  pm.push(0x66, 0xb8, 0x10, 0x00, 0x8e, 0xd8, 0x8e, 0xd0); // mov ax, 0x10; mov ds, ax; mov ss, ax
  pm.push(0xb0, 0xff, 0xe6, 0x21, 0xe6, 0xa1); // mask both PICs: no timer or device interrupt reaches the guest
  pm.push(0x0f, 0x01, 0x15, ...u32le(ROM + GUEST_GDTR)); // lgdt: VX32's selectors
  const far = pm.length;
  pm.push(0xea, 0, 0, 0, 0, 0x08, 0x00); // jmp 0x08:next
  pm.splice(far + 1, 4, ...u32le(ROM + PM + pm.length));
  pm.push(0x66, 0xb8, 0x10, 0x00, 0x8e, 0xd0); // mov ax, 0x10; mov ss, ax
  pm.push(0x66, 0xb8, 0x43, 0x00, 0x8e, 0xd8, 0x8e, 0xc0, 0x8e, 0xe0, 0x8e, 0xe8); // ds es fs gs = 0x43 (usable at every cpl)
  pm.push(0x66, 0xb8, ...u16le(TSS_SELECTOR), 0x0f, 0x00, 0xd8); // ltr: tr = 0
  pm.push(0x0f, 0x01, 0x1d, ...u32le(ROM + IDTR0)); // lidt: {0, 0}
  pm.push(0xbc, ...u32le(r.base + STACK_TOP), 0x6a, 0x02, 0x9d); // mov esp, …; push 2; popf: eflags = 0x2
  for (let reg = 0; reg < 8; reg++) pm.push(0xb8 + reg, ...u32le(0)); // every register 0 (mov: no flags)
  pm.push(0xe9, ...rel32(entry, ROM + PM + pm.length + 5)); // jmp entry
  bios.set(pm, PM);
  return { bios, ram };
}
