// DESIGN §3.2 — the physical address space: RAM, the MMIO device, open bus.

export const MMIO_BASE = 0xfee00000;
export const MMIO_END = 0xfee01000;
export const DEVICE_ID = 0x32335856; // "VX32" little-endian
const OPEN_BUS_BYTE = 0xff;

/** The one MMIO device (§3.2). Its state is guest-visible (DESIGN §2 `device`). */
export class Device {
  counter = 0;
  readonly log: number[] = [];

  /** Aligned 4-byte read at `offset` within the window. Reads have side effects (COUNTER). */
  read32(offset: number): number {
    switch (offset) {
      case 0x000:
        return DEVICE_ID;
      case 0x004: {
        const v = this.counter;
        this.counter = (this.counter + 1) >>> 0; // read returns the value, then increments
        return v;
      }
      case 0x008:
        return this.log.length >>> 0;
      default:
        return 0;
    }
  }

  write32(offset: number, value: number): void {
    switch (offset) {
      case 0x004:
        this.counter = value >>> 0;
        return;
      case 0x008:
        this.log.push(value >>> 0);
        return;
      default:
        return; // ID and other offsets ignore writes
    }
  }
}

export const inMmioWindow = (pa: number): boolean => pa >= MMIO_BASE && pa < MMIO_END;

/**
 * Physical memory. Multi-byte accesses are little-endian and byte-wise per region
 * (§3.2), so a word straddling the end of RAM is part RAM, part open bus.
 */
export class PhysMem {
  readonly ram: Uint8Array;
  readonly device = new Device();

  constructor(ramBytes: number) {
    this.ram = new Uint8Array(ramBytes);
  }

  /** A byte as the bus returns it to anything but a data access to the device. */
  readByte(pa: number): number {
    return pa < this.ram.length ? this.ram[pa]! : OPEN_BUS_BYTE;
  }

  writeByte(pa: number, v: number): void {
    if (pa < this.ram.length) this.ram[pa] = v;
  }

  /**
   * A data access of `n` bytes whose first byte is at physical `pa`: only an aligned
   * 4-byte access inside the window reaches the device (§3.2); everything else is byte-wise.
   */
  isDeviceAccess(pa: number, n: number): boolean {
    return n === 4 && (pa & 3) === 0 && inMmioWindow(pa);
  }

  /** Word reads for page walks: never device side effects, 0xFF bytes in the window (§3.2). */
  readWalk32(pa: number): number {
    let v = 0;
    for (let i = 3; i >= 0; i--) v = (v << 8) | this.readByte((pa + i) >>> 0);
    return v >>> 0;
  }

  /** A/D updates: dropped outside RAM, including the MMIO window (§3.2). */
  writeWalk32(pa: number, v: number): void {
    for (let i = 0; i < 4; i++) this.writeByte((pa + i) >>> 0, (v >>> (8 * i)) & 0xff);
  }
}
