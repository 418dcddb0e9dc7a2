// DESIGN §3.2 — physical address space: RAM, open bus, the MMIO device. Paging is off
// in every test here, so linear = physical (§3.5).
import { describe, expect, test } from 'vitest';
import { BOOT, PAGING_ON, PAGING_ON_INSNS, UD, kernel, pageTables, run } from './harness.ts';

const prog = (body: string, data = ''): string => `.org 0x1000\n    mov esp, 0x8000\n${body}\n    hlt\n${data}`;
const MMIO = 0xfee00000;

describe('§3.2 RAM and open bus', () => {
  test('a load beyond RAM reads 0xFF per byte', () => {
    const r = run(prog('    mov eax, [0x100000]\n    mov ebx, [0x80000000]\n    movzx ecx, byte [0xFFFFFFF0]'));
    expect(r.regs.eax).toBe(0xffffffff); // §3.2: open bus reads 0xFF per byte
    expect(r.regs.ebx).toBe(0xffffffff);
    expect(r.regs.ecx).toBe(0xff); // movzx of one 0xFF byte
  });

  test('a store beyond RAM is dropped', () => {
    const r = run(prog('    mov eax, 0x12345678\n    mov [0x100000], eax\n    mov ebx, [0x100000]'));
    expect(r.regs.ebx).toBe(0xffffffff); // §3.2: writes dropped, reads 0xFF
    expect(r.ram.length).toBe(1 << 20);
  });

  test('the end of RAM follows ramBytes', () => {
    const r = run(prog('    mov eax, [0x1FFC]\n    mov ebx, [0x2000]', '.org 0x1FFC\n    .dd 0x01020304'), { ramBytes: 0x2000 });
    expect(r.regs.eax).toBe(0x01020304); // last word of RAM
    expect(r.regs.ebx).toBe(0xffffffff); // first byte past ramBytes: open bus
  });

  test('a 4-byte store straddling the end of RAM writes only the RAM bytes', () => {
    const r = run(prog('    mov eax, 0x11223344\n    mov [0xFFFFE], eax\n    mov ebx, [0xFFFFE]'));
    expect(r.r8(0xffffe)).toBe(0x44); // §3.2: little-endian, byte-wise per region
    expect(r.r8(0xfffff)).toBe(0x33);
    expect(r.regs.ebx).toBe(0xffff3344); // bytes 44 33 from RAM, FF FF from open bus
  });

  test('a 4-byte load straddling the end of RAM mixes RAM and 0xFF', () => {
    const r = run(prog('    mov eax, [0xFFFFF]', '.org 0xFFFFF\n    .db 0xAB'));
    expect(r.regs.eax).toBe(0xffffffab); // byte 0xAB then three open-bus 0xFF
  });

  test('a load wrapping from 0xFFFFFFFE to 0 reads open bus then RAM', () => {
    const r = run(prog('    mov eax, [0xFFFFFFFE]', '.org 0x0\n    .db 0x11, 0x22'));
    // §3.3: m mod 2^32; §3.10.12 bytes la, la+1, … mod 2^32; 0xFFFFFFFE/F open bus, 0 and 1 RAM.
    expect(r.regs.eax).toBe(0x2211ffff);
  });

  test('little-endian byte stores and movzx', () => {
    const r = run(prog('    mov eax, 0x1234ABCD\n    mov byte [0x5001], al\n    movzx ebx, byte [0x5001]\n    mov ecx, [0x5000]'));
    expect(r.regs.ebx).toBe(0xcd); // §3.3 op 15 stores the low byte of a
    expect(r.regs.ecx).toBe(0x0000cd00);
  });
});

