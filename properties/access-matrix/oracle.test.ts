// The oracle and the combination space on hand-worked cases, before any engine is
// involved. Each expected value is worked out from the DESIGN clause cited beside it.

import { describe, expect, test } from 'vitest';
import { COMBO_SPACE, LAYOUT, LEGAL_COUNT, type FlagName, comboName, comboOf, legal, legalCombos, scenarioOf } from './matrix.ts';
import { oracle } from './oracle.ts';

const DATA_LA = LAYOUT.testLa + LAYOUT.dataOffset;
const verdict = (...flags: FlagName[]) => oracle(scenarioOf(comboOf(...flags)));

describe('combination space', () => {
  test('the legal count matches the hand count in matrix.ts', () => {
    expect(COMBO_SPACE).toBe(131072);
    expect(legalCombos()).toHaveLength(LEGAL_COUNT);
  });

  test('pruning keeps one representative per class', () => {
    expect(legal(comboOf('write', 'fetch'))).toBe(false);
    // Not-present PDE: nothing else of the walk is read; the PTE keeps UNREAD_PTE_FLAGS.
    expect(legal(comboOf('pte.p', 'pte.rw', 'pte.us'))).toBe(true);
    expect(legal(comboOf())).toBe(false);
    expect(legal(comboOf('pde.us', 'pte.p', 'pte.rw', 'pte.us'))).toBe(false);
    // The reserved bit only in a 4 MiB PDE.
    expect(legal(comboOf('pde.p', 'pde.ps', 'pde.rsvd', 'cr4.pse', 'pte.p', 'pte.rw', 'pte.us'))).toBe(true);
    expect(legal(comboOf('pde.p', 'pde.ps', 'pde.rsvd', 'pte.p'))).toBe(false);
    // PS without PSE is a page-table PDE: its PTE is walked, all its flags count.
    expect(legal(comboOf('pde.p', 'pde.ps', 'pte.p', 'pte.d'))).toBe(true);
    // A not-present PTE carries no other flag.
    expect(legal(comboOf('pde.p', 'pte.rw'))).toBe(false);
    expect(legal(comboOf('pde.p'))).toBe(true);
  });

  test('names print like access.c', () => {
    expect(comboName(comboOf('pde.p', 'pde.us', 'pte.p', 'pte.rw', 'cr0.wp', 'user', 'write'))).toBe(
      'pde.p pde.us pte.p pte.rw cr0.wp user write',
    );
    expect(comboName(comboOf('pde.p', 'pte.p'))).toBe('pde.p pte.p supervisor read');
  });
});

describe('oracle (DESIGN §3.5)', () => {
  test('§3.5.1: not-present PDE → #PF, P = 0, W and U as the access', () => {
    expect(verdict('pte.p', 'pte.rw', 'pte.us', 'user', 'write')).toEqual({
      fault: { errorCode: 0b110, cr2: DATA_LA },
      pde: LAYOUT.ptTest,
      pte: LAYOUT.testPhys | 0b111,
    });
  });

  test('§3.5.3: a not-present PTE wins over PDE permissions (P = 0)', () => {
    // PDE supervisor-only and read-only, user write: still "not present".
    expect(verdict('pde.p', 'user', 'write').fault).toEqual({ errorCode: 0b110, cr2: DATA_LA });
  });

  test('§3.5.4: user access needs PDE.US and PTE.US', () => {
    expect(verdict('pde.p', 'pde.us', 'pte.p', 'user').fault).toEqual({ errorCode: 0b101, cr2: DATA_LA });
    expect(verdict('pde.p', 'pte.p', 'pte.us', 'user').fault).toEqual({ errorCode: 0b101, cr2: DATA_LA });
    expect(verdict('pde.p', 'pde.us', 'pte.p', 'pte.us', 'user').fault).toBeNull();
  });

  test('§3.5.4: a supervisor write to a read-only page faults only with CR0.WP', () => {
    const v = verdict('pde.p', 'pde.rw', 'pte.p', 'write');
    expect(v.fault).toBeNull();
    // §3.5.5: PDE |= A, PTE |= A | D.
    expect(v.pde).toBe(LAYOUT.ptTest | 0x01 | 0x02 | 0x20);
    expect(v.pte).toBe(LAYOUT.testPhys | 0x01 | 0x20 | 0x40);
    expect(verdict('pde.p', 'pde.rw', 'pte.p', 'cr0.wp', 'write').fault).toEqual({
      errorCode: 0b011,
      cr2: DATA_LA,
    });
  });

  test('§3.5.4: a user write to a read-only page faults whatever CR0.WP', () => {
    expect(verdict('pde.p', 'pde.us', 'pte.p', 'pte.us', 'pte.rw', 'user', 'write').fault).toEqual({
      errorCode: 0b111,
      cr2: DATA_LA,
    });
  });

  test('§3.5.4: fetches are checked as reads (W = 0), at the fetched address', () => {
    expect(verdict('pde.p', 'pde.rw', 'pte.p', 'pte.rw', 'user', 'fetch').fault).toEqual({
      errorCode: 0b101,
      cr2: LAYOUT.testLa,
    });
    const ok = verdict('pde.p', 'pte.p', 'cr0.wp', 'fetch');
    expect(ok.fault).toBeNull();
    expect(ok.pte).toBe(LAYOUT.testPhys | 0x21); // A, no D
  });

  test('§3.5.2: 4 MiB page takes permissions and A/D from the PDE alone', () => {
    const v = verdict('pde.p', 'pde.rw', 'pde.us', 'pde.ps', 'cr4.pse', 'pte.p', 'pte.rw', 'pte.us', 'user', 'write');
    expect(v.fault).toBeNull();
    expect(v.pde).toBe(0x87 | 0x20 | 0x40);
    expect(v.pte).toBe(LAYOUT.testPhys | 0x07); // never touched
    expect(verdict('pde.p', 'pde.ps', 'cr4.pse', 'pte.p', 'pte.rw', 'pte.us', 'user').fault).toEqual({
      errorCode: 0b101,
      cr2: DATA_LA,
    });
  });

  test('§3.5.2 / §3.10.1: a reserved bit in a 4 MiB PDE → P = 1, RSVD = 1, before permissions', () => {
    expect(verdict('pde.p', 'pde.ps', 'pde.rsvd', 'cr4.pse', 'pte.p', 'pte.rw', 'pte.us', 'user', 'write')).toEqual({
      fault: { errorCode: 0b1111, cr2: DATA_LA },
      pde: 0x2081,
      pte: LAYOUT.testPhys | 0x07,
    });
  });

  test('§3.5.2: PS without CR4.PSE is ignored; the PTE is walked', () => {
    const v = verdict('pde.p', 'pde.ps', 'pte.p', 'pte.d');
    expect(v.fault).toBeNull();
    expect(v.pde).toBe(LAYOUT.ptTest | 0x81 | 0x20);
    expect(v.pte).toBe(LAYOUT.testPhys | 0x61);
  });

  test('§3.5.5: A/D already set stay set; a read never sets D', () => {
    const v = verdict('pde.p', 'pde.a', 'pde.d', 'pte.p', 'pte.a');
    expect(v).toEqual({ fault: null, pde: LAYOUT.ptTest | 0x61, pte: LAYOUT.testPhys | 0x21 });
  });
});
