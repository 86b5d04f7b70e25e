// Discovery is advisory (DESIGN.md, "Failure stance"): what routing serves for a service port is
// the source's answer, except when that answer looks like the source blinked rather than the
// service changed. Between a source's good tables and routing, per Service port as routing sees it
// (cluster IP, port, protocol):
// - a source error marks everything served stale ('source-error', since when); the tables do not
//   change meanwhile (sources publish good answers only), so the last good set stays in use;
// - a good answer that empties a port that had ready endpoints, or removes the port or Service, is
//   held ('empty-unconfirmed'): the last good endpoints stay served, stale, until the answer has
//   persisted for `confirmEmptyMs` while the source is healthy, or endpoints come back;
// - a good answer that keeps fewer than `panicThresholdPercent` % of the ready endpoints at once
//   (10 → 1) is held the same way ('drop-unconfirmed'). While held, additions and changes pass at
//   once; only the removals wait. Endpoints the answer lists as terminating are departures the
//   source announced (a scale-down, a rollout) and never count as a drop.
// An ordinary change (3 → 2 ready, a rollout) is served at once. The served array keeps its
// identity while its contents do not change, so a balancer that compares references (HttpRoute.sync)
// is reset only by a real change. Unlike the balancer's panic threshold (balance/pick.ts: ignore
// ejections when too many endpoints are ejected), this one distrusts the *source*.
// Only ports routing asked for are followed (what this node's pods dial), so a table update costs
// O(routed ports), not O(cluster); a port first asked for during a blink gets the answer as it is.
import { isDeepStrictEqual } from 'node:util';
import { WeftError } from '../errors.ts';
import type { Clock } from '../time/clock.ts';
import type { ServiceMatch, ServiceTable } from './service-table.ts';
import { canonicalAddress, endpointKey } from './service-table.ts';
import type { Endpoint, Protocol, ServiceKey, SourceHealth } from './types.ts';
import { serviceKeyString } from './types.ts';

export interface AdvisoryParams {
  /** Hold the last good endpoints when a good answer empties a port (or drops it) that had ready ones. */
  readonly keepLastGoodOnEmpty: boolean;
  /** How long an empty answer or a sudden drop must persist, with the source healthy, before it is served; 0 holds nothing. */
  readonly confirmEmptyMs: number;
  /**
   * An answer keeping fewer than this percentage of a port's ready endpoints at once is held like an
   * empty one (10 → 1 at 20 %). 0 disables it; an empty answer is governed by keepLastGoodOnEmpty.
   */
  readonly panicThresholdPercent: number;
}

/**
 * 30 s covers an API server restart or a controller's resync; 20 % catches a collapse (10 → 1)
 * and lets ordinary scale-downs (even 5 → 1) through. A hold that was wrong costs at most
 * confirmEmptyMs of connections to endpoints that are gone, which the balancer ejects.
 */
export const advisoryParams: AdvisoryParams = { keepLastGoodOnEmpty: true, confirmEmptyMs: 30_000, panicThresholdPercent: 20 };

export function validateAdvisoryParams(params: AdvisoryParams): void {
  const { confirmEmptyMs, panicThresholdPercent } = params;
  if (!Number.isFinite(confirmEmptyMs) || confirmEmptyMs < 0) {
    throw new WeftError('WEFT_E_DISCOVERY_PARAMS', `confirmEmptyMs must be a number of milliseconds >= 0, got ${confirmEmptyMs}`);
  }
  if (!Number.isFinite(panicThresholdPercent) || panicThresholdPercent < 0 || panicThresholdPercent > 100) {
    throw new WeftError('WEFT_E_DISCOVERY_PARAMS', `panicThresholdPercent must be within 0..100, got ${panicThresholdPercent}`);
  }
}

export type StaleReason = 'source-error' | 'empty-unconfirmed' | 'drop-unconfirmed';
export type HoldReason = Exclude<StaleReason, 'source-error'>;

/** One service port served stale, for /status and the staleness gauge. */
export interface StaleService {
  /** The route name: `namespace/name:port`. */
  readonly service: string;
  /** Wall-clock time the staleness began (ISO 8601). */
  readonly since: string;
  readonly ageMs: number;
  readonly reason: StaleReason;
  /** Endpoints served now, and in the source's latest answer (they differ while held). */
  readonly served: number;
  readonly answered: number;
}

/** What routing gets for a service port; also a RouteDecision as it is (no allocation per lookup). */
export interface AdvisoryAnswer {
  readonly kind: 'service';
  /** `namespace/name:port`, the port by name when it has one. */
  readonly name: string;
  readonly service: ServiceKey;
  /** The same array while the served set does not change. */
  readonly endpoints: readonly Endpoint[];
}

