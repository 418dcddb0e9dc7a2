// The import checker itself (tests/architecture/import-graph.ts): every rule fires on a
// small planted graph, stays quiet on the allowed imports beside it, and the parser sees
// every import form. A boundary check that is only ever run on a clean tree cannot show
// it checks anything.

import { describe, expect, test } from 'vitest';
import { checkBoundaries, describeCycle, findCycles, parseImports, type ImportEdge } from './import-graph.ts';

/** An edge `from → to`, a value import unless `type` says otherwise; line 1. */
const edge = (from: string, to: string, typeOnly = false): ImportEdge => ({ from, to, specifier: to, typeOnly, line: 1 });

const rulesOf = (edges: ImportEdge[]): string[] => checkBoundaries(edges).map((v) => v.rule);

describe('parseImports', () => {
  test('every import form, with type-only told apart', () => {
    const text = [
      "import { a } from './a.ts';",
      "import type { B } from './b.ts';",
      "import { type C, type D } from './c.ts';",
      "import { type E, f } from './e.ts';",
      "import g, { type G } from './g.ts';",
      "import './side-effect.ts';",
      "export { h } from './h.ts';",
      "export type { I } from './i.ts';",
      "export * from './star.ts';",
      "const m = await import('./dynamic.ts');",
      "let t: import('./typeof.ts').T;",
      'import {',
      '  multi,',
      "} from './multi.ts';",
      "import fc from 'fast-check';",
    ].join('\n');
    expect(parseImports('x.ts', text)).toEqual([
      { specifier: './a.ts', typeOnly: false, line: 1 },
      { specifier: './b.ts', typeOnly: true, line: 2 },
      { specifier: './c.ts', typeOnly: true, line: 3 },
      { specifier: './e.ts', typeOnly: false, line: 4 },
      { specifier: './g.ts', typeOnly: false, line: 5 },
      { specifier: './side-effect.ts', typeOnly: false, line: 6 },
      { specifier: './h.ts', typeOnly: false, line: 7 },
      { specifier: './i.ts', typeOnly: true, line: 8 },
      { specifier: './star.ts', typeOnly: false, line: 9 },
      { specifier: './dynamic.ts', typeOnly: false, line: 10 },
      { specifier: './typeof.ts', typeOnly: true, line: 11 },
      { specifier: './multi.ts', typeOnly: false, line: 14 },
      { specifier: 'fast-check', typeOnly: false, line: 15 },
    ]);
  });
});

describe('imports point down (cli → properties → engines → vmm → hw)', () => {
  test.each([
    ['src/hw/cpu.ts', 'src/vmm/core/p2m.ts', 'src/hw may not import src/vmm'],
    ['src/hw/cpu.ts', 'src/engines/engine.ts', 'src/hw may not import src/engines'],
    ['src/hw/cpu.ts', 'src/cli/main.ts', 'src/hw may not import src/cli'],
    ['src/vmm/shadow/vm.ts', 'src/engines/registry.ts', 'src/vmm may not import src/engines'],
    ['src/vmm/core/host.ts', 'src/cli/run.ts', 'src/vmm may not import src/cli'],
    ['src/engines/registry.ts', 'src/cli/usage.ts', 'src/engines may not import src/cli'],
    ['src/engines/registry.ts', 'properties/budget.ts', 'src/engines may not import properties'],
    ['properties/robustness.test.ts', 'src/cli/observation-json.ts', 'properties may not import src/cli'],
  ])('%s → %s is reported, type imports too', (from, to, says) => {
    for (const typeOnly of [false, true]) {
      const found = checkBoundaries([edge(from, to, typeOnly)]);
      expect(found.map((v) => v.rule)).toEqual(['imports point down']);
      expect(found[0]?.message).toContain(from);
      expect(found[0]?.message).toContain(to);
      expect(found[0]?.message).toContain(says);
    }
  });

  test('downward and sideways imports, and tests/ importing anything, are allowed', () => {
    expect(
      rulesOf([
        edge('src/cli/main.ts', 'properties/check/campaign.ts'),
        edge('src/cli/main.ts', 'src/hw/cpu.ts'),
        edge('properties/robustness.test.ts', 'src/engines/registry.ts'),
        edge('src/engines/vmx-shadow.ts', 'src/vmm/shadow/vm.ts'),
        edge('src/vmm/core/host.ts', 'src/hw/cpu.ts'),
        edge('src/hw/cpu.ts', 'src/hw/mmu.ts'),
        edge('tests/cli/cli.test.ts', 'src/cli/main.ts'),
        edge('tests/hw/vmx.test.ts', 'spec/machine.ts'),
      ]),
    ).toEqual([]);
  });
});

describe('spec/ and src/hw, src/vmm are independent', () => {
  test('spec/ imports nothing outside spec/, not even a type', () => {
    expect(rulesOf([edge('spec/machine.ts', 'src/hw/cpu.ts')])).toEqual(['spec is independent']);
    expect(rulesOf([edge('spec/observation.ts', 'src/engines/engine.ts', true)])).toEqual(['spec is independent']);
    expect(rulesOf([edge('spec/machine.ts', 'spec/state.ts')])).toEqual([]);
  });

  test('src/hw and src/vmm import only the observation types from spec/', () => {
    const [value] = checkBoundaries([edge('src/hw/cpu.ts', 'spec/observation.ts')]);
    expect(value?.rule).toBe('src is independent of spec');
    expect(value?.message).toContain('src/hw/cpu.ts:1 imports');
    expect(value?.message).toContain('only `import type` of spec/observation.ts');
    expect(rulesOf([edge('src/vmm/core/walker.ts', 'spec/paging.ts', true)])).toEqual(['src is independent of spec']);
    expect(rulesOf([edge('src/vmm/interpret/decode.ts', 'spec/isa.ts')])).toEqual(['src is independent of spec']);
    expect(rulesOf([edge('src/hw/cpu.ts', 'spec/observation.ts', true), edge('src/vmm/core/p2m.ts', 'spec/observation.ts', true)])).toEqual(
      [],
    );
  });

  test('src/engines, src/cli and properties/ are where the sides meet', () => {
    expect(rulesOf([edge('src/engines/registry.ts', 'spec/machine.ts'), edge('properties/robustness.test.ts', 'spec/machine.ts')])).toEqual(
      [],
    );
  });
});

