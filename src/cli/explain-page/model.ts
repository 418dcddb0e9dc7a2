// The data a `popek explain` page carries (DESIGN §10 `popek explain`): what the collector
// (collect.ts) records from the engines while they run, and what the page's script
// (client.ts) draws. Everything here is an engine's own observation, counter or structure,
// recorded as it was after each step — nothing is recomputed by a second model. Kept
// compact (deltas, interned walks) so a 10,000-step run stays a few megabytes.

/** The state fields a frame shows, in this order (DESIGN §2 minus RAM, console, device). */
export const STATE_FIELDS = [
  'eax',
  'ecx',
  'edx',
  'ebx',
  'esp',
  'ebp',
  'esi',
  'edi',
  'eip',
  'eflags',
  'cpl',
  'cr0',
  'cr2',
  'cr3',
  'cr4',
  'icount',
] as const;
export type StateField = (typeof STATE_FIELDS)[number];

/** One VM exit as the hardware recorded it (src/hw/exits.ts ExitInfo), copied at the exit. */
export interface ExitRecord {
  reason: string;
  qualification: number;
  guestLinear: number | null;
  guestPhysical: number | null;
  /** The exception or interrupt vector of an exception / external-interrupt exit. */
  vector: number | null;
  errorCode: number | null;
}

/** An entry read from a table, with where it was read (a gpa for guest tables, an hpa for the VMM's). */
export interface Entry {
  addr: number;
  value: number;
}

/** The guest's own walk of one linear address, read from guest memory (DESIGN §3.5). */
export interface GuestWalk {
  pde: Entry;
  /** Absent for a not-present PDE or a 4 MiB page. */
  pte?: Entry;
  /** The gpa the walk reaches when every entry it needs is present. */
  gpa?: number;
  /** The PDE's page table is a 4 MiB page (CR4.PSE and PDE.PS). */
  large?: boolean;
}

/** The shadow table the host MMU really walks for the same address (DESIGN §6). */
export interface ShadowWalk {
  /** hpa of the active shadow root (the host CR3). */
  root: number;
  spde: Entry;
  spte?: Entry;
  /** hpa the shadow reaches. */
  hpa?: number;
  /** Guest frames in this walk that the VMM traces (shadowed as tables: never writable, §6.5). */
  traced: number[];
  /** The final gfn is swapped out (§6.8): its spte is not present until the hidden fault. */
  swapped?: boolean;
  /** p2m[gfn of the final gpa]: the host frame, −1 when not resident. */
  hfn?: number;
}

/** One row of the 2-D walk (SDM 28.3.2): a guest-physical reference and its EPT walk. */
export interface EptRow {
  /** What the guest-physical address is: the guest PDE, the guest PTE, or the data. */
  what: 'PDE' | 'PTE' | 'data';
  gpa: number;
  dir: Entry;
  /** Absent when the EPT directory entry is not present. */
  table?: Entry;
  hpa?: number;
}

export interface Walk {
  la: number;
  access: 'fetch' | 'read' | 'write';
  user: boolean;
  /** Paging off: linear = physical, no guest walk (DESIGN §3.5). */
  guest?: GuestWalk;
  shadow?: ShadowWalk;
  ept?: EptRow[];
  /** This access faulted: the #PF error code the engine delivered (trace). */
  errorCode?: number;
  /**
   * The VMM's tables for this access before the step, when the step changed them (a hidden
   * fault filled an spte, a swapped-out page came back, an EPT entry was set): the walk
   * fields above are as they are after the step.
   */
  before?: { shadow?: ShadowWalk; ept?: EptRow[] };
}

/** One step (DESIGN §2: an instruction retired or a handler entered). */
export interface StepRecord {
  /** Outcome: r retired, d delivered, s shutdown. */
  o: 'r' | 'd' | 's';
  /** State fields that changed, by index into STATE_FIELDS. */
  d: [number, number][];
  /** Index into RunData.deltas: the engine's counters that changed in this step, by how much. */
  c?: number;
  x?: ExitRecord[];
  /** Trace entries appended by this step (delivered events). */
  t?: unknown[];
  /** Host events fired before this step. */
  f?: unknown[];
  /** Indexes into RunData.walks: the accesses of the instruction this step ran. */
  w?: number[];
  /** Console bytes written by this step. */
  con?: string;
  /** The eip the step started at (the instruction it ran). */
  at: number;
}

export interface RunData {
  engine: string;
  bugs: string[];
  init: number[];
  steps: StepRecord[];
  walks: Walk[];
  /** Distinct counter deltas (most steps share one: an instruction retired natively). */
  deltas: Record<string, number>[];
  status: string;
  /** Set when the engine threw (a VMM bug the audit or a stall check reported). */
  error?: string;
}

export interface ListingLine {
  addr: number;
  text: string;
  label?: string;
}

export interface Divergence {
  /** The frame (1-based: after that many steps) where the observations first differ. */
  frame: number;
  insn: string;
  fields: { path: string; spec: unknown; engine: unknown }[];
}

export interface PageData {
  title: string;
  source: string;
  listing: ListingLine[];
  runs: RunData[];
  divergence?: Divergence;
  /** The run stopped at --max-steps (more would follow). */
  truncated: boolean;
}
