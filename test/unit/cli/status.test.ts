import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { adminTargetFromConfig, describeLoose, formatDuration, formatStatus, parseAdminTarget, table } from '../../../agent/cli/status.ts';

describe('--admin host:port', () => {
  it('parses IPv4, names and bracketed IPv6', () => {
    assert.deepEqual(parseAdminTarget('127.0.0.1:4191'), { host: '127.0.0.1', port: 4191, display: '127.0.0.1:4191', url: 'http://127.0.0.1:4191' });
    assert.deepEqual(parseAdminTarget('[::1]:4191'), { host: '::1', port: 4191, display: '[::1]:4191', url: 'http://[::1]:4191' });
    assert.equal(parseAdminTarget('node-1.example:9000').host, 'node-1.example');
  });

  it('refuses anything else with the expected form', () => {
    for (const bad of ['', '4191', 'localhost', '127.0.0.1:', '127.0.0.1:0', '127.0.0.1:65536', '::1:4191', '[nothost]:1', 'a b:1']) {
      assert.throws(() => parseAdminTarget(bad), { code: 'WEFT_E_CLI_USAGE', message: /--admin must be host:port/ }, bad);
    }
  });

  it('any valid port round-trips through the displayed form', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 65535 }), fc.constantFrom('127.0.0.1', '::1', '10.1.2.3', 'fe80::1'), (port, host) => {
        const target = adminTargetFromConfig({ address: host, port });
        assert.deepEqual(parseAdminTarget(target.display), target);
        assert.equal(target.port, port);
      }),
    );
  });

  it('from config: a wildcard bind is reached through loopback; port 0 cannot be guessed', () => {
    assert.equal(adminTargetFromConfig({ address: '0.0.0.0', port: 4191 }).display, '127.0.0.1:4191');
    assert.equal(adminTargetFromConfig({ address: '::', port: 4191 }).display, '[::1]:4191');
    assert.throws(() => adminTargetFromConfig({ address: '127.0.0.1', port: 0 }), { code: 'WEFT_E_CLI_USAGE', message: /pass --admin/ });
  });
});

