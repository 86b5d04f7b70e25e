// Finagle's NameTree (finagle-core NameTree.scala) as plain data: what a name means after
// delegation. Leaf: a value. Alt (`a | b`): fail-over, the first subtree that is not negative.
// Union (`0.9*a & 0.1*b`): load is spread over the subtrees by weight. Neg (`~`): no binding here.
// Fail (`!`): binding failed, stop looking. Empty (`$`): exists but has no members now.
// Simplification and evaluation follow Finagle's rules exactly; printing follows Finagle's
// `NameTree.show` except where Finagle loses information (see formatWeight).
import { type Path, showPath } from './path.ts';

export interface Leaf<T> {
  readonly kind: 'leaf';
  readonly value: T;
}
export interface Alt<T> {
  readonly kind: 'alt';
  readonly trees: readonly NameTree<T>[];
}
export interface Weighted<T> {
  /** Finite and >= 0; the parser defaults it to 1. Only relative weights matter to a balancer. */
  readonly weight: number;
  readonly tree: NameTree<T>;
}
export interface Union<T> {
  readonly kind: 'union';
  readonly trees: readonly Weighted<T>[];
}
export interface Neg {
  readonly kind: 'neg';
}
export interface Fail {
  readonly kind: 'fail';
  /** Why, when weft knows (a namer's error, a delegation loop); `!` in a dtab has none. */
  readonly reason?: string;
}
export interface Empty {
  readonly kind: 'empty';
}

export type NameTree<T> = Leaf<T> | Alt<T> | Union<T> | Neg | Fail | Empty;

/** Finagle `NameTree.Weighted.defaultWeight`. */
export const defaultWeight = 1;

export const neg: Neg = Object.freeze({ kind: 'neg' } as const);
export const empty: Empty = Object.freeze({ kind: 'empty' } as const);
const bareFail: Fail = Object.freeze({ kind: 'fail' } as const);

export function fail(reason?: string): Fail {
  return reason === undefined ? bareFail : Object.freeze({ kind: 'fail', reason } as const);
}

export function leaf<T>(value: T): Leaf<T> {
  return Object.freeze({ kind: 'leaf', value } as const);
}

export function alt<T>(...trees: NameTree<T>[]): Alt<T> {
  return Object.freeze({ kind: 'alt', trees: Object.freeze(trees) } as const);
}

export function weighted<T>(weight: number, tree: NameTree<T>): Weighted<T> {
  return Object.freeze({ weight, tree });
}

export function union<T>(...trees: Weighted<T>[]): Union<T> {
  return Object.freeze({ kind: 'union', trees: Object.freeze(trees) } as const);
}

/** Finagle `NameTree.map`: the same shape with every leaf value replaced by `f(value)`. */
export function mapNameTree<T, U>(tree: NameTree<T>, f: (value: T) => U): NameTree<U> {
  switch (tree.kind) {
    case 'leaf':
      return leaf(f(tree.value));
    case 'alt':
      return alt(...tree.trees.map((t) => mapNameTree(t, f)));
    case 'union':
      return union(...tree.trees.map((w) => weighted(w.weight, mapNameTree(w.tree, f))));
    default:
      return tree;
  }
}

/**
 * Finagle `NameTree.simplify`: an evaluation-equivalent tree and a fixpoint. An Alt drops
 * negative children and stops at the first Fail; a Union drops Neg and Fail children; empty
 * Alt/Union become Neg; one-child Alt/Union become the child (the weight is dropped).
 */
export function simplifyNameTree<T>(tree: NameTree<T>): NameTree<T> {
  switch (tree.kind) {
    case 'alt': {
      const kept: NameTree<T>[] = [];
      for (const child of tree.trees) {
        const s = simplifyNameTree(child);
        if (s.kind === 'fail') {
          kept.push(s);
          break;
        }
        if (s.kind !== 'neg') kept.push(s);
      }
      if (kept.length === 0) return neg;
      if (kept.length === 1) return kept[0] ?? neg;
      return alt(...kept);
    }
    case 'union': {
      if (tree.trees.length === 1) return simplifyNameTree(tree.trees[0]?.tree ?? neg);
      const kept: Weighted<T>[] = [];
      for (const w of tree.trees) {
        const s = simplifyNameTree(w.tree);
        if (s.kind !== 'neg' && s.kind !== 'fail') kept.push(weighted(w.weight, s));
      }
      if (kept.length === 0) return neg;
      if (kept.length === 1) return kept[0]?.tree ?? neg;
      return union(...kept);
    }
    default:
      return tree;
  }
}

type Evaluated<T> = { readonly kind: 'neg' } | { readonly kind: 'fail' } | { readonly kind: 'set'; readonly values: Map<string, T> };

/**
 * Finagle `NameTree.eval`: the set of leaf values the tree denotes, or undefined when it is
 * negative or failed. Alt takes its first non-negative child (a Fail stops it); Union joins
 * its non-negative, non-failed children; Empty is the empty set. Weights are discarded.
 * `keyOf` gives set identity (Finagle compares values structurally).
 */
export function evalNameTree<T>(tree: NameTree<T>, keyOf: (value: T) => string): T[] | undefined {
  const result = evaluate(tree, keyOf);
  return result.kind === 'set' ? [...result.values.values()] : undefined;
}

