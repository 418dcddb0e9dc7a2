// The shadow MMU (DESIGN §6.1–6.11): shadow page tables that the host MMU walks instead
// of the guest's, built lazily from the guest's tables and kept coherent with them.
// Names after KVM's mmu.rst (src/vmm/README.md has the glossary and the reactions to
// events as numbered steps).
//
// A shadow page (ShadowPage) is one 4 KiB host frame of the VMM pool holding 1024
// sptes, for one (gfn, role). Level 2 pages are roots (the host CR3 points at one);
// level 1 pages hold leaf sptes. Shadow PDEs are fully permissive (P|RW|US|A): the
// guest PDE's permissions are part of the child's role (`access`) and composed into
// every leaf, as KVM does, so one guest table reached through PDEs of different
// permissions gets different shadow pages (the CVE-2021-38198 lesson).
//
// Invariants (DESIGN §6.13; audit.ts checks each one):
// S1 one shadow page per (gfn, role): `pages` maps key(gfn, role) to it, `byHfn` its frame;
//    every shadow page's frame is a pool frame (host-memory.ts) no spte names.
// S2 a present leaf spte agrees with the guest walk composed with the p2m: same hfn as
//    p2m[gfn], no more permissive than the composed guest access, guest A set; writable
//    only if the guest D bit is set (dirty-bit emulation, §6.6) and the gfn is not traced.
// S3 traced: a gfn with a non-direct shadow page (a guest table) is never mapped writable.
// S4 `rmap` is exactly the inverse of the present leaf sptes: gfn → the sptes mapping it
//    (`sp.gfns` records each leaf's gfn so a zap finds its rmap entry).
// S5 `sp.parents` are exactly the shadow PDEs pointing at sp.
// S6 the active root is in `pages` and never evicted (§6.10); every spte zap and every
//    permission loss flushes the host TLB (§6.11), so the TLB ⊆ current sptes.
// S7 at most `maxPages` shadow pages and `maxRoots` cached roots (§6.2, §6.10); `roots` is
//    exactly the live level-2 pages, the active one among them.

import { ACC_USER, ACC_WRITE, PAGE_SIZE, PTE_A, PTE_D, PTE_P, PTE_RW, PTE_US } from '../../hw/arch.ts';
import { gpteToGfn, largeGpdeToGfn } from '../core/walker.ts';
import type { HostMemory } from '../core/host-memory.ts';
import type { P2m } from '../core/p2m.ts';
import type { GuestPaging, WalkRecord } from '../core/walker.ts';
import type { VmmBugs } from '../core/bugs.ts';
import { MMIO_BASE } from '../../hw/device.ts';

// Role bits (KVM's kvm_mmu_page_role, cut to what VX32 needs).
/** Level 2 (a directory, a root); clear: level 1 (a table of leaves). */
export const ROLE_L2 = 1;
/** Guest CR0.WP when built: leaf permissions depend on it (DESIGN §3.5.4). */
export const ROLE_WP = 2;
/** Guest CR4.PSE when built: whether a PDE's PS bit means a 4 MiB page. */
export const ROLE_PSE = 4;
/** No guest table behind it: a split 4 MiB page, or the physical-mode map. */
export const ROLE_DIRECT = 8;
/** Access inherited from the parent guest PDE (level 1 only). */
export const ROLE_US = 16;
export const ROLE_RW = 32;
/** The physical-mode map of a guest with paging off (DESIGN §6.7). */
export const ROLE_PHYS = 64;

export class ShadowPage {
  /** Shadow PDEs (their hpas) that point here (S5). */
  readonly parents: number[] = [];
  /** Per leaf index, the gfn it maps, or −1 (S4). Level 1 only. */
  readonly gfns = new Int32Array(1024).fill(-1);
  lastUse = 0;
  /** Emulated stores into its gfn since a fill last went through it (write flooding). */
  flood = 0;
  constructor(
    readonly hfn: number,
    readonly gfn: number,
    readonly role: number,
  ) {}
  get level(): number {
    return (this.role & ROLE_L2) !== 0 ? 2 : 1;
  }
  get direct(): boolean {
    return (this.role & ROLE_DIRECT) !== 0;
  }
}

