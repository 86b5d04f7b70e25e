// fast-check generators for naming data, shared by the naming tests.
import fc from 'fast-check';
import { type Dentry, type Dtab, type Prefix, type PrefixElem, anyElem, dentry } from '../../../agent/naming/dtab.ts';
import {
  type NameTree,
  type Weighted,
  alt,
  empty,
  fail,
  leaf,
  neg,
  union,
  weighted,
} from '../../../agent/naming/name-tree.ts';
import type { Path } from '../../../agent/naming/path.ts';

const showableChars = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_:.#$%-'.split('');

/** Mostly plain segments, some with arbitrary bytes (printed with \x escapes). */
export const segmentArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: fc.constantFrom(...showableChars), minLength: 1, maxLength: 8 }) },
  {
    weight: 1,
    arbitrary: fc.string({
      unit: fc.integer({ min: 0, max: 255 }).map((b) => String.fromCharCode(b)),
      minLength: 1,
      maxLength: 6,
    }),
  },
);

export const pathArb: fc.Arbitrary<Path> = fc.array(segmentArb, { maxLength: 5 });

/** Finite, >= 0, from round numbers to awkward doubles (0.1+0.2, 1e-9, 1e300). */
export const weightArb: fc.Arbitrary<number> = fc
  .oneof(
    fc.constant(1),
    fc.integer({ min: 0, max: 10 }),
    fc.integer({ min: 0, max: 100 }).map((n) => n / 100),
    fc.double({ min: 0, max: 1e6, noNaN: true, noDefaultInfinity: true }),
    fc.double({ min: 0, max: Number.MAX_VALUE, noNaN: true, noDefaultInfinity: true }),
  )
  .map((w) => w + 0); // no -0: it is not written in dtab notation

const leafTreeArb: fc.Arbitrary<NameTree<Path>> = fc.oneof(
  { weight: 6, arbitrary: pathArb.map((p) => leaf(p)) },
  { weight: 1, arbitrary: fc.constant(neg) },
  { weight: 1, arbitrary: fc.constant(fail()) },
  { weight: 1, arbitrary: fc.constant(empty) },
);

/**
 * Trees in the shape the parser produces: Alt and Union have at least two children. Those are
 * exactly the trees that survive print → parse unchanged (Finagle prints a one-child Alt or
 * Union as its child).
 */
export const parsedShapeTreeArb: fc.Arbitrary<NameTree<Path>> = fc.letrec<{ tree: NameTree<Path> }>((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leafTreeArb,
    fc.array(tie('tree'), { minLength: 2, maxLength: 3 }).map((ts) => alt(...ts)),
    fc
      .array(
        fc.tuple(weightArb, tie('tree')).map(([w, t]): Weighted<Path> => weighted(w, t)),
        { minLength: 2, maxLength: 3 },
      )
      .map((ws) => union(...ws)),
  ),
})).tree;

/** Any tree, including empty and one-child Alt/Union that the parser never builds. */
export const anyShapeTreeArb: fc.Arbitrary<NameTree<Path>> = fc.letrec<{ tree: NameTree<Path> }>((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leafTreeArb,
    fc.array(tie('tree'), { maxLength: 3 }).map((ts) => alt(...ts)),
    fc
      .array(
        fc.tuple(weightArb, tie('tree')).map(([w, t]): Weighted<Path> => weighted(w, t)),
        { maxLength: 3 },
      )
      .map((ws) => union(...ws)),
  ),
})).tree;

export const prefixArb: fc.Arbitrary<Prefix> = fc.array(
  fc.oneof({ weight: 4, arbitrary: segmentArb }, { weight: 1, arbitrary: fc.constant<PrefixElem>(anyElem) }),
  { maxLength: 4 },
);

export const dentryArb: fc.Arbitrary<Dentry> = fc
  .tuple(prefixArb, parsedShapeTreeArb)
  .map(([prefix, dst]) => dentry(prefix, dst));

export const dtabArb: fc.Arbitrary<Dtab> = fc.array(dentryArb, { maxLength: 5 });
