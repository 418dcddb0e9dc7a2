// Every flag a command accepts is in its --help (issue 14.8): checked against the option
// tables the commands parse with, so a flag added without its help line fails here.

import { describe, expect, test } from 'vitest';
import { BENCH_HELP, BENCH_OPTIONS } from '../../src/cli/bench.ts';
import { CHECK_HELP, CHECK_OPTIONS } from '../../src/cli/check.ts';
import { CLASSIFY_HELP, CLASSIFY_OPTIONS } from '../../src/cli/classify.ts';
import { DIFF_HELP, DIFF_OPTIONS } from '../../src/cli/diff.ts';
import { MUTANTS_HELP, MUTANTS_OPTIONS } from '../../src/cli/mutants.ts';
import { REPLAY_HELP, REPLAY_OPTIONS } from '../../src/cli/replay.ts';
import { RUN_HELP, RUN_OPTIONS } from '../../src/cli/run.ts';

const COMMANDS: [string, string, Record<string, unknown>][] = [
  ['run', RUN_HELP, RUN_OPTIONS],
  ['diff', DIFF_HELP, DIFF_OPTIONS],
  ['check', CHECK_HELP, CHECK_OPTIONS],
  ['replay', REPLAY_HELP, REPLAY_OPTIONS],
  ['mutants', MUTANTS_HELP, MUTANTS_OPTIONS],
  ['classify', CLASSIFY_HELP, CLASSIFY_OPTIONS],
  ['bench', BENCH_HELP, BENCH_OPTIONS],
];

describe('--help lists every flag', () => {
  test.each(COMMANDS)('popek %s', (_name, help, options) => {
    const body = help.slice(help.indexOf('\n\n')); // past the usage lines
    for (const flag of Object.keys(options).filter((f) => f !== 'help'))
      expect(body, `--${flag}`).toMatch(new RegExp(`^ +--${flag}\\b`, 'm'));
  });
});
