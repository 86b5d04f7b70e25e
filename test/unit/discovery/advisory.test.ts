import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AdvisoryParams, HoldReason } from '../../../agent/discovery/advisory.ts';
import { AdvisoryTable, advisoryParams } from '../../../agent/discovery/advisory.ts';
import { endpointSliceFromObject, serviceFromObject } from '../../../agent/discovery/objects.ts';
import { endpointKey, ServiceTable } from '../../../agent/discovery/service-table.ts';
import type { EndpointSliceInfo, ServiceInfo } from '../../../agent/discovery/types.ts';
import { WeftError } from '../../../agent/errors.ts';
import { FakeClock } from '../balance/fake-clock.ts';
import type { EndpointSpec } from './fixtures.ts';
import { serviceObject, sliceObject } from './fixtures.ts';

const IP = '10.96.0.10';

function service(): ServiceInfo {
  const parsed = serviceFromObject(serviceObject('demo', 'web', [IP], [{ name: 'http', port: 80, targetPort: 8080 }]));
  assert.equal(parsed.kind, 'ok');
  return (parsed as { value: ServiceInfo }).value;
}

function slice(endpoints: readonly EndpointSpec[]): EndpointSliceInfo {
  const parsed = endpointSliceFromObject(sliceObject('demo', 'web-1', 'web', 'IPv4', endpoints, [{ name: 'http', port: 8080 }]));
  assert.equal(parsed.kind, 'ok');
  return (parsed as { value: EndpointSliceInfo }).value;
}

/** A table with the web Service and one slice of these endpoints (`10.1.0.N`, ready unless said). */
function table(ips: readonly number[], extra: readonly EndpointSpec[] = []): ServiceTable {
  return new ServiceTable([service()], [slice([...ips.map((n) => ({ ip: `10.1.0.${n}` })), ...extra])]);
}

interface Harness {
  readonly clock: FakeClock;
  readonly advisory: AdvisoryTable;
  readonly events: string[];
  served(): string[];
}

function harness(first: ServiceTable, params: Partial<AdvisoryParams> = {}): Harness {
  const clock = new FakeClock();
  const events: string[] = [];
  const advisory = new AdvisoryTable(first, { ...advisoryParams, ...params }, {
    clock,
    wallClock: () => new Date(Date.UTC(2026, 0, 1) + clock.now()),
    events: {
      held: (s, reason: HoldReason, before, answered) => events.push(`held ${s} ${reason} ${before}->${answered}`),
      released: (s, reason) => events.push(`released ${s} ${reason}`),
      confirmed: (s, reason, _ms, answered) => events.push(`confirmed ${s} ${reason} ${answered}`),
    },
  });
  return { clock, advisory, events, served: () => (advisory.lookup(IP, 80)?.endpoints ?? []).map(endpointKey) };
}

const keys = (...ns: number[]): string[] => ns.map((n) => `10.1.0.${n}:8080`);
const failure = new WeftError('WEFT_E_DISCOVERY_K8S_WATCH', 'kubernetes endpointslices watch failed: HTTP 503');

