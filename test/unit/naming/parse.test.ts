import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isWeftError } from '../../../agent/errors.ts';
import { anyElem, dentry, formatDtab, showDentry, showDtab } from '../../../agent/naming/dtab.ts';
import {
  alt,
  defaultWeight,
  empty,
  fail,
  leaf,
  neg,
  showNameTree,
  union,
  weighted,
} from '../../../agent/naming/name-tree.ts';
import {
  NamingParseError,
  type NamingParseParams,
  namingParseCode,
  parseDentry,
  parseDtab,
  parseNameTree,
  parsePath,
  parsePrefix,
} from '../../../agent/naming/parse.ts';
import { emptyPath, pathOf, segmentFromText, segmentToText, showPath } from '../../../agent/naming/path.ts';
import { anyShapeTreeArb, dtabArb, parsedShapeTreeArb, pathArb, prefixArb } from './arbitraries.ts';

const p = (...segments: string[]) => pathOf(...segments);
const w1 = <T>(tree: Parameters<typeof weighted<T>>[1]) => weighted(defaultWeight, tree);

function parseError(fn: () => unknown): NamingParseError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof NamingParseError, `expected NamingParseError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a parse error');
}

describe('round trips (fast-check)', () => {
  it('parsePath(showPath(p)) is p for any path, escapes included', () => {
    fc.assert(fc.property(pathArb, (path) => assert.deepEqual(parsePath(showPath(path)), path)));
  });

  it('parseNameTree(showNameTree(t)) is t for any tree in parsed shape, weights exact', () => {
    fc.assert(
      fc.property(parsedShapeTreeArb, (tree) => assert.deepEqual(parseNameTree(showNameTree(tree)), tree)),
      { numRuns: 500 },
    );
  });

  it('printing a parsed tree is idempotent for trees of any shape', () => {
    fc.assert(
      fc.property(anyShapeTreeArb, (tree) => {
        const once = showNameTree(tree);
        assert.equal(showNameTree(parseNameTree(once)), once);
      }),
      { numRuns: 500 },
    );
  });

  it('parsePrefix round-trips prefixes with * wildcards', () => {
    fc.assert(
      fc.property(prefixArb, (prefix) => {
        const shown = showDentry(dentry(prefix, neg)).replace(/=>~$/, '');
        assert.deepEqual(parsePrefix(shown), prefix);
      }),
    );
  });

  it('parseDtab(showDtab(d)) and parseDtab(formatDtab(d)) are d', () => {
    fc.assert(
      fc.property(dtabArb, (dtab) => {
        assert.deepEqual(parseDtab(showDtab(dtab)), dtab);
        assert.deepEqual(parseDtab(formatDtab(dtab)), dtab);
      }),
      { numRuns: 300 },
    );
  });

  it('print ∘ parse is idempotent on text with arbitrary spacing and comments', () => {
    const spaced = dtabArb.chain((dtab) =>
      fc
        .array(fc.constantFrom(' ', '\t', '\n', '  # note\n', '\r\n'), {
          minLength: 1,
          maxLength: 50,
        })
        .map((spaces) => {
          // Put whitespace/comments between tokens: after every ';', '|', '&', '=>', '(' .
          let i = 0;
          const pick = () => spaces[i++ % spaces.length] ?? ' ';
          return showDtab(dtab).replace(/(;|\||&|=>|\()/g, (m) => `${pick()}${m}${pick()}`);
        }),
    );
    fc.assert(
      fc.property(spaced, (text) => {
        const once = showDtab(parseDtab(text));
        assert.equal(showDtab(parseDtab(once)), once);
      }),
      { numRuns: 300 },
    );
  });
});

// finagle-core/src/test/scala/com/twitter/finagle/NameTreeParsersTest.scala
describe("Finagle's NameTreeParsersTest cases", () => {
  it('parsePath', () => {
    assert.deepEqual(parsePath('/'), emptyPath);
    assert.deepEqual(parsePath('  /foo/bar  '), p('foo', 'bar'));
    assert.deepEqual(parsePath('/\\x66\\x6f\\x6F'), p('foo'));
    for (const bad of ['', '/foo/bar/', '/{}', '/\\?', '/\\x?', '/\\x0?']) parseError(() => parsePath(bad));
  });

  it('error messages mark the offending character as Finagle does', () => {
    assert.match(parseError(() => parsePath('/foo^bar')).message, /'\/foo\[\^\]bar'/);
    assert.match(parseError(() => parsePath('/foo/bar/')).message, /'\/foo\/bar\/\[\]'/);
  });

  it('parseNameTree', () => {
    assert.deepEqual(parseNameTree('! | ~ | $'), alt(fail(), neg, empty));
    assert.deepEqual(parseNameTree('/foo/bar'), leaf(p('foo', 'bar')));
    assert.deepEqual(parseNameTree('  /foo & /bar  '), union(w1(leaf(p('foo'))), w1(leaf(p('bar')))));
    assert.deepEqual(parseNameTree('  /foo | /bar  '), alt(leaf(p('foo')), leaf(p('bar'))));
    assert.deepEqual(
      parseNameTree('/foo & /bar | /bar & /baz'),
      alt(union(w1(leaf(p('foo'))), w1(leaf(p('bar')))), union(w1(leaf(p('bar'))), w1(leaf(p('baz'))))),
    );
    assert.deepEqual(
      parseNameTree('1 * /foo & 2 * /bar | .5 * /bar & .5 * /baz'),
      alt(
        union(weighted(1, leaf(p('foo'))), weighted(2, leaf(p('bar')))),
        union(weighted(0.5, leaf(p('bar'))), weighted(0.5, leaf(p('baz')))),
      ),
    );
    for (const bad of ['', '#', '/foo &', '/foo & 0.1.2 * /bar', '/foo & . * /bar']) {
      parseError(() => parseNameTree(bad));
    }
  });

  it('parseDentry, with * wildcards', () => {
    assert.deepEqual(parseDentry('/=>!'), dentry([], fail()));
    assert.deepEqual(parseDentry('/ => !'), dentry([], fail()));
    assert.deepEqual(parseDentry('/foo/*/bar => !'), dentry(['foo', anyElem, 'bar'], fail()));
    assert.deepEqual(parseDentry('/foo/bar/baz => !'), dentry(['foo', 'bar', 'baz'], fail()));
    parseError(() => parseDentry('/foo/*bar/baz => !'));
    parseError(() => parseDentry('/&!'));
  });

  it('parseDtab', () => {
    assert.deepEqual(parseDtab(''), []);
    assert.deepEqual(parseDtab('  /=>!  '), [dentry([], fail())]);
    assert.deepEqual(parseDtab('/=>!;'), [dentry([], fail())]);
    assert.deepEqual(parseDtab('/=>!;/foo=>/bar'), [dentry([], fail()), dentry(['foo'], leaf(p('bar')))]);
  });
});

// finagle-core/src/test/scala/com/twitter/finagle/DtabTest.scala and doc/src/sphinx/Names.rst
describe("Finagle's DtabTest and user guide cases", () => {
  it('Dtab.read ignores comment lines with #, but # inside a label is a label char', () => {
    const withComments = parseDtab(`
