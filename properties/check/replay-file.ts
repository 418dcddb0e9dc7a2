// A counterexample on disk (DESIGN §10 `popek replay`): enough to re-run it without the
// generator (the assembly source and the events) and to regenerate it with fast-check
// (seed and path), plus what was switched on.

import type { HostEvent } from '../../spec/observation.ts';

export interface ReplayFile {
  popek: 'counterexample';
  version: 1;
  property: string;
  engine: string;
  bugs: string[];
  /** fast-check replay: `fc.check(prop, { seed, path })` reproduces the shrunk case. */
  seed: number;
  path: string;
  source: string;
  events: HostEvent[];
  ramBytes: number;
  maxSteps: number;
  /** The VMX engine ran with its emulator in front of every hidden fault (cases.ts). */
  forcedEmulation?: boolean;
  /** `--engine qemu --observe end`: found comparing end states (docs/qemu.md); absent: every step. */
  observe?: 'end';
  /** Instructions in the generated body after shrinking. */
  instructions: number;
  /** The first divergence, as `popek diff` prints it. */
  divergence: string;
}

/** A shrunk counterexample, ready to be saved. */
export type Failure = ReplayFile & { shrinks: number; signature: string };

export function isReplayFile(x: unknown): x is ReplayFile {
  const o = x as Partial<ReplayFile> | null;
  return (
    typeof o === 'object' &&
    o !== null &&
    o.popek === 'counterexample' &&
    o.version === 1 &&
    typeof o.property === 'string' &&
    typeof o.engine === 'string' &&
    Array.isArray(o.bugs) &&
    typeof o.source === 'string' &&
    Array.isArray(o.events) &&
    typeof o.ramBytes === 'number' &&
    typeof o.maxSteps === 'number' &&
    (o.observe === undefined || o.observe === 'end')
  );
}
