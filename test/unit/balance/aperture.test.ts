import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { AperturePicker, apertureParams, LoadBand } from '../../../agent/balance/aperture.ts';
import { seededRandom } from '../../../agent/balance/random.ts';
import { isWeftError } from '../../../agent/errors.ts';
import { exclusion, nodes, tally, TestNode } from './nodes.ts';

function picker(count: number, seed = 1, minAperture = 1) {
  const p = new AperturePicker<TestNode>({ ...apertureParams, minAperture }, seededRandom(seed));
  const set = nodes(count);
  for (const node of set) p.added(node);
  return { p, set };
}

describe('LoadBand', () => {
  it('uses Finagle defaults: 15 s smoothing, band 0.875..1.125, min aperture 1', () => {
    assert.deepEqual(apertureParams, { smoothWinMs: 15_000, lowLoad: 0.875, highLoad: 1.125, minAperture: 1, load: 'least-loaded' });
  });

  it('widens one step at a time under sustained load and narrows when it falls', () => {
    const band = new LoadBand(apertureParams);
    let now = 0;
    const hold = (pending: number, ms: number): void => {
      for (let t = 0; t < ms; t += 100) band.update(pending, 10, (now += 100));
    };
    assert.equal(band.aperture, 1);
    hold(5, 60_000);
    assert.equal(band.aperture, 5, 'five pending requests settle at five endpoints, one each');
    hold(20, 120_000);
    assert.equal(band.aperture, 10, 'never wider than the set');
    hold(0, 120_000);
    assert.equal(band.aperture, 1);
  });

  it('keeps the window within [min(minAperture, n), n]', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ pending: fc.nat({ max: 50 }), n: fc.nat({ max: 12 }), gap: fc.nat({ max: 5_000 }) }), { maxLength: 60 }), fc.integer({ min: 1, max: 6 }), (steps, minAperture) => {
        const band = new LoadBand({ ...apertureParams, minAperture });
        let now = 0;
        for (const { pending, n, gap } of steps) {
          band.update(pending, n, (now += gap));
          const window = band.window(n);
          assert.ok(window <= n && window >= Math.min(minAperture, n), `window ${window} for n=${n}`);
        }
      }),
    );
  });

  it('rejects an inverted band', () => {
    assert.throws(() => new LoadBand({ ...apertureParams, lowLoad: 2, highLoad: 1 }), isWeftError);
    assert.throws(() => new LoadBand({ ...apertureParams, minAperture: 0 }), isWeftError);
  });
});

describe('AperturePicker', () => {
  it('talks only to the endpoints in its window', () => {
    const { p, set } = picker(10, 1, 3);
    const window = p.windowKeys();
    assert.equal(window.length, 3);
    const counts = tally(600, () => p.pick(set, undefined, 0));
    assert.deepEqual([...counts.keys()].sort(), [...window].sort());
  });

  it('different balancers (seeds) put different endpoints in their windows', () => {
    const windows = new Set([1, 2, 3, 4, 5, 6].map((seed) => picker(10, seed, 2).p.windowKeys().sort().join(',')));
    assert.ok(windows.size > 1);
  });

  it('keeps the order of endpoints that stay when the set changes', () => {
    const { p, set } = picker(6, 9, 6);
    const before = p.windowKeys();
    const extra = new TestNode('10.0.9.9:80');
    p.added(extra);
    p.removed(set[2]!);
    const after = p.windowKeys().filter((key) => key !== extra.key);
    assert.deepEqual(after, before.filter((key) => key !== set[2]!.key).slice(0, after.length));
  });

  it('slides past ejected and tried endpoints in its window to the next ones in order', () => {
    const { p, set } = picker(6, 4, 2);
    const [first, second] = p.windowKeys();
    assert.ok(first !== undefined && second !== undefined);
    set.find((n) => n.key === first)!.up = false;
    const counts = tally(200, () => p.pick(set, exclusion([second]), 0));
    assert.equal(counts.has(first), false);
    assert.equal(counts.has(second), false);
    assert.equal(counts.size, 2, 'the window (2) slid over the two unusable ones');
  });

  it('grows its window as load rises', () => {
    const { p, set } = picker(8, 5);
    let now = 0;
    for (let i = 0; i < 600; i++) p.loadChanged(6, set.length, (now += 100));
    assert.equal(p.windowKeys().length, 6);
    const counts = tally(3_000, () => p.pick(set, undefined, now));
    assert.equal(counts.size, 6);
  });
});
