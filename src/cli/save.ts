// Saving a counterexample (issue 14.1–2, DESIGN §10 "replay files are never overwritten;
// every counterexample is also saved as .s (+ events) with the one command that
// reproduces it"). A name already taken by other content gets a `-2`, `-3`… suffix.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { assemble } from '../../spec/asm/assemble.ts';
import {
  counterexampleName,
  programFiles,
  replayText,
  reproduceCommand,
  toReplayFile,
  type Found,
  type SavedFiles,
} from '../../properties/check/counterexample.ts';

export interface Saved {
  replayPath: string;
  sPath: string;
  eventsPath: string | undefined;
  command: string;
}

/** True when `path` is free or already holds exactly `text`. */
const fits = (path: string, text: string) => !existsSync(path) || readFileSync(path, 'utf8') === text;

/** The first of `stem.ext`, `stem-2.ext`, … that is free or already holds `text`. */
function uniquePath(dir: string, stem: string, ext: string, text: string): string {
  for (let n = 1; ; n++) {
    const path = join(dir, `${stem}${n === 1 ? '' : `-${n}`}${ext}`);
    if (fits(path, text)) return path;
  }
}

export function saveCounterexample(dir: string, found: Found): Saved {
  mkdirSync(dir, { recursive: true });
  const file = toReplayFile(found);
  const json = replayText(file);
  const events = found.events.length > 0 ? JSON.stringify(found.events) + '\n' : undefined;
  const base = counterexampleName(found);
  for (let n = 1; ; n++) {
    const stem = n === 1 ? base : `${base}-${n}`;
    const replayPath = join(dir, `${stem}.json`);
    const sPath = join(dir, `${stem}.s`);
    const eventsPath = events === undefined ? undefined : join(dir, `${stem}.events.json`);
    const command = reproduceCommand(file, sPath, eventsPath, replayPath);
    const program = programText(dir, programFiles(file, command), found.source, command, file);
    // One stem for all three files: the first where none holds other content.
    if (!fits(replayPath, json) || !fits(sPath, program.text) || (eventsPath !== undefined && !fits(eventsPath, events!))) continue;
    for (const [path, text] of program.includes) writeFileSync(path, text);
    writeFileSync(replayPath, json);
    if (eventsPath !== undefined) writeFileSync(eventsPath, events!);
    writeFileSync(sPath, program.text);
    return { replayPath, sPath, eventsPath, command };
  }
}

/**
 * The `.s` text and the set-up files it includes. The set-up files are named by content
 * (shared between counterexamples; renamed if someone edited one). The split program must
 * be the program that failed, byte for byte: if not, the `.s` holds the whole source.
 */
function programText(dir: string, files: SavedFiles, source: string, command: string, file: ReturnType<typeof toReplayFile>) {
  if (files.preludeName === undefined || !sameImage(files, source))
    return { text: programFiles(file, command, undefined).program, includes: [] };
  const pre = uniquePath(dir, files.preludeName.replace(/\.s$/, ''), '.s', files.prelude!);
  const post = uniquePath(dir, files.postludeName!.replace(/\.s$/, ''), '.s', files.postlude!);
  const text = files.program
    .replace(`"${files.preludeName}"`, `"${basename(pre)}"`)
    .replace(`"${files.postludeName}"`, `"${basename(post)}"`);
  return {
    text,
    includes: [
      [pre, files.prelude!],
      [post, files.postlude!],
    ] as [string, string][],
  };
}

function sameImage(files: SavedFiles, source: string): boolean {
  const mem: Record<string, string> = { [files.preludeName!]: files.prelude!, [files.postludeName!]: files.postlude! };
  try {
    const split = assemble(files.program, 'case.s', {
      include: (path) => {
        const text = mem[path];
        if (text === undefined) throw new Error(`no ${path}`);
        return { file: path, source: text };
      },
    });
    return isDeepStrictEqual(split.image, assemble(source, 'case.s').image);
  } catch {
    return false;
  }
}
