// Service-level objectives per route: a success-rate objective and a latency objective ("this share
// of requests within X ms"), with burn rates over 5 minutes and 1 hour, the windows of the Google SRE
// workbook's multiwindow alert ("Alerting on SLOs": page when both the 1 h and the 5 m burn rate are
// at least 14.4, which spends 2 % of a 30-day budget in an hour).
//
//   burn rate = (share of bad requests in the window) / (share the objective allows)
//   success:  bad = failed responses (5xx, gRPC errors, weft's own error answers)
//   latency:  bad = responses slower than thresholdMs
//
// A burn rate of 1 spends the error budget exactly over the SLO period; 0 spends none. Without
// requests in a window there is no rate (null on /status, no sample on /metrics), not a 0 that would
// read as "healthy". Routes are keyed by their metrics authority (the route name for Services and
// DNS names; every address dialled directly shares "passthrough"). Pure: time comes from a Clock.
import type { Clock } from '../time/clock.ts';
import { OutcomeWindow, outcomeWindowParams } from './outcome-window.ts';
import type { OutcomeWindowParams } from './outcome-window.ts';

export interface SloParams {
  /** Share of requests that must succeed (0.999: at most 1 in 1000 fails). */
  readonly successObjective: number;
  /** A request slower than this is bad for the latency objective. */
  readonly latencyThresholdMs: number;
  /** Share of requests that must be within latencyThresholdMs (0.99: "p99 ≤ threshold"). */
  readonly latencyObjective: number;
  /** Both windows at or above this burn rate: the route is flagged as burning its budget. */
  readonly alertBurnRate: number;
}

/**
 * 99.9 % success: three nines is the common first objective for a service behind a mesh (the SRE
 * workbook's examples start there), and with 5xx only counted as failures it leaves a 0.1 % budget.
 * 99 % within 1 s: loose enough for most request/response services not to be flagged for ordinary
 * tail latency, tight enough that a route whose p99 passes a second shows up; well inside
 * Linkerd's 10 s route timeout, so timeouts always count against it. Tighten per route.
 */
export const sloParams: SloParams = { successObjective: 0.999, latencyThresholdMs: 1000, latencyObjective: 0.99, alertBurnRate: 14.4 };

export const sloWindows = { '5m': 5 * 60_000, '1h': 60 * 60_000 } as const;
export type SloWindow = keyof typeof sloWindows;
const windowNames = Object.keys(sloWindows) as SloWindow[];

export type SloParamsFor = (authority: string) => SloParams;

/** Where routes past SloTracker's cap are counted together. */
export const SLO_OVERFLOW = 'overflow';

/** Burn rate of `bad` out of `total` against an objective; undefined without requests. */
export function burnRate(bad: number, total: number, objective: number): number | undefined {
  if (total <= 0) return undefined;
  const allowed = 1 - objective;
  const share = bad / total;
  // An objective of 100 % allows nothing: any bad request burns without bound.
  if (allowed <= 0) return share === 0 ? 0 : Infinity;
  return share / allowed;
}

export interface SloWindowStatus {
  readonly requests: number;
  readonly failures: number;
  readonly slow: number;
  /** Successes / requests; null without requests. */
  readonly successRate: number | null;
  readonly burnRate: { readonly success: number | null; readonly latency: number | null };
}

export interface SloStatus {
  readonly authority: string;
  readonly objectives: { readonly success: number; readonly latency: { readonly thresholdMs: number; readonly objective: number }; readonly alertBurnRate: number };
  readonly windows: Readonly<Record<SloWindow, SloWindowStatus>>;
  /** Latency over the last 5 minutes, ms (estimated within 20 %); null without requests. */
  readonly latencyMs: { readonly p50: number | null; readonly p99: number | null };
  /** Objectives whose burn rate is at least alertBurnRate over both windows. */
  readonly burning: ReadonlyArray<'success' | 'latency'>;
}

/** One sample for /metrics: a burn rate of an objective over a window. */
export interface SloBurnSample {
  readonly authority: string;
  readonly objective: 'success' | 'latency';
  readonly window: SloWindow;
  readonly burnRate: number;
}

export interface SloObjectiveSample {
  readonly authority: string;
  readonly objective: 'success' | 'latency';
  readonly value: number;
}

