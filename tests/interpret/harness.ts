// Scaffolding for the interpret engine's tests: assemble, boot, read RAM words, and the
// snippets most tests need (an IDT, gates, identity paging, the way into ring 3). It
// computes no expected value: those are derived by hand from DESIGN §3 in each test.

import { assemble } from '../../spec/asm/assemble.ts';
import type { HostEvent, MachineConfig, Observation } from '../../spec/observation.ts';
import { InterpretEngine } from '../../src/engines/interpret.ts';

export const RAM = 1 << 20;
export const IDT = 0x3000;
export const TSS = 0x3800;
export const PD = 0x10000;
export const PT = 0x11000;
export const KSTACK = 0x80000;
export const USTACK = 0x70000;

export function boot(
  source: string,
  config: Partial<MachineConfig> = {},
): { engine: InterpretEngine; symbols: ReadonlyMap<string, number> } {
  const { image, symbols } = assemble(source, 'test.s');
  return { engine: new InterpretEngine(image, { ramBytes: RAM, ...config }), symbols };
}

export function run(source: string, events: HostEvent[] = [], maxSteps = 100_000, config: Partial<MachineConfig> = {}): Observation {
  return boot(source, config).engine.run(events, maxSteps);
}

export function word(ram: Uint8Array, addr: number): number {
  return (ram[addr]! | (ram[addr + 1]! << 8) | (ram[addr + 2]! << 16) | (ram[addr + 3]! << 24)) >>> 0;
}

/** An IDT gate for `label` (below 0x10000): attr 0x8E interrupt gate DPL 0, 0xEE DPL 3, 0x8F trap gate (§3.7). */
export function gate(label: string, attr = 0x8e): string {
  return `.dd (0x08 << 16) | ${label}, ${attr << 8}`;
}

/** An IDT at IDT with 256 gates (gates[v], else to `unexpected`) and its descriptor `idtr`. */
export function idt(gates: Record<number, string>): string {
  const lines = [`.org ${IDT}`];
  for (let v = 0; v < 256; v++) lines.push(gates[v] ?? gate('unexpected'));
  lines.push(`.org ${IDT + 8 * 256}`, `idtr: .db 0xFF, 0x07`, `.dd ${IDT}`);
  return lines.join('\n');
}

/** Load the IDT and TSS (ESP0 = KSTACK) and iret to ring 3 at `user` with eflags `userFlags`. */
export function toUser(userFlags = 0x2): string {
  return `
  lidt [idtr]
  mov eax, ${TSS}
  ltr eax
  mov eax, ${KSTACK}
  mov [${TSS + 4}], eax
  mov esp, ${KSTACK}
  push 0x43
  push ${USTACK}
  push ${userFlags}
  push 0x3B
  push user
  iret
`;
}

/** Identity-map the first 1 MiB with PTE flags `pteFlags` (PDE 0 is P|RW|US), paging on. Clobbers eax–edx. */
export function pagingOn(pteFlags = 7): string {
  return `
  mov eax, ${PT | 7}
  mov [${PD}], eax
  mov ecx, 0
  mov edx, ${pteFlags}
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
}
