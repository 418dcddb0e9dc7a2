// The import graph of the repository and the boundaries DESIGN §1 sets on it.
//
// Why a test and not dependency-cruiser: dependency-cruiser 18 needs Node 22 and this
// project runs on Node 20 (package.json `engines`); the TypeScript compiler, already a
// dev dependency, parses every import form exactly. The checker is pure: `parseImports`
// reads one file's text, `checkBoundaries` and `findCycles` judge a list of edges, so
// tests/architecture/import-graph.test.ts can plant small graphs and see each rule fire.
//
// Every import counts, `import type` included, unless a rule says otherwise: a type
// import is still a dependency a reader has to follow, and a cycle of types is a cycle of
// concepts.

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, posix, relative, sep } from 'node:path';
import ts from 'typescript';

/** One import as written in a file: `import`, `export … from`, `import()` or `import('x').T`. */
export interface RawImport {
  specifier: string;
  /** True for `import type`, `export type`, `import { type A, type B }` and `import('x').T` types. */
  typeOnly: boolean;
  /** 1-based line of the import in its file. */
  line: number;
}

/** An edge of the graph between two repository files (paths relative to the root, with `/`). */
export interface ImportEdge {
  from: string;
  to: string;
  specifier: string;
  typeOnly: boolean;
  line: number;
}

export interface Violation {
  rule: string;
  message: string;
}

const SOURCE_EXT = /\.(ts|mts|cts|js|mjs|cjs)$/;

/** Every import of one file, from its text. Parses with the TypeScript compiler (no type checking). */
export function parseImports(fileName: string, text: string): RawImport[] {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, false);
  const out: RawImport[] = [];
  const add = (spec: ts.Node, typeOnly: boolean): void => {
    if (!ts.isStringLiteralLike(spec)) return;
    out.push({ specifier: spec.text, typeOnly, line: sf.getLineAndCharacterOfPosition(spec.getStart(sf)).line + 1 });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      // `import { type A, type B } from` elides to nothing at runtime, like `import type`;
      // `import 'x'` (no clause) and `import {} from 'x'` keep the module's side effects.
      const bindings = clause?.namedBindings;
      const allNamedTypes =
        clause !== undefined &&
        clause.name === undefined &&
        bindings !== undefined &&
        ts.isNamedImports(bindings) &&
        bindings.elements.length > 0 &&
        bindings.elements.every((e) => e.isTypeOnly);
      add(node.moduleSpecifier, clause !== undefined && (clause.isTypeOnly || allNamedTypes));
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier !== undefined) {
      const clause = node.exportClause;
      const allNamedTypes =
        clause !== undefined && ts.isNamedExports(clause) && clause.elements.length > 0 && clause.elements.every((e) => e.isTypeOnly);
      add(node.moduleSpecifier, node.isTypeOnly || allNamedTypes);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node.moduleReference.expression, node.isTypeOnly);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const arg = node.arguments[0];
      if (arg !== undefined) add(arg, false);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node.argument.literal, true);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** The repository file a relative specifier names, or undefined for a package or a file that does not exist. */
function resolve(root: string, fromFile: string, specifier: string): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  const base = join(root, dirname(fromFile), specifier);
  for (const candidate of [base, `${base}.ts`, join(base, 'index.ts')]) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return relative(root, candidate).split(sep).join('/');
  }
  return undefined;
}

function sourceFiles(root: string, dir: string): string[] {
  const abs = join(root, dir);
  if (!existsSync(abs)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(abs, { withFileTypes: true })) {
    const rel = posix.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules') out.push(...sourceFiles(root, rel));
    } else if (SOURCE_EXT.test(entry.name)) {
      out.push(rel);
    }
  }
  return out.sort();
}

/**
 * The import graph of the files under `dirs` (relative to `root`): one edge per import
 * of another repository file. Imports of packages (`vitest`, `node:fs`) are not edges.
 * A relative import that names no file is reported in `unresolved` (tsc rejects it too).
 */
export function scanImports(root: string, dirs: readonly string[]): { files: string[]; edges: ImportEdge[]; unresolved: string[] } {
  const files = dirs.flatMap((d) => sourceFiles(root, d));
  const edges: ImportEdge[] = [];
  const unresolved: string[] = [];
  for (const from of files) {
    for (const imp of parseImports(from, readFileSync(join(root, from), 'utf8'))) {
      if (!imp.specifier.startsWith('.')) continue;
      const to = resolve(root, from, imp.specifier);
      if (to === undefined) unresolved.push(`${from}:${imp.line} imports '${imp.specifier}', which names no file`);
      else edges.push({ from, to, specifier: imp.specifier, typeOnly: imp.typeOnly, line: imp.line });
    }
  }
  return { files, edges, unresolved };
}

