import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { PeakEwma, peakEwmaParams, validatePeakEwmaParams } from '../../../agent/balance/peak-ewma.ts';
import { isWeftError } from '../../../agent/errors.ts';

const close = (actual: number, expected: number, epsilon = 1e-9): void =>
  assert.ok(Math.abs(actual - expected) <= epsilon * Math.max(1, Math.abs(expected)), `${actual} ≉ ${expected}`);

describe('PeakEwma', () => {
  it('defaults to Linkerd 2: 30 ms default RTT, 10 s decay', () => {
    assert.deepEqual(peakEwmaParams, { defaultRttMs: 30, decayMs: 10_000 });
    assert.equal(new PeakEwma(peakEwmaParams, 0).estimate(0), 30);
  });

  it('lets a sample above the estimate take over at once', () => {
    const ewma = new PeakEwma(peakEwmaParams, 0);
    ewma.observe(500, 1);
    assert.equal(ewma.estimate(1), 500);
  });

  it('blends a sample below the estimate by elapsed time, not by count', () => {
    const ewma = new PeakEwma(peakEwmaParams, 0);
    ewma.observe(100, 0);
    ewma.observe(0, 10_000); // one decay period later: keep e^-1 of the old value
    close(ewma.estimate(10_000), 100 * Math.exp(-1));
    const fast = new PeakEwma(peakEwmaParams, 0);
    fast.observe(100, 0);
    for (let t = 1; t <= 10; t++) fast.observe(0, t); // ten samples in 10 ms barely move it
    assert.ok(fast.estimate(10) > 99.8);
  });

  it('decays toward zero while idle, so a once-slow endpoint is tried again', () => {
    const ewma = new PeakEwma(peakEwmaParams, 0);
    ewma.observe(1_000, 0);
    close(ewma.estimate(10_000), 1_000 * Math.exp(-1));
    close(ewma.estimate(30_000), 1_000 * Math.exp(-3));
    assert.equal(ewma.estimate(-5), 1_000, 'no projection backwards in time');
  });

  it('costs latency × (pending + 1)', () => {
    const ewma = new PeakEwma({ defaultRttMs: 20, decayMs: 10_000 }, 0);
    assert.equal(ewma.cost(0, 0), 20);
    assert.equal(ewma.cost(4, 0), 100);
  });

  it('ignores out-of-order and invalid samples', () => {
    const ewma = new PeakEwma(peakEwmaParams, 100);
    ewma.observe(900, 50);
    ewma.observe(Number.NaN, 200);
    ewma.observe(-1, 200);
    assert.equal(ewma.estimate(100), 30);
  });

  it('never lets a fast failure make the endpoint look faster', () => {
    const ewma = new PeakEwma(peakEwmaParams, 0);
    ewma.observe(200, 0);
    const before = ewma.estimate(5_000);
    ewma.observeFailure(1, 5_000);
    close(ewma.estimate(5_000), before);
    ewma.observeFailure(900, 5_001);
    assert.equal(ewma.estimate(5_001), 900);
  });

  it('rejects params that would divide by zero or never move', () => {
    for (const bad of [{ defaultRttMs: 0, decayMs: 10 }, { defaultRttMs: 30, decayMs: 0 }, { defaultRttMs: Number.NaN, decayMs: 10 }]) {
      assert.throws(() => validatePeakEwmaParams(bad), (e: unknown) => isWeftError(e) && e.code === 'WEFT_E_BALANCE_PARAMS');
    }
  });

  it('stays within [0, max(default, largest sample)] and is always reset by a new peak', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ gap: fc.double({ min: 0, max: 60_000, noNaN: true }), rtt: fc.double({ min: 0, max: 10_000, noNaN: true }), failed: fc.boolean() }), { maxLength: 50 }),
        (samples) => {
          const ewma = new PeakEwma(peakEwmaParams, 0);
          let now = 0;
          let ceiling = peakEwmaParams.defaultRttMs;
          for (const { gap, rtt, failed } of samples) {
            now += gap;
            const before = ewma.estimate(now);
            if (failed) ewma.observeFailure(rtt, now);
            else ewma.observe(rtt, now);
            ceiling = Math.max(ceiling, rtt);
            const after = ewma.estimate(now);
            assert.ok(after >= 0 && after <= ceiling + 1e-9);
            if (rtt > before) assert.equal(after, rtt);
            if (failed) assert.ok(after >= before - 1e-9);
          }
        },
      ),
    );
  });
});
