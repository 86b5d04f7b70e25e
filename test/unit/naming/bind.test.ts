import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  type BindParams,
  type BoundName,
  bindParams,
  type ExplainNode,
  type Namer,
  type NamerEntry,
  type NamerResult,
  bind,
  bindTree,
  boundNameKey,
  explain,
} from '../../../agent/naming/bind.ts';
import { type Dtab, dentry, dtabConcat, dtabLookup } from '../../../agent/naming/dtab.ts';
import {
  type NameTree,
  type Weighted,
  alt,
  empty,
  evalNameTree,
  fail,
  leaf,
  mapNameTree,
  neg,
  simplifyNameTree,
  union,
  weighted,
} from '../../../agent/naming/name-tree.ts';
import { parseDtabOverride } from '../../../agent/naming/override.ts';
import { parseDtab, parseNameTree, parsePath } from '../../../agent/naming/parse.ts';
import { type Path, pathConcat, pathDrop, pathStartsWith, showPath } from '../../../agent/naming/path.ts';
import { systemNamers } from '../../../agent/naming/system-namers.ts';
import { weightArb } from './arbitraries.ts';

const path = parsePath;
const bound = (id: string, residual = '/'): NameTree<BoundName> => leaf({ id: path(id), residual: path(residual) });

/** A namer answering from a table keyed by the path after its prefix; unknown paths are neg. */
function tableNamer(prefix: string, table: Record<string, NamerResult>): NamerEntry {
  return { prefix: path(prefix), namer: (rest) => table[showPath(rest)] ?? { kind: 'neg' } };
}

/** Binds the whole path as one id: what the Kubernetes namer will do for a known Service. */
const bindAll: Namer = (rest) => ({ kind: 'bound', id: rest, residual: [] });

/** Every path visited by an explanation, in the order it was looked up. */
function visitedPaths(node: ExplainNode): string[] {
  switch (node.kind) {
    case 'path':
      return [
        showPath(node.path),
        ...node.rewrites.flatMap((r) => visitedPaths(r.node)),
        ...node.namers.flatMap((n) => (n.node === undefined ? [] : visitedPaths(n.node))),
      ];
    case 'alt':
      return node.trees.flatMap(visitedPaths);
    case 'union':
      return node.trees.flatMap((t) => visitedPaths(t.node));
    default:
      return [];
  }
}

// doc/src/sphinx/Names.rst, "Interpreting Paths With Delegation Tables"
describe("the Finagle user guide's delegation example", () => {
  const dtab = parseDtab(`
    /zk#  => /$/com.twitter.serverset;         # (a)
    /zk   => /zk#;                             # (b)
    /s##  => /zk/zk.local.twitter.com:2181;    # (c)
    /s#   => /s##/prod;                        # (d)
    /s    => /s#;                              # (e)
  `);
  const staging = parseDtab('/s# => /s##/staging'); // (f)
  const serverset = (exists: (rest: Path) => boolean): NamerEntry => ({
    prefix: path('/$/com.twitter.serverset'),
    namer: (rest) => (exists(rest) ? { kind: 'bound', id: rest.slice(0, 1), residual: pathDrop(rest, 1) } : { kind: 'neg' }),
  });

  it('rewrites /s/crawler through the six steps the guide lists', () => {
    const e = explain(dtab, path('/s/crawler'), [serverset(() => true)]);
    assert.deepEqual(visitedPaths(e.root), [
      '/s/crawler',
      '/s#/crawler',
      '/s##/prod/crawler',
      '/zk/zk.local.twitter.com:2181/prod/crawler',
      '/zk#/zk.local.twitter.com:2181/prod/crawler',
      '/$/com.twitter.serverset/zk.local.twitter.com:2181/prod/crawler',
    ]);
    assert.deepEqual(e.result, bound('/$/com.twitter.serverset/zk.local.twitter.com:2181', '/prod/crawler'));
  });

  it('an appended entry (f) wins: staging is used when it exists', () => {
    const result = bind(dtabConcat(dtab, staging), path('/s/crawler'), [serverset(() => true)]);
    assert.deepEqual(result, bound('/$/com.twitter.serverset/zk.local.twitter.com:2181', '/staging/crawler'));
  });

  it('and when staging does not exist, the search backtracks to (d), in the order the guide shows', () => {
    const e = explain(dtabConcat(dtab, staging), path('/s/crawler'), [serverset((rest) => rest[1] !== 'staging')]);
    assert.deepEqual(visitedPaths(e.root), [
      '/s/crawler',
      '/s#/crawler',
      '/s##/staging/crawler',
      '/zk/zk.local.twitter.com:2181/staging/crawler',
      '/zk#/zk.local.twitter.com:2181/staging/crawler',
      '/$/com.twitter.serverset/zk.local.twitter.com:2181/staging/crawler',
      '/s##/prod/crawler',
      '/zk/zk.local.twitter.com:2181/prod/crawler',
      '/zk#/zk.local.twitter.com:2181/prod/crawler',
      '/$/com.twitter.serverset/zk.local.twitter.com:2181/prod/crawler',
    ]);
    assert.deepEqual(e.result, bound('/$/com.twitter.serverset/zk.local.twitter.com:2181', '/prod/crawler'));
  });

  it('a prefix rule that recurses (/s => /s/prefix) fails at the depth limit instead of hanging', () => {
    const result = bind(parseDtab('/s => /s/prefix'), path('/s/crawler'));
    assert.equal(result.kind, 'fail');
    assert.match(result.kind === 'fail' ? (result.reason ?? '') : '', /deeper than 100 rewrites/);
  });
});

