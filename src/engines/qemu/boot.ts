// The multiboot kernel QEMU boots with -kernel (issue 17): a stub at 1 MiB that puts the
// machine in VX32's reset state (DESIGN §3.1) and jumps to the guest. It zeroes guest RAM
// and copies the translated image into it (§3.10.13), loads a flat GDT whose selectors are
// VX32's (CS = 0x08 + 0x11·cpl, SS = 0x10 + 0x11·cpl), sets idtr = {0, 0}, eflags = 0x2
// and every register to 0. The GDT lives in the last 128 bytes of guest RAM: delivering an
// event reads it at its linear address, so it must be where a guest's page tables map
// their RAM (docs/qemu.md: a named limit). The IA-32 bytes are written out by hand (SDM vol. 2), so no
// assembler is needed at run time.

export const KERNEL_BASE = 0x100000;
const GDT_IMAGE = KERNEL_BASE + 0x40;
const GDTR = KERNEL_BASE + 0xc0;
/** Where the GDT lives: the last 128 bytes of guest RAM, with the exit routine after it. */
export const gdtBase = (ramBytes: number): number => ramBytes - 0x80;
/** The exit routine VX32's hlt jumps to (translate.ts). */
export const exitRoutine = (ramBytes: number): number => gdtBase(ramBytes) + 0x50;
const IDTR0 = KERNEL_BASE + 0xc8;
const STUB = KERNEL_BASE + 0x100;
const STACK_TOP = KERNEL_BASE + 0xff0;
const PAYLOAD = KERNEL_BASE + 0x1000;
/** VX32's data selector of ring 3: usable at every cpl, so iret to an outer ring keeps it. */
const DATA_SELECTOR = 0x43;

const u32le = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];

/** A flat 4 GiB descriptor: code (type 0xA) or data (type 0x2), present, 32-bit, 4 KiB granular. */
function descriptor(code: boolean, dpl: number): number[] {
  return [0xff, 0xff, 0, 0, 0, 0x90 | (dpl << 5) | (code ? 0xa : 0x2), 0xcf, 0];
}

/** The lowest physical address the kernel occupies: guest RAM must end below it. */
export const RESERVED_FROM = 0xa0000;

export function multibootKernel(chunks: readonly { addr: number; bytes: Uint8Array }[], entry: number, ramBytes: number): Uint8Array {
  const payloadBytes = chunks.reduce((n, c) => n + c.bytes.length, 0);
  const file = new Uint8Array(PAYLOAD - KERNEL_BASE + payloadBytes);
  const put = (addr: number, bytes: readonly number[] | Uint8Array) => file.set(bytes, addr - KERNEL_BASE);
  // Multiboot header with the address fields (flag 16): load the whole file at 1 MiB.
  const magic = 0x1badb002;
  const flags = 0x00010000;
  put(KERNEL_BASE, [
    ...u32le(magic),
    ...u32le(flags),
    ...u32le((-(magic + flags) >>> 0) & 0xffffffff),
    ...u32le(KERNEL_BASE), // header_addr
    ...u32le(KERNEL_BASE), // load_addr
    ...u32le(0), // load_end_addr: the whole file
    ...u32le(0), // bss_end_addr: none
    ...u32le(STUB), // entry_addr
  ]);
  const gdt = [0, 0, 0, 0, 0, 0, 0, 0];
  for (let dpl = 0; dpl < 4; dpl++) gdt.push(...descriptor(true, dpl), ...descriptor(false, dpl));
  put(GDT_IMAGE, gdt);
  put(GDTR, [...[gdt.length - 1, 0], ...u32le(gdtBase(ramBytes))]);
  put(IDTR0, [0, 0, 0, 0, 0, 0]);

  const code: number[] = [];
  code.push(0xfa); // cli
  code.push(0xb0, 0xff, 0xe6, 0x21, 0xe6, 0xa1); // mask both PICs: no timer or device interrupt reaches the guest
  code.push(0xfc); // cld (the multiboot loader's flat segments serve until the GDT is in place)
  code.push(0x31, 0xc0, 0xbf, ...u32le(0), 0xb9, ...u32le(ramBytes), 0xf3, 0xaa); // zero guest RAM: rep stosb
  let src = PAYLOAD;
  for (const c of chunks) {
    put(src, c.bytes);
    code.push(0xbe, ...u32le(src), 0xbf, ...u32le(c.addr), 0xb9, ...u32le(c.bytes.length), 0xf3, 0xa4); // rep movsb
    src += c.bytes.length;
  }
  // The exit routine: paging off (the guest maps this page at its own address, as for the
  // GDT), all of guest RAM out through debugcon, then isa-debug-exit. Runs at cpl 0 only.
  const exit = [
    ...[0x0f, 0x20, 0xc0, 0x25, ...u32le(0x7fffffff), 0x0f, 0x22, 0xc0], // mov eax, cr0; and eax, ~PG; mov cr0, eax
    ...[0x31, 0xf6, 0xb9, ...u32le(ramBytes), 0x66, 0xba, 0xe9, 0x00, 0xf3, 0x6e], // xor esi, esi; mov ecx, RAM; mov dx, 0xE9; rep outsb
    ...[0xe6, 0xf4], // out 0xF4, al
  ];
  put(GDT_IMAGE + 0x50, exit);
  code.push(0xbe, ...u32le(GDT_IMAGE), 0xbf, ...u32le(gdtBase(ramBytes)), 0xb9, ...u32le(0x80), 0xf3, 0xa4); // GDT and exit routine into RAM
  code.push(0x0f, 0x01, 0x15, ...u32le(GDTR)); // lgdt [GDTR]
  const farJump = code.length;
  code.push(0xea, 0, 0, 0, 0, 0x08, 0x00); // jmp 0x08:next
  const next = STUB + code.length;
  code.splice(farJump + 1, 4, ...u32le(next));
  code.push(0x66, 0xb8, 0x10, 0x00, 0x8e, 0xd0); // mov ax, 0x10; mov ss, ax
  code.push(0x66, 0xb8, DATA_SELECTOR, 0x00); // mov ax, DATA_SELECTOR
  code.push(0x8e, 0xd8, 0x8e, 0xc0, 0x8e, 0xe0, 0x8e, 0xe8); // mov ds/es/fs/gs, ax
  code.push(0x0f, 0x01, 0x1d, ...u32le(IDTR0)); // lidt [IDTR0]: {0, 0}
  code.push(0xbc, ...u32le(STACK_TOP), 0x6a, 0x02, 0x9d); // mov esp, STACK_TOP; push 2; popf
  for (let r = 0; r < 8; r++) code.push(0xb8 + r, ...u32le(0)); // every register 0 (mov: no flags)
  code.push(0xe9, ...u32le((entry - (STUB + code.length + 5)) >>> 0)); // jmp entry
  if (STUB + code.length > STACK_TOP - 64) throw new RangeError(`the guest image has too many chunks for the boot stub (${chunks.length})`);
  put(STUB, code);
  return file;
}
