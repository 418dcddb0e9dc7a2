// Labels and `.equ` names. Every name is declared before the first pass, so forward
// references resolve (two passes, see assemble.ts); a label gets its value when
// the first pass reaches it, an `.equ` when it is first needed (memoized, so a chain of
// `.equ`s costs one evaluation each; only successes are kept, and a success depends
// only on values that are already final).

import { fail, type Where } from './errors.ts';
import { evaluate, type Expr, type Scope } from './expr.ts';

type Def =
  | { kind: 'label'; where: Where; col: number; value: number | undefined }
  | { kind: 'equ'; where: Where; col: number; expr: Expr; value: number | undefined; busy: boolean };

export class SymbolTable implements Scope {
  private readonly defs = new Map<string, Def>();

  declareLabel(name: string, where: Where, col: number): void {
    this.checkNew(name, where, col);
    this.defs.set(name, { kind: 'label', where, col, value: undefined });
  }

  declareEqu(name: string, expr: Expr, where: Where, col: number): void {
    this.checkNew(name, where, col);
    this.defs.set(name, { kind: 'equ', where, col, expr, value: undefined, busy: false });
  }

  private checkNew(name: string, where: Where, col: number): void {
    const old = this.defs.get(name);
    if (old !== undefined) fail(where, col, `'${name}' is already defined on line ${old.where.line}`);
  }

  /** Called by the first pass when it reaches the label. */
  place(name: string, address: number): void {
    const def = this.defs.get(name);
    if (def?.kind === 'label') def.value = address;
  }

  isDefined(name: string): boolean {
    return this.defs.has(name);
  }

  lookup(name: string, where: Where, col: number, depth: number): number {
    const def = this.defs.get(name);
    if (def === undefined) return fail(where, col, `undefined symbol '${name}'`);
    if (def.kind === 'label') {
      // Only the first pass can see an unplaced label: .org, .zero and .align decide
      // where later labels go, so they cannot depend on them.
      if (def.value === undefined) {
        return fail(
          where,
          col,
          `label '${name}' is defined later (line ${def.where.line}); .org, .zero and .align need values known at that point`,
        );
      }
      return def.value;
    }
    if (def.value !== undefined) return def.value;
    if (def.busy) return fail(where, col, `circular definition of '${name}'`);
    def.busy = true;
    try {
      def.value = evaluate(def.expr, this, def.where, depth);
    } finally {
      def.busy = false;
    }
    return def.value;
  }

  /** Every symbol with its value; only after the first pass (all labels placed). */
  values(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [name, def] of this.defs) out.set(name, this.lookup(name, def.where, def.col, 0));
    return out;
  }
}
