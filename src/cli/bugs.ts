// The known-bug catalog as the command line sees it (DESIGN §8): every switch any engine
// understands, by name.

import { HW_BUGS } from '../hw/bugs.ts';
import { INTERPRET_BUGS } from '../vmm/interpret/bugs.ts';
import { VMM_BUGS } from '../vmm/bugs.ts';
import { EPT_BUGS } from '../vmm/ept/bugs.ts';

export const BUG_CATALOG: Readonly<Record<string, { engines: readonly string[]; description: string }>> = Object.fromEntries([
  ...Object.entries(HW_BUGS).map(([name, description]) => [name, { engines: ['native'], description }] as const),
  ...Object.entries(INTERPRET_BUGS).map(([name, description]) => [name, { engines: ['interpret'], description }] as const),
  ...Object.entries(VMM_BUGS).map(([name, description]) => [name, { engines: ['vmx-shadow'], description }] as const),
  ...Object.entries(EPT_BUGS).map(([name, description]) => [name, { engines: ['vmx-ept'], description }] as const),
]);
