// Reading and assembling a guest program for a command. `.include "FILE"` paths are
// relative to the including file (spec/asm/README.md).

import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { AsmError, assemble, type IncludeReader } from '../../spec/asm/assemble.ts';
import type { Image } from '../../spec/observation.ts';
import { UsageError } from './usage.ts';

/** `.include "FILE"` read from disk, relative to the including file. */
export const includeFromDisk: IncludeReader = (path, from) => {
  const file = isAbsolute(path) ? path : join(dirname(from), path);
  return { file, source: readFileSync(file, 'utf8') };
};

export function assembleFile(path: string): { image: Image; source: string } {
  let source: string;
  try {
    source = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read '${path}': ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  try {
    return { image: assemble(source, path, { include: includeFromDisk }).image, source };
  } catch (e) {
    if (e instanceof AsmError) throw new UsageError(e.message);
    throw e;
  }
}
