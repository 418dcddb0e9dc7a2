// Shared scaffolding for the native engine tests: assemble, boot, read RAM words, and
// the assembly snippets most tests need (an identity-mapping page-table setup, IDT gates).

import { assemble } from '../../spec/asm/assemble.ts';
import type { HostEvent, Observation } from '../../spec/observation.ts';
import { NativeEngine } from '../../src/engines/native.ts';

export const RAM = 1 << 20;

export function boot(source: string, ramBytes = RAM): { engine: NativeEngine; symbols: ReadonlyMap<string, number> } {
  const { image, symbols } = assemble(source, 'test.s');
  return { engine: new NativeEngine(image, { ramBytes }), symbols };
}

export function run(source: string, events: HostEvent[] = [], maxSteps = 100_000): Observation {
  return boot(source).engine.run(events, maxSteps);
}

export function word(ram: Uint8Array, addr: number): number {
  return (ram[addr]! | (ram[addr + 1]! << 8) | (ram[addr + 2]! << 16) | (ram[addr + 3]! << 24)) >>> 0;
}

// Memory layout used by the tests.
export const PD = 0x10000;
export const PT = 0x11000;
export const IDT = 0x3000;
export const TSS = 0x3800;

/**
 * Identity-map the first 1 MiB with one page table (PDE 0 → PT, every PTE P|RW|US), load
 * CR3 and turn paging on. Clobbers eax ebx ecx edx.
 */
export const PAGING_ON = `
  mov eax, ${PT | 7}
  mov [${PD}], eax
  mov ecx, 0
  mov edx, 7
pt_fill:
  mov ebx, ecx
  shl ebx, 2
  mov [ebx + ${PT}], edx
  add edx, 0x1000
  inc ecx
  cmp ecx, 256
  jnz pt_fill
  mov eax, ${PD}
  mov cr3, eax
  mov eax, 0x80000001
  mov cr0, eax
`;

/** An IDT gate for `label` (must be below 0x10000); attr 0x8E interrupt gate DPL 0, 0xEE DPL 3, 0x8F trap gate. */
export function gate(label: string, attr = 0x8e): string {
  return `.dd (0x08 << 16) | ${label}, ${attr << 8}`;
}

/** An IDT at IDT with `n` gates: gates[v] or a gate to `unexpected`. Load with LIDT_ALL. */
export function idt(gates: Record<number, string>, n = 256): string {
  const lines = [`.org ${IDT}`];
  for (let v = 0; v < n; v++) lines.push(gates[v] ?? gate('unexpected'));
  lines.push(`.org ${IDT + 8 * n}`, `idtr: .db ${(8 * n - 1) & 0xff}, ${(8 * n - 1) >> 8}`, `.dd ${IDT}`);
  return lines.join('\n');
}