export type FillResult = 'mapped' | 'emulate';

export interface ShadowOptions {
  /** Shadow pages this VM may hold at once (bounded shadow memory, DESIGN §6.10). */
  maxPages: number;
  /** Cached roots (bounded LRU, DESIGN §6.2); 1 = drop and rebuild at every switch. */
  maxRoots: number;
}

const roleKey = (gfn: number, role: number): number => gfn * 128 + role;

/**
 * Emulated stores into a shadowed table with no fill through it in between, after which
 * the page is taken to be no longer used as a table and unshadowed (DESIGN §6.5 "may be
 * unshadowed"; KVM's write-flooding detection uses the same count).
 */
const WRITE_FLOOD = 3;
/** The gfn of the MMIO window (DESIGN §3.2). */
const MMIO_GFN = MMIO_BASE >>> 12;

export class ShadowMmu {
  readonly pages = new Map<number, ShadowPage>();
  readonly byHfn = new Map<number, ShadowPage>();
  /** Non-direct shadow pages by guest gfn: the traced gfns (S3). */
  readonly byGfn = new Map<number, ShadowPage[]>();
  /** gfn → hpas of the leaf sptes that map it (S4). */
  readonly rmap = new Map<number, number[]>();
  /** Cached roots, least recently used first. */
  readonly roots: ShadowPage[] = [];
  active: ShadowPage | null = null;

  private readonly ram32: Int32Array;
  private tick = 0;
  /** For the shadow-from-guest-ram bug: the next guest frame to steal, from the top. */
  private stealGfn: number;

  /** Counters (not guest-visible). */
  readonly stats = {
    fills: 0,
    pagesCreated: 0,
    pagesZapped: 0,
    sptesZapped: 0,
    writeProtects: 0,
    tlbFlushes: 0,
    evictions: 0,
    rootHits: 0,
    rootMisses: 0,
    tracedWrites: 0,
    unshadowed: 0,
  };

  constructor(
    private readonly host: HostMemory,
    private readonly p2m: P2m,
    private readonly bugs: VmmBugs,
    readonly opts: ShadowOptions,
    /** Flush the host TLB (DESIGN §6.11): the VMX `invvpid`. */
    private readonly flushTlb: () => void,
  ) {
    this.ram32 = host.mem.ram32;
    this.stealGfn = p2m.frames - 1;
    this.onesHfn = host.allocPool();
    host.mem.ram.fill(0xff, this.onesHfn * PAGE_SIZE, (this.onesHfn + 1) * PAGE_SIZE);
  }

  /**
   * A pool frame of 0xFF bytes that open-bus gfns map to, read-only (DESIGN §3.2: open bus
   * reads 0xFF per byte, writes are dropped). Reads and fetches there run natively — an
   * instruction whose fetch crosses from the end of RAM into open bus needs no emulation —
   * and a write finds no RW and is emulated (dropped). No guest can change the frame.
   */
  readonly onesHfn: number;

  rmapOf(gfn: number): readonly number[] {
    return this.rmap.get(gfn) ?? [];
  }

  isTraced(gfn: number): boolean {
    return this.byGfn.has(gfn);
  }

  /** The hpa of the host CR3: the active root's frame. */
  get rootHpa(): number {
    return this.active === null ? 0 : this.active.hfn * PAGE_SIZE;
  }

  // ---------------------------------------------------------------------------------
  // Roots (DESIGN §6.2, §6.7)

  /** Make the root for the guest's current paging mode active (README: guest CR3 write). */
  loadRoot(g: GuestPaging): ShadowPage {
    const role = g.pg ? ROLE_L2 | this.modes(g) : ROLE_L2 | ROLE_DIRECT | ROLE_PHYS;
    const gfn = g.pg ? gpteToGfn(g.cr3) : 0;
    const key = this.keyOf(gfn, role);
    const cached = this.pages.get(key);
    if (cached && (cached.role & ROLE_L2) !== 0) this.stats.rootHits++;
    else this.stats.rootMisses++;
    const prev = this.active;
    const root = this.getPage(gfn, role);
    this.active = root;
    const i = this.roots.indexOf(root);
    if (i >= 0) this.roots.splice(i, 1);
    this.roots.push(root);
    // Bounded LRU of roots; with maxRoots = 1 every switch drops the old tree (rebuild mode).
    while (this.roots.length > this.opts.maxRoots) {
      const victim = this.roots.find((r) => r !== root);
      if (!victim) break;
      this.zapPage(victim);
    }
    if (prev !== root) this.flush();
    return root;
  }