# a comment
      /#foo => /biz  # another comment
             | ( /bliz & # yet another comment
                 /bluth ) # duh bluths
             ; #finalmente
      #/ignore=>/me;
    `);
    assert.deepEqual(withComments, [
      dentry(['#foo'], alt(leaf(p('biz')), union(w1(leaf(p('bliz'))), w1(leaf(p('bluth')))))),
    ]);
  });

  it('the commented dtab of the user guide equals its plain form', () => {
    const commented = parseDtab(`
        # delegation for /s
        /s => /a      # prefer /a
            | ( /b    # or share traffic between /b and /c
              & /c
              );`);
    assert.deepEqual(commented, parseDtab('/s => /a | (/b & /c);'));
  });

  it('allows a trailing semicolon but not an empty entry', () => {
    assert.equal(parseDtab('\n          /b => /c;\n          /a => /b;\n          ').length, 2);
    const error = parseError(() => parseDtab('/a=>/b;;/c=>/d'));
    assert.equal(error.position, 7);
    assert.equal(error.expected, "'/'");
  });

  it('shows a dtab as Finagle does: prefix=>tree joined by ;', () => {
    assert.equal(showDtab(parseDtab('/a/*/c => /d')), '/a/*/c=>/d');
    assert.equal(showDtab(parseDtab('/foo => /bar ; /biz => /$/inet/8080')), '/foo=>/bar;/biz=>/$/inet/8080');
  });
});

describe('precedence and weights', () => {
  it('& binds tighter than |', () => {
    assert.deepEqual(parseNameTree('/a | /b & /c'), alt(leaf(p('a')), union(w1(leaf(p('b'))), w1(leaf(p('c'))))));
    assert.deepEqual(parseNameTree('/a & /b | /c'), alt(union(w1(leaf(p('a'))), w1(leaf(p('b')))), leaf(p('c'))));
  });

  it('parentheses override precedence and are printed only where needed', () => {
    const tree = parseNameTree('(/a | /b) & /c');
    assert.deepEqual(tree, union(w1(alt(leaf(p('a')), leaf(p('b')))), w1(leaf(p('c')))));
    assert.equal(showNameTree(tree), '(/a | /b) & /c');
    assert.equal(showNameTree(parseNameTree('((/a)) | ((/b & /c))')), '/a | /b & /c');
    assert.equal(showNameTree(parseNameTree('(/a | /b) | /c')), '(/a | /b) | /c');
    assert.equal(showNameTree(parseNameTree('/a & (/b & /c)')), '/a & (/b & /c)');
  });

  it('a weight applies to one simple tree, and is dropped without a union (as in Finagle)', () => {
    assert.deepEqual(parseNameTree('0.5 * /a'), leaf(p('a')));
    assert.deepEqual(parseNameTree('0.5*/a | /b'), alt(leaf(p('a')), leaf(p('b'))));
    assert.deepEqual(
      parseNameTree('3 * (/a | /b) & /c'),
      union(weighted(3, alt(leaf(p('a')), leaf(p('b')))), w1(leaf(p('c')))),
    );
    parseError(() => parseNameTree('0.5 /a & /b'));
  });

  it('weights default to 1.0 and print like Finagle (%.2f, weight 1 omitted)', () => {
    assert.equal(showNameTree(parseNameTree('0.9 * /a & 0.1 * /b')), '0.90*/a & 0.10*/b');
    assert.equal(showNameTree(parseNameTree('1 * /a & 1.0 * /b & 2 * /c')), '/a & /b & 2.00*/c');
    assert.equal(showNameTree(parseNameTree('0 * /a & 1. * /b')), '0.00*/a & /b');
  });

  it('weights Finagle would round (%.2f) are printed exactly instead', () => {
    const third = union(weighted(1 / 3, leaf(p('a'))), weighted(2 / 3, leaf(p('b'))));
    const shown = showNameTree(third);
    assert.equal(shown, '0.3333333333333333*/a & 0.6666666666666666*/b');
    assert.deepEqual(parseNameTree(shown), third);
    assert.equal(showNameTree(union(weighted(1e-9, leaf(p('a'))), weighted(1e22, leaf(p('b'))))), '0.000000001*/a & 10000000000000000000000*/b');
  });

  it('rejects a weight too large to be finite', () => {
    const error = parseError(() => parseNameTree(`${'9'.repeat(400)} * /a & /b`));
    assert.equal(error.expected, 'finite weight');
    assert.equal(error.position, 0);
  });
});

describe('paths', () => {
  it('prints non-showable segments with every byte escaped, as Finagle does', () => {
    assert.equal(showPath(p('a b')), '/\\x61\\x20\\x62');
    assert.equal(showPath(p('ok', '\u00ff')), '/ok/\\xff');
    assert.deepEqual(parsePath('/\\x2a'), p('*'));
    assert.deepEqual(parsePrefix('/\\x2a/*'), ['*', anyElem]);
  });

  it('text segments are UTF-8 bytes, escaped when printed', () => {
    const segment = segmentFromText('grüße');
    assert.equal(showPath(p(segment)), '/\\x67\\x72\\xc3\\xbc\\xc3\\x9f\\x65');
    assert.equal(segmentToText(parsePath(showPath(p(segment)))[0] ?? ''), 'grüße');
  });

  it('refuses to build a path with an empty segment or a non-byte character', () => {
    assert.throws(() => pathOf('a', ''), { code: 'WEFT_E_NAMING_INVALID' });
    assert.throws(() => pathOf('\u0100'), { code: 'WEFT_E_NAMING_INVALID' });
  });
});

describe('errors say where and what', () => {
  it('carries code, offset, expected and found', () => {
    const error = parseError(() => parseDtab('/a => /b | ;'));
    assert.equal(error.code, namingParseCode);
    assert.ok(isWeftError(error));
    assert.equal(error.position, 11);
    assert.equal(error.expected, 'simple');
    assert.equal(error.found, "';'");
    assert.equal(error.subject, 'dtab');
    assert.match(error.message, /^invalid dtab: simple expected but ';' found at offset 11: '\/a => \/b \| \[;\]'$/);
  });

  it('shows control characters escaped so a header cannot forge log lines', () => {
    const error = parseError(() => parseDtab('/a=>/b\u0000\nfake log line'));
    assert.equal(error.found, 'U+0000');
    assert.ok(!error.message.includes('\n'));
    assert.ok(!error.message.includes('\u0000'));
  });

  it('excerpts long input around the error instead of echoing all of it', () => {
    const input = `/a=>/b;${'/x=>/y;'.repeat(1000)}/bad=>^`;
    const error = parseError(() => parseDtab(input));
    assert.equal(error.position, input.length - 1);
    assert.ok(error.message.length < 200, error.message);
  });
});

describe('hostile input', () => {
  const small: NamingParseParams = { maxLength: 4096, maxNesting: 8, maxDentries: 16 };
  const parsers = [parsePath, parsePrefix, parseNameTree, parseDentry, parseDtab] as const;

  function parsesOrFailsCleanly(input: string, params: NamingParseParams = small): void {
    for (const parse of parsers) {
      try {
        parse(input, params);
      } catch (error) {
        assert.ok(error instanceof NamingParseError, `${parse.name} threw ${String(error)}`);
        assert.equal(error.code, namingParseCode);
        assert.ok(error.position >= 0 && error.position <= input.length, `position ${error.position}`);
        assert.notEqual(error.found, 'an internal parser error', String(error.cause));
      }
    }
  }

  it('random UTF-16 text never throws anything but a NamingParseError', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => parsesOrFailsCleanly(s)), {
      numRuns: 2000,
    });
  });

  it('random bytes (as latin1 text) never throw anything but a NamingParseError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => parsesOrFailsCleanly(Buffer.from(bytes).toString('latin1'))),
      { numRuns: 2000 },
    );
  });

  it('random soup of dtab tokens never throws anything but a NamingParseError', () => {
    const token = fc.constantFrom('/', 'a', '*', '=>', '=', '>', ';', '|', '&', '(', ')', '!', '~', '$', '0.5', '.', '*', ' ', '#', '\n', '\\x4', '\\x41');
    fc.assert(fc.property(fc.array(token, { maxLength: 80 }), (ts) => parsesOrFailsCleanly(ts.join(''))), {
      numRuns: 3000,
    });
  });

  it('huge input is refused at the length limit without being read', () => {
    const input = '/a=>/' + 'b'.repeat(20_000_000);
    const started = performance.now();
    const error = parseError(() => parseDtab(input));
    assert.ok(performance.now() - started < 100);
    assert.equal(error.position, 256 * 1024);
    assert.match(error.expected, /at most 262144 characters/);
  });

  it('deep nesting is refused at the nesting limit, not by a stack overflow', () => {
    const depth = 200_000;
    const input = '('.repeat(depth) + '/a' + ')'.repeat(depth);
    const error = parseError(() => parseNameTree(input, { maxLength: 1 << 20, maxNesting: 64, maxDentries: 10 }));
    assert.equal(error.position, 64);
    assert.match(error.expected, /at most 64 nested parentheses/);
    // and just under the limit it parses
    assert.deepEqual(parseNameTree('('.repeat(64) + '/a' + ')'.repeat(64)), leaf(p('a')));
  });

  it('too many dentries are refused at the entry limit', () => {
    const error = parseError(() => parseDtab('/a=>/b;'.repeat(17), small));
    assert.equal(error.position, 16 * 7);
    assert.match(error.expected, /at most 16 dentries/);
  });

  it('parses the largest accepted input in linear time', () => {
    const entry = '/svc/a/b=>/x/y | 0.5*/z & 0.5*/w ;';
    const count = Math.floor((256 * 1024) / entry.length);
    const input = entry.repeat(count);
    const started = performance.now();
    const dtab = parseDtab(input, { maxLength: 256 * 1024, maxNesting: 64, maxDentries: 10_000 });
    assert.equal(dtab.length, count);
    assert.ok(performance.now() - started < 2000, `took ${performance.now() - started} ms`);
  });
});
