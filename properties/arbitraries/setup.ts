// The per-case machine setup the prologue establishes (DESIGN §3.1 reset → the state a
// kernel would have): RAM size, whether paging is on at the start, CR4.PSE, CR0.WP, which
// address space is loaded, the page tables, and the gate type of the interrupt vectors.
// Every field shrinks toward the plainest machine: small RAM, paging on in space A.

import fc from 'fast-check';
import { RAM_SIZES } from './layout.ts';
import { permArb, spaceSetupArb, type Perm, type SpaceName, type SpaceSetup } from './paging.ts';

export interface Setup {
  ramBytes: number;
  /** Paging on before the body (else the body boots with paging off, DESIGN §3.5). */
  paging: boolean;
  /** CR4.PSE at the start: 4 MiB pages exist only with it (§3.5.2). */
  pse: boolean;
  /** CR0.WP at the start: supervisor writes honour RW only with it (§3.5.4). */
  wp: boolean;
  startSpace: SpaceName;
  spaces: Record<SpaceName, SpaceSetup>;
  /** Permissions of DATA1 in the identity map. */
  data1: Perm;
  /** A and D preset in the identity map (else the walks set them as the run goes, §3.5.5). */
  presetAD: boolean;
  /** Gates of vectors 32–255: interrupt gates clear IF, trap gates leave it (§3.7). */
  irqGate: 'interrupt' | 'trap';
  /** `sti` at the end of the prologue, so irqs can arrive from the first body instruction. */
  startIf: boolean;
}

const weighted = <T>(common: T, rare: T, weight = 4): fc.Arbitrary<T> =>
  fc.oneof({ weight, arbitrary: fc.constant(common) }, { weight: 1, arbitrary: fc.constant(rare) });

export const setupArb: fc.Arbitrary<Setup> = fc.record({
  ramBytes: fc.constantFrom(...RAM_SIZES),
  paging: weighted(true, false),
  pse: fc.boolean(),
  wp: fc.boolean(),
  startSpace: weighted<SpaceName>('A', 'B', 3),
  spaces: fc.record({ A: spaceSetupArb, B: spaceSetupArb }),
  data1: permArb,
  presetAD: fc.boolean(),
  irqGate: weighted<'interrupt' | 'trap'>('interrupt', 'trap', 3),
  startIf: weighted(true, false, 2),
});