describe('§3.2 MMIO device at 0xFEE00000', () => {
  test('ID reads 0x32335856 and ignores writes', () => {
    const r = run(prog('    mov eax, [0xFEE00000]\n    mov ecx, 5\n    mov [0xFEE00000], ecx\n    mov ebx, [0xFEE00000]'));
    expect(r.regs.eax).toBe(0x32335856); // §3.2 +0x000 ID
    expect(r.regs.ebx).toBe(0x32335856); // read-only
    expect(r.device).toEqual({ counter: 0, log: [] });
  });

  test('COUNTER: a read returns the value then increments it', () => {
    const r = run(prog('    mov eax, [0xFEE00004]\n    mov ebx, [0xFEE00004]\n    mov ecx, [0xFEE00004]'));
    expect([r.regs.eax, r.regs.ebx, r.regs.ecx]).toEqual([0, 1, 2]); // §3.2 read-then-increment from 0 (§3.10.13)
    expect(r.device.counter).toBe(3);
  });

  test('COUNTER: a write sets it', () => {
    const r = run(prog('    mov eax, 100\n    mov [0xFEE00004], eax\n    mov ebx, [0xFEE00004]'));
    expect(r.regs.ebx).toBe(100); // write sets, read returns 100
    expect(r.device.counter).toBe(101); // then increments
  });

  test('COUNTER wraps at 2^32', () => {
    const r = run(prog('    mov eax, 0xFFFFFFFF\n    mov [0xFEE00004], eax\n    mov ebx, [0xFEE00004]\n    mov ecx, [0xFEE00004]'));
    expect(r.regs.ebx).toBe(0xffffffff);
    expect(r.regs.ecx).toBe(0); // u32 register (DESIGN §2: all numbers unsigned 32-bit)
  });

  test('LOG: writes append, a read returns the length', () => {
    const r = run(
      prog('    mov eax, 7\n    mov [0xFEE00008], eax\n    mov eax, 0xDEADBEEF\n    mov [0xFEE00008], eax\n    mov ebx, [0xFEE00008]'),
    );
    expect(r.device.log).toEqual([7, 0xdeadbeef]); // §3.2 +0x008 LOG
    expect(r.regs.ebx).toBe(2); // read returns the log length
  });

  test('other offsets read 0 and ignore writes', () => {
    const r = run(
      prog('    mov eax, 9\n    mov [0xFEE0000C], eax\n    mov ebx, [0xFEE0000C]\n    mov ecx, [0xFEE00FFC]\n    mov edx, [0xFEE00800]'),
    );
    expect([r.regs.ebx, r.regs.ecx, r.regs.edx]).toEqual([0, 0, 0]); // §3.2 other offsets read 0
    expect(r.device).toEqual({ counter: 0, log: [] });
  });

  test('an unaligned 4-byte access in the window is open bus (no side effect)', () => {
    const r = run(prog('    mov eax, [0xFEE00005]\n    mov ebx, [0xFEE00002]\n    mov ecx, 3\n    mov [0xFEE00009], ecx'));
    expect(r.regs.eax).toBe(0xffffffff); // §3.2: only aligned 4-byte accesses reach the device
    expect(r.regs.ebx).toBe(0xffffffff);
    expect(r.device).toEqual({ counter: 0, log: [] }); // no increment, nothing logged
  });

  test('byte accesses in the window are open bus', () => {
    const r = run(
      prog('    movzx eax, byte [0xFEE00004]\n    movzx ebx, byte [0xFEE00000]\n    mov ecx, 0x41\n    mov byte [0xFEE00008], cl'),
    );
    expect(r.regs.eax).toBe(0xff); // §3.2: any other access behaves as open bus
    expect(r.regs.ebx).toBe(0xff);
    expect(r.device).toEqual({ counter: 0, log: [] });
  });

  test('a 4-byte access straddling into the window start is open bus', () => {
    const r = run(prog('    mov eax, [0xFEDFFFFE]'));
    expect(r.regs.eax).toBe(0xffffffff); // not an aligned access to the device
    expect(r.device.counter).toBe(0);
  });

  test('the window ends at 0xFEE01000', () => {
    const r = run(prog('    mov eax, [0xFEE01000]\n    mov ebx, [0xFEDFFFFC]'));
    expect(r.regs.eax).toBe(0xffffffff); // outside the window: open bus
    expect(r.regs.ebx).toBe(0xffffffff);
  });

  test('register-based addressing reaches the device', () => {
    const r = run(prog('    mov esi, 0xFEE00000\n    mov eax, [esi + 4]\n    mov eax, [esi + 4]\n    mov ebx, [esi - 0x100000]'));
    expect(r.regs.eax).toBe(1); // §3.3 m = reg[b] + imm; second COUNTER read
    expect(r.regs.ebx).toBe(0xffffffff); // 0xFED00000: open bus
  });
});

