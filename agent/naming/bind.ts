// Binding: what a logical path means under a dtab, following Finagle's DefaultInterpreter and
// Namer.bind (finagle-core Namer.scala), with linkerd's configured namers (ConfiguredDtabNamer).
//
// To look up a path: every matching dentry, the last written first, as an Alt (Dtab.lookup).
// If that is negative, the namers whose prefix the path starts with, the last given first, until
// one answers non-negatively; then the system paths `/$/nil` (Empty) and `/$/fail` (Fail); then a
// `/$/<kind>` path with no namer fails (Finagle cannot load the class), anything else is Neg.
// The rewritten tree is bound again, recursively: an Alt takes its first child that binds
// non-negatively (a Fail stops it), a Union binds every child and keeps the non-negative ones with
// their weights, so a weighted split (canary) reaches the balancer intact.
//
// Where Finagle raises an exception (NamerExceededMaxDepthException, a namer's failure) the
// binding of that branch fails: an Alt stops there, a Union drops the branch when another binds,
// and the whole result is a Fail carrying the reason. Weft adds two bounds of its own: a path that
// recurs in its own delegation chain fails at once as a loop (Finagle finds out only at depth
// 100), and the total number of lookups is capped, because a hostile override such as
// `/a=>/b&/b;/b=>/c&/c;…` doubles the work at every step. Running out of lookups fails the whole
// binding, not one branch, so that the answer never depends on how far the budget reached.
//
// Everything here is pure: namers are injected functions with synchronous answers; the live
// Kubernetes, DNS and file namers wrap their caches in this interface.
import { describeError } from '../errors.ts';
import { type Dentry, type Dtab, type DtabMatch, matchingIndexes, rewriteBy, rewriteSize } from './dtab.ts';
import {
  type Fail,
  type Empty,
  type NameTree,
  type Neg,
  type Weighted,
  empty,
  fail,
  leaf,
  neg,
  simplifyNameTree,
  union,
  weighted,
} from './name-tree.ts';
import { type Path, pathConcat, pathDrop, pathStartsWith, showPath } from './path.ts';

/** A name bound by a namer (Finagle `Name.Bound`): what discovery resolves to endpoints. */
export interface BoundName {
  /** Namer prefix plus the part of the path the namer consumed, e.g. `/#/k8s/prod/users/80`. */
  readonly id: Path;
  /** What the namer left over; passed along to the destination (Finagle `Name.Bound.path`). */
  readonly residual: Path;
}

/** A namer's answer about the path after its prefix. */
export type NamerResult =
  /** `id` is relative to the namer's prefix; the bound name's id is `prefix ++ id`. */
  | { readonly kind: 'bound'; readonly id: Path; readonly residual: Path }
  /** More paths to bind (Finagle namers may answer with a tree of paths), e.g. clusterIP → name. */
  | { readonly kind: 'delegate'; readonly tree: NameTree<Path> }
  /** Not known here: the next namer is asked. */
  | { readonly kind: 'neg' }
  /** Known but broken (source unreachable, bad path): this branch of the binding fails. */
  | { readonly kind: 'fail'; readonly reason: string };

/** Pure and synchronous; gets the path with the namer's prefix removed. */
export type Namer = (path: Path) => NamerResult;

export interface NamerEntry {
  /** E.g. `/#/k8s` or `/$/inet`: paths starting with it are offered to `namer`. */
  readonly prefix: Path;
  readonly namer: Namer;
}

export type Namers = readonly NamerEntry[];

export interface BindParams {
  /** Most path lookups along one delegation chain (Finagle `namerMaxDepth`, 100). */
  readonly maxDepth: number;
  /** Most path lookups in one binding, over all branches. */
  readonly maxLookups: number;
  /** Longest path looked up, in segments: a rule like `/a => /a/b/b/b` grows paths each step. */
  readonly maxPathSegments: number;
  /**
   * Most path segments all rewrites together may create. Each lookup rewrites the path once per
   * matching dentry, so a wide tree (`/ => /a & /a & …`, 1600 leaves in an 8 KiB header) costs
   * far more than one lookup; this is the budget for that work.
   */
  readonly maxRewriteSegments: number;
}

// A real binding takes a handful of lookups over paths of a few segments; these bounds are far
// above that and keep the worst case (a hostile override) to milliseconds.
export const bindParams: BindParams = Object.freeze({
  maxDepth: 100,
  maxLookups: 500,
  maxPathSegments: 256,
  maxRewriteSegments: 100_000,
});

