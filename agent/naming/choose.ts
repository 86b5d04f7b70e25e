// One request's destination from a bound name tree: Alt takes its first child that is not
// negative (a Fail stops it, as in evaluation), a weighted Union picks one usable child at random
// by weight (a canary `0.9*/a & 0.1*/b` sends about one request in ten to b), a Leaf is the answer.
// This is Linkerd 1's per-request reading of a Union; Finagle's `eval` would merge the branches
// into one endpoint set, which loses the weights.
import type { Random } from '../balance/random.ts';
import type { BoundName } from './bind.ts';
import type { NameTree } from './name-tree.ts';

export type Choice =
  | { readonly kind: 'bound'; readonly name: BoundName }
  /** Bound to nothing (`$`, or every branch empty). */
  | { readonly kind: 'empty' }
  | { readonly kind: 'neg' }
  | { readonly kind: 'fail'; readonly reason: string };

const NEG: Choice = Object.freeze({ kind: 'neg' });
const EMPTY: Choice = Object.freeze({ kind: 'empty' });

export function chooseBound(tree: NameTree<BoundName>, random: Random): Choice {
  switch (tree.kind) {
    case 'leaf':
      return { kind: 'bound', name: tree.value };
    case 'empty':
      return EMPTY;
    case 'neg':
      return NEG;
    case 'fail':
      return { kind: 'fail', reason: tree.reason ?? 'the dtab says ! (fail)' };
    case 'alt':
      for (const child of tree.trees) {
        const choice = chooseBound(child, random);
        if (choice.kind !== 'neg') return choice;
      }
      return NEG;
    case 'union': {
      // Only branches that can take traffic share it; a failed or negative branch gives its
      // share to the others (Finagle skips them in a Union too).
      let total = 0;
      const usable: Array<{ weight: number; tree: NameTree<BoundName> }> = [];
      let failure: Choice | undefined;
      for (const branch of tree.trees) {
        const probe = usableKind(branch.tree);
        if (probe === 'fail') failure ??= chooseBound(branch.tree, random);
        if (probe !== 'usable' || !(branch.weight > 0)) continue;
        usable.push(branch);
        total += branch.weight;
      }
      if (usable.length === 0) return failure ?? NEG;
      let point = random() * total;
      for (const branch of usable) {
        point -= branch.weight;
        if (point < 0) return chooseBound(branch.tree, random);
      }
      return chooseBound((usable[usable.length - 1] as { tree: NameTree<BoundName> }).tree, random);
    }
  }
}

/** Whether a tree can take traffic at all, without drawing random numbers. */
function usableKind(tree: NameTree<BoundName>): 'usable' | 'neg' | 'fail' {
  switch (tree.kind) {
    case 'leaf':
    case 'empty':
      return 'usable';
    case 'neg':
      return 'neg';
    case 'fail':
      return 'fail';
    case 'alt':
      for (const child of tree.trees) {
        const kind = usableKind(child);
        if (kind !== 'neg') return kind;
      }
      return 'neg';
    case 'union': {
      let sawFail = false;
      for (const branch of tree.trees) {
        const kind = usableKind(branch.tree);
        if (kind === 'usable' && branch.weight > 0) return 'usable';
        if (kind === 'fail') sawFail = true;
      }
      return sawFail ? 'fail' : 'neg';
    }
  }
}
