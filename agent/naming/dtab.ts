// Finagle's Dentry and Dtab (finagle-core DtabBase.scala) as plain data. A dentry `prefix => tree`
// rewrites any path that starts with `prefix` (a `*` element matches any one segment) to `tree`
// with the rest of the path appended to every leaf. A dtab is a list of dentries in which later
// entries win: lookup tries matching dentries from the last to the first, as an Alt, so an earlier
// entry is the fall-back when a later one binds negatively. `base ++ override` is how a
// per-request override is applied: appended, so its entries are tried first.
import { type NameTree, alt, mapNameTree, neg, showNameTree } from './name-tree.ts';
import { type Path, pathConcat, pathDrop, showSegment } from './path.ts';

export interface AnyElem {
  readonly kind: 'any';
}
/** `*` in a prefix. A segment spelled `\x2a` is the literal byte `*`, not this. */
export const anyElem: AnyElem = Object.freeze({ kind: 'any' } as const);

/** A prefix element: a segment (byte string) that must match exactly, or `*`. */
export type PrefixElem = string | AnyElem;
export type Prefix = readonly PrefixElem[];

export interface Dentry {
  readonly prefix: Prefix;
  readonly dst: NameTree<Path>;
}

export type Dtab = readonly Dentry[];

export const emptyDtab: Dtab = Object.freeze([]);

export function dentry(prefix: Prefix, dst: NameTree<Path>): Dentry {
  return Object.freeze({ prefix: Object.freeze([...prefix]), dst });
}

/** Finagle `Dtab ++`: `base ++ override`; entries of `override` win over those of `base`. */
export function dtabConcat(...dtabs: Dtab[]): Dtab {
  const nonEmpty = dtabs.filter((d) => d.length > 0);
  if (nonEmpty.length <= 1) return nonEmpty[0] ?? emptyDtab;
  return Object.freeze(nonEmpty.flat());
}

/** Finagle `Dentry.Prefix.matches`: as long as the path's start, each label equal or `*`. */
export function prefixMatches(prefix: Prefix, path: Path): boolean {
  if (prefix.length > path.length) return false;
  for (let i = 0; i < prefix.length; i++) {
    const elem = prefix[i];
    if (typeof elem === 'string' && elem !== path[i]) return false;
  }
  return true;
}

export function showPrefix(prefix: Prefix): string {
  if (prefix.length === 0) return '/';
  let out = '';
  for (const elem of prefix) out += '/' + (typeof elem === 'string' ? showSegment(elem) : '*');
  return out;
}

/** Finagle `Dentry.show`: `prefix=>tree`, no spaces. */
export function showDentry(entry: Dentry): string {
  return `${showPrefix(entry.prefix)}=>${showNameTree(entry.dst)}`;
}

/** Finagle `Dtab.show`: dentries joined by `;`. `parseDtab` reads it back. */
export function showDtab(dtab: Dtab): string {
  return dtab.map(showDentry).join(';');
}

/** One dentry per line, `prefix => tree;`, for config dumps and status pages; still parseable. */
export function formatDtab(dtab: Dtab): string {
  return dtab.map((d) => `${showPrefix(d.prefix)} => ${showNameTree(d.dst)};\n`).join('');
}

/** A dentry that matched a path, and the path's rewrite under it. */
export interface DtabMatch {
  /** Position of the dentry in the dtab (0 = first written). */
  readonly index: number;
  readonly dentry: Dentry;
  /** The dentry's tree with the unmatched rest of the path appended to every leaf. */
  readonly tree: NameTree<Path>;
}

/** Every dentry matching `path`, in the order binding tries them: the last written first. */
export function dtabMatches(dtab: Dtab, path: Path): DtabMatch[] {
  return matchingIndexes(dtab, path).map((index) => rewriteBy(dtab, index, path));
}

/** Positions of the dentries matching `path`, last written first; cheap, nothing is rewritten. */
export function matchingIndexes(dtab: Dtab, path: Path): number[] {
  const indexes: number[] = [];
  for (let index = dtab.length - 1; index >= 0; index--) {
    const entry = dtab[index];
    if (entry !== undefined && prefixMatches(entry.prefix, path)) indexes.push(index);
  }
  return indexes;
}

/** The rewrite of `path` by the dentry at `index`, which must match it. */
export function rewriteBy(dtab: Dtab, index: number, path: Path): DtabMatch {
  const entry = dtab[index];
  if (entry === undefined) throw new RangeError(`no dentry at ${index}`);
  const rest = pathDrop(path, entry.prefix.length);
  return { index, dentry: entry, tree: mapNameTree(entry.dst, (p) => pathConcat(p, rest)) };
}

/** Path segments a rewrite by `entry` creates when `restLength` segments are left over. */
export function rewriteSize(entry: Dentry, restLength: number): number {
  let size = sizes.get(entry);
  if (size === undefined) {
    size = { leaves: 0, segments: 0 };
    countLeaves(entry.dst, size);
    sizes.set(entry, size);
  }
  return size.segments + size.leaves * restLength;
}

const sizes = new WeakMap<Dentry, { leaves: number; segments: number }>();

function countLeaves(tree: NameTree<Path>, size: { leaves: number; segments: number }): void {
  switch (tree.kind) {
    case 'leaf':
      size.leaves++;
      size.segments += tree.value.length;
      return;
    case 'alt':
      for (const t of tree.trees) countLeaves(t, size);
      return;
    case 'union':
      for (const w of tree.trees) countLeaves(w.tree, size);
      return;
    default:
      return;
  }
}

/** Finagle `Dtab.lookup`: Neg when nothing matches, the one rewrite, or an Alt of them. */
export function dtabLookup(dtab: Dtab, path: Path): NameTree<Path> {
  const matches = dtabMatches(dtab, path);
  if (matches.length === 0) return neg;
  if (matches.length === 1) return matches[0]?.tree ?? neg;
  return alt(...matches.map((m) => m.tree));
}
