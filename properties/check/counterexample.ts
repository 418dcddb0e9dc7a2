// A counterexample as people read and re-run it (issue 14.1–3): a name that is unique per
// campaign, bug set and content; the program split into the generated body and the fixed
// set-up around it, which the saved `.s` pulls in with `.include` (spec/asm/README.md);
// the one `popek diff` command that reproduces it; and a report that fits a screen.

import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import type { ReplayFile } from './replay-file.ts';
import { engineLabel, isPluginPath } from '../../src/engines/plugin.ts';
import { COMMAND_PREFIX, isCommandEngine } from '../../src/engines/remote.ts';

/** A saved counterexample: the replay file's fields plus where it came from in the campaign. */
export interface Found extends ReplayFile {
  /** The campaign seed (`--seed`), not fast-check's seed of the chunk. */
  campaignSeed: number;
  chunk: number;
}

export const shortHash = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 8);

/** The replay file's text: what the name's hash is of, so equal content means an equal name. */
export const replayText = (f: ReplayFile): string => JSON.stringify(f, null, 2) + '\n';

/** `ENGINE-PROPERTY-BUGS-SEED-CHUNK-HASH`, without extension: unique per campaign, bug set and content. */
export function counterexampleName(f: Found): string {
  const bugs = f.bugs.length > 0 ? [...f.bugs].sort().join('+') : 'no-bug';
  // A plugin goes by its module's name, a process engine by its command line: safe characters only.
  const engine = isPluginPath(f.engine) ? basename(f.engine).replace(/\.[^.]*$/, '') : f.engine;
  return `${engine.replace(/[^\w.-]+/g, '_').slice(0, 60)}-${f.property}-${bugs}-${f.campaignSeed >>> 0}-${f.chunk}-${shortHash(replayText(toReplayFile(f)))}`;
}

export function toReplayFile(f: ReplayFile): ReplayFile {
  return {
    popek: f.popek,
    version: f.version,
    property: f.property,
    engine: f.engine,
    bugs: f.bugs,
    seed: f.seed,
    path: f.path,
    source: f.source,
    events: f.events,
    ramBytes: f.ramBytes,
    maxSteps: f.maxSteps,
    // Without it a forced-emulation finding replays on the plain engine and "now agrees".
    ...(f.forcedEmulation === true ? { forcedEmulation: true } : {}),
    ...(f.observe === 'end' ? { observe: 'end' as const } : {}),
    instructions: f.instructions,
    divergence: f.divergence,
  };
}

/** A generated program cut at its `body:` and `body_end:` labels (properties/arbitraries/render.ts). */
export interface SplitCase {
  /** The `; setup: ...` line of the generated header. */
  setup: string | undefined;
  /** Everything before `body:` but the header comment: layout, the prologue that falls into the body. */
  prelude: string;
  /** From `body:` to `body_end:`, both included. */
  body: string[];
  /** Everything after `body_end:`: epilogue, handlers, IDT, TSS, variables, page tables. */
  postlude: string;
}

export function splitCase(source: string): SplitCase | undefined {
  const lines = source.split('\n');
  const start = lines.indexOf('body:');
  const end = lines.indexOf('body_end:');
  if (start < 0 || end < start) return undefined;
  let headerEnd = 0;
  while (headerEnd < start && lines[headerEnd]!.startsWith(';')) headerEnd++;
  const setup = lines.slice(0, headerEnd).find((l) => l.startsWith('; setup:'));
  return {
    setup,
    prelude: lines.slice(headerEnd, start).join('\n').trim() + '\n',
    body: lines.slice(start, end + 1),
    postlude:
      lines
        .slice(end + 1)
        .join('\n')
        .trim() + '\n',
  };
}

/** `128K`, `1M`, or bytes: as `--ram` reads it back. */
export function ramText(bytes: number): string {
  if (bytes % 0x100000 === 0) return `${bytes / 0x100000}M`;
  return bytes % 1024 === 0 ? `${bytes / 1024}K` : String(bytes);
}

/**
 * The one command that reproduces the failure (issue 14.2): `popek diff` for a divergence
 * from the spec; `popek replay` for the other properties, which diff does not check, and
 * for a case run with forced emulation.
 */
export function reproduceCommand(f: ReplayFile, sPath: string, eventsPath: string | undefined, replayPath: string): string {
  // diff runs engines as they are: forced emulation (a test mode of the VMX engines) only replays.
  if (f.property !== 'equivalence' || f.forcedEmulation === true) return `popek replay ${replayPath}`;
  return [
    `popek diff ${sPath} ${engineFlag(f.engine)}`,
    ...f.bugs.map((b) => `--bug ${b}`),
    ...(f.observe === 'end' ? ['--observe end'] : []),
    `--ram ${ramText(f.ramBytes)} --max-steps ${f.maxSteps}`,
    ...(eventsPath === undefined ? [] : [`--events ${eventsPath}`]),
  ].join(' ');
}

