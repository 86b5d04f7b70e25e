import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DnsDiscoveryParams, DnsResolver } from '../../../agent/discovery/dns-source.ts';
import { DnsDiscoverySource, dnsDiscoveryParams } from '../../../agent/discovery/dns-source.ts';
import type { DnsTarget } from '../../../agent/discovery/dns-target.ts';
import { normaliseDnsName } from '../../../agent/discovery/dns-target.ts';
import { endpointKey } from '../../../agent/discovery/service-table.ts';
import type { DiscoveryResult, DiscoveryUpdate } from '../../../agent/discovery/types.ts';
import { FakeClock, flush } from '../balance/fake-clock.ts';

// A resolver answering from a table the test edits: per `type name`, records with TTLs or an error code.
type Answer = { readonly records: readonly { address: string; ttl: number }[] } | { readonly srv: readonly { name: string; port: number; priority: number; weight: number }[] } | { readonly code: string };

class FakeResolver implements DnsResolver {
  readonly answers = new Map<string, Answer>();
  readonly calls: string[] = [];
  cancelled = false;

  set(type: 'A' | 'AAAA' | 'SRV', name: string, answer: Answer): void {
    this.answers.set(`${type} ${name}`, answer);
  }

  count(type: string, name: string): number {
    return this.calls.filter((call) => call === `${type} ${name}`).length;
  }

  resolve4(name: string): Promise<{ address: string; ttl: number }[]> {
    return this.#answer('A', name).then((a) => ('records' in a ? [...a.records] : []));
  }

  resolve6(name: string): Promise<{ address: string; ttl: number }[]> {
    return this.#answer('AAAA', name).then((a) => ('records' in a ? [...a.records] : []));
  }

  resolveSrv(name: string): Promise<{ name: string; port: number; priority: number; weight: number }[]> {
    return this.#answer('SRV', name).then((a) => ('srv' in a ? [...a.srv] : []));
  }

  getServers(): string[] {
    return ['192.0.2.53'];
  }

  cancel(): void {
    this.cancelled = true;
  }

  #answer(type: string, name: string): Promise<Answer> {
    this.calls.push(`${type} ${name}`);
    const answer = this.answers.get(`${type} ${name}`) ?? { code: 'ENOTFOUND' };
    if ('code' in answer) return Promise.reject(Object.assign(new Error(`${type} ${name}: ${answer.code}`), { code: answer.code }));
    return Promise.resolve(answer);
  }
}

const params: DnsDiscoveryParams = {
  ...dnsDiscoveryParams,
  refreshJitter: 0.1,
  negativeGraceMs: 30_000,
  negativeRefreshMs: 30_000,
  failureBackoff: { minMs: 1_000, maxMs: 8_000, jitter: 0 },
};

const web: DnsTarget = { kind: 'dns', name: 'web.example.com', port: 8080 };

function setup(overrides: Partial<DnsDiscoveryParams> = {}, random = 0): { source: DnsDiscoverySource; resolver: FakeResolver; clock: FakeClock; updates: DiscoveryUpdate[] } {
  const resolver = new FakeResolver();
  const clock = new FakeClock();
  const source = new DnsDiscoverySource({ ...params, ...overrides }, { clock, wallClock: () => new Date(Date.UTC(2026, 0, 1) + clock.now()), random: () => random, resolver });
  return { source, resolver, clock, updates: [] };
}

const a = (ttl: number, ...addresses: string[]): Answer => ({ records: addresses.map((address) => ({ address, ttl })) });
const keys = (result: DiscoveryResult): string[] | string =>
  result.kind === 'ok' ? result.endpoints.map(endpointKey) : result.kind === 'error' ? `error ${result.error.code} lastGood ${result.lastGood?.map(endpointKey).join(',') ?? '-'}` : `unknown ${result.reason}`;
const shown = (updates: readonly DiscoveryUpdate[]): string[] => updates.map((u) => `${u.kind} ${u.endpoints.map(endpointKey).join(',')}`);

