import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { escapeHtml, renderStatusPage, statusPageHandler, statusPageParams } from '../../../agent/admin/status-page.ts';
import { burn, millis, percent, statusView } from '../../../agent/admin/status-view.ts';

const now = new Date('2026-11-23T17:00:00.000Z');

function window(requests: number, failures: number, burnSuccess: number | null): unknown {
  return { requests, failures, slow: 0, successRate: requests === 0 ? null : (requests - failures) / requests, burnRate: { success: burnSuccess, latency: 0 } };
}

export const sampleStatus = {
  agent: { version: '0.1.0', pid: 4242, startedAt: '2026-11-23T16:00:00.000Z', ready: { ready: true, reasons: [] } },
  host: { nodeName: 'node-a', hostname: 'node-a', os: { distro: 'Debian GNU/Linux', release: '12', kernel: '6.1.0' }, cpu: { cores: 8 }, memory: { totalBytes: 16 * 2 ** 30 }, node: 'v24.9.0', osRelease: '6.1.0-18-amd64' },
  pods: [
    { namespace: 'shop', name: 'client', state: 'meshed', meshed: true, reason: null, counters: { captured: 12, bypassed: 0, failed: 0, accepted: 12, unaccepted: 0 } },
    { namespace: 'shop', name: '<script>alert(1)</script>', state: 'failed', meshed: false, reason: 'no cgroup "x" & <y>' },
  ],
  routes: [
    {
      name: 'shop/web:http', authority: 'shop/web:http', stack: ['metrics (request_total)', 'retry <budget>'], inFlight: 3, retryBudget: '20 % + 10/s over 10 s', idleMs: 5,
      balancer: { algorithm: 'p2c-peak-ewma', pending: 3, endpoints: [{ key: '10.0.0.1:8080', pending: 2, rttMs: 12.5, available: true }, { key: '10.0.0.2:8080', pending: 1, rttMs: 250, available: false }] },
      breakers: [{ endpoint: '10.0.0.1:8080', state: 'closed' }, { endpoint: '10.0.0.2:8080', state: 'open' }],
      slo: {
        authority: 'shop/web:http', objectives: { success: 0.999, latency: { thresholdMs: 1000, objective: 0.99 }, alertBurnRate: 14.4 },
        windows: { '5m': window(200, 40, 200), '1h': window(1000, 40, 40) }, latencyMs: { p50: 11.2, p99: 480 }, burning: ['success'],
      },
    },
    { name: 'shop/idle:http', authority: 'shop/idle:http', inFlight: 0, retryBudget: 'b', balancer: { endpoints: [] }, breakers: [], slo: null },
  ],
  failures: { total: 41, recent: [{ at: '2026-11-23T16:59:58.000Z', authority: 'shop/web:http', source: 'shop/client', status: 504, error: 'WEFT_E_RESILIENCE_DEADLINE_EXCEEDED', reason: 'deadline exceeded (WEFT_E_RESILIENCE_DEADLINE_EXCEEDED, weft answered 504)', latencyMs: 300 }] },
  connections: { totals: { connections: 9 } },
};

describe('status view', () => {
  it('reads routes with success rate, latency, budget and burn; endpoints with breaker state; failures', () => {
    const view = statusView(sampleStatus);
    assert.ok(view !== undefined);
    assert.deepEqual(view.routes.map((r) => r.name), ['shop/web:http', 'shop/idle:http'], 'busiest first');
    const web = view.routes[0];
    assert.equal(web?.successRate5m, 0.8);
    assert.equal(web?.p99Ms, 480);
    assert.equal(web?.inFlight, 3);
    assert.deepEqual(web?.burning, ['success']);
    assert.deepEqual(view.endpoints.map((e) => [e.endpoint, e.state, e.pending]), [['10.0.0.1:8080', 'closed', 2], ['10.0.0.2:8080', 'open', 1]]);
    assert.equal(view.failures[0]?.status, 504);
    assert.equal(view.host.kernel, '6.1.0-18-amd64');
  });

  it('skips malformed items and refuses what is not a status document', () => {
    assert.equal(statusView([1, 2]), undefined);
    assert.equal(statusView('x'), undefined);
    const view = statusView({ pods: [42, { name: 'a', namespace: 'b', state: 'meshed' }], routes: ['x'] });
    assert.deepEqual(view?.pods.map((p) => p.name), ['b/a']);
    assert.deepEqual(view?.routes, []);
  });

  it('formats rates, latencies and burn rates for people', () => {
    assert.equal(percent(0.9987), '99.87 %');
    assert.equal(percent(1), '100 %');
    assert.equal(percent(0.8), '80 %');
    assert.equal(percent(0.99), '99 %');
    assert.equal(percent(0.995), '99.5 %');
    assert.equal(percent(0.1234), '12.3 %');
    assert.equal(percent(undefined), '-');
    assert.equal(millis(0.42), '0.42 ms');
    assert.equal(millis(12.4), '12 ms');
    assert.equal(millis(2345), '2.3 s');
    assert.equal(burn(0), '0');
    assert.equal(burn(14.4), '14.4');
    assert.equal(burn(Infinity), '∞');
  });
});

