// Linear (guest virtual) accesses of n bytes (DESIGN §3.5): translate every distinct page
// the access touches, in the order of its bytes (§3.10.12, so a wrap at 2^32 translates
// page 0xFFFFF before page 0), and only then perform the bytes — a fault on the second
// page leaves the first page's A/D bits set and no byte written (§3.4).
//
// An access is at most 8 bytes, so it touches at most two pages: `pa0` for the bytes of
// the first page (`split` of them) and `pa1` for the rest.

import { FAULT } from './control-block.ts';
import {} from '../../hw/arch.ts';
import { GuestMemory } from './guest-memory.ts';
import { ACC_READ, ACC_USER, ACC_WRITE, PAGE_SIZE } from '../../hw/arch.ts';
import type { GuestWalker } from './walker.ts';

const userBit = (user: boolean): number => (user ? ACC_USER : 0);

export class LinearAccess {
  private pa0 = 0;
  private pa1 = 0;
  private split = 0;
  /** Guest memory references made by fetch and data accesses (walks are counted apart). */
  memRefs = 0;

  constructor(
    private readonly mem: GuestMemory,
    private readonly walker: GuestWalker,
  ) {}

  /** Translate the pages of [gva, gva+n) for `access` (src/hw/arch.ts ACC_*); 0 or FAULT. */
  private span(gva: number, n: number, access: number): number {
    this.memRefs++;
    const inFirst = PAGE_SIZE - (gva & (PAGE_SIZE - 1));
    const pa0 = this.walker.translate(gva, access);
    if (pa0 === FAULT) return FAULT;
    this.pa0 = pa0;
    if (n <= inFirst) {
      this.split = n;
      return 0;
    }
    // §3.5.6: a later page's #PF reports the first byte of that page in CR2.
    const pa1 = this.walker.translate((gva + inFirst) >>> 0, access);
    if (pa1 === FAULT) return FAULT;
    this.pa1 = pa1;
    this.split = inFirst;
    return 0;
  }

  private paOf(i: number): number {
    return i < this.split ? this.pa0 + i : this.pa1 + (i - this.split);
  }

  /** A 4-byte data read: an aligned one may reach the MMIO device (§3.2). */
  read32(gva: number, user: boolean): number {
    if (this.span(gva, 4, ACC_READ | userBit(user)) === FAULT) return FAULT;
    if (this.split === 4 && (gva & 3) === 0) {
      const pa = this.pa0;
      if (GuestMemory.isDevice(pa)) return this.mem.deviceRead32(pa);
      if (pa + 4 <= this.mem.ramBytes) {
        const r = this.mem.ram;
        return (r[pa]! | (r[pa + 1]! << 8) | (r[pa + 2]! << 16) | (r[pa + 3]! << 24)) >>> 0;
      }
    }
    let v = 0;
    for (let i = 3; i >= 0; i--) v = (v << 8) | this.mem.readByte(this.paOf(i));
    return v >>> 0;
  }

  read8(gva: number, user: boolean): number {
    if (this.span(gva, 1, ACC_READ | userBit(user)) === FAULT) return FAULT;
    return this.mem.readByte(this.pa0);
  }

  /** 0 or FAULT. */
  write32(gva: number, value: number, user: boolean): number {
    if (this.span(gva, 4, ACC_WRITE | userBit(user)) === FAULT) return FAULT;
    if (this.split === 4 && (gva & 3) === 0 && GuestMemory.isDevice(this.pa0)) {
      this.mem.deviceWrite32(this.pa0, value);
      return 0;
    }
    for (let i = 0; i < 4; i++) this.mem.writeByte(this.paOf(i), (value >>> (8 * i)) & 0xff);
    return 0;
  }

  write8(gva: number, value: number, user: boolean): number {
    if (this.span(gva, 1, ACC_WRITE | userBit(user)) === FAULT) return FAULT;
    this.mem.writeByte(this.pa0, value & 0xff);
    return 0;
  }

  /**
   * n bytes that can never reach the device (§3.2; spec README clarification 5): the
   * 8-byte fetch, the 8-byte IDT gate, lidt's 6 bytes; `access` is a read or a fetch
   * (ACC_FETCH), of the user or not (ACC_USER). 0 or FAULT.
   */
  readBytes(gva: number, n: number, access: number, out: Uint8Array): number {
    if (this.span(gva, n, access) === FAULT) return FAULT;
    for (let i = 0; i < n; i++) out[i] = this.mem.readByte(this.paOf(i));
    return 0;
  }

  /** sidt's 6-byte write; never a device access (not an aligned 4-byte one). 0 or FAULT. */
  writeBytes(gva: number, n: number, bytes: Uint8Array, user: boolean): number {
    if (this.span(gva, n, ACC_WRITE | userBit(user)) === FAULT) return FAULT;
    for (let i = 0; i < n; i++) this.mem.writeByte(this.paOf(i), bytes[i]!);
    return 0;
  }
}
