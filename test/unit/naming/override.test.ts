import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { showDtab } from '../../../agent/naming/dtab.ts';
import { NamingParseError, parseDtab } from '../../../agent/naming/parse.ts';
import { dtabOverrideParams, parseDtabOverride, withOverride } from '../../../agent/naming/override.ts';

function rejects(fn: () => unknown, expected: RegExp): NamingParseError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof NamingParseError, String(error));
    assert.match(error.expected, expected);
    return error;
  }
  assert.fail('expected a NamingParseError');
}

describe('per-request dtab override', () => {
  it('reads one header value', () => {
    assert.equal(showDtab(parseDtabOverride('/svc/B => /svc/B2')), '/svc/B=>/svc/B2');
  });

  it('reads several values as one dtab, in order; a comment ends with its value', () => {
    assert.equal(
      showDtab(parseDtabOverride(['/a => /b # why', '', '/c => /d;'])),
      '/a=>/b;/c=>/d',
    );
  });

  it('is appended to the base, so its entries win', () => {
    const dtab = withOverride(parseDtab('/svc => /x'), parseDtabOverride('/svc => /y'));
    assert.equal(showDtab(dtab), '/svc=>/x;/svc=>/y');
  });

  it('allows 100 dentries over all values (Finagle HttpDtab Maxsize), not 101', () => {
    const fifty = '/a=>/b;'.repeat(50);
    assert.equal(parseDtabOverride([fifty, fifty]).length, 100);
    const error = rejects(() => parseDtabOverride([fifty, fifty, '/a=>/b']), /^at most 100 dentries$/);
    assert.equal(error.position, 0);
    assert.equal(parseDtabOverride([fifty + fifty]).length, 100);
    rejects(() => parseDtabOverride(fifty + fifty + '/a=>/b'), /^at most 100 dentries$/);
  });

  it('bounds total length over all values', () => {
    const half = '/a=>/' + 'b'.repeat(dtabOverrideParams.maxLength / 2);
    const error = rejects(() => parseDtabOverride([half, half]), /^at most 8192 characters$/);
    assert.equal(error.found, `${2 * half.length} characters in all parts`);
    assert.equal(error.position, 8192 - half.length);
  });

  it('bounds nesting', () => {
    rejects(() => parseDtabOverride('/a => ' + '('.repeat(9) + '/b' + ')'.repeat(9)), /at most 8 nested parentheses/);
    assert.equal(parseDtabOverride('/a => ' + '('.repeat(8) + '/b' + ')'.repeat(8)).length, 1);
  });

  it('hostile header values fail only with NamingParseError (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary', maxLength: 3000 }), { maxLength: 5 }), (values) => {
        try {
          parseDtabOverride(values);
        } catch (error) {
          assert.ok(error instanceof NamingParseError, String(error));
          assert.equal(error.code, 'WEFT_E_NAMING_PARSE');
        }
      }),
      { numRuns: 500 },
    );
  });
});