// finagle-core/src/test/scala/com/twitter/finagle/NamerTest.scala
describe("Finagle's NamerTest cases", () => {
  const test = (table: Record<string, NamerResult>) => [tableNamer('/test', table)];

  it('Alt with Fail/Empty', () => {
    const namers = test({ '/1': { kind: 'bound', id: path('/1'), residual: [] } });
    assert.deepEqual(bindTree([], parseNameTree('(! | /test/1 | /test/2)'), namers), fail());
    assert.deepEqual(bindTree([], parseNameTree('(~ | /$/fail | /test/1)'), namers), fail());
    assert.deepEqual(bindTree([], parseNameTree('(/$/nil | /$/fail | /test/1)'), namers), empty);
  });

  it('failover: /test/0 | /test/1 & /test/2', () => {
    const tree = parseNameTree('/test/0 | /test/1 & /test/2');
    const b = (id: string): NamerResult => ({ kind: 'bound', id: path(id), residual: [] });
    const delegate = (t: string): NamerResult => ({ kind: 'delegate', tree: parseNameTree(t) });
    assert.deepEqual(bindTree([], tree, test({ '/0': delegate('$'), '/1': delegate('~'), '/2': delegate('~') })), empty);
    assert.deepEqual(bindTree([], tree, test({ '/0': b('/0') })), bound('/test/0'));
    assert.deepEqual(bindTree([], tree, test({})), neg);
    assert.deepEqual(bindTree([], tree, test({ '/2': b('/2') })), bound('/test/2'));
    assert.deepEqual(bindTree([], tree, test({ '/0': b('/0'), '/2': b('/2') })), bound('/test/0'));
  });

  it('union: failed and negative branches drop out while another binds', () => {
    const tree = parseNameTree('/test/0 & /test/1');
    const one: NamerResult = { kind: 'bound', id: path('/1'), residual: [] };
    const two: NamerResult = { kind: 'bound', id: path('/2'), residual: [] };
    const broken: NamerResult = { kind: 'fail', reason: 'source down' };
    const delegate = (t: string): NamerResult => ({ kind: 'delegate', tree: parseNameTree(t) });
    // Ok(Bound) & Ok(Bound)
    assert.deepEqual(
      bindTree([], tree, test({ '/0': two, '/1': one })),
      union(weighted(1, bound('/test/2')), weighted(1, bound('/test/1'))),
    );
    // Ok(Bound) & Ok(Neg), Ok(Bound) & Failed
    assert.deepEqual(bindTree([], tree, test({ '/1': one })), bound('/test/1'));
    assert.deepEqual(bindTree([], tree, test({ '/0': broken, '/1': one })), bound('/test/1'));
    // Failed & Failed: the first failure
    assert.deepEqual(bindTree([], tree, test({ '/0': broken, '/1': { kind: 'fail', reason: 'other' } })), fail('source down'));
    // Ok(Neg) & Ok(Neg); Ok(Empty) & Ok(Neg)
    assert.deepEqual(bindTree([], tree, test({})), neg);
    assert.deepEqual(bindTree([], tree, test({ '/1': delegate('$') })), empty);
  });

  it('Namer.global: /$/inet, /$/fail, /$/nil', () => {
    assert.deepEqual(bind([], path('/$/inet/1234/foobar'), systemNamers), bound('/$/inet/1234', '/foobar'));
    assert.deepEqual(bind([], path('/$/inet/127.0.0.1/1234'), systemNamers), bound('/$/inet/127.0.0.1/1234'));
    assert.equal(bind([], path('/$/inet'), systemNamers).kind, 'fail');
    assert.deepEqual(bind([], path('/$/fail'), []), fail());
    assert.deepEqual(bind([], path('/$/fail/foo/bar'), []), fail());
    assert.deepEqual(bind([], path('/$/nil'), []), empty);
    assert.deepEqual(bind([], path('/$/nil/foo/bar'), []), empty);
  });

  it('a /$/<kind> path that no namer handles fails (Finagle: ClassNotFoundException)', () => {
    assert.deepEqual(bind([], path('/$/com.example.Missing/x'), []), fail('no namer for /$/com.example.Missing'));
    assert.deepEqual(bind([], path('/$'), []), neg);
    assert.deepEqual(bind([], path('/not/a/system/path'), []), neg);
  });

  // NameTreeTest "NameTree.bind: infinite loop"
  it('an infinite loop ends in a Fail that names the loop', () => {
    const dtab = parseDtab('/foo/bar => /bar/foo; /bar/foo => /foo/bar');
    assert.deepEqual(bind(dtab, path('/foo/bar')), fail('delegation loop: /foo/bar -> /bar/foo -> /foo/bar'));
  });
});

