import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isWeftError } from '../../../agent/errors.ts';
import { AdmissionController, admissionParams } from '../../../agent/resilience/admission.ts';

const controller = (routeMaxInFlight: number, sourceMaxShare = 0.5, fairShareAbove = 0.5) =>
  new AdmissionController({ routeMaxInFlight, sourceMaxShare, fairShareAbove });

function admitMany(c: AdmissionController, source: string, n: number): number {
  let admitted = 0;
  for (let i = 0; i < n; i++) if (c.tryAdmit(source).kind === 'admitted') admitted += 1;
  return admitted;
}

describe('AdmissionController', () => {
  it('defaults to Linkerd 2\'s 100 000 in flight per route, half of it at most for one source', () => {
    assert.deepEqual(admissionParams, { routeMaxInFlight: 100_000, sourceMaxShare: 0.5, fairShareAbove: 0.5 });
  });

  it('sheds above the route bound with a reason for l5d-proxy-error', () => {
    const c = controller(4, 1, 1);
    assert.equal(admitMany(c, 'a', 4), 4);
    assert.deepEqual(c.tryAdmit('b'), { kind: 'rejected', scope: 'route', reason: 'load-shed: route in-flight limit 4 reached' });
    c.release('a');
    assert.equal(c.tryAdmit('b').kind, 'admitted');
  });

  it('never lets one source hold more than its share of the route', () => {
    const c = controller(100);
    assert.equal(admitMany(c, 'noisy', 500), 50);
    const refused = c.tryAdmit('noisy');
    assert.equal(refused.kind, 'rejected');
    if (refused.kind === 'rejected') {
      assert.equal(refused.scope, 'source');
      assert.equal(refused.reason, 'load-shed: source noisy in-flight limit 50 reached');
    }
    assert.equal(admitMany(c, 'quiet', 50), 50, 'the rest stays for the others');
  });

  it('holds each source to its fair share once the route is under pressure', () => {
    const c = controller(100, 1);
    assert.equal(admitMany(c, 'a', 70), 70, 'alone, a may use the route');
    const b = c.tryAdmit('b');
    assert.equal(b.kind, 'admitted', 'a newcomer gets in: its fair share is 50');
    const a = c.tryAdmit('a');
    assert.equal(a.kind, 'rejected');
    if (a.kind === 'rejected') assert.equal(a.scope, 'fair-share');
    assert.equal(admitMany(c, 'b', 100), 29, 'b fills what is left of the route');
    // As a's requests complete, the freed capacity goes to b, not back to a.
    for (let i = 0; i < 20; i++) c.release('a');
    assert.equal(c.tryAdmit('a').kind, 'rejected');
    assert.equal(admitMany(c, 'b', 100), 20);
  });

  it('forgets a source once it has nothing in flight', () => {
    const c = controller(10);
    c.tryAdmit('a');
    c.tryAdmit('b');
    assert.equal(c.activeSources, 2);
    c.release('a');
    c.release('a'); // an extra release is ignored
    assert.equal(c.activeSources, 1);
    assert.equal(c.inFlight, 1);
  });

  it('keeps its counts exact and its bounds under any interleaving', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ release: fc.boolean(), source: fc.constantFrom('a', 'b', 'c', 'd') }), { maxLength: 400 }),
        fc.integer({ min: 1, max: 40 }),
        fc.constantFrom(0.25, 0.5, 1),
        fc.constantFrom(0, 0.5, 1),
        (ops, max, share, pressure) => {
          const c = controller(max, share, pressure);
          const model = new Map<string, number>();
          for (const { release, source } of ops) {
            if (release) {
              if ((model.get(source) ?? 0) > 0) model.set(source, (model.get(source) ?? 0) - 1);
              c.release(source);
            } else if (c.tryAdmit(source).kind === 'admitted') {
              model.set(source, (model.get(source) ?? 0) + 1);
            }
            const total = [...model.values()].reduce((x, y) => x + y, 0);
            assert.equal(c.inFlight, total);
            assert.ok(total <= max);
            for (const [s, n] of model) {
              assert.equal(c.inFlightOf(s), n);
              assert.ok(n <= Math.max(1, Math.floor(share * max)));
            }
            assert.equal(c.activeSources, [...model.values()].filter((n) => n > 0).length);
          }
        },
      ),
    );
  });

  it('rejects nonsense params', () => {
    assert.throws(() => controller(0), isWeftError);
    assert.throws(() => controller(10, 0), isWeftError);
    assert.throws(() => controller(10, 0.5, 2), isWeftError);
  });
});
