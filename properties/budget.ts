// How much each property test generates. `npm test` runs the full counts. Under
// mutation testing (`npm run mutation`, vitest.mutation-vmm.config.ts sets POPEK_QUICK=1)
// every mutant reruns the tests that cover it, so each campaign runs a tenth of its cases
// and each exhaustive matrix a fifth of its combinations — and all of it in the test's own
// thread: Stryker switches a mutant on in that thread only, a worker thread would run
// the unmutated code and let every mutant survive.

export const QUICK = process.env.POPEK_QUICK === '1';

/** Generated cases for a campaign of `n` runs. */
export const runsOf = (n: number): number => (QUICK ? Math.max(20, Math.ceil(n / 10)) : n);

/** Steps of a long lockstep run of `n` steps. */
export const stepsOf = (n: number): number => (QUICK ? Math.ceil(n / 10) : n);

/** Worker threads for a campaign test that would use `n`. */
export const workersOf = (n: number): number => (QUICK ? 1 : n);

/** Every combination of an exhaustive matrix, or under mutation every fifth (5 is prime to every dimension's size). */
export const sampleOf = <T>(xs: readonly T[]): readonly T[] => (QUICK ? xs.filter((_, i) => i % 5 === 0) : xs);
