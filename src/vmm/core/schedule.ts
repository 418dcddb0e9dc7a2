// The host-event schedule of a run (DESIGN §3.8, §3.10.8–9), shared by the engines that
// run on src/hw: events fire at the first instruction boundary where icount ≥ at, equal
// `at` in file order (the file need not be sorted, so the sort must be stable — and
// Array.prototype.sort is, since ES2019).

import type { HostEvent } from '../../../spec/observation.ts';

export class Schedule {
  private readonly events: readonly HostEvent[];
  private next = 0;

  constructor(events: readonly HostEvent[]) {
    this.events = [...events].sort((x, y) => x.at - y.at);
  }

  /** True when no event is left. */
  get done(): boolean {
    return this.next >= this.events.length;
  }

  /** `at` of the next event (Infinity when none): the icount the CPU may run up to. */
  get nextAt(): number {
    return this.done ? Infinity : this.events[this.next]!.at;
  }

  /** Fire every event due at this boundary. */
  fireDue(icount: number, fire: (e: HostEvent) => void): void {
    while (!this.done && this.events[this.next]!.at <= icount) fire(this.events[this.next++]!);
  }

  /** Time jump while halted (DESIGN §3.10.9): fire every event with the next `at`. */
  fireNextGroup(fire: (e: HostEvent) => void): void {
    const at = this.nextAt;
    while (!this.done && this.events[this.next]!.at === at) fire(this.events[this.next++]!);
  }
}
