// The `bt` engine (DESIGN §5): the software VMM of Adams & Agesen (ASPLOS 2006) on legacy
// host hardware, no VT-x — guest code found block by block in a translation cache,
// innocuous instructions run natively and deprivileged, sensitive ones performed by VMM
// callouts (src/vmm/bt), shadow paging from src/vmm's shadow MMU. Expected equivalent
// to `spec`: the instructions that refute trap-and-emulate never reach the CPU.

import type { Engine, HostEvent, Image, MachineConfig, Observation, Status, StepOutcome } from '../../spec/observation.ts';
import type { Disposing } from './engine.ts';
import { isHwBug } from '../hw/bugs.ts';
import { LegacyMode, type HostTables } from '../hw/legacy.ts';
import { CR0_PE, CR0_PG, CR0_WP, EFLAGS_FIXED, EFLAGS_IF } from '../hw/arch.ts';
import { VmmBugs } from '../vmm/core/bugs.ts';
import { Host } from '../vmm/core/host.ts';
import { Schedule } from '../vmm/core/schedule.ts';
import { Vm } from '../vmm/shadow/vm.ts';
import { BtBugs } from '../vmm/bt/bugs.ts';
import { CALLOUT_NAMES, K_IDENT, K_MOV_TO_CR, K_STORE, TC_FRAMES } from '../vmm/bt/translate.ts';
import { BtVmm, RUN_NATIVE } from '../vmm/bt/vmm.ts';
import { softwareVmmObservation } from './vm-observation.ts';
import { guestFrames } from './vmx-engine.ts';

/** The VMM's own IDTR and TR in the real registers (never seen: sidt and str are callouts). */
const VMM_TABLES: HostTables = { idtrBase: 0xffc0_0000, idtrLimit: 0x7ff, tr: 0xffc0_1000 };

/** A dispatcher that spins on hidden faults without a guest step has a bug: stop it loudly. */
const MAX_SILENT = 64;

const OP_JMP_REG = 0x41;
const OP_CALL_REG = 0x43;
const OP_RET = 0x44;

export interface BtOptions {
  /** Host frames for guest RAM; fewer than the guest's frames is overcommit (DESIGN §6.8). */
  hostGuestFrames?: number;
  maxShadowPages?: number;
  maxRoots?: number;
  /** Run the shadow audit (DESIGN §6.13) after every trap into the VMM and every callout that edits the shadow (a STORE, a CR write); throw on a violation. */
  auditEveryTrap?: boolean;
}

export class BtEngine implements Engine, Disposing {
  readonly name = 'bt';
  readonly host: Host;
  readonly vm: Vm;
  readonly vmm: BtVmm;
  readonly legacy: LegacyMode;
  /** No second VM on a bt host (the VMX engines' `companion`). */
  readonly companion = null;
  private readonly ramCopy: Uint8Array;
  private readonly auditing: boolean;
  /** Indirect control transfers (ret, jmp a, call a) run in translated kernel code: each needs a TC lookup. */
  private indirect = 0;

  constructor(image: Image, config: MachineConfig, opts: BtOptions = {}) {
    const bugs = config.bugs ?? [];
    const maxPages = opts.maxShadowPages ?? 48;
    this.host = new Host(
      { guestFrames: opts.hostGuestFrames ?? guestFrames(config), poolFrames: maxPages + 4 + TC_FRAMES },
      bugs.filter(isHwBug),
    );
    let vmm: BtVmm | null = null;
    this.vm = new Vm(this.host, new VmmBugs(bugs), {
      ramBytes: config.ramBytes,
      shadow: { maxPages, maxRoots: opts.maxRoots ?? 4 },
      onStore: (gpa) => vmm?.emulatedStore(gpa),
    });
    for (const chunk of image.chunks) this.vm.p2m.load(chunk.addr >>> 0, chunk.bytes);
    const cpu = this.host.cpu;
    vmm = new BtVmm(cpu, this.vm, new BtBugs(bugs));
    this.vmm = vmm;
    this.legacy = new LegacyMode(cpu, vmm);
    this.legacy.install(VMM_TABLES);
    // Shadow tables with supervisor write protection; the guest's CR0/CR3/CR4 live in the Vm.
    cpu.writeCr(0, CR0_PE | CR0_PG | CR0_WP, 0);
    vmm.loadRoot();
    cpu.setCpl(1); // guest ring 0, deprivileged
    cpu.eflags = EFLAGS_IF | EFLAGS_FIXED; // the real IF stays on; the guest's eflags reset to 0x2 (virtual)
    cpu.eip = image.entry | 0;
    this.ramCopy = new Uint8Array(config.ramBytes);
    this.auditing = opts.auditEveryTrap ?? false;
  }

