// DESIGN §3.10.14: the observation as one JSON object — unsigned 32-bit numbers, console as
// a string of code points 0–255, ram as its SHA-256. The `--json` output of `popek run`,
// kept here rather than in src/cli because the determinism property compares runs by it
// and properties/ may not import src/cli (DESIGN §1: imports point down).

import { createHash } from 'node:crypto';
import type { Observation } from '../spec/observation.ts';

export type ObservationJson = Omit<Observation, 'ram'> & { ram: { sha256: string } };

export const ramHash = (ram: Uint8Array): string => createHash('sha256').update(ram).digest('hex');

export function observationJson(o: Observation): ObservationJson {
  return { ...o, ram: { sha256: ramHash(o.ram) } };
}
