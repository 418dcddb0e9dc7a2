// `popek init-vmm DIR` (DESIGN §10): write the starter VMM for students — DIR/vmm.ts, a
// small VMX-lite + shadow-paging VMM over popek/hw that runs paging-off guests correctly,
// and DIR/README.md, the stages still to build with the command that checks each. The
// files are src/kit's, copied as they are: the repository type-checks and tests them, so
// the kit cannot drift from the API.

import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { UsageError } from './usage.ts';

export const INIT_VMM_HELP = `usage: popek init-vmm DIR

Write a starter VMM into DIR (created if needed): DIR/vmm.ts, a small VMX-lite +
shadow-paging VMM written against popek/hw and popek/host, and DIR/README.md, the stages to build
next. Existing files are never overwritten. Then:
  popek check --engine DIR/vmm.ts --guests physical     passes as written
  popek check --engine DIR/vmm.ts --guests paging       your first exercise`;

const KIT_FILES = ['vmm.ts', 'README.md'] as const;

export function initVmmCommand(args: string[], out: (s: string) => void): number {
  const { values, positionals } = parseArgs({
    args,
    options: { help: { type: 'boolean', short: 'h', default: false } },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    out(INIT_VMM_HELP + '\n');
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('init-vmm: expected one DIR (see popek init-vmm --help)');
  const dir = positionals[0]!;
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new UsageError(`init-vmm: '${dir}' exists and is not a directory`);
  for (const f of KIT_FILES)
    if (existsSync(join(dir, f))) throw new UsageError(`init-vmm: '${join(dir, f)}' exists; popek never overwrites it`);
  mkdirSync(dir, { recursive: true });
  for (const f of KIT_FILES) writeFileSync(join(dir, f), readFileSync(new URL(`../kit/${f}`, import.meta.url)));
  out(
    [
      `wrote ${join(dir, 'vmm.ts')} and ${join(dir, 'README.md')}`,
      `  popek check --engine ${join(dir, 'vmm.ts')} --guests physical   passes as written`,
      `  popek check --engine ${join(dir, 'vmm.ts')} --guests paging     your first exercise (${join(dir, 'README.md')})`,
      '',
    ].join('\n'),
  );
  return 0;
}
