import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  dtabConcat,
  dtabLookup,
  dtabMatches,
  emptyDtab,
  prefixMatches,
} from '../../../agent/naming/dtab.ts';
import { leaf, neg, showNameTree } from '../../../agent/naming/name-tree.ts';
import { parseDtab, parsePath, parsePrefix } from '../../../agent/naming/parse.ts';
import { pathConcat } from '../../../agent/naming/path.ts';
import { dtabArb, pathArb } from './arbitraries.ts';

describe('Dtab.lookup', () => {
  // finagle DtabTest "dtab rewrites with wildcards"
  it('a * in a prefix matches any one segment: /a/*/c => /d maps /a/b/c/e/f to /d/e/f', () => {
    assert.deepEqual(dtabLookup(parseDtab('/a/*/c => /d'), parsePath('/a/b/c/e/f')), leaf(parsePath('/d/e/f')));
  });

  // doc/src/sphinx/Names.rst: "/s#/*/bar => /t/bah rewrites /s#/foo/bar/baz or /s#/boo/bar/baz to /t/bah/baz"
  it('the user guide wildcard example', () => {
    const dtab = parseDtab('/s#/*/bar => /t/bah');
    assert.deepEqual(dtabLookup(dtab, parsePath('/s#/foo/bar/baz')), leaf(parsePath('/t/bah/baz')));
    assert.deepEqual(dtabLookup(dtab, parsePath('/s#/boo/bar/baz')), leaf(parsePath('/t/bah/baz')));
    assert.equal(dtabLookup(dtab, parsePath('/s#/foo/baz')), neg);
  });

  // Names.rst: "/s is a prefix of /s/crawler, but not of /s#/foo/bar/crawler"
  it('matches whole segments, not characters', () => {
    const dtab = parseDtab('/s => /s#/foo/bar');
    assert.deepEqual(dtabLookup(dtab, parsePath('/s/crawler')), leaf(parsePath('/s#/foo/bar/crawler')));
    assert.equal(dtabLookup(dtab, parsePath('/s#/foo/bar/crawler')), neg);
  });

  it('later entries win: matches are tried last-written first, as an Alt', () => {
    const dtab = parseDtab('/s => /a; /t => /x; /s => /b');
    assert.equal(showNameTree(dtabLookup(dtab, parsePath('/s/c'))), '/b/c | /a/c');
    assert.deepEqual(
      dtabMatches(dtab, parsePath('/s/c')).map((m) => m.index),
      [2, 0],
    );
  });

  it('the root prefix / matches every path', () => {
    assert.deepEqual(dtabLookup(parseDtab('/ => /r'), parsePath('/x/y')), leaf(parsePath('/r/x/y')));
    assert.deepEqual(dtabLookup(parseDtab('/ => /r'), parsePath('/')), leaf(parsePath('/r')));
  });

  it('a longer prefix than the path does not match', () => {
    assert.equal(prefixMatches(parsePrefix('/a/b'), parsePath('/a')), false);
    assert.equal(prefixMatches(parsePrefix('/*'), parsePath('/')), false);
  });

  it('appends the rest of the path to every leaf of the dentry tree', () => {
    const dtab = parseDtab('/s => 0.9*/a & 0.1*(/b | !)');
    assert.equal(showNameTree(dtabLookup(dtab, parsePath('/s/x/y'))), '0.90*/a/x/y & 0.10*(/b/x/y | !)');
  });

  it('any path under a matching literal prefix matches (fast-check)', () => {
    fc.assert(
      fc.property(pathArb, pathArb, (prefix, rest) => {
        assert.equal(dtabLookup(emptyDtab, pathConcat(prefix, rest)), neg);
        const withEntry = [{ prefix, dst: leaf(parsePath('/z')) }];
        assert.deepEqual(dtabLookup(withEntry, pathConcat(prefix, rest)), leaf(pathConcat(parsePath('/z'), rest)));
      }),
    );
  });
});

describe('Dtab ++', () => {
  // finagle DtabTest "d1 ++ d2"
  it('concatenates in order', () => {
    const d1 = parseDtab('/foo => /bar');
    const d2 = parseDtab('/foo=>/biz;/biz=>/$/inet/8080;/bar=>/$/inet/9090');
    assert.deepEqual(
      dtabConcat(d1, d2),
      parseDtab(`
      /foo=>/bar;
      /foo=>/biz;
      /biz=>/$/inet/8080;
      /bar=>/$/inet/9090
    `),
    );
  });

  // finagle DtabTest "d1 ++ Dtab.empty"
  it('with an empty dtab is the same dtab', () => {
    const d1 = parseDtab('/foo=>/bar;/biz=>/baz');
    assert.equal(dtabConcat(d1, emptyDtab), d1);
    assert.equal(dtabConcat(emptyDtab, d1), d1);
  });

  it("the appended dtab's entries are tried first (fast-check)", () => {
    fc.assert(
      fc.property(dtabArb, dtabArb, pathArb, (base, override, path) => {
        const matches = dtabMatches(dtabConcat(base, override), path);
        const overrideMatches = dtabMatches(override, path).length;
        for (const [i, m] of matches.entries()) assert.equal(m.index >= base.length, i < overrideMatches);
      }),
    );
  });
});
