// PhysMem.load (DESIGN §3.10.13, src/hw/memory.ts): image bytes inside RAM land at their
// address; bytes past the end of RAM are dropped (open bus), also when they wrap past 2^32.

import { expect, test } from 'vitest';
import { PhysMem } from '../../src/hw/memory.ts';

const bytes = (...xs: number[]) => new Uint8Array(xs);

test('bytes inside RAM land at their address', () => {
  const mem = new PhysMem(0x2000);
  mem.load(0x10, bytes(1, 2, 3));
  expect([...mem.ram.subarray(0xf, 0x14)]).toEqual([0, 1, 2, 3, 0]);
});

test('a chunk straddling the end of RAM keeps the bytes inside and drops the rest', () => {
  const mem = new PhysMem(0x1000);
  mem.load(0xffe, bytes(7, 8, 9, 10));
  expect([...mem.ram.subarray(0xffc)]).toEqual([0, 0, 7, 8]);
});

test('a chunk beyond RAM changes nothing; one wrapping past 2^32 lands at 0', () => {
  const mem = new PhysMem(0x1000);
  mem.load(0x5000, bytes(1, 2));
  expect(mem.ram.every((b) => b === 0)).toBe(true);
  mem.load(0xfffffffe, bytes(4, 5, 6));
  expect([...mem.ram.subarray(0, 2)]).toEqual([6, 0]);
});
