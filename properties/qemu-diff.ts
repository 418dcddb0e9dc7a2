// The spec against QEMU (docs/qemu.md): QEMU runs the translated guest once, its log gives
// one observation per step, and the spec is stepped beside it; the first step whose
// outcome or fields differ is the divergence (DESIGN §2). RAM is compared at the end of a
// run that ended on hlt (QEMU's exit routine dumps it). A run that leaves what the
// translation expresses ends with `beyond`, never with a divergence.

import { disassembleInsn } from '../spec/asm/disassemble.ts';
import { SpecMachine } from '../spec/machine.ts';
import type { HostEvent, Image, StepOutcome } from '../spec/observation.ts';
import { runQemu } from '../src/engines/qemu/run.ts';
import { diffState, firstRamDifference, ramDiff, type FieldDiff } from './lockstep/compare.ts';

export interface QemuDiff {
  /** Steps on which both agree. */
  steps: number;
  divergence?: { step: number; insn: string; eip: number; outcome: { spec: StepOutcome; qemu: StepOutcome }; fields: FieldDiff[] };
  /** Why the comparison stopped before the end: the guest left the translation's subset. */
  beyond?: string;
  /** What was not compared, for every report (docs/qemu.md). */
  notCompared: string[];
  seconds: number;
}

export function qemuDiff(
  image: Image,
  ramBytes: number,
  events: readonly HostEvent[],
  maxSteps: number,
  bugs: readonly string[] = [],
): QemuDiff {
  const notCompared = ['ram before the end', 'device', 'pending'];
  if (events.some((e) => e.kind === 'irq'))
    return { steps: 0, beyond: 'an irq event: QEMU cannot take an interrupt at a given instruction', notCompared, seconds: 0 };
  // Host-only events change nothing guest-visible (DESIGN §3.8): QEMU runs without them.
  const q = runQemu(image, ramBytes, { maxSteps, bugs });
  const spec = new SpecMachine(image, { ramBytes });
  const n = Math.min(q.steps.length, maxSteps);
  let steps = 0;
  for (; steps < n; steps++) {
    const eip = spec.s.eip;
    const bytes = spec.peekInsn();
    const so = spec.step();
    const a = spec.observe();
    const { outcome, after } = q.steps[steps]!;
    const fields = diffState(a, { ...a, ...after });
    if (so !== outcome || fields.length > 0) {
      const insn = bytes ? disassembleInsn(bytes) : '(fetch faults)';
      return {
        steps,
        divergence: { step: steps, insn, eip, outcome: { spec: so, qemu: outcome }, fields },
        notCompared,
        seconds: q.seconds,
      };
    }
  }
  const end = spec.observe();
  if (q.ram !== undefined && steps === q.steps.length) {
    const addr = firstRamDifference(end.ram, q.ram);
    if (addr !== undefined) {
      const last = steps - 1;
      return {
        steps: last,
        divergence: {
          step: last,
          insn: '(RAM at the end)',
          eip: end.eip,
          outcome: { spec: 'retired', qemu: 'retired' },
          fields: [ramDiff(end, { ...end, ram: q.ram }, addr)],
        },
        notCompared,
        seconds: q.seconds,
      };
    }
  } else notCompared[0] = 'ram (the run did not end on hlt)';
  const result: QemuDiff = { steps, notCompared, seconds: q.seconds };
  if (steps < maxSteps && end.status === 'running' && q.beyond !== undefined) result.beyond = q.beyond;
  return result;
}
