// Discovery from DNS: a name's A and AAAA records (each address at a port the target gives), or a
// name's SRV records (each target host's addresses at the record's port). Each name asked for is
// resolved, then resolved again when its shortest TTL runs out (within a floor and a ceiling, a
// little early at random so many agents do not query in step); watchers get `reset` once and then
// `add`/`remove`, only when the answer changed.
//
// Advisory, like the other sources: a resolver failure (SERVFAIL, REFUSED, a timeout, the server
// unreachable) keeps the last good answer in use; `resolve` answers `error` carrying it, watchers get
// nothing, and the name is asked again after a jittered exponential backoff.
//
// NXDOMAIN and NODATA are authoritative answers, not failures, but a good answer that turns into
// "no such name" is more often a broken zone push or a flapping split-horizon view than a service
// deliberately deleted, and believing it at once empties a balancer. So: before any good answer,
// "no such name" is believed at once (`unknown`, watchers get an empty reset); after one, it is
// believed only when it is still the answer `negativeGraceMs` later (asked again meanwhile, and
// shown as an error with the last good endpoints); then watchers get the removal. Linkerd and
// Finagle keep the last good set through resolution failures; the authoritative no is held too,
// but only for a bounded time, so a deleted name does stop being served.
//
// Resolution uses node:dns's Resolver (c-ares: no answer cache, no search list, so names are
// absolute). Node gives TTLs for A and AAAA but not for SRV: an SRV set is re-read every
// `srvTtlSeconds` (and sooner when a target's addresses expire). Only the lowest priority SRV
// records are used; weights are ignored (an Endpoint carries no weight). Targets: dns-target.ts.
import { promises as dnsPromises } from 'node:dns';
import { isIP } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import type { Random } from '../balance/random.ts';
import { systemRandom } from '../balance/random.ts';
import { WeftError } from '../errors.ts';
import type { BackoffParams } from '../resilience/backoff.ts';
import { backoffDelay, validateBackoffParams } from '../resilience/backoff.ts';
import type { Clock } from '../time/clock.ts';
import { systemClock } from '../time/clock.ts';
import { canonicalAddress, endpointKey } from './service-table.ts';
import type { DnsTarget } from './dns-target.ts';
export type { DnsTarget } from './dns-target.ts';
import { describeDnsTarget, isDnsPort, normaliseDnsName } from './dns-target.ts';
import type {
  DiscoveryListener,
  DiscoveryResult,
  DiscoverySource,
  DiscoverySourceStatus,
  DiscoveryTarget,
  Endpoint,
  SourceHealthListener,
} from './types.ts';

export interface DnsDiscoveryParams {
  /** `ip` or `ip:port` of the servers to ask; undefined: the system's (`/etc/resolv.conf`). */
  readonly servers: readonly string[] | undefined;
  /** Address families asked for a `dns` target. */
  readonly families: readonly (4 | 6)[];
  /** Per try, and how many tries (c-ares' own retry, before this source's backoff). */
  readonly queryTimeoutMs: number;
  readonly tries: number;
  /** A TTL is honoured within these bounds: a TTL of 0 does not mean a query loop, nor 1 day a day. */
  readonly minRefreshMs: number;
  readonly maxRefreshMs: number;
  /** Share of the TTL by which a refresh may come early, at random (0.1: in [0.9, 1] × TTL). */
  readonly refreshJitter: number;
  /** SRV answers carry no TTL through node:dns: the SRV set is read again this often. */
  readonly srvTtlSeconds: number;
  /** How long NXDOMAIN/NODATA after a good answer must persist before the endpoints are dropped. */
  readonly negativeGraceMs: number;
  /** How often a name known not to exist is asked again (there is no SOA minimum to read). */
  readonly negativeRefreshMs: number;
  /** Between queries after failures. */
  readonly failureBackoff: BackoffParams;
  /** A name nobody watches and nobody asked for in this long is forgotten at its next refresh. */
  readonly idleMs: number;
  /** Most names followed at once; more are refused with an error (names may come from requests). */
  readonly maxNames: number;
}