describe('delegation semantics', () => {
  const k8s: NamerEntry = { prefix: path('/#/k8s'), namer: bindAll };

  it('the last written dentry wins', () => {
    const dtab = parseDtab('/svc => /#/k8s/a; /svc => /#/k8s/b');
    assert.deepEqual(bind(dtab, path('/svc/x'), [k8s]), bound('/#/k8s/b/x'));
  });

  it('an earlier dentry is the fall-back when a later one binds negatively', () => {
    const dtab = parseDtab('/svc => /#/k8s/a; /svc => /nowhere');
    assert.deepEqual(bind(dtab, path('/svc/x'), [k8s]), bound('/#/k8s/a/x'));
  });

  it('but not when the later one fails: ! stops the search', () => {
    const dtab = parseDtab('/svc => /#/k8s/a; /svc => !');
    assert.deepEqual(bind(dtab, path('/svc/x'), [k8s]), fail());
  });

  it('a per-request override is appended: linkerd `l5d-dtab: /svc/B => /svc/B2`', () => {
    const base = parseDtab('/svc => /#/k8s');
    const override = parseDtab('/svc/B => /svc/B2');
    assert.deepEqual(bind(dtabConcat(base, override), path('/svc/B/x'), [k8s]), bound('/#/k8s/B2/x'));
    assert.deepEqual(bind(dtabConcat(base, override), path('/svc/A/x'), [k8s]), bound('/#/k8s/A/x'));
  });

  it('wildcard prefixes bind whatever segment they skip', () => {
    const dtab = parseDtab('/svc => /#/k8s; /svc/*/users => /#/k8s/prod/users-v2');
    assert.deepEqual(bind(dtab, path('/svc/any/users/80'), [k8s]), bound('/#/k8s/prod/users-v2/80'));
    assert.deepEqual(bind(dtab, path('/svc/any/orders/80'), [k8s]), bound('/#/k8s/any/orders/80'));
  });

  it('a namer is asked only when the dtab has nothing (or only ~) for the path', () => {
    let asked = 0;
    const counting: NamerEntry = { prefix: path('/#/k8s'), namer: (rest) => (asked++, bindAll(rest)) };
    assert.deepEqual(bind(parseDtab('/#/k8s/a => /#/k8s/b'), path('/#/k8s/a'), [counting]), bound('/#/k8s/b'));
    assert.equal(asked, 1); // for /#/k8s/b only
    assert.deepEqual(bind(parseDtab('/#/k8s/a => ~'), path('/#/k8s/a'), [counting]), bound('/#/k8s/a'));
    assert.deepEqual(bind(parseDtab('/#/k8s/a => ~ | ~'), path('/#/k8s/a'), [counting]), neg);
  });

  it('namers: the last given is asked first, and neg falls through to the next', () => {
    const first = tableNamer('/#/n', { '/x': { kind: 'bound', id: path('/first'), residual: [] } });
    const second = tableNamer('/#/n', { '/y': { kind: 'bound', id: path('/second'), residual: [] } });
    assert.deepEqual(bind([], path('/#/n/x'), [first, second]), bound('/#/n/first'));
    assert.deepEqual(bind([], path('/#/n/y'), [first, second]), bound('/#/n/second'));
  });

  it('a namer may delegate to more paths, which bind under the same dtab', () => {
    const clusterIp = tableNamer('/#/k8s-ip', {
      '/10.96.0.10/80': { kind: 'delegate', tree: parseNameTree('/svc/prod/users/80') },
    });
    const dtab = parseDtab('/svc => /#/k8s; /svc/prod/users => /svc/prod/users-v2');
    assert.deepEqual(bind(dtab, path('/#/k8s-ip/10.96.0.10/80'), [k8s, clusterIp]), bound('/#/k8s/prod/users-v2/80'));
  });

  it('a namer that throws fails its branch with the reason; bind itself never throws', () => {
    const thrower: NamerEntry = {
      prefix: path('/#/bad'),
      namer: () => {
        throw new Error('boom');
      },
    };
    assert.deepEqual(bind([], path('/#/bad/x'), [thrower]), fail('namer /#/bad threw: boom'));
  });

  it('a loop inside a union drops that branch, as Finagle does after hitting its depth limit', () => {
    const dtab = parseDtab('/a => /b & /#/k8s/c; /b => /a');
    assert.deepEqual(bind(dtab, path('/a'), [k8s]), bound('/#/k8s/c'));
  });

  it('the same path in sibling branches is not a loop', () => {
    const dtab = parseDtab('/a => /s & /s; /s => /#/k8s/s');
    assert.deepEqual(bind(dtab, path('/a'), [k8s]), union(weighted(1, bound('/#/k8s/s')), weighted(1, bound('/#/k8s/s'))));
  });

  it('a rule that grows the path is stopped at the path length limit', () => {
    const grow = `/a => /a/${Array.from({ length: 50 }, () => 'b').join('/')}`;
    const e = explain(parseDtab(grow), path('/a'));
    assert.deepEqual(e.result, fail('delegation made a path longer than 256 segments'));
    assert.equal(e.lookups, 7); // 1 + 50 * 5 = 251 segments, then 301
  });

  it('wide or many matching dentries in an 8 KiB override are capped by the rewrite budget, in milliseconds', () => {
    const leaves = (n: number, op: string) => Array.from({ length: n }, () => '/a').join(op);
    const hostile = {
      wide: '/ => ' + leaves(1600, ' & '),
      many: Array.from({ length: 100 }, () => '/ => ' + leaves(15, '&')).join(';'),
      alternatives: '/ => ' + leaves(1600, ' | '),
    };
    for (const [name, text] of Object.entries(hostile)) {
      const dtab = parseDtabOverride(text);
      const started = performance.now();
      const e = explain(dtab, path('/x/y/z'));
      const took = performance.now() - started;
      assert.ok(took < 100, `${name} took ${took} ms`);
      assert.ok(e.rewriteSegments <= bindParams.maxRewriteSegments + 20_000, `${name}: ${e.rewriteSegments}`);
      assert.deepEqual(e.result, fail('binding needs more than 100000 path segments of rewrites; the dtab fans out too much'), name);
    }
  });

  it('fan-out is capped by the lookup budget: the whole binding fails, quickly', () => {
    const levels = 40; // 2^40 lookups without the budget
    const hostile = Array.from({ length: levels }, (_, i) => `/a${i} => /a${i + 1} & /a${i + 1}`).join(';') + `;/a${levels} => /#/k8s/x`;
    const started = performance.now();
    const e = explain(parseDtab(hostile), path('/a0'), [k8s], { ...bindParams, maxLookups: 1000 });
    assert.ok(performance.now() - started < 500);
    assert.ok(e.lookups <= 1001, `lookups ${e.lookups}`);
    assert.deepEqual(e.result, fail('binding needs more than 1000 lookups; the dtab fans out too much'));
  });
});

