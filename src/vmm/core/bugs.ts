// The VMM half of the known-bug catalog (DESIGN §8, part 1): named switches, off by
// default, each modelled on a real VMM bug, read only on exit paths (never per guest
// instruction). `popek check --engine vmx-shadow --bug NAME` switches one on.

export const VMM_BUGS = {
  'no-write-protect': 'guest page tables are not write-protected: a guest edit of a live table leaves stale sptes (memory tracing missing)',
  'rmap-missed-on-swap-out':
    'swap-out frees the frame without zapping the sptes the rmap lists: the guest keeps using a frame it no longer owns',
  'pde-perms-ignored': "the walker composes permissions from the PTE alone, ignoring the PDE's US and RW",
  'cr0-wp-ignored': 'the walker lets supervisor writes through read-only pages even with CR0.WP set',
  'ad-not-set': 'the walker never sets guest A or D bits',
  'dirty-on-read': 'the walker sets D on reads too',
  'host-cr-leak': "guest reads of CR0 show the host's PG (a paging-off guest sees PG = 1)",
  'popf-no-shadow-if': 'the VMM forces the real IF on at every entry, so a guest cli or popf that clears IF is lost',
  'no-tlb-flush-on-zap': 'zapping an spte or removing its write permission does not flush the host TLB',
  'cache-key-without-role': 'shadow pages are looked up by gfn alone, so pages of different roles are shared (CVE-2021-38198)',
  'stale-root-after-eviction': 'shadow eviction may free the active root while the CPU still runs on it (use-after-free class)',
  'pf-wrong-error-code':
    "a true #PF is reflected with the hardware error code of the shadow walk instead of the guest walk's (CVE-2009-2267 class)",
  'cr2-not-set': 'a reflected #PF leaves the guest CR2 unchanged',
  'pending-irq-lost': 'an interrupt raised while the guest cannot take it is dropped instead of waiting for an interrupt window',
  'injection-in-sti-shadow': 'the VMM injects an interrupt in the STI shadow (it checks IF only)',
  'mmio-emulated-twice': 'an MMIO write is emulated twice',
  'shadow-from-guest-ram': 'shadow pages are allocated from frames that back guest RAM',
  'large-page-split-wrong':
    "a 4 MiB guest page is split from the faulting page instead of the large page's first frame: its 4 KiB pieces map off by the fault's offset",
  'gpte-outside-ram-mapped': 'a gpte naming a frame beyond guest RAM is mapped to the host frame of that number',
  'us-not-enforced': 'the walker treats every page as user-accessible',
  'role-without-wp':
    'shadow pages are not keyed on CR0.WP: the supervisor-writable sptes built for WP = 0 keep serving after the guest sets WP (KVM role-bit class: a mode bit missing from the role)',
  'role-without-pse':
    'shadow pages are not keyed on CR4.PSE: the 4 MiB mappings shadowed with PSE on keep serving after the guest clears it (KVM role-bit class)',
  'large-alias-not-write-protected':
    'memory tracing skips sptes of 4 MiB guest pages: a guest table stays writable through a large-page alias, and edits through it leave stale sptes (KVM large-page write-tracking class)',
  'phys-mode-not-traced':
    'memory tracing skips the physical-mode shadow: a table edited while guest paging is off leaves the cached shadow of that table stale when paging comes back on',
  'emulated-byte-store-as-word': "the VMM's emulator performs a byte store as a 4-byte store: the three bytes after it are overwritten",
} as const;

export type VmmBug = keyof typeof VMM_BUGS;

/**
 * The switches that live in the instruction emulator (emulate.ts) alone: every VMM that
 * performs instructions with it takes them, nested paging too (ept/vm.ts).
 */
export const EMULATOR_BUGS = ['emulated-byte-store-as-word', 'mmio-emulated-twice'] as const satisfies readonly VmmBug[];

export const isVmmBug = (name: string): name is VmmBug => Object.hasOwn(VMM_BUGS, name);

/** The switches as plain booleans. */
export class VmmBugs {
  readonly noWriteProtect: boolean;
  readonly rmapMissedOnSwapOut: boolean;
  readonly pdePermsIgnored: boolean;
  readonly cr0WpIgnored: boolean;
  readonly adNotSet: boolean;
  readonly dirtyOnRead: boolean;
  readonly hostCrLeak: boolean;
  readonly popfNoShadowIf: boolean;
  readonly noTlbFlushOnZap: boolean;
  readonly cacheKeyWithoutRole: boolean;
  readonly staleRootAfterEviction: boolean;
  readonly pfWrongErrorCode: boolean;
  readonly cr2NotSet: boolean;
  readonly pendingIrqLost: boolean;
  readonly stiShadowIgnored: boolean;
  readonly mmioEmulatedTwice: boolean;
  readonly shadowFromGuestRam: boolean;
  readonly largePageSplitWrong: boolean;
  readonly gpteOutsideRamMapped: boolean;
  readonly usNotEnforced: boolean;
  readonly roleWithoutWp: boolean;
  readonly roleWithoutPse: boolean;
  readonly largeAliasNotWriteProtected: boolean;
  readonly physModeNotTraced: boolean;
  readonly emulatedByteStoreAsWord: boolean;

  constructor(names: readonly string[] = []) {
    const on = (b: VmmBug): boolean => names.includes(b);
    this.noWriteProtect = on('no-write-protect');
    this.rmapMissedOnSwapOut = on('rmap-missed-on-swap-out');
    this.pdePermsIgnored = on('pde-perms-ignored');
    this.cr0WpIgnored = on('cr0-wp-ignored');
    this.adNotSet = on('ad-not-set');
    this.dirtyOnRead = on('dirty-on-read');
    this.hostCrLeak = on('host-cr-leak');
    this.popfNoShadowIf = on('popf-no-shadow-if');
    this.noTlbFlushOnZap = on('no-tlb-flush-on-zap');
    this.cacheKeyWithoutRole = on('cache-key-without-role');
    this.staleRootAfterEviction = on('stale-root-after-eviction');
    this.pfWrongErrorCode = on('pf-wrong-error-code');
    this.cr2NotSet = on('cr2-not-set');
    this.pendingIrqLost = on('pending-irq-lost');
    this.stiShadowIgnored = on('injection-in-sti-shadow');
    this.mmioEmulatedTwice = on('mmio-emulated-twice');
    this.shadowFromGuestRam = on('shadow-from-guest-ram');
    this.largePageSplitWrong = on('large-page-split-wrong');
    this.gpteOutsideRamMapped = on('gpte-outside-ram-mapped');
    this.usNotEnforced = on('us-not-enforced');
    this.roleWithoutWp = on('role-without-wp');
    this.roleWithoutPse = on('role-without-pse');
    this.largeAliasNotWriteProtected = on('large-alias-not-write-protected');
    this.physModeNotTraced = on('phys-mode-not-traced');
    this.emulatedByteStoreAsWord = on('emulated-byte-store-as-word');
  }
}
