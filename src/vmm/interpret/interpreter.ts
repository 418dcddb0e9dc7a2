// The interpretive-execution loop (the lecture's SIE, "Idea 1"): at each instruction
// boundary the VMM delivers a pending interrupt if the guest can take one, else fetches
// the guest instruction through its own software MMU, decodes it with its own decoder and
// executes it on the control block. Nothing of the guest ever runs on the host CPU.
//
// One call of `step` is one lockstep step (spec README clarification 1): an instruction
// retired, or one handler entered.

import type { StepOutcome } from '../../../spec/observation.ts';
import { ACC_FETCH, ACC_USER, EFLAGS_IF, VEC_UD } from '../../hw/arch.ts';
import type { InterpretBugs } from './bugs.ts';
import { ControlBlock, FAULT, fault } from './control-block.ts';
import { decode } from './decode.ts';
import { Deliverer, hasErrorCode } from './deliver.ts';
import { Executor } from './execute.ts';
import { GuestMemory } from './guest-memory.ts';
import { LinearAccess } from './linear-access.ts';
import { GuestPorts } from './ports.ts';
import { GuestWalker } from './walker.ts';

export class Interpreter {
  readonly cb: ControlBlock;
  readonly mem: GuestMemory;
  readonly ports = new GuestPorts();
  readonly walker: GuestWalker;
  readonly access: LinearAccess;
  private readonly executor: Executor;
  private readonly deliverer: Deliverer;
  private readonly fetchBuf = new Uint8Array(8);
  decodes = 0;

  constructor(entry: number, ramBytes: number, bugs: InterpretBugs) {
    this.cb = new ControlBlock(entry);
    this.mem = new GuestMemory(ramBytes);
    this.walker = new GuestWalker(this.cb, this.mem, { noAccessedDirty: bugs.noAccessedDirty });
    this.access = new LinearAccess(this.mem, this.walker);
    this.executor = new Executor(this.cb, this.access, this.ports);
    this.deliverer = new Deliverer(this.cb, this.access);
  }

  get deliveries(): number {
    return this.deliverer.deliveries;
  }

  /** §3.7: IF set, no STI shadow, something pending. */
  interruptDeliverable(): boolean {
    const cb = this.cb;
    return cb.pendingCount > 0 && (cb.eflags & EFLAGS_IF) !== 0 && !cb.stiShadow;
  }

  step(): StepOutcome {
    const cb = this.cb;
    if (cb.shutdown) return 'shutdown';

    // The boundary: an external interrupt first (§3.7). It leaves `pending` when its
    // delivery begins, even if that delivery faults (§3.10.7).
    if (this.interruptDeliverable()) {
      const v = cb.lowestPending();
      cb.takePending(v);
      return outcomeOf(this.deliverer.deliver({ kind: 'interrupt', vector: v, errorCode: -1, cr2: -1, returnEip: cb.eip }));
    }
    cb.stiShadow = false; // consumed by this boundary whatever happens next (spec README 8)
    if (cb.halted) return 'halted';

    // Fetch: an 8-byte read at cpl's privilege, never a device access (§3.2, §3.5).
    const bytes = this.fetchBuf;
    if (this.access.readBytes(cb.eip, 8, ACC_FETCH | (cb.cpl === 3 ? ACC_USER : 0), bytes) === FAULT) return this.deliverFault();
    this.decodes++;
    const insn = decode(bytes);
    if (insn === undefined) {
      fault(cb, VEC_UD, -1);
      return this.deliverFault();
    }
    switch (this.executor.execute(insn)) {
      case 'retired':
        cb.icount++;
        return 'retired';
      case 'fault':
        return this.deliverFault();
      case 'int': {
        // §3.10.8: `int n` retires when its handler is entered; its trace entry carries
        // the icount from before (spec README clarification 4).
        const vector = this.executor.softwareVector;
        const result = this.deliverer.deliver({ kind: 'software', vector, errorCode: -1, cr2: -1, returnEip: (cb.eip + 8) >>> 0 });
        if (result === 'entered') cb.icount++;
        return outcomeOf(result);
      }
    }
  }

  /** The fault recorded in the control block, delivered with the faulting instruction's eip. */
  private deliverFault(): StepOutcome {
    const cb = this.cb;
    const vector = cb.faultVector;
    return outcomeOf(
      this.deliverer.deliver({
        kind: 'exception',
        vector,
        errorCode: hasErrorCode(vector) ? cb.faultErrorCode : -1,
        cr2: cb.faultCr2,
        returnEip: cb.eip,
      }),
    );
  }
}

function outcomeOf(result: 'entered' | 'replaced' | 'shutdown'): StepOutcome {
  return result === 'shutdown' ? 'shutdown' : 'delivered';
}