describe('status summary', () => {
  const target = parseAdminTarget('127.0.0.1:4191');
  const now = new Date('2025-01-01T01:00:00Z');

  it('summarises readiness, pods and attachments of the runtime\'s document', () => {
    const text = formatStatus(
      {
        agent: { version: '0.1.0', pid: 7, startedAt: '2025-01-01T00:00:00Z', ready: { ready: true, reasons: [] } },
        programs: { connect4: { attached: true, cgroup: '/sys/fs/cgroup/kubepods.slice' }, connect6: { attached: false } },
        pods: [{ namespace: 'a', name: 'x', state: 'meshed', meshed: true, counters: { captured: 1, bypassed: 2, failed: 3 } }, 'not a pod'],
        extra: 'ignored',
      },
      target,
      now,
    );
    assert.equal(
      text,
      [
        'weft agent 0.1.0 at 127.0.0.1:4191 (pid 7, up 1h00m): ready',
        '',
        'pods: 1 known, 1 meshed',
        '  POD  STATE   CAPTURED  BYPASSED  FAILED  REASON',
        '  a/x  meshed  1         2         3',
        '',
        'routes: none yet',
        '',
        'latest failures: none',
        '',
        'attachments:',
        '  connect4: attached=true cgroup=/sys/fs/cgroup/kubepods.slice',
        '  connect6: attached=false',
        '',
        '(full document: weft status --json, or http://127.0.0.1:4191/status?pretty; the page: http://127.0.0.1:4191/)',
        '',
      ].join('\n'),
    );
  });

  it('prints what it can of a sparse document, and says when it is not a status document', () => {
    const sparse = formatStatus({}, target, now);
    assert.match(sparse, /^weft agent \? at 127\.0\.0\.1:4191 \(pid \?\): readiness unknown\n\npods: 0 known, 0 meshed\n\nroutes: none yet\n\nlatest failures: none\n\nattachments:\n {2}none reported\n/);
    assert.match(formatStatus([1, 2], target, now), /not a weft status document; use --json/);
    assert.match(formatStatus({ agent: { ready: { ready: false, reasons: [] } } }, target, now), /NOT READY: no reason given/);
  });

  it('shows routes (success, p50/p99, in flight, burn, budget), endpoints with breaker state and the latest failures', () => {
    const slo = (rate: number, burnSuccess: number): unknown => ({
      authority: 'shop/web:http', objectives: { success: 0.999, latency: { thresholdMs: 1000, objective: 0.99 }, alertBurnRate: 14.4 },
      windows: { '5m': { requests: 200, failures: 40, slow: 0, successRate: rate, burnRate: { success: burnSuccess, latency: 0 } }, '1h': { requests: 1000, failures: 40, slow: 0, successRate: 0.96, burnRate: { success: 40, latency: 0 } } },
      latencyMs: { p50: 11.2, p99: 480 }, burning: ['success'],
    });
    const text = formatStatus({
      agent: { version: '0.1.0', pid: 7, startedAt: '2025-01-01T00:00:00Z', ready: { ready: true, reasons: [] } },
      host: { nodeName: 'n1', osRelease: '6.1.0', cpu: { cores: 4 }, memory: { totalBytes: 2 ** 33 } },
      pods: [],
      routes: [{
        name: 'shop/web:http', authority: 'shop/web:http', inFlight: 3, retryBudget: '20 % + 10/s',
        balancer: { endpoints: [{ key: '10.0.0.1:80', pending: 2, rttMs: 12, available: true }, { key: '10.0.0.2:80', pending: 0, rttMs: 300, available: false }] },
        breakers: [{ endpoint: '10.0.0.1:80', state: 'closed' }, { endpoint: '10.0.0.2:80', state: 'open' }],
        slo: slo(0.8, 200),
      }],
      failures: { total: 41, recent: [{ at: '2025-01-01T00:59:30Z', authority: 'shop/web:http', source: 'shop/client', status: 503, reason: 'upstream answered HTTP 503' }] },
    }, target, now);
    assert.match(text, /\nnode n1, kernel 6\.1\.0, 4 CPUs, 8\.0 GiB\n/);
    assert.ok(text.includes([
      '  ROUTE          SUCCESS  REQS  P50    P99     IN FLIGHT  BURN OK           BURN LAT  RETRY BUDGET',
      '  shop/web:http  80 %     200   11 ms  480 ms  3          200/40.0 BURNING  0/0       20 % + 10/s',
    ].join('\n')), text);
    assert.ok(text.includes([
      'endpoints: 2, 1 ejected',
      '  ROUTE          ENDPOINT     BREAKER  IN FLIGHT  EWMA',
      '  shop/web:http  10.0.0.1:80  closed   2          12 ms',
      '  shop/web:http  10.0.0.2:80  open     0          300 ms',
    ].join('\n')), text);
    assert.ok(text.includes([
      'latest failures (41 since start):',
      '  WHEN     ROUTE          FROM         STATUS  REASON',
      '  30s ago  shop/web:http  shop/client  503     upstream answered HTTP 503',
    ].join('\n')), text);
  });

  it('never throws on arbitrary JSON', () => {
    fc.assert(fc.property(fc.jsonValue(), (value) => void formatStatus(value, target, now)));
    fc.assert(fc.property(fc.record({ agent: fc.jsonValue(), pods: fc.array(fc.jsonValue()), programs: fc.jsonValue() }), (value) => void formatStatus(value, target, now)));
    fc.assert(fc.property(fc.record({ routes: fc.array(fc.jsonValue()), slo: fc.array(fc.jsonValue()), failures: fc.jsonValue(), host: fc.jsonValue() }), (value) => void formatStatus(value, target, now)));
  });

  it('helpers: table columns, loose JSON lines, durations', () => {
    assert.deepEqual(table(['A', 'BB'], [['xxx', 'y'], ['z', '']]), ['A    BB', 'xxx  y', 'z']);
    assert.deepEqual(describeLoose([{ a: 1, b: null, c: { d: 2 } }, 'text']), ['a=1 c={"d":2}', 'text']);
    assert.deepEqual(describeLoose(null), []);
    assert.equal(formatDuration(59_999), '59s');
    assert.equal(formatDuration(61_000), '1m01s');
    assert.equal(formatDuration(3_600_000 * 50), '2d2h');
    assert.equal(formatDuration(-1), '?');
  });
});