  /** The mode bits of the role (§6.1); the role bugs leave one out. */
  private modes(g: GuestPaging): number {
    return (g.wp && !this.bugs.roleWithoutWp ? ROLE_WP : 0) | (g.pse && !this.bugs.roleWithoutPse ? ROLE_PSE : 0);
  }

  // ---------------------------------------------------------------------------------
  // Fill on a hidden fault (DESIGN §6.3)

  /**
   * Install the spte for `gva` from a successful guest walk `rec` of an access `access`
   * (ACC_WRITE | ACC_USER, src/hw/arch.ts) (README: hidden fault). 'emulate' when the
   * access cannot run natively: the gpa is not RAM (MMIO, open bus: DESIGN §6.9), or it
   * is a write to a traced gfn (§6.5).
   */
  fill(g: GuestPaging, gva: number, rec: WalkRecord, access: number): FillResult {
    this.stats.fills++;
    const write = (access & ACC_WRITE) !== 0;
    const root = this.active!;
    root.lastUse = ++this.tick;
    const pdi = gva >>> 22;
    const spdeAddr = root.hfn * PAGE_SIZE + pdi * 4;
    const spde = this.ram32[spdeAddr >>> 2]!;
    let child: ShadowPage;
    if ((spde & PTE_P) !== 0) child = this.byHfn.get(spde >>> 12)!;
    else {
      let gfn: number;
      let role: number;
      const modes = this.modes(g);
      if (!g.pg) {
        gfn = pdi << 10;
        role = ROLE_DIRECT | ROLE_PHYS | ROLE_US | ROLE_RW;
      } else {
        const gpde = rec.gpte[0]!;
        const inherited = (gpde & PTE_US ? ROLE_US : 0) | (gpde & PTE_RW ? ROLE_RW : 0);
        if (rec.large) {
          gfn = this.bugs.largePageSplitWrong ? rec.gpa >>> 12 : largeGpdeToGfn(gpde);
          role = ROLE_DIRECT | inherited | modes;
        } else {
          gfn = gpteToGfn(gpde);
          role = inherited | modes;
        }
      }
      child = this.getPage(gfn, role);
      this.ram32[spdeAddr >>> 2] = (child.hfn * PAGE_SIZE) | PTE_P | PTE_RW | PTE_US | PTE_A;
      child.parents.push(spdeAddr);
      // A split 4 MiB page shared by several gpdes may be writable only while every one
      // of them has D set (S2): a new parent without D takes write permission away.
      if (rec.large && (rec.gpte[0]! & PTE_D) === 0) this.writeProtectPage(child);
    }
    child.lastUse = this.tick;
    root.flood = 0;
    child.flood = 0;
    const pti = (gva >>> 12) & 0x3ff;
    // The leaf's gfn: from the walk, or from the split (the split bug shows here).
    const gfn = child.direct && (child.role & ROLE_PHYS) === 0 ? child.gfn + pti : rec.gpa >>> 12;
    let hfn: number;
    if (gfn >= this.p2m.frames) {
      if (this.bugs.gpteOutsideRamMapped && gfn < this.host.mem.frames) {
        hfn = gfn; // the bug: "a gpte pointing outside RAM mapped to a host frame"
      } else if (write || gfn === MMIO_GFN) {
        return 'emulate'; // MMIO is never mapped (§6.9); open-bus writes are dropped in software
      } else {
        this.setLeaf(child, pti, gfn, this.onesHfn, rec.access & PTE_US);
        return 'mapped';
      }
    } else hfn = this.p2m.ensure(gfn);

    let perms = rec.access & PTE_US;
    const rw = (rec.access & PTE_RW) !== 0;
    const dirty = rec.dirty && (!rec.large || this.allParentsDirty(child));
    if (rw) perms |= dirty ? PTE_RW : 0;
    else if (!g.wp || this.bugs.cr0WpIgnored) {
      // Guest CR0.WP = 0: a supervisor may write read-only pages; the host runs with WP = 1,
      // so such a page is mapped supervisor-only writable while the supervisor writes, and
      // user-readable read-only otherwise (KVM's cr0_wp = 0 trick).
      if (perms === 0) perms = dirty ? PTE_RW : 0;
      else if (write && (access & ACC_USER) === 0 && dirty) perms = PTE_RW;
    }
    if ((perms & PTE_RW) !== 0 && this.isTraced(gfn) && !this.bugs.noWriteProtect && !this.untracedBug(child)) perms &= ~PTE_RW;
    this.setLeaf(child, pti, gfn, hfn, perms);
    if (write && (perms & PTE_RW) === 0) return 'emulate';
    return 'mapped';
  }

