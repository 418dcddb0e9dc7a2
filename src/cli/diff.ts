// `popek diff FILE.s --engine E [--bug B]... [--events F] [--max-steps N] [--ram SIZE]` (DESIGN §10):
// run the spec and E in lockstep and print the first divergence, or "equivalent".

import { lockstep } from '../../properties/lockstep/lockstep.ts';
import { formatDivergence } from '../../properties/lockstep/report.ts';
import { engineFactory, makeEngine } from './engines.ts';
import { parseCommand, refuseWith } from './options.ts';
import { MACHINE_HELP, MACHINE_OPTIONS, checkBugs, runSetup } from './run.ts';
import { assembleFile } from './source.ts';

export const DIFF_HELP = `usage: popek diff FILE.s --engine E [--bug B]... [--ram SIZE] [--max-steps N] [--events FILE.json] [--json] [--verbose]

Run the spec and engine E side by side, compare the observations (DESIGN §2) after
every step, and print the first divergence: the fields that differ — or "equivalent".
${MACHINE_HELP.replace('(default: spec)', '(default: native)')}
  --verbose         print every field of both observations, not only those that differ
  --json            {equivalent, steps, divergence} as one JSON object
Exit 0 if equivalent, 1 on a divergence.`;

export const DIFF_OPTIONS = {
  ...MACHINE_OPTIONS,
  json: { type: 'boolean', default: false },
  verbose: { type: 'boolean', short: 'v', default: false },
} as const;

export function diffCommand(args: string[], out: (s: string) => void): number {
  const { values, positionals, given } = parseCommand('diff', args, DIFF_OPTIONS);
  if (values.help) {
    out(DIFF_HELP + '\n');
    return 0;
  }
  refuseWith(given, 'json', ['engine', 'bug', 'ram', 'max-steps', 'events']);
  const setup = runSetup(values, positionals, 'diff');
  const engine = values.engine ?? 'native';
  const make = engineFactory(engine); // an unknown engine is a usage error before any work
  checkBugs(engine, values.bug);
  const { image } = assembleFile(setup.file);
  const config = { ramBytes: setup.ramBytes };
  makeEngine('spec', image, config); // an image that does not fit is a usage error too
  const bugs = values.bug;
  const result = lockstep((img, cfg) => make(img, { ...cfg, bugs }), { image, config, events: setup.events, maxSteps: setup.maxSteps });
  if (values.json) {
    out(
      JSON.stringify({
        equivalent: !result.divergence,
        steps: result.steps,
        divergence: result.divergence && { ...result.divergence, spec: undefined, engine: undefined },
      }) + '\n',
    );
  } else if (result.divergence) {
    out(formatDivergence(result.divergence, engine, { color: process.stdout.isTTY === true, brief: !values.verbose }) + '\n');
  } else {
    out(`equivalent: spec and ${engine} agree on all ${result.steps} steps (status ${result.spec.status}, icount ${result.spec.icount})\n`);
  }
  return result.divergence ? 1 : 0;
}