// --- The explanation: the binding as a tree of steps, for the admin endpoint and the CLI. ---

/** How one path was looked up, and what it bound to. */
export interface ExplainPath {
  readonly kind: 'path';
  readonly path: Path;
  /** 1 for the starting path, +1 for every rewrite on the way here. */
  readonly depth: number;
  /** Dentries that matched, in the order they were tried (the last written first). */
  readonly rewrites: readonly ExplainRewrite[];
  /** Namers asked (only when the dtab had nothing), in the order asked. */
  readonly namers: readonly ExplainNamer[];
  /** Why the lookup was refused: a loop, the depth limit, the lookup budget. */
  readonly error?: string;
  readonly result: NameTree<BoundName>;
}

export interface ExplainRewrite {
  /** Position of the dentry in the dtab, 0 for the first written. */
  readonly index: number;
  readonly dentry: Dentry;
  /** The dentry's tree with the rest of the path appended: what the path was rewritten to. */
  readonly tree: NameTree<Path>;
  /** How that tree bound, or `skipped` when an earlier-tried dentry already settled the path. */
  readonly node: ExplainNode;
}

export interface ExplainNamer {
  readonly prefix: Path;
  readonly answer: NamerResult;
  /** For a `delegate` answer: how its tree bound. */
  readonly node?: ExplainNode;
}

export interface ExplainAlt {
  readonly kind: 'alt';
  readonly trees: readonly ExplainNode[];
  readonly result: NameTree<BoundName>;
}

export interface ExplainUnion {
  readonly kind: 'union';
  readonly trees: readonly { readonly weight: number; readonly node: ExplainNode }[];
  readonly result: NameTree<BoundName>;
}

/** `~`, `!` or `$` written in a dentry (or answered by a system path). */
export interface ExplainLiteral {
  readonly kind: 'literal';
  readonly tree: Neg | Fail | Empty;
  readonly result: NameTree<BoundName>;
}

/** Not evaluated: an earlier alternative already settled it, or the lookup budget ran out. */
export interface ExplainSkipped {
  readonly kind: 'skipped';
  readonly because: 'settled' | 'budget';
  readonly tree: NameTree<Path>;
}

export type ExplainNode = ExplainPath | ExplainAlt | ExplainUnion | ExplainLiteral | ExplainSkipped;

export interface Explanation {
  readonly dtab: Dtab;
  readonly tree: NameTree<Path>;
  readonly root: ExplainNode;
  readonly result: NameTree<BoundName>;
  /** Path lookups made; compare with BindParams.maxLookups. */
  readonly lookups: number;
  /** Path segments created by rewrites; compare with BindParams.maxRewriteSegments. */
  readonly rewriteSegments: number;
}

/** Binds `path` under `dtab` (Finagle `DefaultInterpreter.bind`). Never throws. */
export function bind(dtab: Dtab, path: Path, namers: Namers = [], params: BindParams = bindParams): NameTree<BoundName> {
  return explain(dtab, path, namers, params).result;
}

/** Binds every path in `tree` (Finagle `Namer.bind`), e.g. a request's candidate names. */
export function bindTree(
  dtab: Dtab,
  tree: NameTree<Path>,
  namers: Namers = [],
  params: BindParams = bindParams,
): NameTree<BoundName> {
  return explainTree(dtab, tree, namers, params).result;
}

/** `bind`, with the whole delegation recorded step by step. */
export function explain(dtab: Dtab, path: Path, namers: Namers = [], params: BindParams = bindParams): Explanation {
  return explainTree(dtab, leaf(path), namers, params);
}

export function explainTree(
  dtab: Dtab,
  tree: NameTree<Path>,
  namers: Namers = [],
  params: BindParams = bindParams,
): Explanation {
  const binder = new Binder(dtab, namers, params);
  const { node, outcome } = binder.bindNode(tree, 0);
  const result = binder.exhausted === undefined ? toTree(outcome) : fail(binder.exhausted);
  return { dtab, tree, root: node, result, lookups: binder.lookups, rewriteSegments: binder.rewriteSegments };
}

/** A stable key for a bound name, for sets and maps (e.g. `evalNameTree(result, boundNameKey)`). */
export function boundNameKey(name: BoundName): string {
  return name.residual.length === 0 ? showPath(name.id) : `${showPath(name.id)} ${showPath(name.residual)}`;
}