/** How the command line names an engine: `--engine-cmd '…'` for a process, a plugin by its path from here. */
function engineFlag(engine: string): string {
  if (isCommandEngine(engine)) return `--engine-cmd '${engine.slice(COMMAND_PREFIX.length).replace(/'/g, "'\\''")}'`;
  return `--engine ${engineLabel(engine)}`;
}

export interface SavedFiles {
  /** The set-up files the `.s` includes, by name relative to it; empty when the source did not split. */
  preludeName?: string;
  postludeName?: string;
  prelude?: string;
  postlude?: string;
  /** The `.s` text. */
  program: string;
}

/**
 * The `.s` of a counterexample: a header that says what it is and how to reproduce it,
 * `.include` of the set-up, the generated body, `.include` of the rest. The set-up files
 * are named by their content, so counterexamples that share a set-up share the files.
 */
export function programFiles(f: ReplayFile, command: string, split: SplitCase | undefined = splitCase(f.source)): SavedFiles {
  const header = [
    `; popek counterexample: ${f.property} on ${f.engine}${f.bugs.length ? ` with --bug ${f.bugs.join(' --bug ')}` : ''}`,
    `; reproduce: ${command}`,
  ];
  if (split === undefined) return { program: [...header, '', f.source].join('\n') };
  const h = shortHash(split.prelude + split.postlude);
  const preludeName = `prelude-${h}.s`;
  const postludeName = `postlude-${h}.s`;
  const program = [
    ...header,
    ...(split.setup === undefined ? [] : [split.setup]),
    `.include "${preludeName}"    ; layout, and the prologue (stack, IDT, TSS, paging) that falls into the body`,
    ...split.body,
    `.include "${postludeName}"   ; epilogue, handlers, IDT, TSS, variables, page tables`,
    '',
  ].join('\n');
  return {
    preludeName,
    postludeName,
    prelude: `; popek counterexample set-up: the part before the generated body\n${split.prelude}`,
    postlude: `; popek counterexample set-up: the part after the generated body\n${split.postlude}`,
    program,
  };
}

export interface ReportInput {
  found: Found;
  /** Runs of the campaign up to the failure; shrink steps of fast-check. */
  runs: number;
  shrinks: number;
  /** The one-line description of each bug switched on. */
  bugDescriptions: Readonly<Record<string, string>>;
  replayPath: string;
  sPath: string;
  command: string;
  /** The first divergence: brief (differing fields) or, with --verbose, in full. */
  divergence: string;
  verbose: boolean;
}

const LABEL_LINE = /^([A-Za-z_.][\w.]*):\s*$/;

/**
 * The body as a report shows it: without the label lines no instruction refers to (each
 * piece's `pN:`/`pN_end:`, `body_end:`), which mark pieces for the generator's statistics
 * but tell a reader nothing the piece's `; ---- pN` heading does not. `body:` stays. The
 * saved `.s` keeps every line.
 */
export function briefBody(body: readonly string[]): string[] {
  const code = body.map((l) => l.replace(/;.*$/, '')).join('\n');
  const referenced = (name: string) => new RegExp(`(?<![\\w.])${name.replace(/\./g, '\\.')}(?![\\w.:])`).test(code);
  return body.filter((l, i) => {
    const m = LABEL_LINE.exec(l);
    return i === 0 || m === null || referenced(m[1]!);
  });
}

/**
 * What `popek check` prints for a counterexample (issue 14.3): a header, the generated
 * body only (the set-up is in the included files; labels nothing refers to left out), and
 * the first divergence. With `verbose`: the whole program instead of the body.
 */
export function formatReport(r: ReportInput): string {
  const f = r.found;
  const split = splitCase(f.source);
  const program =
    r.verbose || split === undefined ? f.source.trimEnd().split('\n') : [...(split.setup ? [split.setup] : []), ...briefBody(split.body)];
  return [
    `counterexample: ${f.property} on ${f.engine}, seed ${f.campaignSeed >>> 0}: after ${r.runs} runs and ${r.shrinks} shrink steps, ${f.instructions} body instructions`,
    ...f.bugs.map((b) => `bug ${b}: ${r.bugDescriptions[b] ?? '(no description)'}`),
    `reproduce: ${r.command}`,
    `saved: ${r.replayPath} (popek replay), ${r.sPath}`,
    ...(f.events.length > 0 ? [`events: ${f.events.length} host events (in the --events file)`] : []),
    '',
    ...program,
    '',
    r.divergence,
    ...(r.verbose ? [] : ['', '(--verbose: the whole program and every field of both observations)']),
    '',
  ].join('\n');
}