  /** Write leaf `i` of `sp`, keeping the rmap exact (S4) and flushing on permission loss. */
  private setLeaf(sp: ShadowPage, i: number, gfn: number, hfn: number, perms: number): void {
    const addr = sp.hfn * PAGE_SIZE + i * 4;
    const old = this.ram32[addr >>> 2]!;
    const spte = (hfn * PAGE_SIZE) | PTE_P | PTE_A | perms | ((perms & PTE_RW) !== 0 ? PTE_D : 0);
    if ((old & PTE_P) !== 0) {
      const lost = (old & ~spte & (PTE_RW | PTE_US)) !== 0 || (old ^ spte) >>> 12 !== 0;
      if (sp.gfns[i] !== gfn) {
        this.rmapRemove(sp.gfns[i]!, addr);
        this.rmapAdd(gfn, addr);
      }
      this.ram32[addr >>> 2] = spte;
      sp.gfns[i] = gfn;
      if (lost) this.flush();
      return;
    }
    this.ram32[addr >>> 2] = spte;
    sp.gfns[i] = gfn;
    this.rmapAdd(gfn, addr);
  }

  // ---------------------------------------------------------------------------------
  // Shadow pages: lookup, creation, tracing, zapping, eviction

  private keyOf(gfn: number, role: number): number {
    return this.bugs.cacheKeyWithoutRole ? gfn : roleKey(gfn, role);
  }

  private getPage(gfn: number, role: number): ShadowPage {
    const key = this.keyOf(gfn, role);
    const found = this.pages.get(key);
    if (found) {
      found.lastUse = ++this.tick;
      return found;
    }
    const hfn = this.allocFrame();
    const sp = new ShadowPage(hfn, gfn, role);
    sp.lastUse = ++this.tick;
    this.pages.set(key, sp);
    this.byHfn.set(hfn, sp);
    this.stats.pagesCreated++;
    if ((role & ROLE_DIRECT) === 0) {
      const list = this.byGfn.get(gfn);
      if (list) list.push(sp);
      else {
        this.byGfn.set(gfn, [sp]);
        this.writeProtect(gfn);
      }
    }
    return sp;
  }

  /** The tracing bugs: sptes of a large-page or a physical-mode shadow page escape write-protection. */
  private untracedBug(sp: ShadowPage): boolean {
    if ((sp.role & ROLE_PHYS) !== 0) return this.bugs.physModeNotTraced;
    return sp.direct && this.bugs.largeAliasNotWriteProtected;
  }

  /** A gfn became a shadowed table: remove write permission from every spte mapping it (§6.5). */
  private writeProtect(gfn: number): void {
    if (this.bugs.noWriteProtect) return;
    let changed = false;
    for (const addr of this.rmapOf(gfn)) {
      if (this.untracedBug(this.byHfn.get(Math.floor(addr / PAGE_SIZE))!)) continue;
      const s = this.ram32[addr >>> 2]!;
      if ((s & PTE_RW) !== 0) {
        this.ram32[addr >>> 2] = s & ~PTE_RW;
        changed = true;
      }
    }
    if (changed) {
      this.stats.writeProtects++;
      this.flush();
    }
  }

