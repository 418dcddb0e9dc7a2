// The TLB's bookkeeping (src/hw/tlb.ts): the fill log that makes `flush` and the audits'
// `forEachValid` cost the entries filled since the last flush, not 2^20 — and that must
// never lose an entry, or an audit would miss a stale translation (DESIGN §6.13 S6/E3).

import { expect, test } from 'vitest';
import { Tlb } from '../../src/hw/tlb.ts';

const valid = (tlb: Tlb): [number, number][] => {
  const out: [number, number][] = [];
  tlb.forEachValid((vpn, t) => {
    out.push([vpn, t]);
  });
  return out;
};

test('every valid entry is visited once, invalidated ones not at all, none after a flush', () => {
  const tlb = new Tlb(16);
  tlb.fill(5, 0x5001);
  tlb.fill(0xfffff, 0x7001);
  tlb.fill(9, 0x9001);
  tlb.invalidate(9);
  tlb.fill(5, 0x6001); // refilled in place: still one entry
  tlb.invalidate(0xfffff);
  tlb.fill(0xfffff, 0x8001); // invalidated and filled again: logged once
  expect(valid(tlb)).toEqual([
    [5, 0x6001],
    [0xfffff, 0x8001],
  ]);
  expect(tlb.validCount()).toBe(2);
  tlb.flush();
  expect(valid(tlb)).toEqual([]);
  expect([...tlb.entries].some((t) => t !== 0)).toBe(false);
  tlb.fill(3, 0x3001);
  expect(valid(tlb)).toEqual([[3, 0x3001]]);
});

test("past the fill log's capacity, nothing is lost: every entry is still visited and flushed", () => {
  const tlb = new Tlb(16);
  const n = 20_000;
  for (let i = 0; i < n; i++) tlb.fill((i * 37) % 0x100000, 0x1001);
  expect(tlb.validCount()).toBe(n);
  let stop = 0;
  tlb.forEachValid(() => ++stop === 3); // true stops the walk
  expect(stop).toBe(3);
  tlb.flush();
  expect(tlb.validCount()).toBe(0);
  // The log works again after an overflowing flush.
  tlb.fill(7, 0x7001);
  expect(valid(tlb)).toEqual([[7, 0x7001]]);
});
