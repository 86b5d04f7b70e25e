// Load shedding on the live route over real sockets: past the route's in-flight bound a request is
// refused at once with 503 and the reason, counted, and never sent upstream; one source pod cannot
// take more than its share of the route, so another source still gets through.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { AUTHORITY, Cleanups, delayed, hostOrigin, routeParams, send, waitFor } from './harness.ts';

const cleanups = new Cleanups();
afterEach(() => cleanups.close());

describe('outbound route: load shedding', () => {
  it('past the route bound (4 in flight) the 5th request gets 503 WEFT_E_RESILIENCE_LOAD_SHED at once and never reaches the upstream', async () => {
    const u = await cleanups.upstream(delayed(1000));
    // One source may hold the whole bound here, so only the route bound applies.
    const p = await cleanups.proxy([u], routeParams({ admission: { routeMaxInFlight: 4, sourceMaxShare: 1 } }));
    const held = Array.from({ length: 4 }, (_, i) => send(p.port, { path: `/held${i}` }));
    await waitFor(() => u.arrived.length === 4, 'four requests at the upstream');
    const started = performance.now();
    const shed = await send(p.port, { path: '/fifth' });
    const took = performance.now() - started;
    assert.equal(shed.status, 503);
    assert.equal(shed.headers['l5d-proxy-error'], 'WEFT_E_RESILIENCE_LOAD_SHED');
    assert.match(shed.body.toString(), /route in-flight limit 4/);
    assert.ok(took < 600, `refused at once, not queued behind the 1 s requests (${Math.round(took)} ms)`);
    assert.equal(p.metrics.count(`shed ${AUTHORITY} route`), 1);
    assert.ok(p.metrics.events.includes(`response ${AUTHORITY} 503 WEFT_E_RESILIENCE_LOAD_SHED`), 'the shed request is counted as a response');
    assert.deepEqual((await Promise.all(held)).map((r) => r.status), [200, 200, 200, 200]);
    assert.ok(!u.arrived.some((a) => a.url === '/fifth'), 'the shed request never reached the upstream');
    // Capacity comes back as requests finish.
    assert.equal((await send(p.port, { path: '/after' })).status, 200);
    assert.equal(p.route.status().inFlight, 0);
  });

  it('one source flooding the route gets no more than its share, and another source still gets through', async () => {
    const u = await cleanups.upstream(delayed(500));
    // Route bound 8, at most half of it per source.
    const p = await cleanups.proxy([u], routeParams({ admission: { routeMaxInFlight: 8, sourceMaxShare: 0.5 } }), hostOrigin('ns/a'));
    const portB = await p.listenFor(hostOrigin('ns/b'));
    const flood = Array.from({ length: 10 }, (_, i) => send(p.port, { path: `/a${i}` }));
    await waitFor(() => p.metrics.count(`shed ${AUTHORITY}`) === 6, 'six of a’s ten shed');
    const fromB = Array.from({ length: 4 }, (_, i) => send(portB, { path: `/b${i}` }));
    const a = (await Promise.all(flood)).map((r) => r.status);
    const b = (await Promise.all(fromB)).map((r) => r.status);
    assert.equal(a.filter((s) => s === 200).length, 4, `source a: ${a.join(' ')}`);
    assert.equal(a.filter((s) => s === 503).length, 6);
    assert.deepEqual(b, [200, 200, 200, 200], 'source b gets its share while a floods');
    assert.equal(p.metrics.count(`shed ${AUTHORITY} source`), 6);
    assert.equal(u.arrived.length, 8, 'shed requests never reach the upstream');
    assert.equal(u.arrived.filter((r) => r.url.startsWith('/a')).length, 4);
  });

  it('past half the route bound, a source holding its fair share is refused while another source is still admitted', async () => {
    const u = await cleanups.upstream(delayed(500));
    // No per-source cap below the route bound; fairness applies from half the bound in flight.
    const p = await cleanups.proxy([u], routeParams({ admission: { routeMaxInFlight: 8, sourceMaxShare: 1, fairShareAbove: 0.5 } }), hostOrigin('ns/a'));
    const portB = await p.listenFor(hostOrigin('ns/b'));
    const flood = Array.from({ length: 5 }, (_, i) => send(p.port, { path: `/a${i}` }));
    await waitFor(() => u.arrived.length === 5, 'a holds five');
    const b0 = send(portB, { path: '/b0' });
    await waitFor(() => u.arrived.length === 6, 'b holds one');
    // Two sources share 8: a fair share is 4, and a holds 5 with the route past half its bound.
    const late = await send(p.port, { path: '/a-late' });
    assert.equal(late.status, 503);
    assert.equal(late.headers['l5d-proxy-error'], 'WEFT_E_RESILIENCE_LOAD_SHED');
    assert.match(late.body.toString(), /fair share/);
    // b is below its share: admitted, with room left in the route.
    const b1 = await send(portB, { path: '/b1' });
    assert.equal(b1.status, 200);
    assert.equal((await b0).status, 200);
    assert.deepEqual((await Promise.all(flood)).map((r) => r.status), Array<number>(5).fill(200));
    assert.equal(p.metrics.count(`shed ${AUTHORITY} fair-share`), 1);
    assert.ok(!u.arrived.some((a) => a.url === '/a-late'));
  });
});