export const dnsDiscoveryParams: DnsDiscoveryParams = Object.freeze({
  servers: undefined,
  families: Object.freeze([4, 6] as const),
  queryTimeoutMs: 2_000,
  tries: 2,
  minRefreshMs: 1_000,
  maxRefreshMs: 300_000,
  refreshJitter: 0.1,
  srvTtlSeconds: 30,
  negativeGraceMs: 30_000,
  negativeRefreshMs: 30_000,
  failureBackoff: Object.freeze({ minMs: 1_000, maxMs: 30_000, jitter: 0.5 }),
  idleMs: 300_000,
  maxNames: 1_000,
});

/** The part of node:dns's promises Resolver this source uses: the seam for tests. */
export interface DnsResolver {
  resolve4(name: string, options: { ttl: true }): Promise<{ address: string; ttl: number }[]>;
  resolve6(name: string, options: { ttl: true }): Promise<{ address: string; ttl: number }[]>;
  resolveSrv(name: string): Promise<{ name: string; port: number; priority: number; weight: number }[]>;
  getServers(): string[];
  cancel(): void;
}

export interface DnsDiscoveryDeps {
  readonly clock: Clock;
  readonly wallClock: () => Date;
  readonly random: Random;
  /** Default: a node:dns Resolver with the params' servers, timeout and tries. */
  readonly resolver?: DnsResolver;
}

export interface DnsNameStatus {
  /** `A/AAAA web.example.com` or `SRV _http._tcp.web.example.com`. */
  readonly name: string;
  /**
   * `pending`: no answer yet; `ok`; `absent`: NXDOMAIN/NODATA believed; `stale`: the last good answer
   * is in use while the name fails or answers "no such name" within the grace.
   */
  readonly state: 'pending' | 'ok' | 'absent' | 'stale';
  /** The last good answer: addresses (`ip`, or `ip:port` for SRV). */
  readonly answer: readonly string[];
  /** Shortest TTL of the last good answer, in seconds (SRV: at most `srvTtlSeconds`). */
  readonly ttlSeconds: number | undefined;
  readonly answeredAt: string | undefined;
  /** Milliseconds since the last good answer, once it is past its TTL (how stale what is served is). */
  readonly staleForMs: number | undefined;
  readonly nextQueryInMs: number | undefined;
  /** Failed queries in a row. */
  readonly failures: number;
  readonly error: { readonly code: string; readonly message: string; readonly since: string } | undefined;
  readonly watchers: number;
}

export interface DnsDiscoveryStatus extends DiscoverySourceStatus {
  readonly servers: readonly string[];
  readonly names: readonly DnsNameStatus[];
}

/** An address, and for SRV answers the port the record gives. */
interface Host {
  readonly address: string;
  readonly port: number | undefined;
}

type Lookup =
  | { readonly kind: 'ok'; readonly hosts: readonly Host[]; readonly ttlSeconds: number }
  | { readonly kind: 'absent'; readonly error: WeftError }
  | { readonly kind: 'error'; readonly error: WeftError };

interface Watcher {
  readonly target: DnsTarget;
  readonly listener: DiscoveryListener;
  delivered: Map<string, Endpoint> | undefined;
  active: boolean;
}

interface Entry {
  readonly record: 'A/AAAA' | 'SRV';
  readonly name: string;
  /** The answer in use; `absent` once NXDOMAIN/NODATA is believed. Undefined before the first. */
  known: { readonly hosts: readonly Host[]; readonly absent: boolean; readonly error?: WeftError } | undefined;
  ttlSeconds: number | undefined;
  answeredAt: number | undefined;
  answeredAtWall: Date | undefined;
  /** NXDOMAIN/NODATA after a good answer, not believed yet: since when (monotonic). */
  negativeSince: number | undefined;
  error: { error: WeftError; since: Date } | undefined;
  failures: number;
  nextQueryAt: number | undefined;
  cancelTimer: (() => void) | undefined;
  querying: boolean;
  lastAskedAt: number;
  readonly watchers: Set<Watcher>;
}

const absentCodes = new Set(['ENOTFOUND', 'ENODATA']);

export class DnsDiscoverySource implements DiscoverySource {
  readonly id: string;
  readonly #params: DnsDiscoveryParams;
  readonly #deps: DnsDiscoveryDeps;
  readonly #resolver: DnsResolver;
  readonly #entries = new Map<string, Entry>();
  readonly #healthListeners = new Set<SourceHealthListener>();
  #failing = false;
  #started = false;
  #closed = false;