// A branch either bound (to a tree that may itself be Neg or Fail) or failed outright (Finagle's
// Activity.Failed). The two differ only inside a Union: failed branches vanish when another branch
// binds, and when none does the first failure is the result, where bound-to-Fail would be Neg.
type Outcome = { readonly ok: true; readonly tree: NameTree<BoundName> } | { readonly ok: false; readonly reason: string };

interface Bound<N extends ExplainNode> {
  readonly node: N;
  readonly outcome: Outcome;
}

function toTree(outcome: Outcome): NameTree<BoundName> {
  return outcome.ok ? outcome.tree : fail(outcome.reason);
}

const dollar = '$';

// Finagle's Namer.global answers these after the configured namers; they need no injection.
const builtinNamers: Namers = Object.freeze([
  { prefix: Object.freeze([dollar, 'nil']), namer: () => ({ kind: 'delegate', tree: empty }) as const },
  { prefix: Object.freeze([dollar, 'fail']), namer: () => ({ kind: 'delegate', tree: fail() }) as const },
]);

class Binder {
  lookups = 0;
  rewriteSegments = 0;
  /** Set once a budget is spent: the reason the whole binding fails. */
  exhausted: string | undefined;
  readonly #dtab: Dtab;
  readonly #namers: Namers;
  readonly #params: BindParams;
  /** The paths on the current delegation chain, shown, root first: for loop detection. */
  readonly #chain: string[] = [];
  readonly #onChain = new Set<string>();

  constructor(dtab: Dtab, namers: Namers, params: BindParams) {
    this.#dtab = dtab;
    // The last given namer is asked first, as the last written dentry is (linkerd does the same).
    this.#namers = [...[...namers].reverse(), ...builtinNamers];
    this.#params = params;
  }

  bindNode(tree: NameTree<Path>, depth: number): Bound<ExplainNode> {
    if (this.exhausted !== undefined) {
      return { node: { kind: 'skipped', because: 'budget', tree }, outcome: { ok: false, reason: this.exhausted } };
    }
    switch (tree.kind) {
      case 'leaf':
        return this.#bindPath(tree.value, depth + 1);
      case 'neg':
      case 'fail':
      case 'empty':
        return { node: { kind: 'literal', tree, result: tree }, outcome: { ok: true, tree } };
      case 'alt':
        return this.#bindAlt(tree.trees, depth);
      case 'union':
        return this.#bindUnion(tree.trees, depth);
    }
  }

