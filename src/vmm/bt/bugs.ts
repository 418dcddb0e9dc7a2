// The bt half of the known-bug catalog (DESIGN §8, issue 19 item 3): named switches, off
// by default, each modelled on a real binary-translation bug, read only when the VMM
// translates, invalidates or performs a callout (never per natively run instruction).
// `popek check --engine bt --bug NAME` switches one on; src/engines/registry.ts lists them.

export const BT_BUGS = {
  'bt-stale-translation':
    'a guest store into code it has translated leaves the translation in the cache: after self-modifying code the VMM keeps running (and calling out for) the old instructions (the stale-translation class every BT system guards against with write tracing; QEMU TCG SMC bugs)',
  'bt-popf-ignores-if':
    'the translated popf updates the arithmetic flags and IOPL but not the virtual IF: a guest that clears IF by popf keeps taking interrupts (the popf problem, reintroduced in the translator)',
  'bt-callout-wrong-eip':
    "a callout that raises a fault saves the eip of the next instruction instead of its own: the guest's handler returns past the faulting instruction (a fault-eip mapping bug between the translation cache and guest code)",
} as const;

export type BtBug = keyof typeof BT_BUGS;

export const isBtBug = (name: string): name is BtBug => Object.hasOwn(BT_BUGS, name);

/** The switches as plain booleans. */
export class BtBugs {
  readonly staleTranslation: boolean;
  readonly popfIgnoresIf: boolean;
  readonly calloutWrongEip: boolean;

  constructor(names: readonly string[] = []) {
    const on = (b: BtBug): boolean => names.includes(b);
    this.staleTranslation = on('bt-stale-translation');
    this.popfIgnoresIf = on('bt-popf-ignores-if');
    this.calloutWrongEip = on('bt-callout-wrong-eip');
  }
}
