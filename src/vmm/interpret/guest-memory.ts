// Guest physical memory as the interpreting VMM owns it (DESIGN §3.2): an array of guest
// RAM, the MMIO device emulated in software, open bus everywhere else. Nothing here is
// host memory the guest could reach: every guest access is a method call on this object,
// which is the whole point of interpretive execution (the lecture's "an array owned by
// the interpreter").

export const MMIO_BASE = 0xfee00000;
export const MMIO_END = 0xfee01000;
const DEVICE_ID = 0x32335856;
const OPEN_BUS_BYTE = 0xff;
const OPEN_BUS_WORD = 0xffffffff;

export class GuestMemory {
  readonly ram: Uint8Array;
  readonly ramBytes: number;
  deviceCounter = 0;
  readonly deviceLog: number[] = [];

  constructor(ramBytes: number) {
    if (!Number.isInteger(ramBytes) || ramBytes <= 0 || ramBytes % 4096 !== 0) {
      throw new RangeError(`guest RAM must be a positive multiple of 4096 bytes, not ${ramBytes}`);
    }
    this.ramBytes = ramBytes;
    this.ram = new Uint8Array(ramBytes);
  }

  /** Place image bytes at a physical address (DESIGN §3.10.13); they must fit in RAM. */
  load(gpa: number, bytes: Uint8Array): void {
    if (gpa < 0 || gpa + bytes.length > this.ramBytes) {
      throw new RangeError(`image chunk at 0x${gpa.toString(16)} (${bytes.length} bytes) does not fit in ${this.ramBytes} bytes of RAM`);
    }
    this.ram.set(bytes, gpa);
  }

  /** One byte of a non-device access: RAM, or open bus (the MMIO window included, §3.2). */
  readByte(gpa: number): number {
    return gpa < this.ramBytes ? this.ram[gpa]! : OPEN_BUS_BYTE;
  }

  writeByte(gpa: number, value: number): void {
    if (gpa < this.ramBytes) this.ram[gpa] = value;
  }

  /**
   * An aligned 4-byte *data* access may reach the device (§3.2); walks and fetches never
   * do, so they use `readByte`/`walkRead32` instead.
   */
  static isDevice(gpa: number): boolean {
    return gpa >= MMIO_BASE && gpa < MMIO_END;
  }

  deviceRead32(gpa: number): number {
    switch (gpa - MMIO_BASE) {
      case 0x000:
        return DEVICE_ID;
      case 0x004: {
        const v = this.deviceCounter;
        this.deviceCounter = (v + 1) >>> 0; // "returns the value and then increments it"
        return v;
      }
      case 0x008:
        return this.deviceLog.length >>> 0;
      default:
        return 0;
    }
  }

  deviceWrite32(gpa: number, value: number): void {
    switch (gpa - MMIO_BASE) {
      case 0x004:
        this.deviceCounter = value >>> 0;
        return;
      case 0x008:
        this.deviceLog.push(value >>> 0);
        return;
      default:
        return; // ID is read-only; other offsets ignore writes
    }
  }

  /** A page-structure read (§3.2): aligned, never a device side effect. */
  walkRead32(gpa: number): number {
    if (gpa + 4 > this.ramBytes) return OPEN_BUS_WORD; // aligned and RAM is page-sized: never half in RAM
    const r = this.ram;
    return (r[gpa]! | (r[gpa + 1]! << 8) | (r[gpa + 2]! << 16) | (r[gpa + 3]! << 24)) >>> 0;
  }

  /** An A/D update (§3.5.5): written only where RAM is; in the window or open bus it is dropped. */
  walkWrite32(gpa: number, value: number): void {
    if (gpa + 4 > this.ramBytes) return;
    const r = this.ram;
    r[gpa] = value;
    r[gpa + 1] = value >>> 8;
    r[gpa + 2] = value >>> 16;
    r[gpa + 3] = value >>> 24;
  }
}
