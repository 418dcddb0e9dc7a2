// From a combination to a VX32 guest (DESIGN §3.9 assembly) and back: the program that
// sets up the combination's page tables and CPU mode, performs the one access, and
// records what happened; and the outcome — the few words of the final observation the
// matrix compares — both as read from an engine's observation and as the oracle's
// verdict predicts it.
//
// One template is assembled once; a combination only patches data words in a copy of
// its image (the test PDE and PTE, CR0, CR4, the ring and entry point of the access),
// so the 10200 runs cost no assembly.

import { assemble } from '../../spec/asm/assemble.ts';
import type { Image, Observation } from '../../spec/observation.ts';
import type { Verdict } from './oracle.ts';
import { LAYOUT, TEST_PDE_ADDR, TEST_PTE_ADDR, type Combo, type Scenario, scenarioOf } from './matrix.ts';

/** Guest RAM: the layout below fits in the first 32 KiB. */
export const RAM_BYTES = 0x8000;

/** Fixed addresses of the template (physical = linear in the kernel's identity map). */
const A = {
  idt: 0x4000,
  tss: 0x4800,
  result: 0x4900,
  pfErr: 0x4904,
  pfCr2: 0x4908,
  pfEip: 0x490c,
  cfgCr0: 0x4a00,
  cfgCr4: 0x4a04,
  cfgCs: 0x4a08,
  cfgSs: 0x4a0c,
  cfgEip: 0x4a10,
  cfgPde: 0x4a40,
  cfgPte: 0x4a44,
  cfgNext: 0x4a48,
  /** The access instructions, each the first of its routine. */
  doRead: 0x0800,
  doWrite: 0x0900,
  doFetch: 0x0a00,
  /** The rewrite variant's routine: warm the translation, rewrite the live entries, go on. */
  rewrite: 0x0b00,
} as const;

/**
 * `plain`: the entries hold the combination from the start. `rewrite`: they start fully
 * permissive (P RW US), the guest reads through them — so a TLB or a shadow now caches the
 * translation — then stores the combination's PDE and PTE into the live tables and makes
 * the access. VX32 has no TLB (DESIGN §3.6): the outcome must be the same as `plain`'s,
 * which is what memory tracing (DESIGN §6.5) and TLB coherence are for.
 */
export type Variant = 'plain' | 'rewrite';

/** Values the program leaves behind, so success is visible in RAM. */
const DATA_INIT = 0x5eed1234; // the test data word before the run
const WRITE_VALUE = 0xc0de0001; // what a write stores
const FETCH_MARK = 0xf37c4ed0; // what the code on the test page stores when it runs
const NO_FAULT = 0xffffffff; // the #PF records before any #PF

/** Kernel pages: present, writable, user (so ring 3 can run there), A and D preset so no run changes them. */
const KERNEL_PTE_FLAGS = 0x67;
const KERNEL_PDE_FLAGS = 0x27;

