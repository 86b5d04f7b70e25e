// The DNS source against a real DNS server on loopback (test/support/dns-server.ts), through
// node:dns's Resolver and real time: what the TTLs make it ask, and when; what watchers see.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { systemRandom } from '../../../agent/balance/random.ts';
import type { DnsDiscoveryParams } from '../../../agent/discovery/dns-source.ts';
import { DnsDiscoverySource, dnsDiscoveryParams } from '../../../agent/discovery/dns-source.ts';
import type { DnsTarget } from '../../../agent/discovery/dns-target.ts';
import { endpointKey } from '../../../agent/discovery/service-table.ts';
import type { DiscoveryResult, DiscoveryUpdate } from '../../../agent/discovery/types.ts';
import type { BoundName } from '../../../agent/naming/bind.ts';
import { bind } from '../../../agent/naming/bind.ts';
import { dnsNamers, dnsTargetOfBoundName } from '../../../agent/naming/dns-namer.ts';
import { evalNameTree } from '../../../agent/naming/name-tree.ts';
import { parseDtab, parsePath } from '../../../agent/naming/parse.ts';
import { showPath } from '../../../agent/naming/path.ts';
import { systemClock } from '../../../agent/time/clock.ts';
import { TestDnsServer } from '../../support/dns-server.ts';
import { waitFor } from '../../support/wait.ts';

const keys = (result: DiscoveryResult): string[] | string =>
  result.kind === 'ok' ? result.endpoints.map(endpointKey) : result.kind === 'error' ? `error ${result.error.code} lastGood ${result.lastGood?.map(endpointKey).join(',') ?? '-'}` : `unknown ${result.reason}`;
const shown = (updates: readonly DiscoveryUpdate[]): string[] => updates.map((u) => `${u.kind} ${u.endpoints.map(endpointKey).join(',')}`);