/** What happened to a hold, for logs. */
export interface AdvisoryEvents {
  held(service: string, reason: HoldReason, before: number, answered: number): void;
  /** The answer came back (endpoints returned) before confirmation. */
  released(service: string, reason: HoldReason, heldMs: number): void;
  /** The answer persisted: now served as it is. */
  confirmed(service: string, reason: HoldReason, heldMs: number, answered: number): void;
  /** A followed port's served endpoints changed (a new array): for pushing it to balancers that exist. */
  changed(answer: AdvisoryAnswer): void;
}

export interface AdvisoryDeps {
  readonly clock: Clock;
  readonly wallClock: () => Date;
  readonly events?: Partial<AdvisoryEvents>;
}

interface Hold {
  reason: HoldReason;
  readonly since: number;
  readonly sinceWall: Date;
  /** The served set when the hold began: the last good answer. */
  readonly baseline: readonly Endpoint[];
  cancelTimer: () => void;
}

interface Entry {
  readonly address: string;
  readonly port: number;
  readonly protocol: Protocol;
  /** `namespace/name|portName|port` of the service port behind the address. */
  identity: string;
  answered: number;
  hold: Hold | undefined;
  current: AdvisoryAnswer;
}

export class AdvisoryTable {
  readonly #params: AdvisoryParams;
  readonly #deps: AdvisoryDeps;
  readonly #entries = new Map<string, Entry>();
  #table: ServiceTable;
  #error: { readonly since: Date; readonly at: number } | undefined;
  #closed = false;

  constructor(table: ServiceTable, params: AdvisoryParams, deps: AdvisoryDeps) {
    validateAdvisoryParams(params);
    this.#table = table;
    this.#params = params;
    this.#deps = deps;
  }

  get params(): AdvisoryParams {
    return this.#params;
  }

