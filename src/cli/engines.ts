// The registry as the command line uses it: an unknown engine or an image that does not fit
// is the user's error (one `popek:` line, exit 2; DESIGN §10).

import type { Engine, EngineFactory, Image, MachineConfig } from '../engines/engine.ts';
import { ENGINE_NAMES, findEngine } from '../engines/registry.ts';
import { COMMAND_PREFIX, isCommandEngine, missingFields, remoteCapabilities } from '../engines/remote.ts';
import { UsageError } from './usage.ts';

export function engineFactory(name: string): EngineFactory {
  if (isCommandEngine(name)) checkCommandEngine(name.slice(COMMAND_PREFIX.length));
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

/** `--engine-cmd CMD`: the engine name that worker threads resolve (remote.ts). */
export const commandEngine = (command: string): string => COMMAND_PREFIX + command;

/**
 * Start the process and shake hands before any work: a command that does not start,
 * does not speak the protocol's version or leaves out a field is the user's error.
 */
function checkCommandEngine(command: string): void {
  let missing: string[];
  try {
    missing = missingFields(remoteCapabilities(command));
  } catch (e) {
    throw new UsageError(`--engine-cmd: ${(e as Error).message}`);
  }
  if (missing.length > 0)
    throw new UsageError(
      `--engine-cmd '${command}' does not provide ${missing.join(', ')}: comparison is strict (DESIGN §2), so it cannot be checked`,
    );
}
