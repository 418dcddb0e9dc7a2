// The import rules of src/vmm/README.md, over the import graph as written (type imports
// included): what each folder may import, and no cycle anywhere in src/vmm.

import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { expect, test } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const VMM = join(ROOT, 'src/vmm');

/** Per folder of src/vmm: the repository paths (prefixes) its files may import. */
const MAY_IMPORT: Record<string, readonly string[]> = {
  core: ['src/vmm/core/', 'src/hw/', 'spec/observation.ts'],
  shadow: ['src/vmm/shadow/', 'src/vmm/core/', 'src/hw/', 'spec/observation.ts'],
  ept: ['src/vmm/ept/', 'src/vmm/core/', 'src/hw/', 'spec/observation.ts'],
  'trap-emulate': ['src/vmm/trap-emulate/', 'src/vmm/shadow/', 'src/vmm/core/', 'src/hw/', 'spec/observation.ts'],
  interpret: ['src/vmm/interpret/', 'src/hw/arch.ts', 'spec/observation.ts'],
};

const IMPORT = /(?:import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/g;

/** Every .ts file of src/vmm with the repository paths of its relative imports. */
function graph(): Map<string, { path: string; typeOnly: boolean }[]> {
  const g = new Map<string, { path: string; typeOnly: boolean }[]>();
  for (const entry of readdirSync(VMM, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const file = join(entry.parentPath, entry.name);
    const deps = [...readFileSync(file, 'utf8').matchAll(IMPORT)]
      .filter((m) => m[2]!.startsWith('.'))
      .map((m) => ({ path: relative(ROOT, resolve(dirname(file), m[2]!)), typeOnly: m[1] !== undefined }));
    g.set(relative(ROOT, file), deps);
  }
  return g;
}

test('each folder of src/vmm imports only what its README allows', () => {
  const bad: string[] = [];
  for (const [file, deps] of graph()) {
    const folder = file.split('/')[2]!;
    const allowed = MAY_IMPORT[folder];
    if (allowed === undefined) continue; // README.md and files at the top have no imports
    for (const d of deps) {
      if (!allowed.some((p) => d.path.startsWith(p))) bad.push(`${file} imports ${d.path}`);
      // DESIGN §1: src/ takes only the types of the observation shape from spec/.
      if (d.path.startsWith('spec/') && !d.typeOnly) bad.push(`${file} imports a value from ${d.path}`);
    }
  }
  expect(bad).toEqual([]);
});

test('src/vmm has no import cycle, type imports included', () => {
  const g = graph();
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string): void => {
    state.set(f, 'open');
    stack.push(f);
    for (const { path } of g.get(f) ?? []) {
      if (!g.has(path)) continue;
      if (state.get(path) === 'open') cycles.push([...stack.slice(stack.indexOf(path)), path].join(' → '));
      else if (state.get(path) === undefined) visit(path);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of g.keys()) if (state.get(f) === undefined) visit(f);
  expect(cycles).toEqual([]);
});