  /** The service port a pod meant by dialling `address:port`, with the endpoints to serve; undefined: not a service. */
  lookup(address: string, port: number, protocol: Protocol = 'TCP'): AdvisoryAnswer | undefined {
    const key = `${canonicalAddress(address)}|${port}|${protocol}`;
    const entry = this.#entries.get(key);
    if (entry !== undefined) return entry.current;
    const match = this.#table.byAddress(address, port, protocol);
    if (match === undefined) return undefined;
    const created: Entry = {
      address: canonicalAddress(address), port, protocol,
      identity: identityOf(match), answered: match.endpoints.length, hold: undefined, current: answerOf(match, match.endpoints),
    };
    if (!this.#closed) this.#entries.set(key, created);
    return created.current;
  }

  /** A new good table from the source. */
  update(table: ServiceTable): void {
    this.#table = table;
    for (const [key, entry] of this.#entries) this.#evaluate(key, entry);
  }

  /** The source's health changed: an error marks everything stale; recovery may confirm holds that are due. */
  health(health: SourceHealth): void {
    if (health.kind === 'error') {
      // The age counts from the first failure reported since the last recovery (monotonic); `since` is the source's.
      this.#error = { since: health.since, at: this.#error?.at ?? this.#deps.clock.now() };
      return;
    }
    if (this.#error === undefined) return;
    this.#error = undefined;
    for (const [key, entry] of this.#entries) if (entry.hold !== undefined) this.#evaluate(key, entry);
  }

  /** The service ports served stale now: held ones with their reason, and all of them while the source fails. */
  stale(): StaleService[] {
    const now = this.#deps.clock.now();
    const out: StaleService[] = [];
    for (const entry of this.#entries.values()) {
      const base = { service: entry.current.name, served: entry.current.endpoints.length, answered: entry.answered };
      if (entry.hold !== undefined) out.push({ ...base, since: entry.hold.sinceWall.toISOString(), ageMs: Math.round(now - entry.hold.since), reason: entry.hold.reason });
      else if (this.#error !== undefined) out.push({ ...base, since: this.#error.since.toISOString(), ageMs: Math.round(now - this.#error.at), reason: 'source-error' });
    }
    return out.sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : 0));
  }

  /** Service ports followed (asked for by routing and still known). */
  get size(): number {
    return this.#entries.size;
  }

  close(): void {
    this.#closed = true;
    for (const entry of this.#entries.values()) entry.hold?.cancelTimer();
    this.#entries.clear();
  }

  #evaluate(key: string, entry: Entry): void {
    const match = this.#table.byAddress(entry.address, entry.port, entry.protocol);
    // Another service port owns the address now (a cluster IP reused): a new start, nothing held.
    if (match !== undefined && identityOf(match) !== entry.identity) {
      this.#endHold(entry);
      entry.identity = identityOf(match);
      entry.answered = match.endpoints.length;
      entry.current = answerOf(match, match.endpoints);
      this.#deps.events?.changed?.(entry.current);
      return;
    }
    const answered = match?.endpoints ?? [];
    entry.answered = answered.length;
    const hold = entry.hold;
    const drop = this.#drop(hold?.baseline ?? entry.current.endpoints, answered, match?.leaving ?? []);
    if (hold !== undefined) {
      const heldMs = this.#deps.clock.now() - hold.since;
      if (drop === undefined) {
        this.#endHold(entry);
        this.#deps.events?.released?.(entry.current.name, hold.reason, heldMs);
      } else if (heldMs >= this.#params.confirmEmptyMs && this.#error === undefined) {
        this.#endHold(entry);
        this.#deps.events?.confirmed?.(entry.current.name, hold.reason, heldMs, answered.length);
      } else {
        hold.reason = drop;
        this.#serve(entry, merge(answered, hold.baseline));
        return;
      }
    } else if (drop !== undefined) {
      const baseline = entry.current.endpoints;
      const started: Hold = { reason: drop, since: this.#deps.clock.now(), sinceWall: this.#deps.wallClock(), baseline, cancelTimer: () => undefined };
      entry.hold = started;
      this.#armConfirmation(key, entry, started);
      this.#deps.events?.held?.(entry.current.name, drop, baseline.filter((e) => e.ready).length, answered.length);
      this.#serve(entry, merge(answered, baseline));
      return;
    }
    if (match === undefined) {
      this.#entries.delete(key);
      return;
    }
    this.#serve(entry, answered);
  }

  /** Whether an answer, against the last good set, is a blink to hold; undefined: serve it. */
  #drop(baseline: readonly Endpoint[], answered: readonly Endpoint[], leaving: readonly Endpoint[]): HoldReason | undefined {
    let before = 0;
    // Ready endpoints the answer no longer serves but lists as terminating: announced, not vanished.
    let announced = 0;
    const gone = leaving.length === 0 ? undefined : new Set(leaving.map(endpointKey));
    const kept = gone === undefined ? undefined : new Set(answered.map(endpointKey));
    for (const endpoint of baseline) {
      if (!endpoint.ready) continue;
      before += 1;
      const key = endpointKey(endpoint);
      if (gone?.has(key) === true && kept?.has(key) !== true) announced += 1;
    }
    if (before === 0 || this.#params.confirmEmptyMs === 0) return undefined;
    const after = answered.length + announced;
    if (after === 0) return this.#params.keepLastGoodOnEmpty ? 'empty-unconfirmed' : undefined;
    return after * 100 < before * this.#params.panicThresholdPercent ? 'drop-unconfirmed' : undefined;
  }

  /** Evaluates the hold again when it falls due (a timer may fire a little early: then again for the rest). */
  #armConfirmation(key: string, entry: Entry, hold: Hold): void {
    const left = hold.since + this.#params.confirmEmptyMs - this.#deps.clock.now();
    hold.cancelTimer = this.#deps.clock.setTimer(Math.max(1, left), () => {
      if (this.#entries.get(key) !== entry || entry.hold !== hold) return;
      if (hold.since + this.#params.confirmEmptyMs > this.#deps.clock.now()) this.#armConfirmation(key, entry, hold);
      else this.#evaluate(key, entry);
    });
  }

  #endHold(entry: Entry): void {
    entry.hold?.cancelTimer();
    entry.hold = undefined;
  }

  /** Serves `endpoints`, keeping the current array (and answer) when nothing in it changed. */
  #serve(entry: Entry, endpoints: readonly Endpoint[]): void {
    const current = entry.current.endpoints;
    if (endpoints === current || isDeepStrictEqual(endpoints, current)) return;
    entry.current = { ...entry.current, endpoints };
    this.#deps.events?.changed?.(entry.current);
  }
}

function identityOf(match: ServiceMatch): string {
  return `${serviceKeyString(match.service)}|${match.portName}|${match.port}`;
}

function answerOf(match: ServiceMatch, endpoints: readonly Endpoint[]): AdvisoryAnswer {
  return {
    kind: 'service',
    name: `${serviceKeyString(match.service)}:${match.portName === '' ? match.port : match.portName}`,
    service: match.service,
    endpoints,
  };
}

/** The answer, plus the baseline's endpoints it no longer lists (held removals), sorted as the table sorts. */
function merge(answered: readonly Endpoint[], baseline: readonly Endpoint[]): readonly Endpoint[] {
  const keys = new Set(answered.map(endpointKey));
  const kept = baseline.filter((endpoint) => !keys.has(endpointKey(endpoint)));
  if (kept.length === 0) return answered;
  return [...answered, ...kept]
    .map((endpoint) => [endpointKey(endpoint), endpoint] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, endpoint]) => endpoint);
}