// ---------------------------------------------------------------------------------------
// The rules (DESIGN §1; issue 13 item 1).

/** Layers of the down-pointing order `cli → properties → engines → vmm → hw` (DESIGN §1). */
const LAYERS: readonly { prefix: string; name: string }[] = [
  { prefix: 'src/hw/', name: 'src/hw' },
  { prefix: 'src/vmm/', name: 'src/vmm' },
  { prefix: 'src/engines/', name: 'src/engines' },
  { prefix: 'properties/', name: 'properties' },
  { prefix: 'src/cli/', name: 'src/cli' },
];

const layerOf = (file: string): number => LAYERS.findIndex((l) => file.startsWith(l.prefix));

/** The one spec/ file src/hw and src/vmm may import, and only with `import type`. */
export const OBSERVATION = 'spec/observation.ts';

/**
 * The folders of src/vmm and the other src/vmm folders each may import (its own folder
 * always; src/hw through the layer rule). A folder missing from this table is itself a
 * violation: a new folder states what it may import (its README and here) before it lands.
 */
export const VMM_FOLDERS: Readonly<Record<string, readonly string[]>> = {
  core: [],
  shadow: ['core'],
  ept: ['core'],
  'trap-emulate': ['shadow', 'core'],
  bt: ['shadow', 'core'],
  interpret: [],
};

/** The src/vmm folder of a file (`core` for src/vmm/core/p2m.ts; `.` for a file directly in src/vmm). */
const vmmFolderOf = (file: string): string | undefined => {
  if (!file.startsWith('src/vmm/')) return undefined;
  const rest = file.slice('src/vmm/'.length);
  const slash = rest.indexOf('/');
  return slash < 0 ? '.' : rest.slice(0, slash);
};

const where = (e: ImportEdge): string => `${e.from}:${e.line} ${e.typeOnly ? 'import type' : 'imports'} '${e.specifier}' (${e.to})`;

/** Every boundary an edge crosses that DESIGN §1 forbids. Cycles are `findCycles`' job. */
export function checkBoundaries(edges: readonly ImportEdge[]): Violation[] {
  const out: Violation[] = [];
  const seenFolders = new Set<string>();
  for (const e of edges) {
    const fromLayer = layerOf(e.from);
    const toLayer = layerOf(e.to);
    if (fromLayer >= 0 && toLayer > fromLayer) {
      out.push({
        rule: 'imports point down',
        message: `${where(e)}: ${LAYERS[fromLayer]?.name} may not import ${LAYERS[toLayer]?.name} (imports point down: cli → properties → engines → vmm → hw, DESIGN §1)`,
      });
    }
    if (e.from.startsWith('spec/') && !e.to.startsWith('spec/')) {
      out.push({
        rule: 'spec is independent',
        message: `${where(e)}: spec/ imports only spec/ (nothing from src/, not even types: an independent implementation, DESIGN §1)`,
      });
    }
    if ((e.from.startsWith('src/hw/') || e.from.startsWith('src/vmm/')) && e.to.startsWith('spec/')) {
      if (e.to !== OBSERVATION || !e.typeOnly) {
        out.push({
          rule: 'src is independent of spec',
          message: `${where(e)}: src/hw and src/vmm import from spec/ only \`import type\` of ${OBSERVATION} (DESIGN §1)`,
        });
      }
    }
    const fromFolder = vmmFolderOf(e.from);
    const toFolder = vmmFolderOf(e.to);
    if (fromFolder !== undefined && toFolder !== undefined && fromFolder !== toFolder) {
      const allowed = VMM_FOLDERS[fromFolder];
      if (allowed === undefined) {
        if (!seenFolders.has(fromFolder)) {
          seenFolders.add(fromFolder);
          out.push({
            rule: 'src/vmm folders',
            message: `${where(e)}: ${fromFolder === '.' ? 'the top level of src/vmm' : `src/vmm/${fromFolder}`} is not in VMM_FOLDERS (tests/architecture/import-graph.ts): say which src/vmm folders it may import`,
          });
        }
      } else if (!allowed.includes(toFolder)) {
        const may = allowed.length === 0 ? 'no other src/vmm folder' : allowed.map((f) => `${f}/`).join(', ');
        out.push({
          rule: 'src/vmm folders',
          message: `${where(e)}: src/vmm/${fromFolder}/ may import ${may} (and src/hw), not ${toFolder === '.' ? 'src/vmm/' : `${toFolder}/`}`,
        });
      }
    }
  }
  return out;
}