const SOURCE = `
; popek access matrix: one paging access under a combination of PDE/PTE flags and CPU
; mode (properties/access-matrix). Data words marked "patched" are set per combination.
.equ PD, ${LAYOUT.pd}
.equ PT0, ${LAYOUT.pt0}
.equ PT_TEST, ${LAYOUT.ptTest}
.equ IDT, ${A.idt}
.equ TSS, ${A.tss}
.equ RESULT, ${A.result}
.equ PF_ERR, ${A.pfErr}
.equ PF_CR2, ${A.pfCr2}
.equ PF_EIP, ${A.pfEip}
.equ TEST_LA, ${LAYOUT.testLa}
.equ DATA_LA, ${LAYOUT.testLa + LAYOUT.dataOffset}
.equ KSTACK_TOP, 0x7000
.equ USTACK_TOP, 0x8000

.org 0
.entry start
start:
    lidt [idt_desc]
    mov eax, TSS
    ltr eax
    mov eax, PD
    mov cr3, eax
    mov eax, [cfg_cr4]
    mov cr4, eax
    mov eax, [cfg_cr0]
    mov cr0, eax            ; paging on: this page is identity-mapped
    mov esp, KSTACK_TOP
    ; iret to the access routine at the combination's ring (DESIGN §3.4). At ring 0 the
    ; iret pops eip, CS, eflags only and leaves esp and SS unused on the stack.
    mov eax, [cfg_ss]
    push eax
    push USTACK_TOP
    push 0x2
    mov eax, [cfg_cs]
    push eax
    mov eax, [cfg_eip]
    push eax
    mov eax, ${WRITE_VALUE}
    iret

.org 0x400
; #PF handler (ring 0): record the error code, the saved eip and CR2, then stop.
pf_handler:
    pop ebx
    mov [PF_ERR], ebx
    pop ebx
    mov [PF_EIP], ebx
    mov eax, cr2
    mov [PF_CR2], eax
    hlt
; int 0x80 (DPL 3): the access routines' way to stop from any ring.
done_handler:
    hlt

.org ${A.doRead}
do_read:
    mov eax, [DATA_LA]
    mov [RESULT], eax
    int 0x80
.org ${A.doWrite}
do_write:
    mov [DATA_LA], eax
    mov [RESULT], eax
    int 0x80
.org ${A.doFetch}
do_fetch:
    jmp TEST_LA
.org ${A.rewrite}
rewrite:
    mov ebx, [DATA_LA]      ; the first access, through the permissive entries
    mov ebx, [cfg_pde]
    mov [${TEST_PDE_ADDR}], ebx
    mov ebx, [cfg_pte]
    mov [${TEST_PTE_ADDR}], ebx
    mov ebx, [cfg_next]
    jmp ebx                 ; the access routine (eax still holds the write value)

.org PD
    .dd PT0 | ${KERNEL_PDE_FLAGS}
test_pde:
    .dd 0                   ; patched

.org PT0
    .dd 0x0000 | ${KERNEL_PTE_FLAGS}, 0x1000 | ${KERNEL_PTE_FLAGS}, 0x2000 | ${KERNEL_PTE_FLAGS}, 0x3000 | ${KERNEL_PTE_FLAGS}
    .dd 0x4000 | ${KERNEL_PTE_FLAGS}, 0x5000 | ${KERNEL_PTE_FLAGS}, 0x6000 | ${KERNEL_PTE_FLAGS}, 0x7000 | ${KERNEL_PTE_FLAGS}

.org ${TEST_PTE_ADDR}
test_pte:
    .dd 0                   ; patched

.org IDT + 8*14
    .dd (0x08 << 16) | pf_handler, 0x8E00          ; interrupt gate, DPL 0 (DESIGN §3.7)
.org IDT + 8*0x80
    .dd (0x08 << 16) | done_handler, 0xEE00        ; interrupt gate, DPL 3
.org TSS
    .dd 0, KSTACK_TOP                              ; esp0 at tr+4
.org RESULT
    .dd 0, ${NO_FAULT}, ${NO_FAULT}, ${NO_FAULT}
.org ${A.cfgCr0}
cfg_cr0: .dd 0              ; patched
cfg_cr4: .dd 0              ; patched
cfg_cs:  .dd 0              ; patched
cfg_ss:  .dd 0              ; patched
cfg_eip: .dd 0              ; patched
idt_desc:
    .dd (IDT << 16) | (8*0x80 + 7), IDT >> 16
.org ${A.cfgPde}
cfg_pde: .dd 0              ; patched (rewrite variant)
cfg_pte: .dd 0              ; patched (rewrite variant)
cfg_next: .dd 0             ; patched (rewrite variant)

.org ${LAYOUT.testPhys}
test_code:                  ; runs at TEST_LA when a fetch succeeds
    mov eax, ${FETCH_MARK}
    mov [RESULT], eax
    int 0x80
.org ${LAYOUT.testPhys + LAYOUT.dataOffset}
    .dd ${DATA_INIT}
`;

let template: Image | undefined;

/** The assembled template, checked once against the fixed addresses the patches use. */
function templateImage(): Image {
  if (template) return template;
  const { image, symbols } = assemble(SOURCE, 'access-matrix.s');
  const expect: Record<string, number> = {
    test_pde: TEST_PDE_ADDR,
    test_pte: TEST_PTE_ADDR,
    cfg_cr0: A.cfgCr0,
    cfg_cr4: A.cfgCr4,
    cfg_cs: A.cfgCs,
    cfg_ss: A.cfgSs,
    cfg_eip: A.cfgEip,
    do_read: A.doRead,
    do_write: A.doWrite,
    do_fetch: A.doFetch,
    rewrite: A.rewrite,
    cfg_pde: A.cfgPde,
    cfg_pte: A.cfgPte,
    cfg_next: A.cfgNext,
  };
  for (const [name, addr] of Object.entries(expect)) {
    const got = symbols.get(name);
    if (got !== addr) throw new Error(`access matrix template: ${name} at ${hex(got)}, expected ${hex(addr)}`);
  }
  template = image;
  return image;
}

const hex = (v: number | undefined) => (v === undefined ? 'undefined' : '0x' + (v >>> 0).toString(16));

/** Fully permissive entries (P RW US) over the test page, for the rewrite variant's first read. */
const PERMISSIVE_PDE = LAYOUT.ptTest | 0x7;
const PERMISSIVE_PTE = LAYOUT.testPhys | 0x7;

