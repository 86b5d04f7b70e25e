import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  bucketOf,
  bucketTop,
  correctedLatencyUs,
  Histogram,
  intendedTime,
  median,
  medianDifference,
  medianRatio,
} from '../../../scripts/bench/stats.ts';

describe('bench stats', () => {
  it('median takes the middle value, or the mean of the middle two, ignoring non-finite values', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(median([5, Number.NaN, 1, 3]), 3);
    assert.ok(Number.isNaN(median([])));
  });

  it('medianRatio is the median of per-round ratios, not the ratio of medians', () => {
    // Rounds drift (machine slows down): per-round ratios are 0.5, 0.5, 2; the ratio of medians would be 1.
    assert.equal(medianRatio([50, 100, 400], [100, 200, 200]), 0.5);
    assert.equal(medianRatio([1, 2], [0, 4]), 0.5, 'a round with a zero baseline is left out');
  });

  it('medianDifference is the median of per-round differences', () => {
    assert.equal(medianDifference([110, 250, 1000], [100, 200, 300]), 50);
  });

  it('a histogram bucket holds its value with less than 1/64 relative error, and buckets are ordered', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), (v) => {
        const top = bucketTop(bucketOf(v));
        assert.ok(top >= v, `top ${top} below ${v}`);
        assert.ok(top - v <= v / 64 + 1e-9 || v < 128, `bucket of ${v} too wide (top ${top})`);
        assert.ok(bucketOf(v + 1) >= bucketOf(v));
      }),
    );
    assert.equal(bucketOf(127), 127);
    assert.equal(bucketTop(bucketOf(128)), 129);
  });

  it('percentiles of a histogram match the exact percentiles within the bucket error', () => {
    const h = new Histogram();
    for (let v = 1; v <= 10_000; v++) h.record(v);
    assert.equal(h.total, 10_000);
    for (const [p, exact] of [[50, 5000], [99, 9900], [99.9, 9990], [100, 10_000]] as const) {
      const got = h.percentile(p);
      assert.ok(got >= exact && got <= exact * (1 + 1 / 64), `p${p}: ${got} vs ${exact}`);
    }
    assert.equal(h.percentile(100), 10_000, 'never above the recorded maximum');
  });

  it('histograms survive JSON and merge by adding counts', () => {
    const a = new Histogram();
    const b = new Histogram();
    for (let i = 0; i < 90; i++) a.record(100);
    for (let i = 0; i < 10; i++) b.record(5000);
    const merged = Histogram.fromJSON(JSON.parse(JSON.stringify(a.toJSON())) as ReturnType<Histogram['toJSON']>);
    merged.merge(b);
    assert.equal(merged.total, 100);
    assert.equal(merged.percentile(50), 100);
    assert.ok(merged.percentile(95) >= 5000);
    assert.equal(merged.max, 5000);
  });

  it('the open-loop schedule spaces requests at 1/rate from the start', () => {
    assert.equal(intendedTime(1000, 2000, 0), 1000);
    assert.equal(intendedTime(1000, 2000, 4), 1002);
  });

  it('corrects coordinated omission: a stall is charged to every request that was due during it', () => {
    // 1000 req/s, the server stalls for 150 ms on request 0: a closed loop records one slow sample
    // (its p50 stays at the 50 µs service time); measured from intended send times, every request
    // due during the stall waited for it.
    const rate = 1000;
    const stallEnd = 150;
    const corrected = new Histogram();
    const closedLoop = new Histogram();
    for (let i = 0; i < 200; i++) {
      const due = intendedTime(0, rate, i);
      const sent = i === 0 ? 0 : Math.max(due, stallEnd);
      const done = i === 0 ? stallEnd : sent + 0.05;
      corrected.record(correctedLatencyUs(due, done));
      closedLoop.record((done - sent) * 1000);
    }
    assert.ok(closedLoop.percentile(50) <= 51, `closed-loop p50 ${closedLoop.percentile(50)} µs hides the stall`);
    assert.ok(corrected.percentile(50) >= 40_000, `corrected p50 ${corrected.percentile(50)} µs shows the stall`);
    assert.ok(corrected.percentile(99) >= 140_000);
    assert.equal(correctedLatencyUs(10, 9), 0, 'never negative');
  });
});
