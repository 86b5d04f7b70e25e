// The retry budget on the live route: with every request failing, retries are capped for the route
// as a whole, not per request (the acceptance test), for both budget kinds.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { ServerResponse } from 'node:http';
import { AUTHORITY, Cleanups, ok, routeParams, send, sleep, type ClientResponse } from './harness.ts';

const cleanups = new Cleanups();
afterEach(() => cleanups.close());

describe('outbound route: retry budget', () => {
  it('with the upstream failing every request at N rps, the upstream sees at most 1.2·N + 10 rps (ratio budget)', async () => {
    const N = 100;
    const runMs = 3500;
    // Skipped: the first second, where the reserve (10/s × 10 s ttl) may be spent at once.
    const steadyFromMs = 1000;
    const u = await cleanups.upstream(ok(503));
    // Three retries a request: without the budget the upstream would see 4·N.
    const p = await cleanups.proxy([u], routeParams({ policy: { maxRetries: 3 } }));
    const sentAt: number[] = [];
    const answers: Array<Promise<ClientResponse>> = [];
    const started = performance.now();
    // Open loop: requests go out on schedule whatever the answers do (a timer per tick, catching up
    // when the timer fires late so the offered rate stays N on a busy machine).
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        const due = Math.min(N * (runMs / 1000), Math.floor(((performance.now() - started) * N) / 1000));
        while (sentAt.length < due) {
          answers.push(send(p.port, { path: `/r${sentAt.length}` }));
          sentAt.push(performance.now());
        }
        if (sentAt.length >= N * (runMs / 1000)) {
          clearInterval(timer);
          resolve();
        }
      }, 5);
    });
    const statuses = (await Promise.all(answers)).map((r) => r.status);
    assert.ok(statuses.every((s) => s === 503), 'every request ends in the upstream’s 503');

    const from = started + steadyFromMs;
    const to = sentAt[sentAt.length - 1] ?? from;
    const seconds = (to - from) / 1000;
    const inWindow = (url: string): boolean => {
      const at = sentAt[Number(url.slice(2))] ?? 0;
      return at >= from && at <= to;
    };
    const offered = sentAt.filter((t) => t >= from && t <= to).length / seconds;
    // Upstream requests (first attempts and retries) of the requests sent in the steady window, so
    // that a busy machine lagging behind the schedule cannot move the first second's reserve-funded
    // retries into the window.
    const seen = u.seen.filter((s) => inWindow(s.url)).length / seconds;
    assert.ok(offered > 0.8 * N, `offered ${offered.toFixed(1)} rps`);
    assert.ok(seen <= 1.2 * offered + 10, `upstream saw ${seen.toFixed(1)} rps for ${offered.toFixed(1)} rps offered`);
    // The budget limits retries; it does not stop them (20 % of requests are retried).
    assert.ok(seen > 1.05 * offered, `upstream saw ${seen.toFixed(1)} rps: some retries went out`);
    // Over the whole run (shorter than the 10 s ttl) the budget's own bound: 20 % of requests plus the reserve of 100.
    assert.ok(u.seen.length <= sentAt.length + Math.ceil(0.2 * sentAt.length) + 100, `${u.seen.length} upstream requests in all for ${sentAt.length} sent`);
    assert.ok(p.metrics.count(`not-retried ${AUTHORITY} budget`) > 100, 'refusals counted as budget');
    assert.match(p.route.status().retryBudget, /20 % of requests \+ 10\/s over 10 s/);
  });

  it('the concurrency budget holds retries in flight to max(3, 20 % of requests in flight)', async () => {
    let retriesInFlight = 0;
    let maxRetriesInFlight = 0;
    const attempts = new Map<string, number>();
    const u = await cleanups.upstream((req, res: ServerResponse, body) => {
      const url = req.url ?? '';
      const n = (attempts.get(url) ?? 0) + 1;
      attempts.set(url, n);
      const retry = n > 1;
      if (retry) maxRetriesInFlight = Math.max(maxRetriesInFlight, ++retriesInFlight);
      let ended = false;
      // A retry is over for the upstream as it writes the answer: before the proxy can read it and
      // its budget let another retry go.
      const end = (): void => {
        if (!ended && retry) retriesInFlight--;
        ended = true;
      };
      const timer = setTimeout(() => {
        end();
        ok(503)(req, res, body);
      }, 50);
      res.on('close', () => {
        clearTimeout(timer);
        end();
      });
    });
    const p = await cleanups.proxy([u], routeParams({ policy: { maxRetries: 3 }, budget: { kind: 'concurrency', ratio: 0.2, minConcurrency: 3 } }));
    // 20 clients, each sending one request after another for a second: 20 requests in flight.
    const until = performance.now() + 1000;
    let sent = 0;
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        while (performance.now() < until) {
          const res = await send(p.port, { path: `/r${sent++}` });
          assert.equal(res.status, 503);
        }
      }),
    );
    await sleep(10);
    // Without the budget all 20 would be retrying at once (each request tries 4 times).
    assert.ok(maxRetriesInFlight >= 1, 'some retries went out');
    assert.ok(maxRetriesInFlight <= 4, `${maxRetriesInFlight} retries in flight at once`);
    assert.ok(p.metrics.count(`not-retried ${AUTHORITY} budget`) > 0, 'refusals counted as budget');
    assert.ok(u.seen.length < 1.6 * sent, `${u.seen.length} upstream requests for ${sent} sent`);
    assert.match(p.route.status().stack.join(' | '), /retry \(at most 3, concurrency budget\)/);
  });
});
