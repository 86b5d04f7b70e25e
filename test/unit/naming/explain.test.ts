import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type ExplainPath, type NamerEntry, bind, explain } from '../../../agent/naming/bind.ts';
import { formatExplanation, showBoundTree } from '../../../agent/naming/explain.ts';
import { fail, leaf } from '../../../agent/naming/name-tree.ts';
import { parseDtab, parsePath } from '../../../agent/naming/parse.ts';
import { dtabArb, pathArb } from './arbitraries.ts';

const k8s: NamerEntry = {
  prefix: parsePath('/#/k8s'),
  namer: (rest) => (rest[1] === 'missing' ? { kind: 'neg' } : { kind: 'bound', id: rest.slice(0, 3), residual: rest.slice(3) }),
};

function asPath(node: unknown): ExplainPath {
  assert.ok(typeof node === 'object' && node !== null && 'kind' in node && node.kind === 'path');
  return node as ExplainPath;
}

describe('explain: the delegation as data', () => {
  const dtab = parseDtab(`
    /svc => /#/k8s;
    /svc/prod/users => 0.9 * /svc/prod/users-v1 & 0.1 * /svc/prod/users-v2;
  `);

  it('records each rewrite: which dentry matched, what it produced, down to the namer', () => {
    const e = explain(dtab, parsePath('/svc/prod/users/80'), [k8s]);
    const root = asPath(e.root);
    assert.deepEqual(root.path, parsePath('/svc/prod/users/80'));
    assert.equal(root.depth, 1);
    // the later dentry (#1) first; it bound, so #0 was not tried
    assert.deepEqual(
      root.rewrites.map((r) => [r.index, r.node.kind]),
      [
        [1, 'union'],
        [0, 'skipped'],
      ],
    );
    const first = root.rewrites[0];
    assert.ok(first !== undefined && first.node.kind === 'union');
    assert.deepEqual(
      first.node.trees.map((t) => t.weight),
      [0.9, 0.1],
    );
    const v1 = asPath(first.node.trees[0]?.node);
    assert.deepEqual(v1.path, parsePath('/svc/prod/users-v1/80'));
    assert.equal(v1.depth, 2);
    const viaK8s = asPath(v1.rewrites[0]?.node);
    assert.deepEqual(viaK8s.path, parsePath('/#/k8s/prod/users-v1/80'));
    assert.deepEqual(viaK8s.namers, [
      { prefix: parsePath('/#/k8s'), answer: { kind: 'bound', id: parsePath('/prod/users-v1/80'), residual: [] } },
    ]);
    assert.equal(e.lookups, 5);
  });

  it('is plain JSON (no functions, no cycles) for the admin endpoint', () => {
    const e = explain(dtab, parsePath('/svc/prod/users/80'), [k8s]);
    assert.deepEqual(JSON.parse(JSON.stringify(e)), e);
  });

  it('explain and bind agree on the result for any dtab and path (fast-check)', () => {
    const params = { maxDepth: 20, maxLookups: 100, maxPathSegments: 64, maxRewriteSegments: 10_000 };
    fc.assert(
      fc.property(dtabArb, pathArb, (d, p) => {
        assert.deepEqual(explain(d, p, [k8s], params).result, bind(d, p, [k8s], params));
      }),
      { numRuns: 300 },
    );
  });
});

describe('explain: plain text', () => {
  it('prints each step indented, the dentries tried and skipped, and the result', () => {
    const dtab = parseDtab('/svc => /#/k8s; /svc/prod/web => /svc/prod/missing | /svc/prod/web-v2');
    const text = formatExplanation(explain(dtab, parsePath('/svc/prod/web/80'), [k8s]));
    assert.equal(
      text,
      [
        '/svc/prod/web/80 -> /#/k8s/prod/web-v2/80',
        '  dentry #1 /svc/prod/web=>/svc/prod/missing | /svc/prod/web-v2',
        '    alternatives, first that binds -> /#/k8s/prod/web-v2/80',
        '      | /svc/prod/missing/80 -> ~ (neg: no binding)',
        '          dentry #0 /svc=>/#/k8s',
        '            /#/k8s/prod/missing/80 -> ~ (neg: no binding)',
        '              namer /#/k8s: neg',
        '      | /svc/prod/web-v2/80 -> /#/k8s/prod/web-v2/80',
        '          dentry #0 /svc=>/#/k8s',
        '            /#/k8s/prod/web-v2/80 -> /#/k8s/prod/web-v2/80',
        '              namer /#/k8s: bound /#/k8s/prod/web-v2/80',
        '  dentry #0 /svc=>/#/k8s  (not tried: a later dentry settled it)',
        'result: /#/k8s/prod/web-v2/80',
        '',
      ].join('\n'),
    );
  });

  it('names a loop and where it was refused', () => {
    const text = formatExplanation(explain(parseDtab('/a => /b; /b => /a'), parsePath('/a')));
    assert.match(text, /refused: delegation loop: \/a -> \/b -> \/a/);
    assert.match(text, /result: ! \(delegation loop: \/a -> \/b -> \/a\)\n$/);
  });

  it('says when nothing matches, and shows residuals', () => {
    assert.match(formatExplanation(explain([], parsePath('/x'))), /no dentry or namer matches\nresult: ~ \(neg: no binding\)/);
    assert.equal(
      showBoundTree(leaf({ id: parsePath('/$/inet/h/80'), residual: parsePath('/rest') })),
      '/$/inet/h/80 (residual /rest)',
    );
    assert.equal(showBoundTree(fail()), '! (fail)');
  });
});
