import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { seededRandom } from '../../../agent/balance/random.ts';
import { isWeftError } from '../../../agent/errors.ts';
import { backoffDelay, ejectionBackoffParams, retryBackoffParams, validateBackoffParams } from '../../../agent/resilience/backoff.ts';

describe('backoffDelay', () => {
  it('defaults to linkerd2-proxy: retries 25→250 ms jitter 1, ejection 1→60 s jitter 0.5', () => {
    assert.deepEqual(retryBackoffParams, { minMs: 25, maxMs: 250, jitter: 1 });
    assert.deepEqual(ejectionBackoffParams, { minMs: 1_000, maxMs: 60_000, jitter: 0.5 });
  });

  it('doubles from min to max without jitter', () => {
    const p = { minMs: 1_000, maxMs: 60_000, jitter: 0 };
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7, 2_000].map((n) => backoffDelay(p, n, Math.random)), [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]);
  });

  it('adds up to jitter × base at random, never past max', () => {
    assert.equal(backoffDelay(ejectionBackoffParams, 0, () => 0.999_999), 1_000 + 0.999_999 * 500);
    assert.equal(backoffDelay(ejectionBackoffParams, 6, () => 0.999_999), 60_000);
  });

  it('stays within [base, min(max, base × (1 + jitter))] for every attempt', () => {
    fc.assert(
      fc.property(
        fc.record({ minMs: fc.nat({ max: 5_000 }), extra: fc.nat({ max: 100_000 }), jitter: fc.double({ min: 0, max: 3, noNaN: true }) }),
        fc.nat({ max: 5_000 }),
        fc.integer(),
        ({ minMs, extra, jitter }, n, seed) => {
          const p = { minMs, maxMs: minMs + extra + 1, jitter };
          const delay = backoffDelay(p, n, seededRandom(seed));
          const base = minMs === 0 ? 0 : Math.min(minMs * 2 ** n, p.maxMs);
          assert.ok(Number.isFinite(delay));
          assert.ok(delay >= base - 1e-9 && delay <= Math.min(p.maxMs, base * (1 + jitter)) + 1e-9, `${delay} for n=${n}`);
        },
      ),
    );
  });

  it('rejects min above max, zero max and negative jitter', () => {
    for (const bad of [{ minMs: 10, maxMs: 5, jitter: 0 }, { minMs: 0, maxMs: 0, jitter: 0 }, { minMs: 1, maxMs: 2, jitter: -1 }]) {
      assert.throws(() => validateBackoffParams(bad), isWeftError);
    }
  });
});
