// Reading and assembling a guest program for a command.

import { readFileSync } from 'node:fs';
import { AsmError, assemble } from '../../spec/asm/assemble.ts';
import type { Image } from '../../spec/observation.ts';
import { UsageError } from './usage.ts';

export function assembleFile(path: string): { image: Image; source: string } {
  let source: string;
  try {
    source = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read '${path}': ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  try {
    return { image: assemble(source, path).image, source };
  } catch (e) {
    if (e instanceof AsmError) throw new UsageError(e.message);
    throw e;
  }
}
