// The MMIO device of DESIGN §3.2: a 4 KiB window at 0xFEE00000 holding ID, COUNTER and LOG.
// Its registers are guest-visible state (DESIGN §2 `device`), so they live here, in the
// host hardware, and every engine reports them. Only aligned 4-byte data accesses reach
// it; `memory.ts` decides that, this class only answers register reads and writes.

export const MMIO_BASE = 0xfee00000;
export const MMIO_END = 0xfee01000; // exclusive
export const DEVICE_ID = 0x32335856; // "VX32" little-endian

const REG_ID = 0x000;
const REG_COUNTER = 0x004;
const REG_LOG = 0x008;

export class MmioDevice {
  /** COUNTER, kept unsigned 32-bit. */
  counter = 0;
  /** Every value written to LOG, unsigned 32-bit, in order. */
  readonly log: number[] = [];

  /** A data read of the aligned word at window offset `off`. */
  read32(off: number): number {
    switch (off) {
      case REG_ID:
        return DEVICE_ID;
      case REG_COUNTER: {
        // DESIGN §3.2: the read returns the value, then increments it.
        const v = this.counter;
        this.counter = (v + 1) >>> 0;
        return v | 0;
      }
      case REG_LOG:
        return this.log.length | 0;
      default:
        return 0;
    }
  }

  /** A data write of the aligned word at window offset `off`. */
  write32(off: number, value: number): void {
    switch (off) {
      case REG_COUNTER:
        this.counter = value >>> 0;
        return;
      case REG_LOG:
        this.log.push(value >>> 0);
        return;
      default:
        return; // ID and other offsets ignore writes
    }
  }
}