describe('weighted unions survive binding (canary)', () => {
  const k8s: NamerEntry = { prefix: path('/#/k8s'), namer: bindAll };

  it('0.9 * v1 & 0.1 * v2 through two levels of delegation keeps 0.9 and 0.1', () => {
    const dtab = parseDtab(`
      /svc => /#/k8s;
      /svc/prod/users => 0.9 * /svc/prod/users-v1 & 0.1 * /svc/prod/users-v2;
    `);
    assert.deepEqual(
      bind(dtab, path('/svc/prod/users/80'), [k8s]),
      union(weighted(0.9, bound('/#/k8s/prod/users-v1/80')), weighted(0.1, bound('/#/k8s/prod/users-v2/80'))),
    );
  });

  it('any weights, any number of branches (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(weightArb, { minLength: 2, maxLength: 6 }), (weights) => {
        const dst = union(...weights.map((w, i): Weighted<Path> => weighted(w, leaf(path(`/b${i}`)))));
        const dtab: Dtab = [dentry(path('/s'), dst), ...weights.map((_, i) => dentry(path(`/b${i}`), leaf(path(`/#/k8s/b${i}`))))];
        const result = bind(dtab, path('/s/x'), [k8s]);
        assert.deepEqual(result, union(...weights.map((w, i) => weighted(w, bound(`/#/k8s/b${i}/x`)))));
      }),
    );
  });

  it('a branch that binds negatively drops out and the others keep their weights', () => {
    const dtab = parseDtab('/s => 0.5*/#/k8s/a & 0.25*/nowhere & 0.25*/#/k8s/b');
    assert.deepEqual(bind(dtab, path('/s'), [k8s]), union(weighted(0.5, bound('/#/k8s/a')), weighted(0.25, bound('/#/k8s/b'))));
  });
});

