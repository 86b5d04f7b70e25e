import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseConfig } from '../../../agent/config/load.ts';
import { ConfigError } from '../../../agent/config/problems.ts';
import type { ProxyConfig, RouteConfig } from '../../../agent/config/proxy.ts';
import { detectParams } from '../../../agent/proxy/detect/params.ts';
import { http1ServerParams } from '../../../agent/proxy/http1/server-connection.ts';
import { httpRouteParams } from '../../../agent/proxy/outbound-http.ts';
import { detectParamsFromConfig, http1ServerParamsFromConfig, httpRouteParamsFrom, routeParamsFromConfig } from '../../../agent/proxy/route-config.ts';

function proxy(input: unknown): ProxyConfig {
  return parseConfig({ proxy: input }).proxy;
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a ConfigError, nothing was thrown');
}

describe('route-config: defaults', () => {
  it('zero config gives the proxy\'s own default params, for every route', () => {
    const paramsFor = routeParamsFromConfig(proxy({}));
    assert.deepEqual(paramsFor('default/web:http'), httpRouteParams);
    assert.deepEqual(paramsFor('10.0.0.1:80'), httpRouteParams);
    assert.deepEqual(detectParamsFromConfig(proxy({})), detectParams);
    assert.deepEqual(http1ServerParamsFromConfig(proxy({})), http1ServerParams);
  });

  it('routes without an override share one params object; an overridden route has its own, built once', () => {
    const paramsFor = routeParamsFromConfig(proxy({ routes: { 'default/web:http': { retry: { limit: 2 } } } }));
    assert.equal(paramsFor('a/b:http'), paramsFor('c/d:grpc'));
    assert.equal(paramsFor('default/web:http'), paramsFor('default/web:http'));
    assert.notEqual(paramsFor('default/web:http'), paramsFor('a/b:http'));
  });
});

describe('route-config: mapping', () => {
  it('an override widens retries for its route only', () => {
    const paramsFor = routeParamsFromConfig(
      proxy({ routes: { 'payments/ledger:grpc': { retry: { limit: 3, perTryTimeoutMs: 2000, on: '5xx,429', grpcCodes: 'unavailable,deadline-exceeded', methods: 'any' } } } }),
    );
    const ledger = paramsFor('payments/ledger:grpc');
    assert.deepEqual(ledger.retry.policy, {
      ...httpRouteParams.retry.policy,
      maxRetries: 3,
      perTryTimeoutMs: 2000,
      conditions: { ...httpRouteParams.retry.policy.conditions, statuses: [[500, 599], [429, 429]], grpcCodes: [14, 4], methods: 'any' },
    });
    assert.deepEqual({ ...ledger, retry: { ...ledger.retry, policy: httpRouteParams.retry.policy } }, httpRouteParams, 'nothing else of the route changed');
    assert.deepEqual(paramsFor('payments/other:grpc'), httpRouteParams);
  });

  it('0 turns a timeout, the success-rate check and ejection off the way the layers expect', () => {
    const params = routeParamsFromConfig(proxy({ route: { timeoutMs: 0, failureAccrual: { consecutiveFailures: 0, successRate: { threshold: 0 } } } }))('x');
    assert.equal(params.deadline.routeTimeoutMs, undefined);
    assert.equal(params.retry.policy.perTryTimeoutMs, undefined);
    assert.equal(params.accrual.successRate, undefined);
    assert.equal(params.accrual.consecutiveFailures, 0);
  });

  it('maps every other setting to its params field', () => {
    const params = routeParamsFromConfig(
      proxy({
        route: {
          timeoutMs: 4000,
          retry: { maxBodyBytes: 0, budget: { kind: 'concurrency', ratio: 0.5, min: 9 } },
          balancer: { algorithm: 'aperture', defaultRttMs: 5, decayMs: 2000, panicThresholdPercent: 100 },
          failureAccrual: { consecutiveFailures: 3, backoff: { minMs: 10, maxMs: 20 }, successRate: { threshold: 0.9, windowMs: 5000, minRequests: 4 } },
          loadShed: { maxInFlight: 50, sourceMaxShare: 1 },
        },
      }),
    )('x');
    assert.equal(params.deadline.routeTimeoutMs, 4000);
    assert.equal(params.retry.policy.maxBodyBytes, 0);
    assert.deepEqual(params.retry.budget, { kind: 'concurrency', ratio: 0.5, minConcurrency: 9 });
    assert.deepEqual(params.balance, { ...httpRouteParams.balance, algorithm: 'aperture', peakEwma: { defaultRttMs: 5, decayMs: 2000 }, panic: { ...httpRouteParams.balance.panic, panicThresholdPercent: 100 } });
    assert.deepEqual(params.accrual, { ...httpRouteParams.accrual, consecutiveFailures: 3, backoff: { ...httpRouteParams.accrual.backoff, minMs: 10, maxMs: 20 }, successRate: { threshold: 0.9, windowMs: 5000, minRequests: 4 } });
    assert.deepEqual(params.admission, { ...httpRouteParams.admission, routeMaxInFlight: 50, sourceMaxShare: 1 });
    const ratio = routeParamsFromConfig(proxy({ route: { retry: { budget: { ratio: 1, minPerSecond: 0, ttlMs: 100 } } } }))('x');
    assert.deepEqual(ratio.retry.budget, { kind: 'ratio', ratio: 1, minRetriesPerSec: 0, ttlMs: 100 });
  });

  it('detection and the HTTP/1 server take their configured values', () => {
    const config = proxy({ detect: { timeoutMs: 250, serverFirstPorts: [] }, http1: { headerTimeoutMs: 500, idleTimeoutMs: 1000 } });
    assert.deepEqual(detectParamsFromConfig(config), { ...detectParams, timeoutMs: 250, serverFirstPorts: new Set() });
    assert.deepEqual(http1ServerParamsFromConfig(config), { ...http1ServerParams, headerTimeoutMs: 500, idleTimeoutMs: 1000 });
  });
});

