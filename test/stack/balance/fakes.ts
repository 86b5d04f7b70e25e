// In-memory endpoints for layer-composition tests: each answers on the fake clock after its latency,
// refuses, resets or hangs as the test says, and honours the call's abort signal like a real client.
import type { EndpointAddress } from '../../../agent/balance/endpoint-set.ts';
import { endpointKey } from '../../../agent/balance/endpoint-set.ts';
import { WeftError } from '../../../agent/errors.ts';
import type { AttemptResult } from '../../../agent/resilience/retry-policy.ts';
import type { CallContext, Service } from '../../../agent/stack/service.ts';
import type { FakeClock } from '../../unit/balance/fake-clock.ts';

export interface FakeReq {
  readonly method: string;
  readonly bodyBytes?: number | undefined;
  readonly headers?: Readonly<Record<string, string>>;
  readonly source?: string;
}

export interface FakeRes {
  readonly status: number;
  readonly from: string;
  readonly grpcStatus?: number;
  readonly retryAfterMs?: number;
}

export type Behavior =
  | { readonly kind: 'respond'; readonly status: number; readonly latencyMs: number; readonly grpcStatus?: number; readonly retryAfterMs?: number }
  | { readonly kind: 'refuse' }
  | { readonly kind: 'reset'; readonly afterMs: number }
  | { readonly kind: 'hang' };

export const ok = (latencyMs = 5): Behavior => ({ kind: 'respond', status: 200, latencyMs });
export const status = (code: number, latencyMs = 5, retryAfterMs?: number): Behavior =>
  retryAfterMs === undefined ? { kind: 'respond', status: code, latencyMs } : { kind: 'respond', status: code, latencyMs, retryAfterMs };

export interface SeenCall {
  readonly at: number;
  readonly req: FakeReq;
  readonly cx: CallContext;
}

export class FakeEndpoint implements Service<FakeReq, FakeRes> {
  readonly key: string;
  readonly calls: SeenCall[] = [];
  behavior: Behavior | ((n: number) => Behavior);
  closed = false;
  inFlight = 0;
  maxInFlight = 0;
  readonly #clock: FakeClock;

  constructor(key: string, clock: FakeClock, behavior: Behavior | ((n: number) => Behavior) = ok()) {
    this.key = key;
    this.#clock = clock;
    this.behavior = behavior;
  }

  call(req: FakeReq, cx: CallContext): Promise<FakeRes> {
    const n = this.calls.length;
    this.calls.push({ at: this.#clock.now(), req, cx });
    const behavior = typeof this.behavior === 'function' ? this.behavior(n) : this.behavior;
    if (behavior.kind === 'refuse') {
      return Promise.reject(new WeftError('WEFT_E_TEST_CONNECT', `connect ECONNREFUSED ${this.key}`, { flags: { retryable: true } }));
    }
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    return new Promise<FakeRes>((resolve, reject) => {
      let cancel = (): void => undefined;
      const done = (): void => {
        this.inFlight -= 1;
        cx.signal.removeEventListener('abort', onAbort);
        cancel();
      };
      const onAbort = (): void => {
        done();
        reject(cx.signal.reason instanceof Error ? cx.signal.reason : new Error('aborted'));
      };
      cx.signal.addEventListener('abort', onAbort, { once: true });
      if (behavior.kind === 'respond') {
        cancel = this.#clock.setTimer(behavior.latencyMs, () => {
          done();
          const res: FakeRes = { status: behavior.status, from: this.key };
          resolve({ ...res, ...(behavior.grpcStatus === undefined ? {} : { grpcStatus: behavior.grpcStatus }), ...(behavior.retryAfterMs === undefined ? {} : { retryAfterMs: behavior.retryAfterMs }) });
        });
      } else if (behavior.kind === 'reset') {
        cancel = this.#clock.setTimer(behavior.afterMs, () => {
          done();
          reject(Object.assign(new Error(`read ECONNRESET from ${this.key}`), { code: 'ECONNRESET' }));
        });
      }
    });
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

/** Endpoints by key, made on demand by the balancer's NewService. */
export class FakeCluster {
  readonly endpoints = new Map<string, FakeEndpoint>();
  readonly #clock: FakeClock;
  readonly #behaviors = new Map<string, Behavior | ((n: number) => Behavior)>();

  constructor(clock: FakeClock) {
    this.#clock = clock;
  }

  /** Sets the behaviour of an endpoint now or when it gets created. */
  set(key: string, behavior: Behavior | ((n: number) => Behavior)): void {
    this.#behaviors.set(key, behavior);
    const existing = this.endpoints.get(key);
    if (existing !== undefined) existing.behavior = behavior;
  }

  readonly newEndpoint = (endpoint: EndpointAddress): FakeEndpoint => {
    const key = endpointKey(endpoint);
    const made = new FakeEndpoint(key, this.#clock, this.#behaviors.get(key) ?? ok());
    this.endpoints.set(key, made);
    return made;
  };

  get(key: string): FakeEndpoint {
    const endpoint = this.endpoints.get(key);
    if (endpoint === undefined) throw new Error(`no endpoint ${key}`);
    return endpoint;
  }

  /** Calls per endpoint key. */
  counts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [key, endpoint] of this.endpoints) out[key] = endpoint.calls.length;
    return out;
  }

  /** All calls in time order, as "at key". */
  journal(): string[] {
    return [...this.endpoints.values()]
      .flatMap((e) => e.calls.map((c) => ({ at: c.at, key: e.key })))
      .sort((a, b) => a.at - b.at)
      .map((c) => `${c.at} ${c.key}`);
  }
}

export const addresses = (...lasts: number[]): EndpointAddress[] => lasts.map((last) => ({ address: `10.0.0.${last}`, port: 80 }));

export function resultOf(res: FakeRes): AttemptResult {
  return res.grpcStatus === undefined ? { kind: 'response', status: res.status } : { kind: 'response', status: res.status, grpcStatus: res.grpcStatus };
}

export function newContext(deadline?: number): { cx: CallContext; abort: (reason?: unknown) => void } {
  const controller = new AbortController();
  return { cx: { deadline, signal: controller.signal }, abort: (reason) => controller.abort(reason) };
}
