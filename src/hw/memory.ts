// Host physical memory (DESIGN §4): RAM `[0, ramBytes)`, the MMIO device window and open
// bus everywhere else (DESIGN §3.2). Host physical addresses (hpa) are unsigned numbers
// 0 … 2^32−1.
//
// Three kinds of access, because the spec distinguishes them:
// - data accesses (`read32Data`/`write32Data` and the byte forms): only an aligned 4-byte
//   access inside the window reaches the device; any other byte there is open bus;
// - page-structure accesses (`read32Walk`/`write32Walk`): never touch the device — in
//   the window they read 0xFF bytes and their A/D writes are dropped;
// - instruction fetches use the byte forms, which never touch the device either.
// The hot paths in cpu.ts bypass this class and index `ram32` directly after a TLB hit;
// the TLB only ever caches frames that are RAM, so that shortcut cannot skip the device.

import { PAGE_SIZE } from './arch.ts';
import { MMIO_BASE, MMIO_END, MmioDevice } from './device.ts';

const OPEN_BUS_WORD = -1; // four 0xFF bytes

// cpu.ts reads little-endian words through an Int32Array view; that is only right on a
// little-endian host (every platform Node ships for today). Refuse to run wrongly.
if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) {
  throw new Error('popek: src/hw needs a little-endian host');
}

export class PhysMem {
  readonly ramBytes: number;
  /** Number of 4 KiB frames of RAM (hfn < frames is RAM). */
  readonly frames: number;
  readonly ram: Uint8Array;
  /** The same bytes as 32-bit words, for aligned accesses. */
  readonly ram32: Int32Array;
  readonly device = new MmioDevice();

  constructor(ramBytes: number) {
    if (!Number.isInteger(ramBytes) || ramBytes <= 0 || ramBytes % PAGE_SIZE !== 0 || ramBytes > 0x40000000) {
      throw new RangeError(`popek: RAM size must be a positive multiple of 4096 up to 1 GiB, got ${ramBytes}`);
    }
    this.ramBytes = ramBytes;
    this.frames = ramBytes / PAGE_SIZE;
    this.ram = new Uint8Array(ramBytes);
    this.ram32 = new Int32Array(this.ram.buffer);
  }

  /** Copy bytes into RAM at `hpa`; bytes that fall outside RAM are dropped (open bus). */
  load(hpa: number, bytes: Uint8Array): void {
    // One copy for the part inside RAM (an image is loaded per run: the byte loop cost
    // more than the run itself, issue 15); anything past the end, or wrapping, byte-wise.
    const inRam = hpa < this.ramBytes ? Math.min(bytes.length, this.ramBytes - hpa) : 0;
    if (inRam > 0) this.ram.set(bytes.subarray(0, inRam), hpa);
    for (let i = inRam; i < bytes.length; i++) this.write8((hpa + i) >>> 0, bytes[i]!);
  }

  /** A byte outside a 4-byte device access: RAM, or open bus (the window included). */
  read8(hpa: number): number {
    return hpa < this.ramBytes ? this.ram[hpa]! : 0xff;
  }

  write8(hpa: number, value: number): void {
    if (hpa < this.ramBytes) this.ram[hpa] = value;
  }

  /** An aligned 4-byte data read (`hpa & 3 === 0`): RAM, the device, or open bus. */
  read32Data(hpa: number): number {
    if (hpa < this.ramBytes) return this.ram32[hpa >>> 2]!;
    if (hpa >= MMIO_BASE && hpa < MMIO_END) return this.device.read32(hpa - MMIO_BASE);
    return OPEN_BUS_WORD;
  }

  /** An aligned 4-byte data write. */
  write32Data(hpa: number, value: number): void {
    if (hpa < this.ramBytes) this.ram32[hpa >>> 2] = value;
    else if (hpa >= MMIO_BASE && hpa < MMIO_END) this.device.write32(hpa - MMIO_BASE, value);
  }

  /** A page-structure read (DESIGN §3.2: no device side effects). `hpa` is 4-aligned. */
  read32Walk(hpa: number): number {
    return hpa < this.ramBytes ? this.ram32[hpa >>> 2]! : OPEN_BUS_WORD;
  }

  /** A page-structure A/D write: RAM only; dropped in the window and on open bus. */
  write32Walk(hpa: number, value: number): void {
    if (hpa < this.ramBytes) this.ram32[hpa >>> 2] = value;
  }
}
