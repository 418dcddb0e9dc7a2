// Known bugs the interpreting VMM can be built with (DESIGN §8), switched on by name in
// `MachineConfig.bugs`. Each is a real class of bug; off by default.

export const INTERPRET_BUGS = {
  'interpret-no-ad':
    "the interpreter's software page walker never sets guest A/D bits (DESIGN §3.5.5): an OS relying on them for page aging or dirty tracking loses data",
} as const;

export type InterpretBug = keyof typeof INTERPRET_BUGS;

export interface InterpretBugs {
  noAccessedDirty: boolean;
}

export function interpretBugs(names: readonly string[] = []): InterpretBugs {
  return { noAccessedDirty: names.includes('interpret-no-ad') };
}
