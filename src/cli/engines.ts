// The engines the command line can name (DESIGN §5). This is where spec/ and src/ meet.

import { SpecMachine } from '../../spec/machine.ts';
import { NativeEngine } from '../engines/native.ts';
import { VmxShadowEngine } from '../engines/vmx-shadow.ts';
import { InterpretEngine } from '../engines/interpret.ts';
import { VmxEptEngine } from '../engines/vmx-ept.ts';
import { TrapEmulateEngine } from '../engines/trap-emulate.ts';
import type { Engine, Image, MachineConfig } from '../../spec/observation.ts';
import { UsageError } from './usage.ts';

export type EngineFactory = (image: Image, config: MachineConfig) => Engine;

export const ENGINES: Readonly<Record<string, EngineFactory>> = {
  spec: (image, config) => new SpecMachine(image, config),
  native: (image, config) => new NativeEngine(image, config),
  'vmx-shadow': (image, config) => new VmxShadowEngine(image, config),
  interpret: (image, config) => new InterpretEngine(image, config),
  'vmx-ept': (image, config) => new VmxEptEngine(image, config),
  'trap-emulate': (image, config) => new TrapEmulateEngine(image, config),
};

export function engineFactory(name: string): EngineFactory {
  const f = ENGINES[name];
  if (!f) throw new UsageError(`unknown engine '${name}' (one of ${Object.keys(ENGINES).join(', ')})`);
  return f;
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