describe('src/vmm folders', () => {
  test.each([
    ['src/vmm/core/host.ts', 'src/vmm/shadow/vm.ts', 'no other src/vmm folder'],
    ['src/vmm/shadow/vm.ts', 'src/vmm/ept/vm.ts', 'core/'],
    ['src/vmm/ept/vcpu.ts', 'src/vmm/shadow/mmu.ts', 'core/'],
    ['src/vmm/trap-emulate/monitor.ts', 'src/vmm/ept/vm.ts', 'shadow/, core/'],
    ['src/vmm/interpret/execute.ts', 'src/vmm/core/bits.ts', 'no other src/vmm folder'],
  ])('%s → %s is reported (may import %s)', (from, to, may) => {
    for (const typeOnly of [false, true]) {
      const found = checkBoundaries([edge(from, to, typeOnly)]);
      expect(found.map((v) => v.rule)).toEqual(['src/vmm folders']);
      expect(found[0]?.message).toContain(`may import ${may}`);
    }
  });

  test('the allowed ones are quiet', () => {
    expect(
      rulesOf([
        edge('src/vmm/shadow/vm.ts', 'src/vmm/core/p2m.ts'),
        edge('src/vmm/ept/vm.ts', 'src/vmm/core/p2m.ts'),
        edge('src/vmm/trap-emulate/monitor.ts', 'src/vmm/shadow/vm.ts'),
        edge('src/vmm/trap-emulate/monitor.ts', 'src/vmm/core/host.ts'),
        edge('src/vmm/interpret/execute.ts', 'src/vmm/interpret/alu.ts'),
        edge('src/vmm/interpret/execute.ts', 'src/hw/arch.ts'),
      ]),
    ).toEqual([]);
  });

  test('a folder not in the table must declare itself, once', () => {
    const found = checkBoundaries([
      edge('src/vmm/jit/translate.ts', 'src/vmm/core/p2m.ts'),
      edge('src/vmm/jit/cache.ts', 'src/vmm/core/host.ts'),
    ]);
    expect(found.map((v) => v.message)).toEqual([expect.stringContaining('src/vmm/jit is not in VMM_FOLDERS')]);
  });
});

describe('findCycles', () => {
  test('a two-file cycle, as a path a → b → a, whatever kind of import closes it', () => {
    const edges = [
      edge('src/hw/deliver.ts', 'src/hw/cpu.ts', true),
      edge('src/hw/cpu.ts', 'src/hw/deliver.ts'),
      edge('src/hw/cpu.ts', 'src/hw/mmu.ts'),
    ];
    expect(findCycles(edges, () => true)).toEqual([['src/hw/cpu.ts', 'src/hw/deliver.ts', 'src/hw/cpu.ts']]);
  });

  test('every file on a cycle is on some reported cycle; the longer cycle is found too', () => {
    // a → b → c → a, plus b → a: a and b share the short cycle, c only lies on the long one.
    const edges = [edge('src/a.ts', 'src/b.ts'), edge('src/b.ts', 'src/c.ts'), edge('src/c.ts', 'src/a.ts'), edge('src/b.ts', 'src/a.ts')];
    expect(findCycles(edges, () => true)).toEqual([
      ['src/a.ts', 'src/b.ts', 'src/a.ts'],
      ['src/a.ts', 'src/b.ts', 'src/c.ts', 'src/a.ts'],
    ]);
  });

  test('a self-import is a cycle; a diamond is not', () => {
    expect(findCycles([edge('src/a.ts', 'src/a.ts')], () => true)).toEqual([['src/a.ts', 'src/a.ts']]);
    const diamond = [
      edge('src/a.ts', 'src/b.ts'),
      edge('src/a.ts', 'src/c.ts'),
      edge('src/b.ts', 'src/d.ts'),
      edge('src/c.ts', 'src/d.ts'),
    ];
    expect(findCycles(diamond, () => true)).toEqual([]);
  });

  test('only the selected files count', () => {
    const edges = [edge('src/a.ts', 'tests/x.ts'), edge('tests/x.ts', 'src/a.ts')];
    expect(findCycles(edges, (f) => f.startsWith('src/'))).toEqual([]);
    expect(findCycles(edges, () => true)).toHaveLength(1);
  });

  test('describeCycle names the line of each import', () => {
    const edges = [
      { from: 'src/hw/cpu.ts', to: 'src/hw/vmx.ts', specifier: './vmx.ts', typeOnly: true, line: 25 },
      { from: 'src/hw/vmx.ts', to: 'src/hw/cpu.ts', specifier: './cpu.ts', typeOnly: false, line: 17 },
    ];
    expect(describeCycle(['src/hw/cpu.ts', 'src/hw/vmx.ts', 'src/hw/cpu.ts'], edges)).toBe(
      'src/hw/cpu.ts:25 (type) → src/hw/vmx.ts:17 → src/hw/cpu.ts',
    );
  });
});
