import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseHttpDate, parseRetryAfter } from '../../../agent/resilience/retry-after.ts';

const NOW = Date.UTC(1994, 10, 6, 8, 49, 7); // Sun, 06 Nov 1994 08:49:07 GMT

describe('parseRetryAfter', () => {
  it('reads delay-seconds', () => {
    assert.deepEqual(parseRetryAfter('120', NOW), { kind: 'ok', value: 120_000 });
    assert.deepEqual(parseRetryAfter(' 0 ', NOW), { kind: 'ok', value: 0 });
  });

  it('reads the three HTTP-date forms RFC 9110 makes recipients accept', () => {
    for (const date of ['Sun, 06 Nov 1994 08:49:37 GMT', 'Sunday, 06-Nov-94 08:49:37 GMT', 'Sun Nov  6 08:49:37 1994']) {
      assert.deepEqual(parseRetryAfter(date, NOW), { kind: 'ok', value: 30_000 }, date);
    }
  });

  it('reads a date in the past as "now"', () => {
    assert.deepEqual(parseRetryAfter('Sat, 05 Nov 1994 08:49:37 GMT', NOW), { kind: 'ok', value: 0 });
  });

  it('reads four-digit years below 100 as written', () => {
    assert.equal(new Date(parseHttpDate('Thu, 01 Jan 0050 00:00:00 GMT', NOW) ?? 0).getUTCFullYear(), 50);
  });

  it('resolves RFC 850 two-digit years to within 50 years ahead', () => {
    const now2030 = Date.UTC(2030, 0, 1);
    assert.equal(new Date(parseHttpDate('Monday, 01-Jan-79 00:00:00 GMT', now2030) ?? 0).getUTCFullYear(), 2079);
    assert.equal(new Date(parseHttpDate('Monday, 01-Jan-81 00:00:00 GMT', now2030) ?? 0).getUTCFullYear(), 1981);
  });

  it('rejects anything else with a reason', () => {
    for (const bad of ['', '-1', '1.5', 'soon', 'Sun, 31 Feb 1994 08:49:37 GMT', 'Sun, 06 Nov 1994 25:00:00 GMT', 'sun, 06 Nov 1994 08:49:37 GMT', 'Sun, 06 Nov 1994 08:49:37 UTC', '2024-01-01T00:00:00Z', '1'.repeat(13), 'x'.repeat(100)]) {
      const result = parseRetryAfter(bad, NOW);
      assert.equal(result.kind, 'invalid', bad);
    }
  });

  it('never throws and never answers a negative delay', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 40 }), fc.date({ noInvalidDate: true }).map((d) => d.toUTCString())), fc.integer({ min: 0, max: 4e12 }), (value, now) => {
        const result = parseRetryAfter(value, now);
        if (result.kind === 'ok') assert.ok(result.value >= 0);
      }),
    );
  });

  it('round-trips dates written by Date.prototype.toUTCString (IMF-fixdate)', () => {
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(9999, 11, 31) }), (ms) => {
        const whole = Math.floor(ms / 1_000) * 1_000;
        assert.equal(parseHttpDate(new Date(whole).toUTCString(), 0), whole);
      }),
    );
  });
});