function evaluate<T>(tree: NameTree<T>, keyOf: (value: T) => string): Evaluated<T> {
  switch (tree.kind) {
    case 'neg':
      return { kind: 'neg' };
    case 'fail':
      return { kind: 'fail' };
    case 'empty':
      return { kind: 'set', values: new Map() };
    case 'leaf':
      return { kind: 'set', values: new Map([[keyOf(tree.value), tree.value]]) };
    case 'alt':
      for (const child of tree.trees) {
        const r = evaluate(child, keyOf);
        if (r.kind !== 'neg') return r;
      }
      return { kind: 'neg' };
    case 'union': {
      // Finagle evaluates a one-child Union as its child, so a lone Fail stays Fail there, while
      // in a wider Union failed children are skipped.
      if (tree.trees.length === 1) return evaluate(tree.trees[0]?.tree ?? neg, keyOf);
      let values: Map<string, T> | undefined;
      for (const w of tree.trees) {
        const r = evaluate(w.tree, keyOf);
        if (r.kind !== 'set') continue;
        values ??= new Map();
        for (const [k, v] of r.values) values.set(k, v);
      }
      return values === undefined ? { kind: 'neg' } : { kind: 'set', values };
    }
  }
}

/**
 * A weight as `NameTree.show` writes it. Finagle prints `%.2f`, which silently turns 0.333 into
 * 0.33; here a weight is printed that way only when that is exact, otherwise as the shortest
 * plain decimal that reads back to the same number. Both forms are in Finagle's weight grammar
 * (`[0-9]*\.?[0-9]+`), so Finagle reads what weft prints and vice versa.
 */
export function formatWeight(weight: number): string {
  if (!Number.isFinite(weight)) return String(weight); // not parseable; weights must be finite
  if (weight < 1e21) {
    const fixed = weight.toFixed(2);
    if (Number(fixed) === weight) return fixed;
  }
  return plainDecimal(weight);
}

/** The shortest round-trip decimal of a finite number >= 0, without exponent notation. */
function plainDecimal(value: number): string {
  const text = String(value);
  const e = text.indexOf('e');
  if (e < 0) return text;
  const mantissa = text.slice(0, e);
  const exponent = Number(text.slice(e + 1));
  const dot = mantissa.indexOf('.');
  const digits = dot < 0 ? mantissa : mantissa.slice(0, dot) + mantissa.slice(dot + 1);
  const pointAt = (dot < 0 ? mantissa.length : dot) + exponent; // digits before the decimal point
  if (pointAt <= 0) return '0.' + '0'.repeat(-pointAt) + digits;
  if (pointAt >= digits.length) return digits + '0'.repeat(pointAt - digits.length);
  return digits.slice(0, pointAt) + '.' + digits.slice(pointAt);
}

/**
 * Finagle `NameTree.show`: `|` binds loosest, then `&`, then `weight*`; parentheses only where
 * needed; weight 1 is not written; one-child Alt/Union print as the child. An empty Alt or Union
 * (never produced by the parser) prints as `~`, which it evaluates to (Finagle prints nothing).
 */
export function showNameTreeWith<T>(tree: NameTree<T>, showLeaf: (value: T) => string): string {
  switch (tree.kind) {
    case 'union':
      if (tree.trees.length === 1) return showNameTreeWith(tree.trees[0]?.tree ?? neg, showLeaf);
      break;
    case 'alt':
      if (tree.trees.length === 1) return showNameTreeWith(tree.trees[0] ?? neg, showLeaf);
      if (tree.trees.length > 1) return tree.trees.map((t) => showAltChild(t, showLeaf)).join(' | ');
      break;
  }
  return showAltChild(tree, showLeaf);
}

function showAltChild<T>(tree: NameTree<T>, showLeaf: (value: T) => string): string {
  switch (tree.kind) {
    case 'union':
      if (tree.trees.length === 1) return showAltChild(tree.trees[0]?.tree ?? neg, showLeaf);
      if (tree.trees.length > 1) {
        return tree.trees
          .map((w) =>
            w.weight === defaultWeight
              ? showSimple(w.tree, showLeaf)
              : `${formatWeight(w.weight)}*${showSimple(w.tree, showLeaf)}`,
          )
          .join(' & ');
      }
      break;
    case 'alt':
      if (tree.trees.length === 1) return showAltChild(tree.trees[0] ?? neg, showLeaf);
      if (tree.trees.length > 1) return `(${showNameTreeWith(tree, showLeaf)})`;
      break;
  }
  return showSimple(tree, showLeaf);
}

function showSimple<T>(tree: NameTree<T>, showLeaf: (value: T) => string): string {
  switch (tree.kind) {
    case 'union':
      if (tree.trees.length === 1) return showSimple(tree.trees[0]?.tree ?? neg, showLeaf);
      return tree.trees.length === 0 ? '~' : `(${showNameTreeWith(tree, showLeaf)})`;
    case 'alt':
      if (tree.trees.length === 1) return showSimple(tree.trees[0] ?? neg, showLeaf);
      return tree.trees.length === 0 ? '~' : `(${showNameTreeWith(tree, showLeaf)})`;
    case 'leaf':
      return showLeaf(tree.value);
    case 'fail':
      return '!';
    case 'neg':
      return '~';
    case 'empty':
      return '$';
  }
}

/** A tree of paths in dtab notation; `parseNameTree` reads it back. */
export function showNameTree(tree: NameTree<Path>): string {
  return showNameTreeWith(tree, showPath);
}