describe('§3.2 fetches never have device side effects', () => {
  test('fetch from the MMIO window reads 0xFF bytes → #UD', () => {
    const r = run(kernel(`    jmp 0xFEE00004`));
    // §3.2: fetch reads 0xFF bytes (no COUNTER increment); opcode 0xFF is undefined (§3.3) → #UD.
    expect(r.trace).toEqual([{ icount: BOOT + 1, kind: 'exception', vector: UD, eip: MMIO + 4 }]); // #UD: no error code (§3.10.5)
    expect(r.device.counter).toBe(0);
  });

  test('fetch from open bus beyond RAM → #UD', () => {
    const r = run(kernel(`    jmp 0x200000`));
    expect(r.trace).toEqual([{ icount: BOOT + 1, kind: 'exception', vector: UD, eip: 0x200000 }]); // 0xFF opcode
  });

  test('fetch of zeroed RAM → #UD (opcode 00)', () => {
    const r = run(kernel(`    jmp 0x9000`));
    expect(r.trace).toEqual([{ icount: BOOT + 1, kind: 'exception', vector: UD, eip: 0x9000 }]); // §3.3: 00 is #UD
  });

  test('page walks in the MMIO window read 0xFF, with no side effect', () => {
    // cr3 = 0xFEE00000: PDE[0] is read from the window as 0xFFFFFFFF (not the ID, and no
    // COUNTER increment). P=1, PSE off → PTE at 0xFFFFF000 + 4*1 (open bus) = 0xFFFFFFFF →
    // frame 0xFFFFF000 (open bus) → fetch reads 0xFF → #UD. Its gate is read through the
    // same mapping → 0xFF bytes → type 0x1F bad → #GP(8*6+3); #GP's gate too →
    // contributory twice → #DF; #DF's gate too → shutdown (§3.7). No handler entered.
    const r = run(
      kernel(
        [
          '    mov eax, 0xFEE00004', // low bits masked: cr3 = 0xFEE00000
          '    mov cr3, eax',
          '    mov eax, 0x80000001',
          '    mov cr0, eax',
        ].join('\n'),
      ),
    );
    expect(r.cr3).toBe(0xfee00000); // §3.4: cr3 stores a & 0xFFFFF000
    expect(r.status).toBe('shutdown');
    // §3.7: only entered handlers + shutdown; the #GP's own #GP made the #DF.
    expect(r.trace).toEqual([{ icount: BOOT + 4, kind: 'shutdown', chain: [6, 13, 8, 13] }]);
    expect(r.device).toEqual({ counter: 0, log: [] });
  });

  test('a page table in the MMIO window reads 0xFF entries; A writes there are dropped', () => {
    // PDE[1] → PT at 0xFEE00000: the PTE of la 0x401000 is the word at +4 (COUNTER). A walk
    // reads it as 0xFFFFFFFF (P, RW, US, frame 0xFFFFF000: open bus) without incrementing
    // COUNTER, and its A write is dropped (a device write would set COUNTER).
    const r = run(
      kernel(`${PAGING_ON}\n    mov eax, [0x401000]\n    mov ebx, [0x400000]\n    mov ecx, 0x11\n    mov [0x401000], ecx\n    hlt`, {
        extra: pageTables({ pde: { 1: 0xfee00007 } }),
      }),
    );
    expect(r.trace).toEqual([]); // no #PF: the entries read as present
    expect(r.regs.eax).toBe(0xffffffff); // frame 0xFFFFF000 is open bus
    expect(r.regs.ebx).toBe(0xffffffff); // PTE at +0 (ID) also read as 0xFFFFFFFF
    expect(r.device).toEqual({ counter: 0, log: [] }); // §3.2: walks never have device side effects
    expect(r.icount).toBe(BOOT + PAGING_ON_INSNS + 5);
  });
});