  private allocFrame(): number {
    if (this.bugs.shadowFromGuestRam) {
      // The bug: shadow pages carved out of frames that back guest RAM.
      const gfn = this.stealGfn;
      this.stealGfn = gfn > 0 ? gfn - 1 : this.p2m.frames - 1;
      const hfn = this.p2m.ensure(gfn);
      this.host.mem.ram.fill(0, hfn * PAGE_SIZE, (hfn + 1) * PAGE_SIZE);
      return hfn;
    }
    while (this.pages.size >= this.opts.maxPages) {
      if (!this.evictOne()) throw new Error('popek: shadow memory exhausted with nothing evictable');
    }
    let hfn = this.host.allocPool();
    while (hfn < 0) {
      if (!this.evictOne()) throw new Error('popek: VMM pool exhausted');
      hfn = this.host.allocPool();
    }
    return hfn;
  }

  /** Evict the least recently used shadow page that is not the active root (§6.10). */
  evictOne(): boolean {
    let victim: ShadowPage | null = null;
    for (const sp of this.pages.values()) {
      if (sp === this.active && !this.bugs.staleRootAfterEviction) continue;
      if (victim === null || sp.lastUse < victim.lastUse) victim = sp;
    }
    if (victim === null) return false;
    this.stats.evictions++;
    this.zapPage(victim);
    return true;
  }

  /** Host event `evict-shadow {count}` (README: eviction). */
  evict(count: number): number {
    let n = 0;
    while (n < count && this.evictOne()) n++;
    return n;
  }

  /** Zap a whole shadow page: unlink it from its parents, drop its entries, free its frame. */
  zapPage(sp: ShadowPage): void {
    if (this.byHfn.get(sp.hfn) !== sp) return; // already zapped (a cascade got there first)
    const ram32 = this.ram32;
    for (const addr of sp.parents) ram32[addr >>> 2] = 0;
    sp.parents.length = 0;
    const base = sp.hfn * PAGE_SIZE;
    for (let i = 0; i < 1024; i++) {
      const addr = base + i * 4;
      const e = ram32[addr >>> 2]!;
      if ((e & PTE_P) === 0) continue;
      if (sp.level === 1) this.zapSpte(sp, i);
      else this.unlink(addr);
    }
    this.pages.delete(this.keyOf(sp.gfn, sp.role));
    this.byHfn.delete(sp.hfn);
    const list = this.byGfn.get(sp.gfn);
    if (list) {
      const k = list.indexOf(sp);
      if (k >= 0) list.splice(k, 1);
      if (list.length === 0) this.byGfn.delete(sp.gfn);
    }
    const r = this.roots.indexOf(sp);
    if (r >= 0) this.roots.splice(r, 1);
    // The active root is never zapped (S6), except under stale-root-after-eviction, where
    // `active` keeps naming the freed frame: the use-after-free the bug models.
    if (!this.bugs.shadowFromGuestRam) {
      this.host.mem.ram.fill(0, base, base + PAGE_SIZE);
      this.host.freePoolFrame(sp.hfn);
    }
    this.stats.pagesZapped++;
    this.flush();
  }

  /** Clear a shadow PDE and forget it in its child's parents (S5). */
  private unlink(spdeHpa: number): void {
    const e = this.ram32[spdeHpa >>> 2]!;
    this.ram32[spdeHpa >>> 2] = 0;
    const child = this.byHfn.get(e >>> 12);
    if (child) {
      const k = child.parents.indexOf(spdeHpa);
      if (k >= 0) child.parents.splice(k, 1);
      // A split 4 MiB page has no guest table to trace: once no gpde names it, nothing
      // would keep its leaves coherent with the next gpde that does (its D bit), so it goes.
      if (child.parents.length === 0 && child.direct && (child.role & ROLE_PHYS) === 0) this.zapPage(child);
    }
    this.flush();
  }

