// `popek diff FILE.s --engine E [--bug B]... [--events F] [--max-steps N] [--ram SIZE]` (DESIGN §10):
// run the spec and E in lockstep and print the first divergence, or "equivalent".

import { lockstep } from '../../properties/lockstep/lockstep.ts';
import { formatDivergence } from '../../properties/lockstep/report.ts';
import { engineLabel } from '../engines/plugin.ts';
import { formatQemuDivergence } from '../../properties/check/qemu-campaign.ts';
import { qemuDiff, type QemuDiffOptions } from '../../properties/qemu-diff.ts';
import { engineFactory, guardedRun, isPlugin, makeEngine } from './engines.ts';
import { parseCommand, refuseWith } from './options.ts';
import { checkTranslatorBugs, parseAccel, parseObserve } from './qemu-check.ts';
import { MACHINE_HELP, MACHINE_OPTIONS, checkBugs, engineOf, runSetup, type RunSetup } from './run.ts';
import { assembleFile } from './source.ts';
import { UsageError } from './usage.ts';

export const DIFF_HELP = `usage: popek diff FILE.s --engine E|--engine-cmd CMD [--bug B]... [--ram SIZE] [--max-steps N] [--events FILE.json] [--json] [--verbose]
       popek diff FILE.s --engine qemu [--accel tcg|kvm] [--observe steps|end] [--bug B]... [--ram SIZE] [--max-steps N] [--json]

Run the spec and engine E side by side, compare the observations (DESIGN §2) after
every step, and print the first divergence: the fields that differ — or "equivalent".
${MACHINE_HELP.replace('(default: spec)', '(default: native)')}
  --verbose         print every field of both observations, not only those that differ
  --json            {equivalent, steps, divergence} as one JSON object
  --accel A         --engine qemu: tcg (default) or kvm (needs /dev/kvm, readable and writable; implies --observe end)
  --observe O       --engine qemu: steps (default under tcg: every step, from QEMU's log) or end (the end state
                    only; what it does not compare is listed)
E is a registered engine or the path of a plugin module (./my-vmm.ts); a plugin that
does not return within --timeout-ms is stopped and reported. --engine qemu runs the guest
translated to IA-32 under qemu-system-i386 (docs/qemu.md); a guest beyond the
translation is said to be so. Exit 0 if equivalent, 1 on a divergence.`;

export const DIFF_OPTIONS = {
  ...MACHINE_OPTIONS,
  json: { type: 'boolean', default: false },
  verbose: { type: 'boolean', short: 'v', default: false },
  accel: { type: 'string' },
  observe: { type: 'string' },
} as const;

export async function diffCommand(args: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals, given } = parseCommand('diff', args, DIFF_OPTIONS);
  if (values.help) {
    out(DIFF_HELP + '\n');
    return 0;
  }
  refuseWith(given, 'json', ['engine', 'engine-cmd', 'timeout-ms', 'bug', 'ram', 'max-steps', 'events', 'accel', 'observe']);
  const setup = runSetup(values, positionals, 'diff');
  if (values.engine === 'qemu') {
    checkTranslatorBugs(values.bug);
    const accel = parseAccel(values.accel);
    return qemuDiffCommand(setup, { bugs: values.bug, accel, observe: parseObserve(values.observe, accel) }, values.json, out);
  }
  for (const o of ['accel', 'observe']) if (given.has(o)) throw new UsageError(`--${o} applies to --engine qemu only`);
  const { engine, timeoutMs } = await engineOf(values, 'native'); // an unknown engine is a usage error before any work
  const make = engineFactory(engine);
  checkBugs(engine, values.bug);
  const { image } = assembleFile(setup.file);
  const config = { ramBytes: setup.ramBytes };
  makeEngine('spec', image, config); // an image that does not fit is a usage error too
  const bugs = values.bug;
  const run = () => lockstep((img, cfg) => make(img, { ...cfg, bugs }), { image, config, events: setup.events, maxSteps: setup.maxSteps });
  const result = isPlugin(engine) ? guardedRun(run, timeoutMs) : run();
  if (values.json) {
    out(
      JSON.stringify({
        equivalent: !result.divergence,
        steps: result.steps,
        divergence: result.divergence && { ...result.divergence, spec: undefined, engine: undefined },
      }) + '\n',
    );
  } else if (result.divergence) {
    out(formatDivergence(result.divergence, engineLabel(engine), { color: process.stdout.isTTY === true, brief: !values.verbose }) + '\n');
  } else {
    out(
      `equivalent: spec and ${engineLabel(engine)} agree on all ${result.steps} steps (status ${result.spec.status}, icount ${result.spec.icount})\n`,
    );
  }
  return result.divergence ? 1 : 0;
}

/** `--engine qemu` (docs/qemu.md): the spec beside QEMU's log; what is not compared is said every time. */
function qemuDiffCommand(setup: RunSetup, opts: QemuDiffOptions, json: boolean, out: (s: string) => void): number {
  const { image } = assembleFile(setup.file);
  makeEngine('spec', image, { ramBytes: setup.ramBytes }); // an image that does not fit is a usage error
  let r;
  try {
    r = qemuDiff(image, setup.ramBytes, setup.events, setup.maxSteps, opts);
  } catch (e) {
    throw new UsageError(`--engine qemu: ${(e as Error).message}`);
  }
  if (json) {
    out(JSON.stringify({ equivalent: !r.divergence, ...r }) + '\n');
    return r.divergence ? 1 : 0;
  }
  if (r.divergence) {
    out(formatQemuDivergence(r) + '\n');
    return 1;
  }
  out(`qemu: not compared: ${r.notCompared.join(', ')} (docs/qemu.md)\n`);
  for (const e of r.explained) out(`explained by exclusion ${e}\n`);
  if (r.beyond !== undefined) out(`beyond the translation after ${r.steps} agreeing steps: ${r.beyond}\n`);
  else if (r.observe === 'end') out(`equivalent: spec and qemu agree on the end state after ${r.steps} steps\n`);
  else out(`equivalent: spec and qemu agree on all ${r.steps} steps\n`);
  return 0;
}