/**
 * The cycles among the files `within` selects, each as a path `a → b → a`: for every file
 * on a cycle, one shortest cycle through it (Tarjan's strongly connected components, then
 * a breadth-first search inside each), without repeats. Not every elementary cycle (there
 * can be exponentially many), but every file on a cycle appears in at least one.
 */
export function findCycles(edges: readonly ImportEdge[], within: (file: string) => boolean): string[][] {
  const succ = new Map<string, string[]>();
  for (const e of edges) {
    if (!within(e.from) || !within(e.to)) continue;
    const list = succ.get(e.from) ?? [];
    if (!list.includes(e.to)) list.push(e.to);
    succ.set(e.from, list);
    if (!succ.has(e.to)) succ.set(e.to, []);
  }
  for (const list of succ.values()) list.sort();
  const nodes = [...succ.keys()].sort();

  // Tarjan: component id per node.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const comp = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  let counter = 0;
  let comps = 0;
  const strong = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter);
    counter++;
    stack.push(v);
    onStack.add(v);
    for (const w of succ.get(v) ?? []) {
      if (!index.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v) ?? 0, index.get(w) ?? 0));
      }
    }
    if (low.get(v) === index.get(v)) {
      let w: string | undefined;
      do {
        w = stack.pop();
        if (w === undefined) break;
        onStack.delete(w);
        comp.set(w, comps);
      } while (w !== v);
      comps++;
    }
  };
  for (const v of nodes) if (!index.has(v)) strong(v);

  const cycles: string[][] = [];
  const seen = new Set<string>();
  for (const start of nodes) {
    const c = comp.get(start);
    const selfLoop = (succ.get(start) ?? []).includes(start);
    const size = nodes.filter((n) => comp.get(n) === c).length;
    if (size < 2 && !selfLoop) continue;
    // Shortest path start → … → start inside the component.
    const prev = new Map<string, string>();
    const queue: string[] = [start];
    let found = selfLoop;
    for (let i = 0; i < queue.length && !found; i++) {
      const v = queue[i] as string;
      for (const w of succ.get(v) ?? []) {
        if (comp.get(w) !== c) continue;
        if (w === start) {
          prev.set(start, v);
          found = true;
          break;
        }
        if (!prev.has(w)) {
          prev.set(w, v);
          queue.push(w);
        }
      }
    }
    const path: string[] = [start];
    if (!selfLoop) {
      for (let v = prev.get(start); v !== undefined && v !== start; v = prev.get(v)) path.unshift(v);
      path.unshift(start);
    } else {
      path.push(start);
    }
    // Canonical form: rotate so the smallest file comes first.
    const ring = path.slice(0, -1);
    const first = ring.indexOf([...ring].sort()[0] as string);
    const canon = [...ring.slice(first), ...ring.slice(0, first)];
    const key = canon.join(' ');
    if (seen.has(key)) continue;
    seen.add(key);
    cycles.push([...canon, canon[0] as string]);
  }
  return cycles;
}

/** `a.ts:5 → b.ts:3 → a.ts`: each file with the line of its import of the next. */
export function describeCycle(cycle: readonly string[], edges: readonly ImportEdge[]): string {
  return cycle
    .map((file, i) => {
      const next = cycle[i + 1];
      const e = next === undefined ? undefined : edges.find((x) => x.from === file && x.to === next);
      return e === undefined ? file : `${file}:${e.line}${e.typeOnly ? ' (type)' : ''}`;
    })
    .join(' → ');
}

/** The folders whose files are scanned. */
export const SCANNED = ['spec', 'src', 'properties', 'tests', 'bin'] as const;

/**
 * Every violation of a scanned repository: boundaries, then cycles, then unresolved
 * imports. Cycles are looked for among all scanned files, not only in src/ (the issue's
 * minimum): spec/, properties/ and tests/ have none either, and should keep it so.
 */
export function checkGraph({ edges, unresolved }: { edges: readonly ImportEdge[]; unresolved: readonly string[] }): Violation[] {
  return [
    ...checkBoundaries(edges),
    ...findCycles(edges, () => true).map((c) => ({ rule: 'no cycles', message: `cycle: ${describeCycle(c, edges)}` })),
    ...unresolved.map((message) => ({ rule: 'imports resolve', message })),
  ];
}