interface Tracked {
  readonly params: SloParams;
  readonly window: OutcomeWindow;
}

export class SloTracker {
  readonly #paramsFor: SloParamsFor;
  readonly #clock: Clock;
  readonly #windowParams: OutcomeWindowParams;
  readonly #routes = new Map<string, Tracked>();
  readonly #maxRoutes: number;

  constructor(paramsFor: SloParamsFor | SloParams, clock: Clock, options: { readonly window?: OutcomeWindowParams; readonly maxRoutes?: number } = {}) {
    this.#paramsFor = typeof paramsFor === 'function' ? paramsFor : () => paramsFor;
    this.#clock = clock;
    this.#windowParams = options.window ?? outcomeWindowParams;
    // About 13 KB a route: 1000 routes are 13 MB at most.
    this.#maxRoutes = options.maxRoutes ?? 1000;
  }

  record(authority: string, success: boolean, latencyMs: number): void {
    let tracked = this.#routes.get(authority);
    // A dtab can turn client-chosen Host values into names: past maxRoutes, new ones share one
    // "overflow" entry (as the metrics' label cap does), so memory stays bounded.
    if (tracked === undefined && this.#routes.size >= this.#maxRoutes) {
      this.#forgetQuiet();
      if (this.#routes.size >= this.#maxRoutes) authority = SLO_OVERFLOW;
      tracked = this.#routes.get(authority);
    }
    if (tracked === undefined) {
      const params = this.#paramsFor(authority);
      tracked = { params, window: new OutcomeWindow(params.latencyThresholdMs, this.#windowParams) };
      this.#routes.set(authority, tracked);
    }
    tracked.window.record(this.#clock.now(), success, latencyMs);
  }

  status(authority: string): SloStatus | undefined {
    const tracked = this.#routes.get(authority);
    return tracked === undefined ? undefined : this.#statusOf(authority, tracked);
  }

  /** Every route with requests in the last hour; routes quiet for longer are forgotten. */
  all(): SloStatus[] {
    this.#forgetQuiet();
    return [...this.#routes].map(([authority, tracked]) => this.#statusOf(authority, tracked));
  }

  burnSamples(): SloBurnSample[] {
    const samples: SloBurnSample[] = [];
    for (const status of this.all()) {
      for (const window of windowNames) {
        for (const objective of ['success', 'latency'] as const) {
          const rate = status.windows[window].burnRate[objective];
          if (rate !== null) samples.push({ authority: status.authority, objective, window, burnRate: rate });
        }
      }
    }
    return samples;
  }

  objectiveSamples(): SloObjectiveSample[] {
    return this.all().flatMap((s) => [
      { authority: s.authority, objective: 'success' as const, value: s.objectives.success },
      { authority: s.authority, objective: 'latency' as const, value: s.objectives.latency.objective },
    ]);
  }

  #forgetQuiet(): void {
    const longest = this.#windowParams.bucketMs * this.#windowParams.countBuckets;
    const now = this.#clock.now();
    for (const [authority, tracked] of this.#routes) {
      if (now - tracked.window.lastRecordAt > longest + this.#windowParams.bucketMs) this.#routes.delete(authority);
    }
  }

  #statusOf(authority: string, { params, window }: Tracked): SloStatus {
    const now = this.#clock.now();
    const windows = {} as Record<SloWindow, SloWindowStatus>;
    for (const name of windowNames) {
      const c = window.counts(now, sloWindows[name]);
      windows[name] = {
        ...c,
        successRate: c.requests === 0 ? null : (c.requests - c.failures) / c.requests,
        burnRate: {
          success: burnRate(c.failures, c.requests, params.successObjective) ?? null,
          latency: burnRate(c.slow, c.requests, params.latencyObjective) ?? null,
        },
      };
    }
    const [p50, p99] = window.quantiles(now, [0.5, 0.99]);
    const burning = (['success', 'latency'] as const).filter((objective) =>
      windowNames.every((name) => (windows[name].burnRate[objective] ?? 0) >= params.alertBurnRate));
    return {
      authority,
      objectives: { success: params.successObjective, latency: { thresholdMs: params.latencyThresholdMs, objective: params.latencyObjective }, alertBurnRate: params.alertBurnRate },
      windows,
      latencyMs: { p50: p50 ?? null, p99: p99 ?? null },
      burning,
    };
  }
}
