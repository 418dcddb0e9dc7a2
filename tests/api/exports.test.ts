// The package's public modules, imported by their package names as a user's VMM would
// (package.json `exports`): `popek/engine` types an engine, `popek/hw` is the simulated
// host a VMM is written against, `popek/host` the host's memory services (frames, swap). Expected values are DESIGN §3.3's encoding and
// §3.4's semantics, and the SDM's HLT exiting; not read off the implementation.

import { execFileSync } from 'node:child_process';
import { expect, test } from 'vitest';
import type { Engine, EngineFactory, Observation } from 'popek/engine';
import { Cpu, PAGE_SIZE, PhysMem, Vmcs, Vmx } from 'popek/hw';
import { HostMemory } from 'popek/host';
import { ENGINES } from '../../src/engines/registry.ts';

/** One VX32 instruction (DESIGN §3.3): op, A, B, 0, imm32 little-endian. */
const insn = (op: number, a = 0, b = 0, imm = 0): number[] => [
  op,
  a,
  b,
  0,
  imm & 0xff,
  (imm >>> 8) & 0xff,
  (imm >>> 16) & 0xff,
  imm >>> 24,
];
const HLT = 0x02;
const MOV_IMM = 0x11;
const EAX = 0;

test('popek/engine types the registry: a factory builds an engine that runs a guest', () => {
  const make: EngineFactory = ENGINES.native!.make;
  const e: Engine = make({ chunks: [{ addr: 0, bytes: new Uint8Array(insn(HLT)) }], entry: 0 }, { ramBytes: 4096 });
  const o: Observation = e.run([], 10);
  // §3.10.9: halted with IF = 0 and no event left.
  expect(o.status).toBe('halted');
  expect(o.icount).toBe(1);
});

test('popek/hw: a VMM loop over VMX-lite sees the HLT exit and resumes the guest past it', () => {
  const mem = new PhysMem(1 << 16);
  mem.load(0x1000, new Uint8Array([...insn(MOV_IMM, EAX, 0, 0x1234), ...insn(HLT), ...insn(MOV_IMM, EAX, 0, 0x5678), ...insn(HLT)]));
  const vmx = new Vmx(new Cpu(mem));
  const vmcs = new Vmcs();
  vmcs.guest.eip = 0x1000;
  vmcs.controls.hltExiting = true;
  const exit = vmx.vmenter(vmcs, 100);
  expect(exit.reason).toBe('hlt');
  expect(vmcs.guest.eip).toBe(0x1008); // the hlt has not retired
  expect(vmcs.guest.regs[EAX]).toBe(0x1234);
  // The VMM emulates the hlt as a no-op: skip it, count it, enter again.
  vmcs.guest.eip += exit.instructionLength;
  vmcs.guest.icount++;
  expect(vmx.vmenter(vmcs, 100).reason).toBe('hlt');
  expect(vmcs.guest.eip).toBe(0x1018);
  expect(vmcs.guest.regs[EAX]).toBe(0x5678);
});

test('popek/hw resolves in a plain Node process through tsx, as a plugin would load it', () => {
  const out = execFileSync(
    process.execPath,
    ['--import', 'tsx', '-e', "import('popek/hw').then((m) => console.log(typeof m.Vmx, typeof m.Cpu, m.VEC_PF))"],
    {
      cwd: new URL('../../', import.meta.url),
      encoding: 'utf8',
    },
  );
  expect(out.trim()).toBe('function function 14');
});

test('popek/host: a VMM that registers with the host gets zeroed frames, and a reclaim swaps one of them out through it', () => {
  const host = new HostMemory({ guestFrames: 4, poolFrames: 4 });
  const evicted: number[] = [];
  let slot = -1;
  const vmId = host.register({
    // The VM's part of DESIGN §6.8: the page to the disk, the frame back to the host.
    evict(gfn) {
      evicted.push(gfn);
      slot = host.swap.put(host.mem.ram.subarray(hfn * PAGE_SIZE, (hfn + 1) * PAGE_SIZE));
      host.freeGuestFrame(hfn);
    },
  });
  const hfn = host.allocGuest(vmId, 7);
  expect(host.mem.ram[hfn * PAGE_SIZE + 5]).toBe(0);
  host.mem.ram[hfn * PAGE_SIZE + 5] = 0xab;
  host.reclaim(1);
  expect(evicted).toEqual([7]);
  expect(host.freeGuestCount).toBe(4);
  // Back in from the disk, into whatever frame the host hands out: the same bytes.
  const again = host.allocGuest(vmId, 7);
  host.swap.take(slot, host.mem.ram.subarray(again * PAGE_SIZE, (again + 1) * PAGE_SIZE));
  expect(host.mem.ram[again * PAGE_SIZE + 5]).toBe(0xab);
  expect(host.swap.used).toBe(0);
  // The pool is the VMM's own and lies outside the guest range.
  expect(host.isPoolFrame(host.allocPool())).toBe(true);
});