  /**
   * Whether every gpde linking this split 4 MiB page has D set (S2 for shared pages).
   * Reads those gpdes itself: the walk of the faulting gva saw only one of them.
   */
  private allParentsDirty(sp: ShadowPage): boolean {
    for (const addr of sp.parents) {
      const root = this.byHfn.get(Math.floor(addr / PAGE_SIZE));
      if (!root) continue;
      const gpdeGpa = root.gfn * PAGE_SIZE + (addr % PAGE_SIZE);
      if (gpdeGpa >= this.p2m.ramBytes || (this.p2m.read32(gpdeGpa) & PTE_D) === 0) return false;
    }
    return true;
  }

  /** Remove write permission from every leaf of `sp`. */
  private writeProtectPage(sp: ShadowPage): void {
    const base = sp.hfn * PAGE_SIZE;
    let changed = false;
    for (let i = 0; i < 1024; i++) {
      const s = this.ram32[(base + i * 4) >>> 2]!;
      if ((s & PTE_P) !== 0 && (s & PTE_RW) !== 0) {
        this.ram32[(base + i * 4) >>> 2] = s & ~PTE_RW;
        changed = true;
      }
    }
    if (changed) this.flush();
  }

  /** Clear leaf `i` of level-1 page `sp` (README: every zap flushes, §6.11). */
  zapSpte(sp: ShadowPage, i: number): void {
    const addr = sp.hfn * PAGE_SIZE + i * 4;
    if ((this.ram32[addr >>> 2]! & PTE_P) === 0) return;
    this.ram32[addr >>> 2] = 0;
    this.rmapRemove(sp.gfns[i]!, addr);
    sp.gfns[i] = -1;
    this.stats.sptesZapped++;
    this.flush();
  }

  /** Remove every spte mapping `gfn` (swap-out, migration: DESIGN §6.8). */
  zapGfn(gfn: number): void {
    const list = this.rmap.get(gfn);
    if (!list) return;
    for (const addr of [...list]) {
      const sp = this.byHfn.get(Math.floor(addr / PAGE_SIZE))!;
      this.zapSpte(sp, (addr % PAGE_SIZE) >>> 2);
    }
  }

  /**
   * The guest stored `len` bytes at `gpa` in a traced gfn (README: traced write): zap every
   * shadow entry derived from the gptes those bytes touched (§6.5).
   */
  tracedWrite(gpa: number, len: number): void {
    const pages = this.byGfn.get(gpa >>> 12);
    if (!pages) return;
    this.stats.tracedWrites++;
    const first = (gpa & 0xfff) >>> 2;
    const last = ((gpa & 0xfff) + len - 1) >>> 2;
    for (const sp of [...pages]) {
      if (++sp.flood >= WRITE_FLOOD && sp !== this.active) {
        this.stats.unshadowed++;
        this.zapPage(sp);
        continue;
      }
      for (let i = first; i <= Math.min(last, 1023); i++) {
        const addr = sp.hfn * PAGE_SIZE + i * 4;
        if ((this.ram32[addr >>> 2]! & PTE_P) === 0) continue;
        if (sp.level === 1) this.zapSpte(sp, i);
        else this.unlink(addr);
      }
    }
  }

  /** Drop everything (a PSE/WP-independent full reset; used by tests and `reclaim`). */
  zapAll(): void {
    for (const sp of [...this.pages.values()]) if (sp !== this.active) this.zapPage(sp);
  }

  private rmapAdd(gfn: number, spteHpa: number): void {
    const l = this.rmap.get(gfn);
    if (l) l.push(spteHpa);
    else this.rmap.set(gfn, [spteHpa]);
  }

  private rmapRemove(gfn: number, spteHpa: number): void {
    const l = this.rmap.get(gfn);
    if (!l) return;
    const k = l.indexOf(spteHpa);
    if (k < 0) return;
    l[k] = l[l.length - 1]!;
    l.pop();
    if (l.length === 0) this.rmap.delete(gfn);
  }

  private flush(): void {
    if (this.bugs.noTlbFlushOnZap) return;
    this.stats.tlbFlushes++;
    this.flushTlb();
  }
}