  constructor(
    params: DnsDiscoveryParams = dnsDiscoveryParams,
    deps: DnsDiscoveryDeps = { clock: systemClock, wallClock: () => new Date(), random: systemRandom },
  ) {
    validateDnsParams(params);
    this.#params = params;
    this.#deps = deps;
    this.#resolver = deps.resolver ?? nodeResolver(params);
    this.id = `dns:${this.#resolver.getServers().join(',') || 'system'}`;
  }

  /** True once started: each name's readiness is its own (see `status().names`). */
  get synced(): boolean {
    return this.#started;
  }

  start(): void {
    if (this.#started || this.#closed) {
      throw new WeftError('WEFT_E_DISCOVERY_STARTED', `discovery source ${this.id} was already started or is closed; make a new one`);
    }
    this.#started = true;
    for (const entry of this.#entries.values()) void this.#query(entry);
  }

  /** The current answer for a target; starts following its name if nobody did (see `idleMs`). */
  resolve(target: DiscoveryTarget | DnsTarget): DiscoveryResult {
    if (target.kind !== 'dns' && target.kind !== 'dns-srv') return { kind: 'unknown', reason: 'the DNS source answers only DNS names' };
    const entry = this.#ensure(target);
    if (entry.kind === 'error') return entry;
    entry.entry.lastAskedAt = this.#deps.clock.now();
    return this.#result(entry.entry, target);
  }

  /**
   * True when the name is followed and NXDOMAIN/NODATA is its believed answer. Does not start
   * following it: namers ask this with names from requests, which must not fill the table.
   */
  isAbsent(target: DnsTarget): boolean {
    const key = entryKey(target);
    const entry = key === undefined ? undefined : this.#entries.get(key);
    return entry?.known?.absent === true;
  }

  watch(target: DiscoveryTarget | DnsTarget, listener: DiscoveryListener): () => void {
    if (target.kind !== 'dns' && target.kind !== 'dns-srv') {
      // Not a DNS target: the contract's empty reset for an unknown target, and nothing after.
      let active = true;
      queueMicrotask(() => {
        if (active) listener({ kind: 'reset', endpoints: [] });
      });
      return () => {
        active = false;
      };
    }
    const ensured = this.#ensure(target);
    const watcher: Watcher = { target, listener, delivered: undefined, active: true };
    if (ensured.kind === 'error') {
      // A bad name or too many names: nothing will ever answer; say so with an empty reset.
      queueMicrotask(() => {
        if (watcher.active) listener({ kind: 'reset', endpoints: [] });
      });
      return () => {
        watcher.active = false;
      };
    }
    const entry = ensured.entry;
    entry.watchers.add(watcher);
    // Never call back inside watch(): the caller may not have stored the unsubscribe yet.
    queueMicrotask(() => this.#sync(entry, watcher));
    return () => {
      watcher.active = false;
      entry.watchers.delete(watcher);
      entry.lastAskedAt = this.#deps.clock.now();
    };
  }

  /**
   * Called with every failed query of any name (`since`: when that name's failure began; NXDOMAIN
   * within the grace counts), and once with `ok` when no name is failing any more. Returns the unsubscribe.
   */
  onHealth(listener: SourceHealthListener): () => void {
    this.#healthListeners.add(listener);
    return () => this.#healthListeners.delete(listener);
  }

  status(): DnsDiscoveryStatus {
    const now = this.#deps.clock.now();
    const names = [...this.#entries.values()].map((entry) => this.#nameStatus(entry, now));
    const errors = [...this.#entries.values()].flatMap((entry) => (entry.error === undefined ? [] : [entry.error]));
    const first = errors.sort((a, b) => a.since.getTime() - b.since.getTime())[0];
    const good = [...this.#entries.values()].flatMap((entry) => (entry.answeredAtWall === undefined ? [] : [entry.answeredAtWall.getTime()]));
    return {
      source: this.id,
      synced: this.synced,
      services: this.#entries.size,
      endpointSlices: 0,
      lastGoodAt: good.length === 0 ? undefined : new Date(Math.max(...good)).toISOString(),
      error: first === undefined ? undefined : { code: first.error.code, message: first.error.message, since: first.since.toISOString() },
      watchers: names.reduce((sum, name) => sum + name.watchers, 0),
      servers: this.#resolver.getServers(),
      names,
    };
  }

  close(): Promise<void> {
    this.#closed = true;
    for (const entry of this.#entries.values()) {
      entry.cancelTimer?.();
      for (const watcher of entry.watchers) watcher.active = false;
    }
    this.#entries.clear();
    this.#healthListeners.clear();
    this.#resolver.cancel();
    return Promise.resolve();
  }

  #ensure(target: DnsTarget): { kind: 'ok'; entry: Entry } | { kind: 'error'; error: WeftError } {
    const key = entryKey(target);
    if (key === undefined || (target.kind === 'dns' && !isDnsPort(target.port))) {
      return {
        kind: 'error',
        error: new WeftError('WEFT_E_DISCOVERY_DNS_TARGET', `${describeDnsTarget(target)} is not a DNS target: a host name (labels of letters, digits, '-', '_') and a port 1-65535`),
      };
    }
    const existing = this.#entries.get(key);
    if (existing !== undefined) return { kind: 'ok', entry: existing };
    if (this.#entries.size >= this.#params.maxNames) {
      return {
        kind: 'error',
        error: new WeftError(
          'WEFT_E_DISCOVERY_DNS_LIMIT',
          `the DNS source already follows ${this.#params.maxNames} names; ${describeDnsTarget(target)} is refused; raise maxNames or look for what asks for so many names`,
          { flags: { rejected: true } },
        ),
      };
    }
    const entry: Entry = {
      record: target.kind === 'dns' ? 'A/AAAA' : 'SRV',
      name: key.slice(key.indexOf(' ') + 1),
      known: undefined,
      ttlSeconds: undefined,
      answeredAt: undefined,
      answeredAtWall: undefined,
      negativeSince: undefined,
      error: undefined,
      failures: 0,
      nextQueryAt: undefined,
      cancelTimer: undefined,
      querying: false,
      lastAskedAt: this.#deps.clock.now(),
      watchers: new Set(),
    };
    this.#entries.set(key, entry);
    if (this.#started && !this.#closed) void this.#query(entry);
    return { kind: 'ok', entry };
  }

  #result(entry: Entry, target: DnsTarget): DiscoveryResult {
    const known = entry.known;
    const error = entry.error?.error;
    if (known === undefined) {
      return error === undefined ? { kind: 'unknown', reason: `${describeDnsTarget(target)} has not been resolved yet` } : { kind: 'error', error };
    }
    if (known.absent) return { kind: 'unknown', reason: `${describeDnsTarget(target)}: ${known.error?.message ?? 'no such name'}` };
    const endpoints = endpointsOf(known.hosts, target);
    return error === undefined ? { kind: 'ok', endpoints } : { kind: 'error', error, lastGood: endpoints };
  }

  async #query(entry: Entry): Promise<void> {
    if (entry.querying || this.#closed) return;
    entry.cancelTimer?.();
    entry.cancelTimer = undefined;
    entry.nextQueryAt = undefined;
    entry.querying = true;
    let lookup: Lookup;
    try {
      lookup = entry.record === 'SRV' ? await this.#lookupSrv(entry.name) : await this.#lookupAddresses(entry.name, entry.record);
    } finally {
      entry.querying = false;
    }
    if (this.#closed || this.#entries.get(keyOf(entry)) !== entry) return;
    this.#apply(entry, lookup);
  }

  #apply(entry: Entry, lookup: Lookup): void {
    const now = this.#deps.clock.now();
    const params = this.#params;
    switch (lookup.kind) {
      case 'ok': {
        entry.failures = 0;
        entry.error = undefined;
        entry.negativeSince = undefined;
        entry.ttlSeconds = lookup.ttlSeconds;
        entry.answeredAt = now;
        entry.answeredAtWall = this.#deps.wallClock();
        this.#publish(entry, { hosts: lookup.hosts, absent: false });
        this.#maybeRecovered();
        const early = 1 - params.refreshJitter * this.#deps.random();
        this.#schedule(entry, clamp(lookup.ttlSeconds * 1000 * early, params.minRefreshMs, params.maxRefreshMs));
        return;
      }
      case 'absent': {
        const hadGood = entry.known !== undefined && !entry.known.absent;
        if (hadGood) {
          entry.negativeSince ??= now;
          const graceLeft = entry.negativeSince + params.negativeGraceMs - now;
          if (graceLeft > 0) {
            // Not believed yet: keep serving the last good answer, show why, ask again (by the end of the grace).
            this.#failed(entry, lookup.error);
            this.#schedule(entry, Math.min(this.#backoff(entry), graceLeft));
            return;
          }
        }
        entry.failures = 0;
        entry.error = undefined;
        entry.negativeSince = undefined;
        entry.ttlSeconds = undefined;
        this.#publish(entry, { hosts: [], absent: true, error: lookup.error });
        this.#maybeRecovered();
        this.#schedule(entry, params.negativeRefreshMs);
        return;
      }
      case 'error':
        this.#failed(entry, lookup.error);
        this.#schedule(entry, this.#backoff(entry));
        return;
    }
  }

  #failed(entry: Entry, error: WeftError): void {
    entry.failures++;
    // Keep the first time this failure was seen: "failing since" is what an operator needs.
    if (entry.error?.error.code !== error.code) entry.error = { error, since: this.#deps.wallClock() };
    else entry.error = { error, since: entry.error.since };
    this.#failing = true;
    for (const listener of this.#healthListeners) listener({ kind: 'error', error, since: entry.error.since });
  }

  /** Tells the health listeners `ok` once, when the last failing name answers well (or is forgotten). */
  #maybeRecovered(): void {
    if (!this.#failing || [...this.#entries.values()].some((entry) => entry.error !== undefined)) return;
    this.#failing = false;
    for (const listener of this.#healthListeners) listener({ kind: 'ok' });
  }

  #backoff(entry: Entry): number {
    return backoffDelay(this.#params.failureBackoff, entry.failures - 1, this.#deps.random);
  }

  #schedule(entry: Entry, delayMs: number): void {
    entry.cancelTimer?.();
    entry.nextQueryAt = this.#deps.clock.now() + delayMs;
    entry.cancelTimer = this.#deps.clock.setTimer(delayMs, () => {
      entry.cancelTimer = undefined;
      const idle = entry.watchers.size === 0 && this.#deps.clock.now() - entry.lastAskedAt >= this.#params.idleMs;
      if (idle) {
        // Nobody watches and nobody asked lately: forget the name rather than query it forever.
        this.#entries.delete(keyOf(entry));
        this.#maybeRecovered();
        return;
      }
      void this.#query(entry);
    });
  }

  #publish(entry: Entry, known: NonNullable<Entry['known']>): void {
    const changed = !isDeepStrictEqual(entry.known?.hosts, known.hosts) || entry.known?.absent !== known.absent || entry.known === undefined;
    entry.known = known;
    if (!changed) return;
    for (const watcher of entry.watchers) this.#sync(entry, watcher);
  }

  /** Brings one watcher up to the entry's answer: a first reset, then adds before removes. */
  #sync(entry: Entry, watcher: Watcher): void {
    const known = entry.known;
    if (!watcher.active || known === undefined) return;
    const endpoints = endpointsOf(known.hosts, watcher.target);
    const next = new Map(endpoints.map((endpoint) => [endpointKey(endpoint), endpoint]));
    const previous = watcher.delivered;
    watcher.delivered = next;
    if (previous === undefined) {
      watcher.listener({ kind: 'reset', endpoints });
      return;
    }
    const added = endpoints.filter((endpoint) => !isDeepStrictEqual(previous.get(endpointKey(endpoint)), endpoint));
    const removed = [...previous.entries()].filter(([key]) => !next.has(key)).map(([, endpoint]) => endpoint);
    if (added.length > 0) watcher.listener({ kind: 'add', endpoints: added });
    if (removed.length > 0 && watcher.active) watcher.listener({ kind: 'remove', endpoints: removed });
  }

  #nameStatus(entry: Entry, now: number): DnsNameStatus {
    const known = entry.known;
    const state = known === undefined ? 'pending' : known.absent ? 'absent' : entry.error !== undefined ? 'stale' : 'ok';
    const expiresAt = entry.answeredAt === undefined || entry.ttlSeconds === undefined ? undefined : entry.answeredAt + entry.ttlSeconds * 1000;
    const staleForMs = state === 'stale' && entry.answeredAt !== undefined && expiresAt !== undefined && now > expiresAt ? Math.round(now - entry.answeredAt) : undefined;
    return {
      name: `${entry.record} ${entry.name}`,
      state,
      answer: (known?.hosts ?? []).map((host) => (host.port === undefined ? host.address : endpointKey({ address: host.address, port: host.port }))),
      ttlSeconds: entry.ttlSeconds,
      answeredAt: entry.answeredAtWall?.toISOString(),
      staleForMs,
      nextQueryInMs: entry.nextQueryAt === undefined ? undefined : Math.max(0, Math.round(entry.nextQueryAt - now)),
      failures: entry.failures,
      error: entry.error === undefined ? undefined : { code: entry.error.error.code, message: entry.error.error.message, since: entry.error.since.toISOString() },
      watchers: entry.watchers.size,
    };
  }