// A direct transcription of Finagle's Namer.bind + DefaultInterpreter + linkerd's namer fall-through,
// with exceptions for failures and no loop detection or budget: the reference to compare against.
type RefName = { readonly kind: 'path'; readonly path: Path } | { readonly kind: 'bound'; readonly name: BoundName };
type RefState = { readonly ok: true; readonly tree: NameTree<BoundName> } | { readonly ok: false };

function referenceBind(dtab: Dtab, namers: readonly NamerEntry[], start: Path, maxDepth: number) {
  let hitDepth = false;
  const lookup = (p: Path): { ok: true; tree: NameTree<RefName> } | { ok: false } => {
    const t = dtabLookup(dtab, p);
    if (t.kind !== 'neg') return { ok: true, tree: mapNameTree(t, (q): RefName => ({ kind: 'path', path: q })) };
    for (const { prefix, namer } of [...namers].reverse()) {
      if (!pathStartsWith(p, prefix)) continue;
      const r = namer(pathDrop(p, prefix.length));
      if (r.kind === 'neg') continue;
      if (r.kind === 'fail') return { ok: false };
      if (r.kind === 'bound') return { ok: true, tree: leaf({ kind: 'bound', name: { id: pathConcat(prefix, r.id), residual: r.residual } }) };
      return { ok: true, tree: mapNameTree(r.tree, (q): RefName => ({ kind: 'path', path: q })) };
    }
    if (pathStartsWith(p, ['$', 'nil'])) return { ok: true, tree: empty };
    if (pathStartsWith(p, ['$', 'fail'])) return { ok: true, tree: fail() };
    if (p.length >= 2 && p[0] === '$') return { ok: false };
    return { ok: true, tree: neg };
  };
  const go = (depth: number, tree: NameTree<RefName>): RefState => {
    if (depth > maxDepth) {
      hitDepth = true;
      return { ok: false };
    }
    switch (tree.kind) {
      case 'leaf': {
        if (tree.value.kind === 'bound') return { ok: true, tree: leaf(tree.value.name) };
        const l = lookup(tree.value.path);
        return l.ok ? go(depth + 1, l.tree) : l;
      }
      case 'neg':
      case 'fail':
      case 'empty':
        return { ok: true, tree };
      case 'union': {
        if (tree.trees.length === 0) return { ok: true, tree: neg };
        if (tree.trees.length === 1) return go(depth, tree.trees[0]?.tree ?? neg);
        const oks: Weighted<BoundName>[] = [];
        for (const w of tree.trees) {
          const r = go(depth, w.tree);
          if (r.ok) oks.push(weighted(w.weight, r.tree));
        }
        return oks.length === 0 ? { ok: false } : { ok: true, tree: simplifyNameTree(union(...oks)) };
      }
      case 'alt': {
        for (const t of tree.trees) {
          const r = go(depth, t);
          if (!r.ok || r.tree.kind !== 'neg') return r;
        }
        return { ok: true, tree: neg };
      }
    }
  };
  const state = go(0, leaf({ kind: 'path', path: start }));
  return { hitDepth, result: state.ok ? state.tree : fail() };
}

