// A campaign is split into chunks of runs, each with its own seed derived from the
// campaign seed, so a campaign can be cut across workers and machines (`--shard i/n`,
// as CI matrices and `vitest --shard` do) and every chunk is reproducible alone.

export const CHUNK_RUNS = 25;

/** The seed of chunk k: an integer hash of (campaign seed, k), stable across versions. */
export function chunkSeed(seed: number, k: number): number {
  let h = (seed ^ Math.imul(k + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) | 0; // fast-check takes a 32-bit signed seed
}

export interface Shard {
  /** 1-based, as `--shard 2/3`. */
  index: number;
  count: number;
}

/** The chunks of a campaign of `runs` runs that belong to `shard`: disjoint, and together all of them. */
export function chunksOf(runs: number, shard: Shard = { index: 1, count: 1 }): { k: number; runs: number }[] {
  const out: { k: number; runs: number }[] = [];
  const total = Math.ceil(runs / CHUNK_RUNS);
  for (let k = shard.index - 1; k < total; k += shard.count) out.push({ k, runs: Math.min(CHUNK_RUNS, runs - k * CHUNK_RUNS) });
  return out;
}