  /** A and/or AAAA of `name`: good only when every family answered (records, or authoritatively none). */
  async #lookupAddresses(name: string, what: string): Promise<Lookup> {
    const asked = this.#params.families.map((family) =>
      family === 4 ? this.#resolver.resolve4(name, { ttl: true }) : this.#resolver.resolve6(name, { ttl: true }),
    );
    const settled = await Promise.allSettled(asked);
    const hosts: Host[] = [];
    let ttl = Infinity;
    let absent: unknown;
    for (const [i, outcome] of settled.entries()) {
      if (outcome.status === 'fulfilled') {
        for (const record of outcome.value) {
          hosts.push({ address: canonicalAddress(record.address), port: undefined });
          ttl = Math.min(ttl, record.ttl);
        }
      } else if (absentCodes.has(errorCode(outcome.reason))) {
        absent ??= outcome.reason;
      } else {
        return { kind: 'error', error: this.#dnsError(this.#params.families[i] === 6 ? 'AAAA' : 'A', name, outcome.reason) };
      }
    }
    if (hosts.length === 0) return { kind: 'absent', error: this.#dnsError(what, name, absent) };
    return { kind: 'ok', hosts: sortHosts(hosts), ttlSeconds: ttl };
  }

  async #lookupSrv(name: string): Promise<Lookup> {
    let records: { name: string; port: number; priority: number }[];
    try {
      records = await this.#resolver.resolveSrv(name);
    } catch (error) {
      const failure = this.#dnsError('SRV', name, error);
      return absentCodes.has(errorCode(error)) ? { kind: 'absent', error: failure } : { kind: 'error', error: failure };
    }
    // RFC 2782: a single record with target "." says the service is decidedly not available here.
    const usable = records.filter((record) => record.name !== '' && record.name !== '.');
    if (usable.length === 0) {
      return { kind: 'absent', error: new WeftError('WEFT_E_DISCOVERY_DNS_NODATA', `DNS SRV ${name}: no usable SRV records (the service is not offered)`) };
    }
    const lowest = Math.min(...usable.map((record) => record.priority));
    const chosen = usable.filter((record) => record.priority === lowest);
    // Every target host at once (each asked once however many records name it).
    const byTarget = new Map<string, Promise<Lookup>>();
    for (const record of chosen) {
      const target = bareName(record.name);
      if (isIP(target) === 0 && !byTarget.has(target)) byTarget.set(target, this.#lookupAddresses(target, 'A/AAAA'));
    }
    const answers = new Map(await Promise.all([...byTarget].map(async ([target, lookup]) => [target, await lookup] as const)));
    const hosts: Host[] = [];
    let ttl = this.#params.srvTtlSeconds;
    for (const record of chosen) {
      const target = bareName(record.name);
      const answer = answers.get(target);
      if (answer === undefined) {
        // Not a name but an address (RFC 2782 forbids it; some zones do it anyway).
        hosts.push({ address: canonicalAddress(target), port: record.port });
        continue;
      }
      // A target that fails fails the whole answer (the last good one stays); one that does not exist
      // contributes nothing, as an SRV target without addresses cannot be dialled.
      if (answer.kind === 'error') return answer;
      if (answer.kind === 'absent') continue;
      ttl = Math.min(ttl, answer.ttlSeconds);
      for (const host of answer.hosts) hosts.push({ address: host.address, port: record.port });
    }
    return { kind: 'ok', hosts: sortHosts(hosts), ttlSeconds: ttl };
  }

  #dnsError(what: string, name: string, error: unknown): WeftError {
    const code = errorCode(error);
    const servers = this.#resolver.getServers().join(', ') || 'the system resolver';
    const retryable = { flags: { retryable: true }, cause: error };
    switch (code) {
      case 'ENOTFOUND':
        return new WeftError('WEFT_E_DISCOVERY_DNS_NXDOMAIN', `DNS ${what} ${name}: no such name (NXDOMAIN from ${servers})`, { cause: error });
      case 'ENODATA':
        return new WeftError('WEFT_E_DISCOVERY_DNS_NODATA', `DNS ${what} ${name}: the name has no ${what} records`, { cause: error });
      case 'ESERVFAIL':
        return new WeftError('WEFT_E_DISCOVERY_DNS_SERVFAIL', `DNS ${what} ${name}: server failure (SERVFAIL from ${servers}); the last good answer stays in use`, retryable);
      case 'ETIMEOUT':
        return new WeftError('WEFT_E_DISCOVERY_DNS_TIMEOUT', `DNS ${what} ${name}: no answer from ${servers} in time; the last good answer stays in use`, retryable);
      case 'EREFUSED':
        return new WeftError('WEFT_E_DISCOVERY_DNS_REFUSED', `DNS ${what} ${name}: ${servers} refused the query; check the servers weft is given`, retryable);
      case 'ECONNREFUSED':
        return new WeftError('WEFT_E_DISCOVERY_DNS_UNREACHABLE', `DNS ${what} ${name}: ${servers} unreachable (connection refused); is the DNS server up?`, retryable);
      default:
        return new WeftError('WEFT_E_DISCOVERY_DNS_FAILED', `DNS ${what} ${name} failed (${code || 'unknown error'}); the last good answer stays in use`, retryable);
    }
  }
}

