import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  alt,
  evalNameTree,
  fail,
  leaf,
  mapNameTree,
  neg,
  showNameTree,
  simplifyNameTree,
  union,
  weighted,
} from '../../../agent/naming/name-tree.ts';
import { parseNameTree, parsePath } from '../../../agent/naming/parse.ts';
import { type Path, pathOf, showPath } from '../../../agent/naming/path.ts';
import { anyShapeTreeArb } from './arbitraries.ts';

const evalSet = (tree: Parameters<typeof evalNameTree<Path>>[0]) => {
  const values = evalNameTree(tree, showPath);
  return values === undefined ? undefined : new Set(values.map(showPath));
};

// finagle-core/src/test/scala/com/twitter/finagle/NameTreeTest.scala, "NameTree.eval/simplified"
const finagleEvalCases: [string, string[] | undefined][] = [
  ['~', undefined],
  ['/ok', ['/ok']],
  ['/ok & /ok1', ['/ok', '/ok1']],
  ['/ok & ~ & /blah & $', ['/ok', '/blah']],
  ['$ & $ & $', []],
  ['~ & ~ & (~ | ~)', undefined],
  ['~ | /foo | /bar', ['/foo']],
  ['~ | $ | /blah', []],
  ['~ | (~ | $) | /blah', []],
  ['(~|$|/foo) & (/bar|/blah) & ~ & /FOO', ['/bar', '/FOO']],
  ['! | /ok', undefined],
  ['/ok & !', ['/ok']],
  ['! & ! & !', undefined],
  ['~ | /ok | !', ['/ok']],
];

describe('evaluation and simplification (Finagle NameTreeTest)', () => {
  for (const [text, expected] of finagleEvalCases) {
    it(`${text} evaluates to ${expected === undefined ? 'None' : `{${expected.join(', ')}}`}, simplified or not`, () => {
      const want = expected === undefined ? undefined : new Set(expected);
      assert.deepEqual(evalSet(parseNameTree(text)), want);
      assert.deepEqual(evalSet(simplifyNameTree(parseNameTree(text))), want);
    });
  }
});

describe('simplification rules', () => {
  it('an Alt stops at the first Fail and drops negative children', () => {
    assert.equal(showNameTree(simplifyNameTree(parseNameTree('~ | /a | ! | /b'))), '/a | !');
  });

  it('a Union drops Neg and Fail children and keeps the weights of the rest', () => {
    assert.deepEqual(
      simplifyNameTree(parseNameTree('0.2*/a & 0.3*~ & 0.5*! & 0.8*/b')),
      union(weighted(0.2, leaf(pathOf('a'))), weighted(0.8, leaf(pathOf('b')))),
    );
  });

  it('empty and one-child Alt/Union collapse (the one-child weight is dropped)', () => {
    assert.equal(simplifyNameTree(alt()), neg);
    assert.equal(simplifyNameTree(union()), neg);
    assert.deepEqual(simplifyNameTree(union(weighted(0.3, leaf(pathOf('a'))))), leaf(pathOf('a')));
  });

  it('a one-child Union is its child: a lone failed child fails an enclosing Alt', () => {
    const tree = alt<Path>(union(weighted(0.5, fail())), leaf(pathOf('a')));
    assert.equal(evalSet(tree), undefined);
    assert.deepEqual(simplifyNameTree(tree), fail());
  });

  it('keeps the reason of a Fail', () => {
    assert.deepEqual(simplifyNameTree(alt(neg, fail('why'), leaf(pathOf('a')))), fail('why'));
  });

  it('is a fixpoint and preserves evaluation for any tree (fast-check)', () => {
    fc.assert(
      fc.property(anyShapeTreeArb, (tree) => {
        const once = simplifyNameTree(tree);
        assert.deepEqual(simplifyNameTree(once), once);
        assert.deepEqual(evalSet(once), evalSet(tree));
      }),
      { numRuns: 1000 },
    );
  });
});

describe('map', () => {
  it('rewrites leaves and keeps shape and weights', () => {
    const tree = parseNameTree('/a | 0.3*/b & 0.7*(/c | !)');
    const mapped = mapNameTree(tree, (p) => parsePath(`/x${showPath(p)}`));
    assert.equal(showNameTree(mapped), '/x/a | 0.30*/x/b & 0.70*(/x/c | !)');
  });
});