describe('route-config: the schema allows only params the layers accept', () => {
  it('any route within the schema\'s ranges builds', () => {
    const route = fc.record({
      timeoutMs: fc.integer({ min: 0, max: 86_400_000 }),
      retry: fc.record({
        limit: fc.integer({ min: 0, max: 10 }),
        maxBodyBytes: fc.integer({ min: 0, max: 64 * 1024 * 1024 }),
        budget: fc.oneof(
          fc.record({ kind: fc.constant('ratio'), ratio: fc.double({ min: 0, max: 1000, noNaN: true }), minPerSecond: fc.double({ min: 0, max: 1_000_000, noNaN: true }), ttlMs: fc.integer({ min: 100, max: 3_600_000 }) }),
          fc.record({ kind: fc.constant('concurrency'), ratio: fc.double({ min: 0, max: 1000, noNaN: true }), min: fc.integer({ min: 0, max: 100_000 }) }),
        ),
      }),
      balancer: fc.record({
        algorithm: fc.constantFrom('p2c-peak-ewma', 'p2c-least-loaded', 'round-robin', 'aperture'),
        defaultRttMs: fc.double({ min: Number.MIN_VALUE, max: 60_000, noNaN: true }),
        decayMs: fc.integer({ min: 1, max: 3_600_000 }),
        panicThresholdPercent: fc.double({ min: 0, max: 100, noNaN: true }),
      }),
      failureAccrual: fc.record({
        consecutiveFailures: fc.integer({ min: 0, max: 1000 }),
        backoff: fc.integer({ min: 1, max: 86_400_000 }).chain((maxMs) => fc.record({ minMs: fc.integer({ min: 0, max: maxMs }), maxMs: fc.constant(maxMs) })),
        successRate: fc.record({ threshold: fc.double({ min: 0, max: 1, noNaN: true }), windowMs: fc.integer({ min: 100, max: 3_600_000 }), minRequests: fc.integer({ min: 1, max: 1_000_000 }) }),
      }),
      loadShed: fc.record({ maxInFlight: fc.integer({ min: 1, max: 10_000_000 }), sourceMaxShare: fc.double({ min: Number.MIN_VALUE, max: 1, noNaN: true }) }),
    });
    fc.assert(
      fc.property(route, (input) => {
        const config = proxy({ route: input });
        const params = httpRouteParamsFrom(config.route);
        assert.equal(params.retry.policy.maxRetries, input.retry.limit);
      }),
      { numRuns: 300 },
    );
  });

  it('params a layer would refuse stop the start with the route\'s path, not the first request', () => {
    const config = proxy({ routes: { 'default/web:http': { retry: { limit: 2 } } } });
    const web = config.routes['default/web:http'];
    // Past the schema (a config built in code): the layers' own checks still run, once, up front.
    const broken: ProxyConfig = { ...config, routes: { 'default/web:http': { ...web, retry: { ...web?.retry, budget: { kind: 'ratio', ttlMs: 5 } } } } };
    const error = configError(() => routeParamsFromConfig(broken));
    assert.equal(error.problems[0]?.path, 'proxy.routes["default/web:http"]');
    assert.match(error.problems[0]?.message ?? '', /retry budget: ttlMs must be at least 10 ms, got 5/);
    assert.ok(error.cause instanceof Error);

    const badStatuses: RouteConfig = { ...config.route, retry: { ...config.route.retry, on: '5xx,7' } };
    const statusError = configError(() => routeParamsFromConfig({ ...config, route: badStatuses }));
    assert.equal(statusError.problems[0]?.path, 'proxy.route.retry.on');
    assert.match(statusError.problems[0]?.message ?? '', /not a status/);
  });
});