describe('status page', () => {
  const html = renderStatusPage(sampleStatus, statusPageParams, now);

  it('shows meshed pods, routes with success rate and latency, endpoints with state, and failures with reasons', () => {
    assert.match(html, /<td><code>shop\/client<\/code><\/td><td class="ok">meshed<\/td>/);
    assert.match(html, /<code>shop\/web:http<\/code> <span class="badge bad">burning success<\/span><details>[\s\S]*?<\/details><\/td><td class="n bad">80 %<\/td>/);
    assert.match(html, /<td class="n">11 ms<\/td><td class="n">480 ms<\/td><td class="n">3<\/td>/, 'p50, p99, in flight');
    assert.match(html, /20 % \+ 10\/s over 10 s/, 'the retry budget');
    assert.match(html, /<details><summary>stack<\/summary><ol><li>metrics \(request_total\)<\/li><li>retry &lt;budget&gt;<\/li><\/ol><\/details>/, 'the live stack, folded and escaped');
    assert.match(html, /<code>10\.0\.0\.2:8080<\/code><\/td><td class="bad">open<\/td>/);
    assert.match(html, /2 s ago<\/td><td><code>shop\/web:http<\/code><\/td><td><code>shop\/client<\/code><\/td><td class="n bad">504<\/td><td>deadline exceeded/);
    assert.match(html, /kernel 6\.1\.0-18-amd64/);
    assert.match(html, /<b>1<\/b><span>meshed pods<\/span>/);
  });

  it('escapes every value from the document', () => {
    assert.ok(!html.includes('<script>'), 'no markup from a pod name');
    assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
    assert.match(html, /no cgroup &quot;x&quot; &amp; &lt;y&gt;/);
    assert.equal(escapeHtml(`<a href='x'>&"`), '&lt;a href=&#39;x&#39;&gt;&amp;&quot;');
  });

  it('loads nothing from outside and reloads itself through meta refresh', () => {
    assert.ok(!/<script|<link|<img|src=|@import|url\(/i.test(html), 'no script, no external asset');
    assert.match(html, /<meta http-equiv="refresh" content="5">/);
    assert.ok(!renderStatusPage(sampleStatus, { ...statusPageParams, refreshSeconds: 0 }, now).includes('http-equiv="refresh"'));
  });

  it('says so when the document cannot be read, and shows empty tables as such', () => {
    assert.match(renderStatusPage(null), /could not be read/);
    const empty = renderStatusPage({ agent: { version: '1' }, pods: [], routes: [] }, statusPageParams, now);
    assert.match(empty, /no routes yet/);
    assert.match(empty, /no failed requests/);
  });

  it('is served as HTML with a CSP that forbids scripts; ?refresh sets the reload', async () => {
    const handler = statusPageHandler({ status: () => ({ ...sampleStatus, pods: [{ ...sampleStatus.pods[0], cgroupId: 77n }], agent: { ...sampleStatus.agent, pid: 'x' } }) });
    const answer = await handler({ method: 'GET', path: '/', query: new URLSearchParams('refresh=0'), headers: {} });
    assert.equal(answer.status, 200);
    assert.equal(answer.headers?.['content-type'], 'text/html; charset=utf-8');
    assert.match(answer.headers?.['content-security-policy'] ?? '', /default-src 'none'/);
    assert.ok(typeof answer.body === 'string' && !answer.body.includes('http-equiv="refresh"'));
    assert.match(String(answer.body), /<code>shop\/client<\/code>/, 'a bigint (cgroup id) is written as /status writes it');
    assert.match(String(answer.body), /<code>shop\/web:http<\/code>/, 'an agent field of an unexpected type does not hide the rest');
    const bad = await handler({ method: 'GET', path: '/', query: new URLSearchParams('refresh=-3'), headers: {} });
    assert.match(String(bad.body), /content="5"/);
  });
});
