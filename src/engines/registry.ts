// The engines popek can name (DESIGN §5), one row each: adding an engine is adding a row.
// The one file of src/engines that imports the reference model, which is an engine too.

import { SpecMachine } from '../../spec/machine.ts';
import { HW_BUGS } from '../hw/bugs.ts';
import { VMM_BUGS } from '../vmm/core/bugs.ts';
import { EPT_VM_BUGS } from '../vmm/ept/bugs.ts';
import { INTERPRET_BUGS } from '../vmm/interpret/bugs.ts';
import { BT_BUGS } from '../vmm/bt/bugs.ts';
import { BtEngine } from './bt.ts';
import type { EngineEntry, EngineFactory } from './engine.ts';
import { InterpretEngine } from './interpret.ts';
import { loadedPlugin } from './plugin.ts';
import { NativeEngine } from './native.ts';
import { isCommandEngine, remoteFactory } from './remote.ts';
import { TrapEmulateEngine } from './trap-emulate.ts';
import { VmxEptEngine } from './vmx-ept.ts';
import { VmxShadowEngine } from './vmx-shadow.ts';

export const ENGINES: Readonly<Record<string, EngineEntry>> = {
  spec: {
    make: (image, config) => new SpecMachine(image, config),
    expected: 'reference',
    summary: 'the reference model',
    bugs: {},
  },
  native: {
    make: (image, config) => new NativeEngine(image, config),
    expected: 'equivalent',
    summary: 'the guest directly on the simulated host hardware, gpa = hpa',
    bugs: HW_BUGS,
  },
  interpret: {
    make: (image, config) => new InterpretEngine(image, config),
    expected: 'equivalent',
    summary: 'SIE-style interpretive execution',
    bugs: INTERPRET_BUGS,
  },
  'vmx-shadow': {
    make: (image, config) => new VmxShadowEngine(image, config),
    expected: 'equivalent',
    summary: 'VMX-lite non-root mode on shadow page tables',
    bugs: VMM_BUGS,
  },
  'vmx-ept': {
    make: (image, config) => new VmxEptEngine(image, config),
    expected: 'equivalent',
    summary: 'VMX-lite non-root mode with nested paging (EPT)',
    bugs: EPT_VM_BUGS,
  },
  bt: {
    make: (image, config) => new BtEngine(image, config),
    expected: 'equivalent',
    summary: 'software VMM: guest code run from a translation cache, sensitive instructions as callouts, shadow paging',
    bugs: BT_BUGS,
  },
  'trap-emulate': {
    make: (image, config) => new TrapEmulateEngine(image, config),
    expected: 'refuted',
    summary: 'classic trap-and-emulate on legacy hardware, guest kernel at ring 1',
    bugs: {},
  },
};

export const ENGINE_NAMES: readonly string[] = Object.keys(ENGINES);

/**
 * The registry's row for `name`, or undefined. `cmd:COMMAND` is a process speaking the engine
 * protocol (remote.ts); a plugin loaded in this thread goes by its absolute path (plugin.ts).
 */
export function findEngine(name: string): EngineEntry | undefined {
  if (isCommandEngine(name))
    return { make: remoteFactory(name), expected: 'equivalent', summary: 'a process speaking the engine protocol', bugs: {} };
  return Object.hasOwn(ENGINES, name) ? ENGINES[name] : loadedPlugin(name);
}

/** The factory of a registered engine; an unknown name is a caller's bug here (the CLI checks first). */
export function engineFactory(name: string): EngineFactory {
  const entry = findEngine(name);
  if (!entry) throw new Error(`unknown engine '${name}' (one of ${ENGINE_NAMES.join(', ')})`);
  return entry.make;
}

/** The engines expected to be equivalent to the reference model, checked by default. */
export const EQUIVALENT_ENGINES: readonly string[] = ENGINE_NAMES.filter((n) => ENGINES[n]!.expected === 'equivalent');

/** The known-bug catalog (DESIGN §8): every switch any engine understands, with its engines. */
export const BUG_CATALOG: Readonly<Record<string, { engines: readonly string[]; description: string }>> = (() => {
  const catalog: Record<string, { engines: string[]; description: string }> = {};
  for (const [engine, entry] of Object.entries(ENGINES))
    for (const [name, description] of Object.entries(entry.bugs)) (catalog[name] ??= { engines: [], description }).engines.push(engine);
  return catalog;
})();
