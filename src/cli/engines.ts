// The registry as the command line uses it: an unknown engine or an image that does not fit
// is the user's error (one `popek:` line, exit 2; DESIGN §10).

import type { Engine, EngineFactory, Image, MachineConfig } from '../engines/engine.ts';
import { ENGINE_NAMES, findEngine } from '../engines/registry.ts';
import { UsageError } from './usage.ts';

export function engineFactory(name: string): EngineFactory {
  const entry = findEngine(name);
  if (!entry) throw new UsageError(`unknown engine '${name}' (one of ${ENGINE_NAMES.join(', ')})`);
  return entry.make;
}

/** Build an engine; an image that does not fit the configured RAM is the user's error. */
export function makeEngine(name: string, image: Image, config: MachineConfig): Engine {
  const factory = engineFactory(name);
  try {
    return factory(image, config);
  } catch (e) {
    if (e instanceof RangeError) throw new UsageError(e.message);
    throw e;
  }
}
