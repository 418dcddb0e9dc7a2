// The vector chain of a triple fault (spec/observation.ts `chain`): not guest-visible and
// not a VT-x field, a record of this simulation kept beside `trace` so that `popek run`
// can say how a shutdown came about (DESIGN §3.7). Runs once per event, not per instruction.
//
// An entry is `vector | kind << 8` (seams.ts KIND_*): the events whose delivery was
// attempted since a handler was last entered. After an exit interrupts a delivery, the
// event is re-injected and its delivery starts over (SDM 27.2.4): that is the same attempt,
// and it is the entry already at the end — §3.7 never turns an event into itself (a fault
// while delivering is #NP, #GP or #PF, which are not benign; contributory then #PF is a #PF;
// the rest become #DF or shutdown), so equal neighbours are always one attempt.

/** Note an attempt to deliver `vector` of `kind`; before a shutdown, the fault that hit the #DF. */
export function attempt(chain: number[], vector: number, kind: number): void {
  const entry = (vector & 0xff) | (kind << 8);
  if (chain[chain.length - 1] !== entry) chain.push(entry);
}

/** The chain as the shutdown entry records it: the vectors alone. */
export const chainVectors = (chain: readonly number[]): number[] => chain.map((e) => e & 0xff);
