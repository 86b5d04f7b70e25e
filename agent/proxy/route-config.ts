// From the `proxy` configuration to the params the proxy runs with. Pure: no I/O, no clock. Every
// route named in `proxy.routes` is built and validated here, once, when the agent starts, so a bad
// value stops the start with the setting's path instead of failing a request later; the params
// objects are then shared by every request of their route. A route without an override gets the
// one `proxy.route` params object.
import { validatePanicParams } from '../balance/pick.ts';
import { validatePeakEwmaParams } from '../balance/peak-ewma.ts';
import { mergeRoute } from '../config/proxy.ts';
import type { ProxyConfig, RouteConfig } from '../config/proxy.ts';
import { ConfigError, formatPath } from '../config/problems.ts';
import { describeError } from '../errors.ts';
import { validateAdmissionParams } from '../resilience/admission.ts';
import { validateFailureAccrualParams } from '../resilience/failure-accrual.ts';
import type { RetryBudgetParams } from '../resilience/retry-budget.ts';
import { newRetryBudget } from '../resilience/retry-budget.ts';
import { parseGrpcCodes, parseRetryStatuses, validateRetryPolicyParams } from '../resilience/retry-policy.ts';
import type { ParseResult } from '../resilience/retry-policy.ts';
import type { Clock } from '../time/clock.ts';
import type { DetectParams } from './detect/params.ts';
import { detectParams, validateDetectParams } from './detect/params.ts';
import type { Http1ServerParams } from './http1/server-connection.ts';
import { http1ServerParams, validateHttp1ServerParams } from './http1/server-connection.ts';
import type { HttpRouteParams, RouteParamsFor } from './outbound-http.ts';
import { httpRouteParams } from './outbound-http.ts';

/**
 * The params of each route by name: `proxy.routes[name]` laid over `proxy.route` when the route
 * has an override, else `proxy.route`. Throws ConfigError naming the route's settings when a
 * route's params would be refused by the layer that uses them.
 */
export function routeParamsFromConfig(proxy: ProxyConfig): RouteParamsFor {
  const defaults = checked(['proxy', 'route'], () => httpRouteParamsFrom(proxy.route));
  const byName = new Map<string, HttpRouteParams>();
  for (const [name, override] of Object.entries(proxy.routes)) {
    byName.set(name, checked(['proxy', 'routes', name], () => httpRouteParamsFrom(mergeRoute(proxy.route, override))));
  }
  return (name) => byName.get(name) ?? defaults;
}

/** One route's params from its resolved settings; what the config does not cover keeps its default. */
export function httpRouteParamsFrom(route: RouteConfig): HttpRouteParams {
  const { retry, balancer, failureAccrual, loadShed } = route;
  const base = httpRouteParams;
  const params: HttpRouteParams = {
    ...base,
    admission: { ...base.admission, routeMaxInFlight: loadShed.maxInFlight, sourceMaxShare: loadShed.sourceMaxShare },
    deadline: { ...base.deadline, routeTimeoutMs: route.timeoutMs === 0 ? undefined : route.timeoutMs },
    retry: {
      policy: {
        ...base.retry.policy,
        maxRetries: retry.limit,
        perTryTimeoutMs: retry.perTryTimeoutMs === 0 ? undefined : retry.perTryTimeoutMs,
        maxBodyBytes: retry.maxBodyBytes,
        conditions: {
          ...base.retry.policy.conditions,
          statuses: parsed('retry.on', parseRetryStatuses(retry.on)),
          grpcCodes: parsed('retry.grpcCodes', parseGrpcCodes(retry.grpcCodes)),
          methods: retry.methods,
        },
      },
      budget: budgetParams(retry.budget),
    },
    balance: {
      ...base.balance,
      algorithm: balancer.algorithm,
      peakEwma: { ...base.balance.peakEwma, defaultRttMs: balancer.defaultRttMs, decayMs: balancer.decayMs },
      panic: { ...base.balance.panic, panicThresholdPercent: balancer.panicThresholdPercent },
    },
    accrual: {
      ...base.accrual,
      consecutiveFailures: failureAccrual.consecutiveFailures,
      backoff: { ...base.accrual.backoff, minMs: failureAccrual.backoff.minMs, maxMs: failureAccrual.backoff.maxMs },
      // A threshold of 0 can never be crossed: the check is off, so it keeps no window at all.
      successRate: failureAccrual.successRate.threshold === 0 ? undefined : { ...failureAccrual.successRate },
    },
  };
  validateHttpRouteParams(params);
  return params;
}

function budgetParams(budget: RouteConfig['retry']['budget']): RetryBudgetParams {
  return budget.kind === 'ratio'
    ? { kind: 'ratio', ratio: budget.ratio, minRetriesPerSec: budget.minPerSecond, ttlMs: budget.ttlMs }
    : { kind: 'concurrency', ratio: budget.ratio, minConcurrency: budget.min };
}

// A budget checks its params when built; building one against a clock that never moves checks
// them without starting anything.
const stillClock: Clock = { now: () => 0, setTimer: () => () => undefined };

/** The checks the layers make when they are built, made now. Throws the layer's WeftError. */
export function validateHttpRouteParams(params: HttpRouteParams): void {
  validateAdmissionParams(params.admission);
  validateRetryPolicyParams(params.retry.policy);
  newRetryBudget(params.retry.budget, stillClock);
  validatePeakEwmaParams(params.balance.peakEwma);
  validatePanicParams(params.balance.panic);
  validateFailureAccrualParams(params.accrual);
}

/** Protocol detection's params: the configured wait and server-first ports, the other limits as they are. */
export function detectParamsFromConfig(proxy: ProxyConfig): DetectParams {
  return checked(['proxy', 'detect'], () => {
    const params: DetectParams = { ...detectParams, timeoutMs: proxy.detect.timeoutMs, serverFirstPorts: new Set(proxy.detect.serverFirstPorts) };
    validateDetectParams(params);
    return params;
  });
}

/** The HTTP/1 server connection's params: the configured timers, the framing limits as they are. */
export function http1ServerParamsFromConfig(proxy: ProxyConfig): Http1ServerParams {
  return checked(['proxy', 'http1'], () => {
    const params: Http1ServerParams = { ...http1ServerParams, headerTimeoutMs: proxy.http1.headerTimeoutMs, idleTimeoutMs: proxy.http1.idleTimeoutMs };
    validateHttp1ServerParams(params);
    return params;
  });
}

class InvalidSetting extends Error {
  readonly setting: string;

  constructor(setting: string, reason: string) {
    super(reason);
    this.setting = setting;
  }
}

function parsed<T>(setting: string, result: ParseResult<T>): T {
  if (result.kind === 'invalid') throw new InvalidSetting(setting, result.reason);
  return result.value;
}

/**
 * Runs `build`; a refusal becomes a ConfigError at `path`. The schema allows only values the
 * layers accept, so this fires only when the two disagree; the message then still names the setting.
 */
function checked<T>(path: readonly string[], build: () => T): T {
  try {
    return build();
  } catch (error) {
    const at = error instanceof InvalidSetting ? [...path, ...error.setting.split('.')] : path;
    throw new ConfigError([{ path: formatPath(at), message: describeError(error) }], 'invalid proxy configuration', { cause: error });
  }
}
