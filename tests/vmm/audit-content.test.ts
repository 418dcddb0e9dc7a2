// The audits check contents and modes, not only structure (issue 20 item 5): a page that
// leaves its frame (swap-out, migration) comes back with the contents it left with, and
// the active shadow root is the one for the guest's paging mode now (S8). Each test
// builds a correct state, sees it audit clean, breaks one thing the way a VMM bug would,
// and expects the audit to name it.

import { describe, expect, test } from 'vitest';
import { assemble } from '../../spec/asm/assemble.ts';
import { VmxShadowEngine } from '../../src/engines/vmx-shadow.ts';
import { PAGE_SIZE } from '../../src/hw/arch.ts';
import { HostMemory } from '../../src/vmm/core/host-memory.ts';
import { P2m, auditP2m } from '../../src/vmm/core/p2m.ts';
import { audit } from '../../src/vmm/shadow/audit.ts';

/** A VM of 16 frames on a host with room for all of them, gfn 3 holding a pattern. */
function swapped() {
  const host = new HostMemory({ guestFrames: 16, poolFrames: 4 });
  const p2m = P2m.register(host, 16 * PAGE_SIZE);
  for (let i = 0; i < PAGE_SIZE; i++) p2m.write8(3 * PAGE_SIZE + i, (i * 7) & 0xff);
  return { host, p2m, report: () => auditP2m({ host, p2m }).join('\n') };
}

describe('contents across swap and migration (auditP2m)', () => {
  test('a page that comes back from swap as it left audits clean', () => {
    const { p2m, report } = swapped();
    expect(p2m.swapOut(3)).toBe(true);
    expect(report()).toBe('');
    p2m.ensure(3);
    expect(p2m.read8(3 * PAGE_SIZE + 5)).toBe(35);
    expect(report()).toBe('');
  });

  test('a page changed on the disk is named while it is out, and when it comes back', () => {
    const { host, p2m, report } = swapped();
    p2m.swapOut(3);
    // The disk slot the page went to (the only one in use) loses one byte.
    const page = host.swap.peek(0);
    page[100] = page[100]! ^ 1;
    expect(report()).toMatch('p2m: gfn 3 changed on the swap disk');
    p2m.ensure(3);
    expect(report()).toMatch('p2m: gfn 3 came back from swap-in with other contents than it left with');
  });

  test('a migration that does not carry the page is named', () => {
    const { host, p2m, report } = swapped();
    const ram = host.mem.ram;
    const copyWithin = ram.copyWithin.bind(ram);
    // A copy that drops the last byte of the page (an off-by-one in the length).
    ram.copyWithin = (target: number, start: number, end?: number) => copyWithin(target, start, (end ?? ram.length) - 1);
    expect(p2m.migrate(3)).toBe(true);
    expect(report()).toMatch('p2m: gfn 3 came back from migration with other contents than it left with');
  });

  test('a clean migration audits clean', () => {
    const { p2m, report } = swapped();
    expect(p2m.migrate(3)).toBe(true);
    expect(report()).toBe('');
  });
});

describe('S8: the active root is the one for the guest mode now', () => {
  // Paging on with WP clear, a supervisor store, then WP set (DESIGN §3.5.4, §6.1).
  const SOURCE = `
    mov eax, pd
    mov cr3, eax
    mov eax, 0x80000001
    mov cr0, eax
    mov [0x3000], eax
    mov eax, 0x80010001
    mov cr0, eax
    hlt
.org 0x1000
pd: .dd 0x2000 | 7
.org 0x2000
    .dd 0x0000 | 7, 0x1000 | 7, 0x2000 | 7, 0x3000 | 1
`;
  const run = (bugs: string[]) => {
    const e = new VmxShadowEngine(assemble(SOURCE, 's8.s').image, { ramBytes: 0x10000, bugs });
    e.run([], 100);
    return audit({ host: e.host.memory, p2m: e.vm.p2m, shadow: e.vm.shadow, tlb: null, guest: { cr0: e.vm.cr0, cr4: e.vm.cr4 } });
  };

  test('without a bug the root has WP as the guest set it', () => {
    expect(run([])).toEqual([]);
  });

  test('a role without CR0.WP is named (it would otherwise pass S2: the role says WP = 0)', () => {
    expect(run(['role-without-wp'])).toContain("S8: guest CR0.WP = 1 but the active root's role has WP = 0");
  });
});
