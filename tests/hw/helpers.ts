// Scaffolding for the src/hw tests: a host machine (RAM, CPU, VMX), guest images built
// with the assembler, page tables and IDT gates written straight into host memory the
// way a VMM would, and readers for host RAM.

import { assemble } from '../../spec/asm/assemble.ts';
import { Cpu } from '../../src/hw/cpu.ts';
import { PhysMem } from '../../src/hw/memory.ts';
import { Vmcs } from '../../src/hw/vmcs.ts';
import { Vmx } from '../../src/hw/vmx.ts';

export interface Host {
  mem: PhysMem;
  cpu: Cpu;
  vmx: Vmx;
  symbols: ReadonlyMap<string, number>;
}

/**
 * Assemble `source` (addresses in it are guest addresses) and load it into host RAM at
 * hpa = address + `loadOffset` (0: gpa = hpa, as without EPT).
 */
export function host(source: string, ramBytes = 1 << 20, loadOffset = 0): Host {
  const { image, symbols } = assemble(source, 'guest.s');
  const mem = new PhysMem(ramBytes);
  for (const chunk of image.chunks) mem.load((chunk.addr + loadOffset) >>> 0, chunk.bytes);
  const cpu = new Cpu(mem);
  return { mem, cpu, vmx: new Vmx(cpu), symbols };
}

/** A VMCS whose guest starts at `eip`, ring 0, with the reset state of DESIGN §3.1. */
export function vmcsAt(eip: number): Vmcs {
  const v = new Vmcs();
  v.guest.eip = eip;
  return v;
}

export function rd32(mem: PhysMem, hpa: number): number {
  return mem.ram32[hpa >>> 2]! >>> 0;
}

export function wr32(mem: PhysMem, hpa: number, value: number): void {
  mem.ram32[hpa >>> 2] = value | 0;
}

/** Page-table entry bits (DESIGN §3.5). */
export const P = 1;
export const RW = 2;
export const US = 4;
export const A = 0x20;
export const D = 0x40;

/**
 * Identity-map the first `pages` 4 KiB pages with P|RW|US: PDE 0 at `pd` → a page table
 * at `pt`. Both addresses are where the tables sit in `mem` (add a load offset for EPT).
 */
export function identityTables(mem: PhysMem, pd: number, pt: number, pages: number, ptGpa = pt): void {
  wr32(mem, pd, ptGpa | P | RW | US);
  for (let i = 0; i < pages; i++) wr32(mem, pt + 4 * i, (i << 12) | P | RW | US);
}

/** An interrupt gate (type 0xE, DPL `dpl`, present) for `offset` at IDT entry `v`. */
export function writeGate(mem: PhysMem, idtHpa: number, v: number, offset: number, dpl = 0): void {
  wr32(mem, idtHpa + 8 * v, (0x08 << 16) | (offset & 0xffff));
  wr32(mem, idtHpa + 8 * v + 4, (offset & 0xffff0000) | ((0x8e | (dpl << 5)) << 8));
}

/** The 8 bytes of a VX32 instruction (DESIGN §3.3): op, A, B, 0, imm32. */
export function insn(op: number, a = 0, b = 0, imm = 0): number[] {
  return [op, a, b, 0, imm & 0xff, (imm >>> 8) & 0xff, (imm >>> 16) & 0xff, (imm >>> 24) & 0xff];
}