  /** The audit after the VMM ran (opts.auditEveryTrap). */
  private audit(): void {
    const v = this.vm.audit();
    if (v.length > 0) throw new Error(`popek: audit failed at eip 0x${(this.host.cpu.eip >>> 0).toString(16)}:\n${v.join('\n')}`);
  }

  fire(event: HostEvent): void {
    if (event.kind === 'irq') {
      if (Number.isInteger(event.vector) && event.vector >= 0 && event.vector <= 255) this.vm.raise(event.vector);
      return;
    }
    this.vm.hostEvent(event);
    this.vmm.syncCr3();
  }

  /** One guest step: a handler entered, or an instruction retired (natively or by a callout). */
  step(): StepOutcome {
    const cpu = this.host.cpu;
    const vmm = this.vmm;
    for (let silent = 0; ; silent++) {
      if (cpu.shutdown) return 'shutdown';
      if (vmm.interruptDeliverable()) return vmm.deliverExternal() === 'shutdown' ? 'shutdown' : 'delivered';
      if (cpu.halted) return 'halted';
      const icount = cpu.icount;
      const traced = cpu.trace.length;
      const s = vmm.slotAt();
      if (s !== RUN_NATIVE && vmm.tc.kind[s] !== K_IDENT) this.callout(s);
      else this.native();
      if (cpu.shutdown) return 'shutdown';
      if (cpu.icount !== icount || cpu.trace.length !== traced) return cpu.trace.length > traced ? 'delivered' : 'retired';
      if (silent >= MAX_SILENT) throw new Error(`popek: bt made no progress at eip 0x${(cpu.eip >>> 0).toString(16)}`);
    }
  }

  run(events: readonly HostEvent[], maxSteps: number): Observation {
    const cpu = this.host.cpu;
    const vmm = this.vmm;
    const schedule = new Schedule(events);
    const fire = (e: HostEvent): void => this.fire(e);
    let steps = 0;
    let silent = 0;
    for (;;) {
      schedule.fireDue(cpu.icount, fire);
      if (cpu.shutdown || steps >= maxSteps) break;
      if (!vmm.interruptDeliverable() && cpu.halted) {
        // DESIGN §3.10.9: time jumps to the next event; a halt with none left ends the run.
        if (schedule.done) break;
        schedule.fireNextGroup(fire);
        continue;
      }
      if (this.vm.pendingCount !== 0) {
        // An interrupt waits for the virtual IF, which only the VMM sees change: one step at a time.
        this.step();
        steps++;
        continue;
      }
      const n = this.block(maxSteps - steps, schedule.nextAt);
      steps += n;
      silent = n === 0 ? silent + 1 : 0;
      if (silent > MAX_SILENT) throw new Error(`popek: bt made no progress at eip 0x${(cpu.eip >>> 0).toString(16)}`);
    }
    return this.observe();
  }

