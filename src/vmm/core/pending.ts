// A VM's virtual interrupt controller (DESIGN §3.7): the external vectors raised and not
// yet delivered, as a set; the lowest is delivered first and leaves when delivery begins.
// Every VMM's VM extends it, so its vCPU and the engine read `pending`/`pendingCount`.

export class PendingVectors {
  /** One byte per vector: 1 when pending. */
  readonly pending = new Uint8Array(256);
  pendingCount = 0;

  raise(vector: number): void {
    if (this.pending[vector] === 0) {
      this.pending[vector] = 1;
      this.pendingCount++;
    }
  }

  /** The lowest pending vector, removed (DESIGN §3.10.7: it leaves when delivery begins). */
  takePending(): number {
    let v = 0;
    while (this.pending[v] === 0) v++;
    this.pending[v] = 0;
    this.pendingCount--;
    return v;
  }
}