describe('DnsDiscoverySource (fake resolver and clock)', () => {
  it('answers A and AAAA records as endpoints at the target port, sorted, IPv6 in one spelling; nothing before the first answer', async () => {
    const { source, resolver } = setup();
    resolver.set('A', 'web.example.com', a(30, '10.0.0.2', '10.0.0.1'));
    resolver.set('AAAA', 'web.example.com', a(30, 'fd00:0:0::1'));
    assert.match(keys(source.resolve(web)) as string, /^unknown DNS name web\.example\.com port 8080 has not been resolved yet$/);
    source.start();
    await flush();
    assert.deepEqual(keys(source.resolve(web)), ['10.0.0.1:8080', '10.0.0.2:8080', '[fd00::1]:8080']);
    // Names compare as DNS compares them.
    assert.deepEqual(keys(source.resolve({ kind: 'dns', name: 'WEB.example.com.', port: 80 })), ['10.0.0.1:80', '10.0.0.2:80', '[fd00::1]:80']);
    assert.equal(resolver.count('A', 'web.example.com'), 1);
    await source.close();
    assert.equal(resolver.cancelled, true);
  });

  it('asks again when the shortest TTL runs out (early by at most the jitter), not before', async () => {
    const { source, resolver, clock } = setup({}, 0);
    resolver.set('A', 'web.example.com', a(10, '10.0.0.1'));
    resolver.set('AAAA', 'web.example.com', a(20, 'fd00::1'));
    source.start();
    source.watch(web, () => {});
    await flush();
    assert.equal(source.status().names[0]?.nextQueryInMs, 10_000);
    await clock.advanceAsync(9_990, 1_000);
    assert.equal(resolver.count('A', 'web.example.com'), 1, 'not asked before the 10 s TTL ran out');
    await clock.advanceAsync(20);
    assert.equal(resolver.count('A', 'web.example.com'), 2);
    await source.close();

    // With the largest jitter, 10 % early.
    const late = setup({}, 0.999_999);
    late.resolver.set('A', 'web.example.com', a(10, '10.0.0.1'));
    late.source.start();
    late.source.watch(web, () => {});
    await flush();
    assert.equal(Math.round(late.source.status().names[0]?.nextQueryInMs ?? 0), 9_000);
    await late.source.close();
  });

  it('a TTL of 0 is asked again after the floor, a TTL of a day after the ceiling', async () => {
    const { source, resolver } = setup({ families: [4] });
    resolver.set('A', 'zero.example.com', a(0, '10.0.0.1'));
    resolver.set('A', 'day.example.com', a(86_400, '10.0.0.2'));
    source.start();
    source.watch({ kind: 'dns', name: 'zero.example.com', port: 80 }, () => {});
    source.watch({ kind: 'dns', name: 'day.example.com', port: 80 }, () => {});
    await flush();
    const next = Object.fromEntries(source.status().names.map((n) => [n.name, n.nextQueryInMs]));
    assert.deepEqual(next, { 'A/AAAA zero.example.com': 1_000, 'A/AAAA day.example.com': 300_000 });
    await source.close();
  });

  it('watchers get a reset, then adds before removes, and nothing when the answer is the same', async () => {
    const { source, resolver, clock, updates } = setup({ families: [4] });
    resolver.set('A', 'web.example.com', a(5, '10.0.0.1', '10.0.0.2'));
    source.start();
    source.watch(web, (u) => updates.push(u));
    assert.equal(updates.length, 0, 'never inside watch()');
    await flush();
    await clock.advanceAsync(5_000);
    assert.equal(resolver.count('A', 'web.example.com'), 2);
    resolver.set('A', 'web.example.com', a(5, '10.0.0.2', '10.0.0.3'));
    await clock.advanceAsync(5_000);
    assert.deepEqual(shown(updates), ['reset 10.0.0.1:8080,10.0.0.2:8080', 'add 10.0.0.3:8080', 'remove 10.0.0.1:8080']);
    await source.close();
  });

  it('a failure keeps the last good answer (error result carrying it, nothing to watchers), backs off, and recovery clears it', async () => {
    const { source, resolver, clock, updates } = setup({ families: [4] });
    resolver.set('A', 'web.example.com', a(5, '10.0.0.1'));
    source.start();
    source.watch(web, (u) => updates.push(u));
    await flush();
    resolver.set('A', 'web.example.com', { code: 'ESERVFAIL' });
    await clock.advanceAsync(5_000);
    assert.equal(keys(source.resolve(web)), 'error WEFT_E_DISCOVERY_DNS_SERVFAIL lastGood 10.0.0.1:8080');
    let name = source.status().names[0];
    assert.equal(name?.state, 'stale');
    assert.equal(name?.failures, 1);
    assert.match(name?.error?.message ?? '', /SERVFAIL from 192\.0\.2\.53.*last good answer stays in use/);
    assert.equal(source.status().error?.code, 'WEFT_E_DISCOVERY_DNS_SERVFAIL');
    // Backoff 1 s, 2 s, 4 s, 8 s, 8 s (jitter 0 here).
    const at: number[] = [];
    for (let i = 0; i < 23; i++) {
      const before = resolver.count('A', 'web.example.com');
      await clock.advanceAsync(1_000);
      if (resolver.count('A', 'web.example.com') > before) at.push(i + 1);
    }
    assert.deepEqual(at, [1, 3, 7, 15, 23]);
    name = source.status().names[0];
    assert.equal(name?.failures, 6);
    assert.equal(name?.staleForMs, 28_000, 'stale for the time since the last good answer, once past its TTL');
    assert.equal(name?.error?.since, new Date(Date.UTC(2026, 0, 1) + 1_000 + 5_000).toISOString(), 'failing since the first failure');
    resolver.set('A', 'web.example.com', a(5, '10.0.0.1'));
    await clock.advanceAsync(8_000);
    assert.deepEqual(keys(source.resolve(web)), ['10.0.0.1:8080']);
    name = source.status().names[0];
    assert.deepEqual([name?.state, name?.failures, name?.error, name?.staleForMs], ['ok', 0, undefined, undefined]);
    assert.deepEqual(shown(updates), ['reset 10.0.0.1:8080']);
    await source.close();
  });

  it('health listeners hear every failed query with when the failure began, and ok once when no name fails', async () => {
    const { source, resolver, clock } = setup({ families: [4] });
    const heard: string[] = [];
    source.onHealth((h) => heard.push(h.kind === 'ok' ? 'ok' : `${h.error.code} since ${h.since.toISOString()}`));
    resolver.set('A', 'web.example.com', a(5, '10.0.0.1'));
    resolver.set('A', 'other.example.com', a(5, '10.0.0.2'));
    source.start();
    source.watch(web, () => {});
    source.watch({ kind: 'dns', name: 'other.example.com', port: 80 }, () => {});
    await flush();
    resolver.set('A', 'web.example.com', { code: 'ETIMEOUT' });
    resolver.set('A', 'other.example.com', { code: 'ESERVFAIL' });
    await clock.advanceAsync(6_000, 1_000);
    const since = new Date(Date.UTC(2026, 0, 1) + 6_000).toISOString();
    assert.deepEqual(heard, [`WEFT_E_DISCOVERY_DNS_TIMEOUT since ${since}`, `WEFT_E_DISCOVERY_DNS_SERVFAIL since ${since}`, `WEFT_E_DISCOVERY_DNS_TIMEOUT since ${since}`, `WEFT_E_DISCOVERY_DNS_SERVFAIL since ${since}`]);
    resolver.set('A', 'web.example.com', a(5, '10.0.0.1'));
    await clock.advanceAsync(2_000, 1_000);
    assert.equal(heard.at(-1)?.startsWith('WEFT_E_DISCOVERY_DNS_SERVFAIL'), true, 'no ok while another name fails');
    resolver.set('A', 'other.example.com', a(5, '10.0.0.2'));
    await clock.advanceAsync(4_000, 1_000);
    assert.deepEqual(heard.filter((h) => h === 'ok'), ['ok']);
    assert.equal(heard.at(-1), 'ok');
    await source.close();
  });

  it('one family failing fails the answer: the last good set of both stays', async () => {
    const { source, resolver, clock } = setup();
    resolver.set('A', 'web.example.com', a(5, '10.0.0.1'));
    resolver.set('AAAA', 'web.example.com', a(5, 'fd00::1'));
    source.start();
    await flush();
    source.resolve(web);
    await flush();
    resolver.set('A', 'web.example.com', a(5, '10.0.0.9'));
    resolver.set('AAAA', 'web.example.com', { code: 'ETIMEOUT' });
    await clock.advanceAsync(5_000);
    assert.equal(keys(source.resolve(web)), 'error WEFT_E_DISCOVERY_DNS_TIMEOUT lastGood 10.0.0.1:8080,[fd00::1]:8080');
    await source.close();
  });

  it('NXDOMAIN before any good answer is believed at once: unknown, an empty reset, and known absent', async () => {
    const { source, updates } = setup();
    source.start();
    source.watch(web, (u) => updates.push(u));
    await flush();
    assert.match(keys(source.resolve(web)) as string, /^unknown DNS name web\.example\.com port 8080: DNS A\/AAAA web\.example\.com: no such name \(NXDOMAIN/);
    assert.deepEqual(shown(updates), ['reset ']);
    assert.equal(source.isAbsent(web), true);
    assert.equal(source.status().names[0]?.state, 'absent');
    assert.equal(source.status().names[0]?.nextQueryInMs, 30_000);
    await source.close();
  });

  it('NXDOMAIN after a good answer is believed only after the grace; until then the last good set is served', async () => {
    const { source, resolver, clock, updates } = setup({ families: [4] });
    resolver.set('A', 'web.example.com', a(5, '10.0.0.1'));
    source.start();
    source.watch(web, (u) => updates.push(u));
    await flush();
    resolver.answers.delete('A web.example.com');
    await clock.advanceAsync(5_000);
    assert.equal(keys(source.resolve(web)), 'error WEFT_E_DISCOVERY_DNS_NXDOMAIN lastGood 10.0.0.1:8080');
    assert.equal(source.isAbsent(web), false);
    await clock.advanceAsync(29_000, 1_000);
    assert.equal(source.status().names[0]?.state, 'stale');
    assert.deepEqual(shown(updates), ['reset 10.0.0.1:8080']);
    await clock.advanceAsync(1_000);
    assert.deepEqual(shown(updates), ['reset 10.0.0.1:8080', 'remove 10.0.0.1:8080']);
    assert.equal(source.isAbsent(web), true);
    assert.match(keys(source.resolve(web)) as string, /^unknown .*no such name/);
    // And when it comes back, it is served again.
    resolver.set('A', 'web.example.com', a(5, '10.0.0.2'));
    await clock.advanceAsync(30_000, 1_000);
    assert.deepEqual(shown(updates).slice(2), ['add 10.0.0.2:8080']);
    await source.close();
  });

  it('NXDOMAIN that goes away within the grace changes nothing for watchers', async () => {
    const { source, resolver, clock, updates } = setup({ families: [4] });
    resolver.set('A', 'web.example.com', a(5, '10.0.0.1'));
    source.start();
    source.watch(web, (u) => updates.push(u));
    await flush();
    resolver.set('A', 'web.example.com', { code: 'ENODATA' });
    await clock.advanceAsync(5_000);
    assert.equal(source.status().names[0]?.error?.code, 'WEFT_E_DISCOVERY_DNS_NODATA');
    resolver.set('A', 'web.example.com', a(5, '10.0.0.1'));
    await clock.advanceAsync(5_000, 1_000);
    assert.equal(source.status().names[0]?.state, 'ok');
    assert.deepEqual(shown(updates), ['reset 10.0.0.1:8080']);
    await source.close();
  });

  it('SRV: the lowest priority records, each target host at its record port; re-read every srvTtlSeconds at most', async () => {
    const { source, resolver, clock } = setup({ families: [4], srvTtlSeconds: 30 });
    resolver.set('SRV', '_http._tcp.web.example.com', {
      srv: [
        { name: 'a.example.com', port: 8080, priority: 10, weight: 1 },
        { name: 'b.example.com', port: 8081, priority: 10, weight: 5 },
        { name: 'backup.example.com', port: 9000, priority: 20, weight: 1 },
        { name: 'gone.example.com', port: 9001, priority: 10, weight: 1 },
      ],
    });
    resolver.set('A', 'a.example.com', a(300, '10.0.0.1'));
    resolver.set('A', 'b.example.com', a(300, '10.0.0.2', '10.0.0.3'));
    resolver.set('A', 'backup.example.com', a(300, '10.9.9.9'));
    const srv: DnsTarget = { kind: 'dns-srv', name: '_http._tcp.web.example.com' };
    source.start();
    source.watch(srv, () => {});
    await flush();
    assert.deepEqual(keys(source.resolve(srv)), ['10.0.0.1:8080', '10.0.0.2:8081', '10.0.0.3:8081']);
    assert.equal(resolver.count('A', 'backup.example.com'), 0);
    const name = source.status().names[0];
    assert.deepEqual([name?.name, name?.ttlSeconds, name?.answer], ['SRV _http._tcp.web.example.com', 30, ['10.0.0.1:8080', '10.0.0.2:8081', '10.0.0.3:8081']]);
    await clock.advanceAsync(30_000);
    assert.equal(resolver.count('SRV', '_http._tcp.web.example.com'), 2);
    await source.close();
  });

  it('SRV: a host named by several records is asked once; an address as target is taken as is; a failing target keeps the last good set', async () => {
    const { source, resolver, clock } = setup({ families: [4], srvTtlSeconds: 5 });
    const srv: DnsTarget = { kind: 'dns-srv', name: '_h._tcp.x.example.com' };
    resolver.set('SRV', '_h._tcp.x.example.com', {
      srv: [
        { name: 'a.example.com.', port: 8080, priority: 0, weight: 1 },
        { name: 'a.example.com', port: 8081, priority: 0, weight: 1 },
        { name: '10.0.0.7', port: 7, priority: 0, weight: 1 },
      ],
    });
    resolver.set('A', 'a.example.com', a(300, '10.0.0.1'));
    source.start();
    source.watch(srv, () => {});
    await flush();
    assert.deepEqual(keys(source.resolve(srv)), ['10.0.0.1:8080', '10.0.0.1:8081', '10.0.0.7:7']);
    assert.equal(resolver.count('A', 'a.example.com'), 1);
    resolver.set('A', 'a.example.com', { code: 'ESERVFAIL' });
    await clock.advanceAsync(5_000);
    assert.equal(keys(source.resolve(srv)), 'error WEFT_E_DISCOVERY_DNS_SERVFAIL lastGood 10.0.0.1:8080,10.0.0.1:8081,10.0.0.7:7');
    await source.close();
  });

  it('forgets a name nobody watches or asked for in idleMs; keeps watched ones', async () => {
    const { source, resolver, clock } = setup({ families: [4], idleMs: 60_000 });
    resolver.set('A', 'asked.example.com', a(10, '10.0.0.1'));
    resolver.set('A', 'watched.example.com', a(10, '10.0.0.2'));
    source.start();
    source.resolve({ kind: 'dns', name: 'asked.example.com', port: 80 });
    source.watch({ kind: 'dns', name: 'watched.example.com', port: 80 }, () => {});
    await clock.advanceAsync(70_000, 10_000);
    assert.deepEqual(source.status().names.map((n) => n.name), ['A/AAAA watched.example.com']);
    assert.equal(resolver.count('A', 'asked.example.com'), 6, 'asked until idle, then no more');
    await source.close();
  });

  it('refuses bad names, ports and names beyond maxNames with errors; answers unknown for non-DNS targets', async () => {
    const { source, resolver, updates } = setup({ maxNames: 1 });
    resolver.set('A', 'web.example.com', a(10, '10.0.0.1'));
    source.start();
    assert.equal(keys(source.resolve({ kind: 'dns', name: 'bad name', port: 80 })), 'error WEFT_E_DISCOVERY_DNS_TARGET lastGood -');
    assert.equal(keys(source.resolve({ kind: 'dns', name: 'web.example.com', port: 0 })), 'error WEFT_E_DISCOVERY_DNS_TARGET lastGood -');
    source.resolve(web);
    assert.equal(keys(source.resolve({ kind: 'dns', name: 'other.example.com', port: 80 })), 'error WEFT_E_DISCOVERY_DNS_LIMIT lastGood -');
    assert.match(keys(source.resolve({ kind: 'address', address: '10.96.0.1', port: 80 })) as string, /^unknown the DNS source answers only DNS names/);
    source.watch({ kind: 'service', service: { namespace: 'a', name: 'b' }, port: 80 }, (u) => updates.push(u));
    await flush();
    assert.deepEqual(shown(updates), ['reset ']);
    await source.close();
  });

  it('normaliseDnsName: lower case without the trailing dot; refuses what is no host name', () => {
    assert.equal(normaliseDnsName('Web.Example.COM.'), 'web.example.com');
    assert.equal(normaliseDnsName('_http._tcp.web'), '_http._tcp.web');
    for (const bad of ['', '.', 'a..b', '-a.b', 'a-.b', 'a b', `${'a'.repeat(64)}.b`, `${'a.'.repeat(127)}ab`]) assert.equal(normaliseDnsName(bad), undefined, bad);
  });
});