export function validateDnsParams(params: DnsDiscoveryParams): void {
  const bad = (what: string): never => {
    throw new WeftError('WEFT_E_DISCOVERY_PARAMS', `DNS discovery: ${what}`);
  };
  if (params.families.length === 0 || params.families.some((f) => f !== 4 && f !== 6)) bad('families must name 4, 6 or both');
  if (!(params.queryTimeoutMs > 0) || !(Number.isInteger(params.tries) && params.tries >= 1)) bad('queryTimeoutMs must be > 0 and tries an integer >= 1');
  if (!(params.minRefreshMs > 0 && params.minRefreshMs <= params.maxRefreshMs && Number.isFinite(params.maxRefreshMs))) {
    bad(`need 0 < minRefreshMs <= maxRefreshMs, got ${params.minRefreshMs} and ${params.maxRefreshMs}`);
  }
  if (!(params.refreshJitter >= 0 && params.refreshJitter < 1)) bad(`refreshJitter must be within [0, 1), got ${params.refreshJitter}`);
  if (!(params.srvTtlSeconds > 0) || !(params.negativeGraceMs >= 0) || !(params.negativeRefreshMs > 0) || !(params.idleMs >= 0)) {
    bad('srvTtlSeconds and negativeRefreshMs must be > 0, negativeGraceMs and idleMs >= 0');
  }
  if (!(Number.isInteger(params.maxNames) && params.maxNames >= 1)) bad('maxNames must be an integer >= 1');
  validateBackoffParams(params.failureBackoff);
}