/** Fail reasons are weft's addition; the reference has none. */
function withoutReasons(tree: NameTree<BoundName>): NameTree<BoundName> {
  switch (tree.kind) {
    case 'fail':
      return fail();
    case 'union':
      return union(...tree.trees.map((w) => weighted(w.weight, withoutReasons(w.tree))));
    case 'alt':
      return alt(...tree.trees.map(withoutReasons));
    default:
      return tree;
  }
}

describe('binding agrees with a transcription of Finagle Namer.bind (fast-check)', () => {
  const segment = fc.constantFrom('a', 'b', 'c', 'd');
  const smallPath = fc.array(segment, { minLength: 1, maxLength: 2 });
  const target = fc.oneof(
    { weight: 6, arbitrary: smallPath },
    { weight: 2, arbitrary: smallPath.map((p) => ['#', 'n', ...p]) },
    { weight: 1, arbitrary: fc.constantFrom(['$', 'nil'], ['$', 'fail'], ['$', 'inet', '80'], ['$', 'nope']) },
  );
  const tree: fc.Arbitrary<NameTree<Path>> = fc.letrec<{ t: NameTree<Path> }>((tie) => ({
    t: fc.oneof(
      { depthSize: 'small', maxDepth: 2 },
      target.map((p) => leaf(p)),
      fc.constantFrom<NameTree<Path>>(neg, fail(), empty),
      fc.array(tie('t'), { minLength: 2, maxLength: 3 }).map((ts) => alt(...ts)),
      fc.array(fc.tuple(fc.constantFrom(0.5, 1, 2), tie('t')), { minLength: 2, maxLength: 3 }).map((ws) =>
        union(...ws.map(([w, t]) => weighted(w, t))),
      ),
    ),
  })).t;
  const prefix = fc.array(fc.oneof(segment, fc.constant({ kind: 'any' } as const)), { minLength: 1, maxLength: 2 });
  const dtab = fc.array(fc.tuple(prefix, tree).map(([p, t]) => dentry(p, t)), { maxLength: 5 });
  // /#/n: a→bound, b→neg, c→fail, d→delegate to /a | /b.
  const n: Namer = (rest) => {
    switch (rest[0]) {
      case 'a':
        return { kind: 'bound', id: rest.slice(0, 1), residual: pathDrop(rest, 1) };
      case 'c':
        return { kind: 'fail', reason: 'c is broken' };
      case 'd':
        return { kind: 'delegate', tree: parseNameTree('/a | /b') };
      default:
        return { kind: 'neg' };
    }
  };
  const namers: NamerEntry[] = [{ prefix: ['#', 'n'], namer: n }, ...systemNamers];
  const refDepth = 4;
  const ours: BindParams = { maxDepth: refDepth + 1, maxLookups: 1_000_000, maxPathSegments: 1000, maxRewriteSegments: 1e12 };

  it('equal results whenever Finagle would not hit its depth limit; always terminates', () => {
    let compared = 0;
    fc.assert(
      fc.property(dtab, smallPath, (d, start) => {
        const reference = referenceBind(d, namers, start, refDepth);
        const result = bind(d, start, namers, ours);
        if (reference.hitDepth) return;
        compared++;
        assert.deepEqual(withoutReasons(result), reference.result);
      }),
      { numRuns: 1500 },
    );
    assert.ok(compared > 500, `only ${compared} comparable cases`);
    if (process.env.WEFT_DEBUG_NAMING) console.log('compared', compared);
  });

  it('every bound name comes from a namer, loops included', () => {
    fc.assert(
      fc.property(dtab, smallPath, (d, start) => {
        const result = bind(d, start, namers, ours);
        // bound names are always ones the namers produced
        for (const name of evalNameTree(result, boundNameKey) ?? []) {
          assert.ok(name.id[0] === '#' || name.id[0] === '$', showPath(name.id));
        }
      }),
      { numRuns: 500 },
    );
  });
});