/** The data words a scenario patches into the template. */
function patchesOf(s: Scenario, variant: Variant): [addr: number, value: number][] {
  const r = s.cpl;
  const entry = s.access === 'read' ? A.doRead : s.access === 'write' ? A.doWrite : A.doFetch;
  const mode: [number, number][] = [
    [A.cfgCr0, s.cr0],
    [A.cfgCr4, s.cr4],
    [A.cfgCs, 0x08 + 0x11 * r], // DESIGN §3.1 selectors
    [A.cfgSs, 0x10 + 0x11 * r],
  ];
  if (variant === 'plain') return [...mode, [TEST_PDE_ADDR, s.pde], [TEST_PTE_ADDR, s.pte], [A.cfgEip, entry]];
  return [
    ...mode,
    [TEST_PDE_ADDR, PERMISSIVE_PDE],
    [TEST_PTE_ADDR, PERMISSIVE_PTE],
    [A.cfgPde, s.pde],
    [A.cfgPte, s.pte],
    [A.cfgEip, A.rewrite],
    [A.cfgNext, entry],
  ];
}

/** The guest for one combination: a copy of the template with its words patched. */
export function programOf(combo: Combo, variant: Variant = 'plain'): Image {
  const base = templateImage();
  const chunks = base.chunks.map((c) => ({ addr: c.addr, bytes: c.bytes.slice() }));
  for (const [addr, value] of patchesOf(scenarioOf(combo), variant)) {
    const chunk = chunks.find((c) => addr >= c.addr && addr + 4 <= c.addr + c.bytes.length);
    if (!chunk) throw new Error(`access matrix template: no image bytes at ${hex(addr)}`);
    new DataView(chunk.bytes.buffer, chunk.bytes.byteOffset).setUint32(addr - chunk.addr, value >>> 0, true);
  }
  return { chunks, entry: base.entry };
}

/** Enough steps for the longest path (set-up, access, #PF delivery, handler) with room to spare. */
export const MAX_STEPS = 220;

/** What the matrix compares: the few guest-visible words one access can change. */
export interface Outcome {
  status: string;
  /** The observation's trace, one line per entry. */
  trace: string[];
  /** The #PF as the guest's handler recorded it (error code from its frame, CR2 read back, saved eip), or null. */
  pf: { errorCode: number; cr2: number; eip: number } | null;
  /** The word the access routine stored after a successful access. */
  result: number;
  /** The test data word (physical) after the run. */
  data: number;
  pde: number;
  pte: number;
}

function traceLine(e: Observation['trace'][number]): string {
  if (e.kind === 'shutdown') return 'shutdown';
  if (e.kind === 'software') return `int ${hex(e.vector)}`;
  const extra = (e.errorCode !== undefined ? ` err=${hex(e.errorCode)}` : '') + (e.cr2 !== undefined ? ` cr2=${hex(e.cr2)}` : '');
  return `${e.kind} ${e.vector}${extra} eip=${hex(e.eip)}`;
}

/** Read the outcome from an engine's final observation. */
export function outcomeOf(obs: Observation): Outcome {
  const ram = new DataView(obs.ram.buffer, obs.ram.byteOffset, obs.ram.byteLength);
  const word = (addr: number) => (addr + 4 <= obs.ram.byteLength ? ram.getUint32(addr, true) : NaN);
  const err = word(A.pfErr);
  return {
    status: obs.status,
    trace: obs.trace.map(traceLine),
    pf: err === NO_FAULT ? null : { errorCode: err, cr2: word(A.pfCr2), eip: word(A.pfEip) },
    result: word(A.result),
    data: word(LAYOUT.testPhys + LAYOUT.dataOffset),
    pde: word(TEST_PDE_ADDR),
    pte: word(TEST_PTE_ADDR),
  };
}

/** The outcome the oracle's verdict predicts for this program. */
export function expectedOutcome(combo: Combo, v: Verdict): Outcome {
  const s = scenarioOf(combo);
  const base = { status: 'halted', data: DATA_INIT, pde: v.pde, pte: v.pte };
  if (v.fault) {
    // DESIGN §3.10.4: the fault saves the eip of the faulting instruction — for a
    // fetch, the instruction at the test address itself.
    const eip = s.access === 'read' ? A.doRead : s.access === 'write' ? A.doWrite : LAYOUT.testLa;
    const { errorCode, cr2 } = v.fault;
    return {
      ...base,
      trace: [traceLine({ icount: 0, kind: 'exception', vector: 14, errorCode, cr2, eip })],
      pf: { errorCode, cr2, eip },
      result: 0,
    };
  }
  return {
    ...base,
    trace: [traceLine({ icount: 0, kind: 'software', vector: 0x80, eip: 0 })],
    pf: null,
    result: s.access === 'read' ? DATA_INIT : s.access === 'write' ? WRITE_VALUE : FETCH_MARK,
    data: s.access === 'write' ? WRITE_VALUE : DATA_INIT,
  };
}