function nodeResolver(params: DnsDiscoveryParams): DnsResolver {
  const resolver = new dnsPromises.Resolver({ timeout: params.queryTimeoutMs, tries: params.tries });
  if (params.servers !== undefined) resolver.setServers([...params.servers]);
  return resolver;
}

function entryKey(target: DnsTarget): string | undefined {
  const name = normaliseDnsName(target.name);
  return name === undefined ? undefined : `${target.kind === 'dns' ? 'A/AAAA' : 'SRV'} ${name}`;
}

function keyOf(entry: Entry): string {
  return `${entry.record} ${entry.name}`;
}

function endpointsOf(hosts: readonly Host[], target: DnsTarget): Endpoint[] {
  const byKey = new Map<string, Endpoint>();
  for (const host of hosts) {
    const port = host.port ?? (target.kind === 'dns' ? target.port : undefined);
    if (port === undefined) continue;
    const endpoint: Endpoint = { address: host.address, port, ready: true, serving: true, terminating: false };
    byKey.set(endpointKey(endpoint), endpoint);
  }
  return [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, endpoint]) => endpoint);
}

function sortHosts(hosts: readonly Host[]): Host[] {
  const key = (host: Host): string => `${host.address}|${host.port ?? ''}`;
  const unique = new Map(hosts.map((host) => [key(host), host]));
  return [...unique.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, host]) => host);
}

function bareName(name: string): string {
  return name.endsWith('.') ? name.slice(0, -1) : name;
}

function errorCode(error: unknown): string {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : '';
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