describe('AdvisoryTable', () => {
  it('serves an ordinary scale-down (3 → 2) at once, not stale, with a new array', () => {
    const h = harness(table([1, 2, 3]));
    const before = h.advisory.lookup(IP, 80);
    h.advisory.update(table([1, 2]));
    assert.deepEqual(h.served(), keys(1, 2));
    assert.notEqual(h.advisory.lookup(IP, 80)?.endpoints, before?.endpoints);
    assert.deepEqual(h.advisory.stale(), []);
    assert.deepEqual(h.events, []);
  });

  it('keeps the same endpoints array across tables that do not change this service', () => {
    const h = harness(table([1, 2]));
    const first = h.advisory.lookup(IP, 80);
    h.advisory.update(table([1, 2]));
    h.advisory.update(new ServiceTable([service()], [slice([{ ip: '10.1.0.1' }, { ip: '10.1.0.2' }])]));
    assert.equal(h.advisory.lookup(IP, 80), first);
    assert.equal(h.advisory.lookup(IP, 80)?.endpoints, first?.endpoints);
  });

  it('holds an empty answer for a port that had ready endpoints, stale, until it persists for confirmEmptyMs', () => {
    const h = harness(table([1, 2]), { confirmEmptyMs: 30_000 });
    const before = h.advisory.lookup(IP, 80)?.endpoints;
    h.advisory.update(table([]));
    assert.equal(h.advisory.lookup(IP, 80)?.endpoints, before, 'the same array: the balancer is not reset');
    assert.deepEqual(h.advisory.stale().map((s) => [s.service, s.reason, s.served, s.answered]), [['demo/web:http', 'empty-unconfirmed', 2, 0]]);
    h.clock.advance(29_999);
    assert.deepEqual(h.served(), keys(1, 2));
    assert.equal(h.advisory.stale()[0]?.ageMs, 29_999);
    h.clock.advance(1);
    assert.deepEqual(h.served(), [], 'confirmed by time: served as it is');
    assert.deepEqual(h.advisory.stale(), []);
    assert.deepEqual(h.events, ['held demo/web:http empty-unconfirmed 2->0', 'confirmed demo/web:http empty-unconfirmed 0']);
  });

  it('releases a hold at once when endpoints come back, and serves them', () => {
    const h = harness(table([1, 2]));
    h.advisory.lookup(IP, 80);
    h.advisory.update(table([]));
    h.clock.advance(5_000);
    h.advisory.update(table([2, 3]));
    assert.deepEqual(h.served(), keys(2, 3));
    assert.deepEqual(h.advisory.stale(), []);
    assert.equal(h.clock.pendingTimers, 0, 'the confirmation timer is cancelled');
    assert.deepEqual(h.events.at(-1), 'released demo/web:http empty-unconfirmed');
  });

  it('holds a Service that disappears, then forgets it once confirmed (routing passes through)', () => {
    const h = harness(table([1, 2]), { confirmEmptyMs: 1_000 });
    h.advisory.lookup(IP, 80);
    h.advisory.update(ServiceTable.empty);
    assert.deepEqual(h.served(), keys(1, 2));
    h.clock.advance(1_000);
    assert.equal(h.advisory.lookup(IP, 80), undefined);
    assert.equal(h.advisory.size, 0);
  });

  it('holds the removals of a sudden drop below the panic threshold (10 → 1), letting additions through', () => {
    const ten = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    const h = harness(table(ten), { panicThresholdPercent: 20, confirmEmptyMs: 10_000 });
    h.advisory.lookup(IP, 80);
    // 10 → 2 keeps 20 %: not below the threshold, served at once.
    h.advisory.update(table([1, 2]));
    assert.deepEqual(h.served(), keys(1, 2));
    h.advisory.update(table(ten));
    // 10 → 1 (a new one): held; the new endpoint is added at once.
    h.advisory.update(table([11]));
    assert.deepEqual(h.served().sort(), keys(...ten, 11).sort(), 'the ten stay, the new one is added');
    assert.equal(h.advisory.stale()[0]?.reason, 'drop-unconfirmed');
    h.clock.advance(10_000);
    assert.deepEqual(h.served(), keys(11));
  });

  it('does not count endpoints the answer lists as terminating as a drop (an announced scale-down)', () => {
    const h = harness(table([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
    h.advisory.lookup(IP, 80);
    const leaving = [2, 3, 4, 5, 6, 7, 8, 9, 10].map((n) => ({ ip: `10.1.0.${n}`, ready: false, serving: true, terminating: true }));
    h.advisory.update(table([1], leaving));
    assert.deepEqual(h.served(), keys(1));
    assert.deepEqual(h.advisory.stale(), []);
  });

  it('serves an empty answer at once with keepLastGoodOnEmpty off, and a drop at once with the threshold at 0', () => {
    const h = harness(table([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), { keepLastGoodOnEmpty: false, panicThresholdPercent: 0 });
    h.advisory.lookup(IP, 80);
    h.advisory.update(table([1]));
    assert.deepEqual(h.served(), keys(1));
    h.advisory.update(table([]));
    assert.deepEqual(h.served(), []);
    assert.deepEqual(h.events, []);
  });

  it('never holds when the last good set had no ready endpoint (a terminating fallback running out)', () => {
    const draining = [{ ip: '10.1.0.1', ready: false, serving: true, terminating: true }];
    const h = harness(table([], draining));
    assert.deepEqual(h.served(), keys(1));
    h.advisory.update(table([]));
    assert.deepEqual(h.served(), []);
  });

  it('marks everything stale while the source fails, and does not confirm a hold until it recovers', () => {
    const h = harness(table([1, 2]), { confirmEmptyMs: 1_000 });
    h.advisory.lookup(IP, 80);
    h.clock.advance(500);
    h.advisory.health({ kind: 'error', error: failure, since: new Date(Date.UTC(2026, 0, 1, 0, 0, 1)) });
    h.clock.advance(250);
    assert.deepEqual(h.advisory.stale(), [{ service: 'demo/web:http', since: '2026-01-01T00:00:01.000Z', ageMs: 250, reason: 'source-error', served: 2, answered: 2 }]);
    // A good table from the other informer (the slices) during the failure: an empty answer is held...
    h.advisory.update(table([]));
    h.clock.advance(5_000);
    assert.deepEqual(h.served(), keys(1, 2), '...and not confirmed while the source fails');
    h.advisory.health({ kind: 'ok' });
    assert.deepEqual(h.served(), [], 'confirmed once healthy, the hold being due');
    assert.deepEqual(h.advisory.stale(), []);
  });

  it('starts over without a hold when another Service takes the address', () => {
    const h = harness(table([1, 2]));
    h.advisory.lookup(IP, 80);
    const other = serviceFromObject(serviceObject('demo', 'api', [IP], [{ name: 'http', port: 80, targetPort: 9090 }]));
    assert.equal(other.kind, 'ok');
    h.advisory.update(new ServiceTable([(other as { value: ServiceInfo }).value], []));
    assert.equal(h.advisory.lookup(IP, 80)?.name, 'demo/api:http');
    assert.deepEqual(h.served(), []);
    assert.deepEqual(h.advisory.stale(), []);
  });

  it('answers undefined for an address that is no service, and follows none', () => {
    const h = harness(table([1]));
    assert.equal(h.advisory.lookup('10.0.0.99', 80), undefined);
    assert.equal(h.advisory.size, 0);
  });

  it('confirms a hold even when its timer fires early (it waits out the rest)', () => {
    const clock = new FakeClock();
    // A timer that fires 1 ms early, as setTimeout may against performance.now().
    const early = { now: () => clock.now(), setTimer: (ms: number, fn: () => void) => clock.setTimer(ms > 1 ? ms - 1 : ms, fn) };
    const advisory = new AdvisoryTable(table([1, 2]), { ...advisoryParams, confirmEmptyMs: 1_000 }, { clock: early, wallClock: () => new Date() });
    advisory.lookup(IP, 80);
    advisory.update(table([]));
    clock.advance(999);
    assert.equal(advisory.lookup(IP, 80)?.endpoints.length, 2);
    clock.advance(1);
    assert.equal(advisory.lookup(IP, 80)?.endpoints.length, 0);
  });

  it('tells `changed` of each new served array, and of nothing when a table leaves the port as it was', () => {
    const clock = new FakeClock();
    const changed: string[][] = [];
    const advisory = new AdvisoryTable(table([1, 2, 3]), advisoryParams, {
      clock, wallClock: () => new Date(), events: { changed: (answer) => changed.push(answer.endpoints.map(endpointKey)) },
    });
    advisory.lookup(IP, 80);
    advisory.update(table([1, 2, 3]));
    assert.deepEqual(changed, []);
    advisory.update(table([1, 2]));
    advisory.update(table([]));
    assert.deepEqual(changed, [keys(1, 2)], 'held: nothing changes for the balancer');
    clock.advance(advisoryParams.confirmEmptyMs);
    assert.deepEqual(changed, [keys(1, 2), []]);
  });

  it('refuses parameters out of range', () => {
    assert.throws(() => harness(table([1]), { panicThresholdPercent: 101 }), /panicThresholdPercent/);
    assert.throws(() => harness(table([1]), { confirmEmptyMs: -1 }), /confirmEmptyMs/);
  });
});