  /**
   * Dispatch once: a callout, or a run of IDENT slots natively up to the block's end, a
   * trap, an invalidation, the step budget or the next event. Returns the guest steps taken.
   */
  private block(budget: number, icountLimit: number): number {
    const cpu = this.host.cpu;
    const vmm = this.vmm;
    const tc = vmm.tc;
    const s = vmm.slotAt();
    if (s === RUN_NATIVE) return this.native();
    if (tc.kind[s] !== K_IDENT) return this.callout(s);
    const generation = tc.generation;
    const kernel = vmm.g.cpl !== 3;
    let steps = 0;
    for (let i = s; steps < budget && cpu.icount < icountLimit; i++) {
      const traps = this.legacy.traps;
      const eip = cpu.eip;
      const n = this.native();
      steps += n;
      if (this.legacy.traps !== traps || tc.generation !== generation || cpu.shutdown || n === 0) break;
      if (tc.last[i] !== 0) {
        const op = tc.w0(i) & 0xff;
        if (kernel && (op === OP_RET || op === OP_JMP_REG || op === OP_CALL_REG)) this.indirect++;
        break;
      }
      if (cpu.eip !== ((eip + 8) | 0) || tc.kind[i + 1] !== K_IDENT || tc.gpa[i + 1] !== tc.gpa[i]! + 8) break;
    }
    return steps;
  }

  /** One instruction on the CPU; 1 when it was a guest step (retired or delivered), 0 for a hidden fault. */
  private native(): number {
    const cpu = this.host.cpu;
    const icount = cpu.icount;
    const traced = cpu.trace.length;
    const traps = this.legacy.traps;
    cpu.step();
    if (this.auditing && this.legacy.traps !== traps) this.audit();
    return cpu.icount !== icount || cpu.trace.length !== traced ? 1 : 0;
  }

  private callout(s: number): number {
    const cpu = this.host.cpu;
    const icount = cpu.icount;
    const traced = cpu.trace.length;
    const kind = this.vmm.tc.kind[s];
    this.vmm.callout(s);
    if (this.auditing && (kind === K_STORE || kind === K_MOV_TO_CR)) this.audit();
    return cpu.icount !== icount || cpu.trace.length !== traced ? 1 : 0;
  }

  observe(): Observation {
    return softwareVmmObservation(this.vm, this.ramCopy, this.host.cpu, this.vmm.g, this.status());
  }

  /** Done with (engine.ts `Disposing`): the host TLB's arrays go to the next engine on this thread. */
  dispose(): void {
    this.host.cpu.release();
  }

  icount(): number {
    return this.host.cpu.icount;
  }

  status(): Status {
    const cpu = this.host.cpu;
    return cpu.shutdown ? 'shutdown' : cpu.halted ? 'halted' : 'running';
  }

  counters(): Record<string, number> {
    const cpu = this.host.cpu;
    const vm = this.vm;
    const m = this.vmm;
    const tc = m.tc.stats;
    const c: Record<string, number> = {
      instructions: cpu.icount,
      // A trap into the VMM on legacy hardware is not a VM exit (no VMCS): `traps`, costed apart.
      exits: 0,
      traps: this.legacy.traps,
      callouts: m.callouts,
      'bt.inline': m.inline,
      translated: tc.translated,
      'bt.blocks': tc.blocks,
      'bt.tcHits': tc.hits,
      'bt.tcMisses': tc.misses,
      'bt.tcInvalidations': tc.invalidations,
      'bt.tcFlushes': tc.flushes,
      'bt.adaptive': tc.adaptive,
      'bt.indirect': this.indirect,
      'bt.straddles': m.straddles,
      traceFaults: m.traceFaults,
      codeTraceFaults: m.codeTraceFaults,
      hiddenFaults: m.hiddenFaults,
      trueFaults: m.trueFaults,
      emulated: m.emulated,
      reflected: m.reflected,
      tlbHits: cpu.tlbHits,
      tlbMisses: cpu.tlbMisses,
      walks: cpu.mmu.walks,
      walkRefs: cpu.mmu.walkRefs,
      gpteReads: vm.walker.gpteReads,
      mmioAccesses: vm.emulator.mmioAccesses,
      swapOuts: vm.p2m.swapOuts,
      swapIns: vm.p2m.swapIns,
      migrations: vm.p2m.migrations,
      ...Object.fromEntries(Object.entries(vm.shadow.stats).map(([k, v]) => [`shadow.${k}`, v])),
    };
    m.calloutsBy.forEach((n, k) => {
      if (n !== 0) c[`callout.${CALLOUT_NAMES[k]}`] = n;
    });
    return c;
  }
}
