// The access matrix on the reference model: every legal combination must match the
// oracle, and the matrix must have teeth — judged by a deliberately broken oracle, the
// very same runs must fail exactly on the combinations the broken rule affects.

import { beforeAll, expect, test } from 'vitest';
import { SpecMachine } from '../../spec/machine.ts';
import { type Combo, CR0_WP, LEGAL_COUNT, PG, comboName, has, legalCombos, mapsLargePage } from './matrix.ts';
import { type Oracle, oracle } from './oracle.ts';
import type { Outcome } from './program.ts';
import type { EngineFactory } from '../../src/engines/engine.ts';
import { type MatrixFailure, compareWithOracle, describeFailure, runCombos } from './run.ts';

const makeSpec: EngineFactory = (image, config) => new SpecMachine(image, config);

let outcomes: Map<Combo, Outcome>;
beforeAll(() => {
  outcomes = runCombos(makeSpec);
});

function report(failures: MatrixFailure[], limit = 30): string {
  const shown = failures.slice(0, limit).map(describeFailure);
  const more = failures.length > limit ? [`  ... and ${failures.length - limit} more`] : [];
  return [`${failures.length} of ${outcomes.size} combinations differ from the oracle:`, ...shown, ...more].join('\n');
}

test(`all ${LEGAL_COUNT} legal combinations match the DESIGN §3.5 oracle on the spec`, () => {
  expect(outcomes.size).toBe(LEGAL_COUNT);
  const failures = compareWithOracle(outcomes);
  expect(failures, report(failures)).toHaveLength(0);
});

/** The names a broken oracle must be caught on, derived from the flags independently of oracle.ts. */
function namesWhere(pred: (c: Combo) => boolean): string[] {
  return legalCombos().filter(pred).map(comboName).sort();
}

/** The walk reaches the permission check (present PDE, no reserved bit, present PTE or a 4 MiB page). */
const reachesPermissions = (c: Combo) => has(c, 'pde.p') && (mapsLargePage(c) ? !has(c, 'pde.rsvd') : has(c, 'pte.p'));
const writable = (c: Combo) => has(c, 'pde.rw') && (mapsLargePage(c) || has(c, 'pte.rw'));

test('teeth: an oracle that ignores CR0.WP is caught exactly on supervisor writes to read-only pages', () => {
  const ignoresWp: Oracle = (s) => oracle({ ...s, cr0: s.cr0 & ~CR0_WP });
  const caught = compareWithOracle(outcomes, ignoresWp)
    .map((f) => f.name)
    .sort();
  const want = namesWhere((c) => reachesPermissions(c) && !has(c, 'user') && has(c, 'write') && has(c, 'cr0.wp') && !writable(c));
  expect(want).toContain('pde.p pte.p pte.rw cr0.wp supervisor write');
  expect(caught).toEqual(want);
});

test('teeth: an oracle that ignores PDE.US is caught exactly on user accesses the PDE alone forbids', () => {
  const ignoresPdeUs: Oracle = (s) => {
    const v = oracle({ ...s, pde: s.pde | PG.US });
    return { ...v, pde: ((v.pde & ~PG.US) | (s.pde & PG.US)) >>> 0 };
  };
  const caught = compareWithOracle(outcomes, ignoresPdeUs)
    .map((f) => f.name)
    .sort();
  // A user write to a read-only page faults with the same error code either way.
  const want = namesWhere(
    (c) =>
      reachesPermissions(c) &&
      has(c, 'user') &&
      !has(c, 'pde.us') &&
      (mapsLargePage(c) || has(c, 'pte.us')) &&
      !(has(c, 'write') && !writable(c)),
  );
  expect(want).toContain('pde.p pde.rw pte.p pte.rw pte.us user read');
  expect(caught).toEqual(want);
});

test('teeth: an oracle with IA-32 A bits on faults (PDE.A set before a later fault) is caught', () => {
  // DESIGN §3.5.5: VX32 deliberately sets no A bit in a walk that faults.
  const setsAOnFault: Oracle = (s) => {
    const v = oracle(s);
    return v.fault && s.pde & PG.P ? { ...v, pde: (v.pde | PG.A) >>> 0 } : v;
  };
  const caught = compareWithOracle(outcomes, setsAOnFault)
    .map((f) => f.name)
    .sort();
  const userOk = (c: Combo) => has(c, 'pde.us') && (mapsLargePage(c) || has(c, 'pte.us'));
  const permitted = (c: Combo) =>
    reachesPermissions(c) && (!has(c, 'user') || userOk(c)) && !(has(c, 'write') && !writable(c) && (has(c, 'user') || has(c, 'cr0.wp')));
  const want = namesWhere((c) => has(c, 'pde.p') && !has(c, 'pde.a') && !permitted(c));
  expect(want).toContain('pde.p supervisor read');
  expect(caught).toEqual(want);
});

test('a failure prints the combination by name and the differing fields', () => {
  const never: Oracle = (s) => ({ fault: null, pde: s.pde, pte: s.pte });
  const failures = compareWithOracle(outcomes, never);
  const userWrite = failures.find((f) => f.name === 'pde.p pte.p pte.rw pte.us user write');
  expect(userWrite && describeFailure(userWrite)).toBe(
    [
      '  pde.p pte.p pte.rw pte.us user write',
      '    trace: expected [int 0x80], got [exception 14 err=0x7 cr2=0x405800 eip=0x900]',
      '    pf: expected null, got {errorCode:0x7,cr2:0x405800,eip:0x900}',
      '    result: expected 0xc0de0001, got 0x0',
      '    data: expected 0xc0de0001, got 0x5eed1234',
    ].join('\n'),
  );
});
