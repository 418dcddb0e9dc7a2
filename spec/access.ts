// Linear memory accesses (DESIGN §3.5, §3.10.12): an access of n bytes translates every
// distinct page it touches, in the order of its bytes (la, la+1, … mod 2^32), and only
// then performs the bytes — so a straddling access that faults on its second page writes
// nothing, though the first page's A/D bits stay set (§3.4).

import { Fault, isFault } from './faults.ts';
import { translate, type Access } from './paging.ts';
import type { PhysMem } from './phys.ts';
import type { CpuState } from './state.ts';

/**
 * Where the bytes of a linear access live: bytes [0, split) at pa0 + i, bytes
 * [split, n) at pa1 + (i − split). At most two pages, since n ≤ 8.
 */
interface Span {
  pa0: number;
  split: number;
  pa1: number;
}

function translateSpan(mem: PhysMem, s: CpuState, la: number, n: number, acc: Access): Span | Fault {
  const pa0 = translate(mem, s, la, acc);
  if (isFault(pa0)) return pa0;
  const split = Math.min(n, 0x1000 - (la & 0xfff));
  if (split === n) return { pa0, split, pa1: 0 };
  // CR2 for the later page is the first byte of that page (§3.5.6).
  const pa1 = translate(mem, s, (la + split) >>> 0, acc);
  if (isFault(pa1)) return pa1;
  return { pa0, split, pa1 };
}

const paOf = (sp: Span, i: number): number => (i < sp.split ? sp.pa0 + i : sp.pa1 + (i - sp.split)) >>> 0;

/** A data read of n ≤ 4 bytes, little-endian; an aligned word in the MMIO window reaches the device. */
export function readData(mem: PhysMem, s: CpuState, la: number, n: number, acc: Access): number | Fault {
  const sp = translateSpan(mem, s, la, n, acc);
  if (isFault(sp)) return sp;
  if (mem.isDeviceAccess(sp.pa0, n)) return mem.device.read32(sp.pa0 - 0xfee00000);
  let v = 0;
  for (let i = n - 1; i >= 0; i--) v = (v << 8) | mem.readByte(paOf(sp, i));
  return v >>> 0;
}

/** A data write of the low n ≤ 4 bytes of v. Returns a Fault or undefined. */
export function writeData(mem: PhysMem, s: CpuState, la: number, n: number, v: number, acc: Access): Fault | undefined {
  const sp = translateSpan(mem, s, la, n, acc);
  if (isFault(sp)) return sp;
  if (mem.isDeviceAccess(sp.pa0, n)) {
    mem.device.write32(sp.pa0 - 0xfee00000, v);
    return undefined;
  }
  for (let i = 0; i < n; i++) mem.writeByte(paOf(sp, i), (v >>> (8 * i)) & 0xff);
  return undefined;
}

/** Reads of more than 4 bytes (the 8-byte fetch, the IDT gate, lidt's 6 bytes): never the device. */
export function readBytes(mem: PhysMem, s: CpuState, la: number, out: Uint8Array, acc: Access): Fault | undefined {
  const sp = translateSpan(mem, s, la, out.length, acc);
  if (isFault(sp)) return sp;
  for (let i = 0; i < out.length; i++) out[i] = mem.readByte(paOf(sp, i));
  return undefined;
}

/** sidt's 6-byte write: byte-wise (never an aligned 4-byte access, so never the device). */
export function writeBytes(mem: PhysMem, s: CpuState, la: number, bytes: Uint8Array, acc: Access): Fault | undefined {
  const sp = translateSpan(mem, s, la, bytes.length, acc);
  if (isFault(sp)) return sp;
  for (let i = 0; i < bytes.length; i++) mem.writeByte(paOf(sp, i), bytes[i]!);
  return undefined;
}