describe('DnsDiscoverySource against a DNS server on loopback', () => {
  let server: TestDnsServer;
  let params: DnsDiscoveryParams;
  const sources: DnsDiscoverySource[] = [];
  before(async () => {
    server = await TestDnsServer.start();
    params = {
      ...dnsDiscoveryParams,
      servers: [server.server],
      queryTimeoutMs: 200,
      tries: 1,
      failureBackoff: { minMs: 100, maxMs: 400, jitter: 0.5 },
      negativeGraceMs: 1_500,
      negativeRefreshMs: 1_000,
    };
  });
  after(async () => {
    await Promise.all(sources.map((source) => source.close()));
    await server.close();
  });

  function open(overrides: Partial<DnsDiscoveryParams> = {}): DnsDiscoverySource {
    const source = new DnsDiscoverySource({ ...params, ...overrides }, { clock: systemClock, wallClock: () => new Date(), random: systemRandom });
    sources.push(source);
    source.start();
    return source;
  }

  function follow(source: DnsDiscoverySource, target: DnsTarget): DiscoveryUpdate[] {
    const updates: DiscoveryUpdate[] = [];
    source.watch(target, (update) => updates.push(update));
    return updates;
  }

  it('A and AAAA records become endpoints at the port asked for', async () => {
    server.setA('both.test', ['10.0.0.2', '10.0.0.1'], 60);
    server.setAaaa('both.test', ['fd00::1'], 60);
    server.setA('v4.test', ['10.0.1.1'], 60);
    const source = open();
    const both = follow(source, { kind: 'dns', name: 'both.test', port: 8080 });
    const v4 = follow(source, { kind: 'dns', name: 'v4.test', port: 80 });
    await waitFor(() => both.length > 0 && v4.length > 0, { what: 'the first answers' });
    assert.deepEqual(shown(both), ['reset 10.0.0.1:8080,10.0.0.2:8080,[fd00::1]:8080']);
    // No AAAA records (NODATA) is an answer, not a failure.
    assert.deepEqual(shown(v4), ['reset 10.0.1.1:80']);
    assert.deepEqual(keys(source.resolve({ kind: 'dns', name: 'v4.test', port: 80 })), ['10.0.1.1:80']);
    assert.equal(source.status().error, undefined);
  });

  it('SRV records become each target host at its record port', async () => {
    server.setSrv('_http._tcp.svc.test', [
      { priority: 1, weight: 10, port: 8080, target: 'h1.svc.test' },
      { priority: 1, weight: 10, port: 8081, target: 'h2.svc.test' },
      { priority: 2, weight: 10, port: 9090, target: 'backup.svc.test' },
    ], 60);
    server.setA('h1.svc.test', ['10.1.0.1'], 60);
    server.setA('h2.svc.test', ['10.1.0.2'], 60);
    server.setAaaa('h2.svc.test', ['fd00::2'], 60);
    server.setA('backup.svc.test', ['10.1.0.9'], 60);
    const source = open();
    const updates = follow(source, { kind: 'dns-srv', name: '_http._tcp.svc.test' });
    await waitFor(() => updates.length > 0, { what: 'the SRV answer' });
    assert.deepEqual(shown(updates), ['reset 10.1.0.1:8080,10.1.0.2:8081,[fd00::2]:8081']);
    assert.equal(server.queries('backup.svc.test'), 0, 'higher priority targets are not asked for');
  });

  it('a 1 s TTL is asked again about a second later, and a changed record reaches the watcher as add then remove', async () => {
    server.setA('short.test', ['10.2.0.1', '10.2.0.2'], 1);
    const source = open({ families: [4] });
    const updates = follow(source, { kind: 'dns', name: 'short.test', port: 80 });
    await waitFor(() => updates.length > 0, { what: 'the first answer' });
    const answered = performance.now();
    await waitFor(() => server.queries('short.test', 'A') >= 2, { what: 'the second query', timeoutMs: 4_000, intervalMs: 10 });
    const elapsed = performance.now() - answered;
    assert.ok(elapsed >= 800 && elapsed < 2_500, `asked again after ${Math.round(elapsed)} ms, expected about 1000`);
    server.setA('short.test', ['10.2.0.2', '10.2.0.3'], 1);
    await waitFor(() => updates.length >= 3, { what: 'the change', timeoutMs: 4_000 });
    assert.deepEqual(shown(updates), ['reset 10.2.0.1:80,10.2.0.2:80', 'add 10.2.0.3:80', 'remove 10.2.0.1:80']);
    assert.equal(source.status().names[0]?.ttlSeconds, 1);
  });

  it('a long TTL is not asked again early', async () => {
    server.setA('long.test', ['10.3.0.1'], 30);
    server.setAaaa('long.test', ['fd00::3'], 30);
    const source = open();
    const updates = follow(source, { kind: 'dns', name: 'long.test', port: 80 });
    await waitFor(() => updates.length > 0, { what: 'the first answer' });
    await sleep(2_500);
    assert.deepEqual([server.queries('long.test', 'A'), server.queries('long.test', 'AAAA')], [1, 1]);
    const next = source.status().names[0]?.nextQueryInMs ?? 0;
    assert.ok(next > 20_000 && next <= 28_000, `next query in ${next} ms`);
  });

  for (const failure of ['servfail', 'drop'] as const) {
    const code = failure === 'servfail' ? 'WEFT_E_DISCOVERY_DNS_SERVFAIL' : 'WEFT_E_DISCOVERY_DNS_TIMEOUT';
    it(`${failure === 'drop' ? 'a timeout' : 'SERVFAIL'} keeps the last good answer, status shows the error and staleness, and recovery clears it`, async () => {
      const name = `${failure}.test`;
      const target: DnsTarget = { kind: 'dns', name, port: 80 };
      server.setA(name, ['10.4.0.1'], 1);
      const source = open({ families: [4] });
      const updates = follow(source, target);
      await waitFor(() => updates.length > 0, { what: 'the first answer' });
      server.fail(name, failure);
      await waitFor(() => source.status().names[0]?.error?.code === code, { what: code, timeoutMs: 4_000 });
      assert.equal(keys(source.resolve(target)), `error ${code} lastGood 10.4.0.1:80`);
      // Stale once the answer is older than its TTL, and asked again with backoff meanwhile.
      const stale = await waitFor(() => {
        const status = source.status().names[0];
        return status?.staleForMs !== undefined && status.failures >= 2 ? status : undefined;
      }, { what: 'staleness and a retry', timeoutMs: 4_000 });
      assert.equal(stale.state, 'stale');
      assert.ok((stale.staleForMs ?? 0) >= 1_000);
      assert.equal(source.status().error?.code, code);
      server.fail(name, undefined);
      server.setA(name, ['10.4.0.2'], 1);
      await waitFor(() => source.status().names[0]?.state === 'ok', { what: 'recovery', timeoutMs: 4_000 });
      assert.deepEqual(keys(source.resolve(target)), ['10.4.0.2:80']);
      assert.equal(source.status().error, undefined);
      await waitFor(() => updates.length >= 3, { what: 'the change after recovery' });
      assert.deepEqual(shown(updates), ['reset 10.4.0.1:80', 'add 10.4.0.2:80', 'remove 10.4.0.1:80'], 'nothing to watchers while failing');
    });
  }

  it('a server that is down: an error with no last good set and nothing to watchers, until it comes up', async () => {
    const down = await TestDnsServer.start();
    const port = down.port;
    await down.close();
    const target: DnsTarget = { kind: 'dns', name: 'later.test', port: 80 };
    const source = open({ servers: [`127.0.0.1:${port}`], families: [4] });
    const updates = follow(source, target);
    await waitFor(() => source.status().names[0]?.error?.code === 'WEFT_E_DISCOVERY_DNS_UNREACHABLE', { what: 'the refusal' });
    assert.equal(keys(source.resolve(target)), 'error WEFT_E_DISCOVERY_DNS_UNREACHABLE lastGood -');
    assert.equal(source.status().names[0]?.state, 'pending');
    const up = await TestDnsServer.start(port);
    try {
      up.setA('later.test', ['10.7.0.1'], 60);
      await waitFor(() => updates.length > 0, { what: 'the first answer once the server is up', timeoutMs: 4_000 });
      assert.deepEqual(shown(updates), ['reset 10.7.0.1:80']);
      assert.equal(source.status().names[0]?.error, undefined);
    } finally {
      await up.close();
    }
  });

  it('NXDOMAIN after a good answer is served over for the grace, then believed', async () => {
    const target: DnsTarget = { kind: 'dns', name: 'deleted.test', port: 80 };
    server.setA('deleted.test', ['10.5.0.1'], 1);
    const source = open({ families: [4] });
    const updates = follow(source, target);
    await waitFor(() => updates.length > 0, { what: 'the first answer' });
    server.remove('deleted.test');
    const since = performance.now();
    await waitFor(() => source.status().names[0]?.error?.code === 'WEFT_E_DISCOVERY_DNS_NXDOMAIN', { what: 'the NXDOMAIN', timeoutMs: 4_000 });
    assert.equal(keys(source.resolve(target)), 'error WEFT_E_DISCOVERY_DNS_NXDOMAIN lastGood 10.5.0.1:80');
    await waitFor(() => updates.length >= 2, { what: 'the removal', timeoutMs: 6_000 });
    assert.ok(performance.now() - since >= 1_500, 'not before the grace');
    assert.deepEqual(shown(updates), ['reset 10.5.0.1:80', 'remove 10.5.0.1:80']);
    assert.equal(source.isAbsent(target), true);
  });

  it('the namer binds /#/dns/<name>/<port>, and watching the bound name gives the server\'s addresses', async () => {
    server.setA('api.test', ['10.6.0.1', '10.6.0.2'], 60);
    const source = open({ families: [4] });
    const dtab = parseDtab('/ext => /#/dns;');
    const tree = bind(dtab, parsePath('/ext/api.test/443/v1'), dnsNamers(source));
    const names = evalNameTree(tree, (name: BoundName) => showPath(name.id)) ?? [];
    assert.deepEqual(names.map((name) => [showPath(name.id), showPath(name.residual)]), [['/#/dns/api.test/443', '/v1']]);
    const target = names[0] === undefined ? undefined : dnsTargetOfBoundName(names[0].id);
    assert.deepEqual(target, { kind: 'dns', name: 'api.test', port: 443 });
    if (target === undefined) return;
    const updates = follow(source, target);
    await waitFor(() => updates.length > 0, { what: 'the endpoints' });
    assert.deepEqual(shown(updates), ['reset 10.6.0.1:443,10.6.0.2:443']);
  });
});