  #bindAlt(trees: readonly NameTree<Path>[], depth: number): Bound<ExplainAlt> {
    const nodes: ExplainNode[] = [];
    let outcome: Outcome = { ok: true, tree: neg };
    for (const tree of trees) {
      if (settles(outcome)) {
        nodes.push({ kind: 'skipped', because: 'settled', tree });
        continue;
      }
      const bound = this.bindNode(tree, depth);
      nodes.push(bound.node);
      outcome = bound.outcome;
    }
    return { node: { kind: 'alt', trees: nodes, result: toTree(outcome) }, outcome };
  }

  #bindUnion(trees: readonly Weighted<Path>[], depth: number): Bound<ExplainUnion> {
    const nodes: { weight: number; node: ExplainNode }[] = [];
    const oks: Weighted<BoundName>[] = [];
    let firstFailure: Outcome | undefined;
    for (const { weight, tree } of trees) {
      const bound = this.bindNode(tree, depth);
      nodes.push({ weight, node: bound.node });
      if (bound.outcome.ok) oks.push(weighted(weight, bound.outcome.tree));
      else firstFailure ??= bound.outcome;
    }
    const outcome: Outcome =
      oks.length > 0 || firstFailure === undefined
        ? { ok: true, tree: simplifyNameTree(union(...oks)) }
        : firstFailure;
    return { node: { kind: 'union', trees: nodes, result: toTree(outcome) }, outcome };
  }

  #bindPath(path: Path, depth: number): Bound<ExplainPath> {
    const refused = this.#refusal(path, depth);
    if (refused !== undefined) return refusedPath(path, depth, refused);
    const matches = this.#rewrites(path);
    if (matches === undefined) return refusedPath(path, depth, this.exhausted ?? 'out of budget');

    const shown = showPath(path);
    this.#chain.push(shown);
    this.#onChain.add(shown);
    try {
      const rewrites: ExplainRewrite[] = [];
      const namers: ExplainNamer[] = [];
      let outcome: Outcome = { ok: true, tree: neg };
      for (const match of matches) {
        if (settles(outcome)) {
          rewrites.push({ ...match, node: { kind: 'skipped', because: 'settled', tree: match.tree } });
          continue;
        }
        const bound = this.bindNode(match.tree, depth);
        rewrites.push({ ...match, node: bound.node });
        outcome = bound.outcome;
      }

      // Finagle asks the namers when Dtab.lookup is Neg itself: no dentry matched, or the only
      // one that did says `~`. Several negative rewrites are an Alt, which is not asked further.
      const lookupWasNeg = matches.length === 0 || (matches.length === 1 && matches[0]?.tree.kind === 'neg');
      if (lookupWasNeg) outcome = this.#askNamers(path, depth, namers);

      return { node: { kind: 'path', path, depth, rewrites, namers, result: toTree(outcome) }, outcome };
    } finally {
      this.#chain.pop();
      this.#onChain.delete(shown);
    }
  }

  /** The rewrites of `path` by every matching dentry, or undefined when that is over budget. */
  #rewrites(path: Path): DtabMatch[] | undefined {
    const indexes = matchingIndexes(this.#dtab, path);
    for (const index of indexes) {
      const entry = this.#dtab[index];
      if (entry !== undefined) this.rewriteSegments += rewriteSize(entry, path.length - entry.prefix.length);
    }
    if (this.rewriteSegments > this.#params.maxRewriteSegments) {
      this.exhausted = `binding needs more than ${this.#params.maxRewriteSegments} path segments of rewrites; the dtab fans out too much`;
      return undefined;
    }
    return indexes.map((index) => rewriteBy(this.#dtab, index, path));
  }

  /** Why `path` must not be looked up, or undefined. Counts the lookup. */
  #refusal(path: Path, depth: number): string | undefined {
    this.lookups++;
    if (this.lookups > this.#params.maxLookups) {
      this.exhausted = `binding needs more than ${this.#params.maxLookups} lookups; the dtab fans out too much`;
      return this.exhausted;
    }
    if (path.length > this.#params.maxPathSegments) {
      return `delegation made a path longer than ${this.#params.maxPathSegments} segments`;
    }
    const shown = showPath(path);
    if (depth > this.#params.maxDepth) {
      return `delegation is deeper than ${this.#params.maxDepth} rewrites at ${shown}`;
    }
    if (this.#onChain.has(shown)) {
      const from = this.#chain.indexOf(shown);
      return `delegation loop: ${[...this.#chain.slice(from), shown].join(' -> ')}`;
    }
    return undefined;
  }

  #askNamers(path: Path, depth: number, asked: ExplainNamer[]): Outcome {
    for (const { prefix, namer } of this.#namers) {
      if (!pathStartsWith(path, prefix)) continue;
      const answer = callNamer(namer, prefix, pathDrop(path, prefix.length));
      switch (answer.kind) {
        case 'neg':
          asked.push({ prefix, answer });
          continue;
        case 'bound':
          asked.push({ prefix, answer });
          return { ok: true, tree: leaf({ id: pathConcat(prefix, answer.id), residual: answer.residual }) };
        case 'fail':
          asked.push({ prefix, answer });
          return { ok: false, reason: answer.reason };
        case 'delegate': {
          const bound = this.bindNode(answer.tree, depth);
          asked.push({ prefix, answer, node: bound.node });
          return bound.outcome;
        }
      }
    }
    // A system path that no namer claims: Finagle fails it (no class to load for `<kind>`), so a
    // typo in a dtab shows up as a failure rather than a silent fall-back. A namer's `neg` is Neg.
    if (asked.length === 0 && path.length >= 2 && path[0] === dollar) {
      return { ok: false, reason: `no namer for ${showPath(path.slice(0, 2))}` };
    }
    return { ok: true, tree: neg };
  }
}

function refusedPath(path: Path, depth: number, reason: string): Bound<ExplainPath> {
  return {
    node: { kind: 'path', path, depth, rewrites: [], namers: [], error: reason, result: fail(reason) },
    outcome: { ok: false, reason },
  };
}

/** True once an Alt (or the list of matching dentries) need not try further alternatives. */
function settles(outcome: Outcome): boolean {
  return !outcome.ok || outcome.tree.kind !== 'neg';
}

function callNamer(namer: Namer, prefix: Path, rest: Path): NamerResult {
  try {
    return namer(rest);
  } catch (error) {
    // A namer is supposed to answer `fail`, not throw; binding still must not throw.
    return { kind: 'fail', reason: `namer ${showPath(prefix)} threw: ${describeError(error)}` };
  }
}

