import assert from 'node:assert/strict';
import { SocketAddress } from 'node:net';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseConfig } from '../../../agent/config/load.ts';
import { ConfigError } from '../../../agent/config/problems.ts';
import { formatGrpcCodes, formatRetryStatuses, mergeRoute, routeNameProblem } from '../../../agent/config/proxy.ts';
import { concurrencyBudgetParams, ratioBudgetParams } from '../../../agent/resilience/retry-budget.ts';
import { parseGrpcCodes, parseRetryStatuses } from '../../../agent/resilience/retry-policy.ts';

function problems(input: unknown): Array<{ path: string; message: string }> {
  try {
    parseConfig(input);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error.problems.map((p) => ({ path: p.path, message: p.message }));
  }
  assert.fail('expected a ConfigError, nothing was thrown');
}

function proxy(input: unknown): ReturnType<typeof parseConfig>['proxy'] {
  return parseConfig({ proxy: input }).proxy;
}

describe('proxy.routes: per-route overrides', () => {
  it('an override widens retries for its route only; every other setting, and every other route, stays as proxy.route', () => {
    const config = proxy({ routes: { 'default/web:http': { retry: { limit: 3, on: '5xx,429', methods: 'any' } } } });
    const web = mergeRoute(config.route, config.routes['default/web:http']);
    assert.deepEqual(web, { ...config.route, retry: { ...config.route.retry, limit: 3, on: '5xx,429', methods: 'any' } });
    assert.equal(config.route.retry.limit, 1);
    assert.equal(config.route.retry.on, '5xx');
    assert.deepEqual(mergeRoute(config.route, config.routes['default/other:http']), config.route);
  });

  it('an override inherits from proxy.route as configured, not from the built-in defaults', () => {
    const config = proxy({ route: { timeoutMs: 5000, retry: { maxBodyBytes: 1024 } }, routes: { 'a/b:http': { retry: { limit: 2 } } } });
    const merged = mergeRoute(config.route, config.routes['a/b:http']);
    assert.equal(merged.timeoutMs, 5000);
    assert.equal(merged.retry.maxBodyBytes, 1024);
    assert.equal(merged.retry.limit, 2);
  });

  it('an override of nested settings replaces only the settings it names', () => {
    const config = proxy({ routes: { 'a/b:http': { failureAccrual: { successRate: { threshold: 0 } }, balancer: { algorithm: 'round-robin' } } } });
    const merged = mergeRoute(config.route, config.routes['a/b:http']);
    assert.deepEqual(merged.failureAccrual, { ...config.route.failureAccrual, successRate: { ...config.route.failureAccrual.successRate, threshold: 0 } });
    assert.deepEqual(merged.balancer, { ...config.route.balancer, algorithm: 'round-robin' });
  });

  it('a budget override without kind keeps the kind; switching kind starts from that kind\'s defaults', () => {
    const config = proxy({
      route: { retry: { budget: { ratio: 0.5, ttlMs: 20_000 } } },
      routes: { 'a/b:http': { retry: { budget: { minPerSecond: 1 } } }, 'a/c:http': { retry: { budget: { kind: 'concurrency', min: 7 } } } },
    });
    assert.deepEqual(mergeRoute(config.route, config.routes['a/b:http']).retry.budget, { kind: 'ratio', ratio: 0.5, minPerSecond: 1, ttlMs: 20_000 });
    assert.deepEqual(mergeRoute(config.route, config.routes['a/c:http']).retry.budget, { kind: 'concurrency', ratio: concurrencyBudgetParams.ratio, min: 7 });
    const back = proxy({ route: { retry: { budget: { kind: 'concurrency', min: 9 } } }, routes: { 'a/b:http': { retry: { budget: { kind: 'ratio' } } } } });
    assert.deepEqual(mergeRoute(back.route, back.routes['a/b:http']).retry.budget, {
      kind: 'ratio',
      ratio: ratioBudgetParams.ratio,
      minPerSecond: ratioBudgetParams.minRetriesPerSec,
      ttlMs: ratioBudgetParams.ttlMs,
    });
  });

  it('an override may turn things off: no timeout, no retries, no ejection', () => {
    const config = proxy({ routes: { '10.0.0.1:80': { timeoutMs: 0, retry: { limit: 0, on: '' }, failureAccrual: { consecutiveFailures: 0 } } } });
    const merged = mergeRoute(config.route, config.routes['10.0.0.1:80']);
    assert.equal(merged.timeoutMs, 0);
    assert.equal(merged.retry.limit, 0);
    assert.equal(merged.retry.on, '');
    assert.equal(merged.failureAccrual.consecutiveFailures, 0);
  });
});

describe('proxy: Linkerd retry syntax', () => {
  it('statuses and gRPC codes are kept as written; a YAML number or list reads as the text it stands for', () => {
    assert.equal(proxy({ route: { retry: { on: 503 } } }).route.retry.on, '503');
    assert.equal(proxy({ route: { retry: { on: [500, '502-504'] } } }).route.retry.on, '500,502-504');
    assert.equal(proxy({ route: { retry: { grpcCodes: 14 } } }).route.retry.grpcCodes, '14');
    assert.equal(proxy({ route: { retry: { grpcCodes: 'unavailable, DEADLINE_EXCEEDED' } } }).route.retry.grpcCodes, 'unavailable, DEADLINE_EXCEEDED');
  });

  it('the default texts read back as the policy\'s defaults', () => {
    assert.equal(formatRetryStatuses([[500, 599], [429, 429], [502, 504]]), '5xx,429,502-504');
    assert.equal(formatGrpcCodes([14, 4]), 'unavailable,deadline-exceeded');
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 16 })), (codes) => {
        assert.deepEqual(parseGrpcCodes(formatGrpcCodes(codes)), { kind: 'ok', value: codes });
      }),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 100, max: 599 }), fc.integer({ min: 0, max: 499 }))), (pairs) => {
        const ranges = pairs.map(([min, width]): [number, number] => [min, Math.min(599, min + width)]);
        assert.deepEqual(parseRetryStatuses(formatRetryStatuses(ranges)), { kind: 'ok', value: ranges });
      }),
    );
  });
});

describe('proxy: route names', () => {
  it('accepts the names the service router and passthrough give routes', () => {
    for (const name of ['default/web:http', 'default/web:8080', 'kube-system/kube-dns:dns-tcp', '10.0.0.1:80', '[fd00::1]:80', '[::ffff:10.0.0.1]:443']) {
      assert.equal(routeNameProblem(name), undefined, name);
    }
  });

  it('refuses what could never name a route, saying why', () => {
    assert.match(routeNameProblem('web') ?? '', /must be a route name: "<namespace>\/<service>:<port name or number>"/);
    assert.match(routeNameProblem('Default/web:http') ?? '', /must be a route name/);
    assert.match(routeNameProblem('default/web:70000') ?? '', /port 70000 is not 1 to 65535/);
    assert.match(routeNameProblem('10.0.0.300:80') ?? '', /10\.0\.0\.300 is not an IPv4 address/);
    assert.match(routeNameProblem('10.0.0.1:0') ?? '', /port 0 is not 1 to 65535/);
    assert.equal(routeNameProblem('[FD00:0::1]:80'), 'must be written as [fd00::1]:80, the form the proxy names this route by');
  });

  it('any IPv6 address in the form Node prints it, with any port, is a route name', () => {
    fc.assert(
      fc.property(fc.ipV6(), fc.integer({ min: 1, max: 65535 }), (address, port) => {
        const printed = new SocketAddress({ address, family: 'ipv6' }).address;
        assert.equal(routeNameProblem(`[${printed}]:${port}`), undefined);
      }),
    );
  });
});

describe('proxy: bad values are reported at their setting, with what is allowed', () => {
  const cases: Array<[string, unknown, string, RegExp]> = [
    ['a status range', { route: { retry: { on: '5xx,600' } } }, 'proxy.route.retry.on', /retry\.linkerd\.io\/http.*not a status, range, 5xx or gateway-error: "600"/],
    ['a gRPC code name', { route: { retry: { grpcCodes: 'unavailble' } } }, 'proxy.route.retry.grpcCodes', /not a gRPC error code: "unavailble"/],
    ['a retry limit', { route: { retry: { limit: 11 } } }, 'proxy.route.retry.limit', /whole number of retries per request from 0 to 10/],
    ['a method set', { route: { retry: { methods: 'post' } } }, 'proxy.route.retry.methods', /must be one of idempotent, any/],
    ['a budget kind', { route: { retry: { budget: { kind: 'token' } } } }, 'proxy.route.retry.budget.kind', /must be one of ratio, concurrency/],
    ['a field of the other budget kind', { route: { retry: { budget: { kind: 'ratio', min: 2 } } } }, 'proxy.route.retry.budget.min', /unknown setting \(allowed here: kind, ratio, minPerSecond, ttlMs\)/],
    ['a balancer', { route: { balancer: { algorithm: 'p2c' } } }, 'proxy.route.balancer.algorithm', /p2c-peak-ewma, p2c-least-loaded, round-robin, aperture/],
    ['a share', { route: { loadShed: { sourceMaxShare: 0 } } }, 'proxy.route.loadShed.sourceMaxShare', /more than 0 up to 1/],
    ['a threshold', { route: { failureAccrual: { successRate: { threshold: 1.5 } } } }, 'proxy.route.failureAccrual.successRate.threshold', /from 0 up to 1 \(0: off\)/],
    ['a server-first port', { detect: { serverFirstPorts: [25, 25] } }, 'proxy.detect.serverFirstPorts', /must not list a port twice/],
    ['an override value', { routes: { 'default/web:http': { retry: { limit: -1 } } } }, 'proxy.routes["default/web:http"].retry.limit', /from 0 to 10/],
    ['an override key', { routes: { 'default/web:http': { retry: { limt: 2 } } } }, 'proxy.routes["default/web:http"].retry.limt', /did you mean "limit"\?/],
    ['a route name', { routes: { 'web:http': {} } }, 'proxy.routes["web:http"]', /must be a route name/],
    ['an override that is not a mapping', { routes: { 'a/b:http': 3 } }, 'proxy.routes["a/b:http"]', /must be a mapping of settings \(allowed keys: timeoutMs, retry, balancer, failureAccrual, loadShed\)/],
  ];
  for (const [what, input, path, message] of cases) {
    it(`${what}: ${path}`, () => {
      const found = problems({ proxy: input });
      assert.equal(found.length, 1, JSON.stringify(found));
      assert.equal(found[0]?.path, path);
      assert.match(found[0]?.message ?? '', message);
    });
  }

  it('every problem of the section at once', () => {
    const found = problems({ proxy: { route: { timeoutMs: -1, retry: { on: 'x', perTryTimeoutMs: 1.5 } }, http1: { idleTimeoutMs: 0 }, routes: { nope: {} } } });
    assert.deepEqual(found.map((p) => p.path).sort(), ['proxy.http1.idleTimeoutMs', 'proxy.route.retry.on', 'proxy.route.retry.perTryTimeoutMs', 'proxy.route.timeoutMs', 'proxy.routes.nope']);
  });
});

describe('proxy: rules between settings, checked on each route as merged', () => {
  it('a per-try timeout at or past the route timeout is refused where it is set', () => {
    assert.deepEqual(problems({ proxy: { route: { timeoutMs: 2000, retry: { perTryTimeoutMs: 2000 } } } }), [
      { path: 'proxy.route.retry.perTryTimeoutMs', message: "must be less than the route's timeoutMs (2000): a try that times out at the deadline can never be retried; 0 turns the per-try timeout off" },
    ]);
    // Set on the route, against the inherited route timeout.
    const perTry = problems({ proxy: { routes: { 'a/b:http': { retry: { perTryTimeoutMs: 10_000 } } } } });
    assert.equal(perTry[0]?.path, 'proxy.routes["a/b:http"].retry.perTryTimeoutMs');
    assert.match(perTry[0]?.message ?? '', /less than the route's timeoutMs \(10000, from proxy\.route\)/);
    // The route shortens its timeout under the inherited per-try timeout: reported at the timeout.
    const timeout = problems({ proxy: { route: { retry: { perTryTimeoutMs: 3000 } }, routes: { 'a/b:http': { timeoutMs: 2000 } } } });
    assert.deepEqual(timeout.map((p) => p.path), ['proxy.routes["a/b:http"].timeoutMs']);
    assert.match(timeout[0]?.message ?? '', /more than the route's retry\.perTryTimeoutMs \(3000, from proxy\.route\)/);
  });

  it('a problem a route only inherits is reported once, at proxy.route', () => {
    const input = { proxy: { route: { retry: { perTryTimeoutMs: 10_000 }, failureAccrual: { backoff: { minMs: 70_000 } } }, routes: { 'a/b:http': { retry: { limit: 2 } }, 'a/c:http': {} } } };
    assert.deepEqual(problems(input).map((p) => p.path), ['proxy.route.retry.perTryTimeoutMs', 'proxy.route.failureAccrual.backoff.minMs']);
  });

  it('a per-try timeout is fine under the route timeout, or with no route timeout', () => {
    assert.equal(proxy({ route: { timeoutMs: 2000, retry: { perTryTimeoutMs: 1999 } } }).route.retry.perTryTimeoutMs, 1999);
    assert.equal(proxy({ route: { timeoutMs: 0, retry: { perTryTimeoutMs: 60_000 } } }).route.retry.perTryTimeoutMs, 60_000);
  });

  it('ejection backoff needs min <= max, reported at whichever the route set', () => {
    assert.deepEqual(problems({ proxy: { route: { failureAccrual: { backoff: { minMs: 5000, maxMs: 4000 } } } } }).map((p) => p.path), ['proxy.route.failureAccrual.backoff.minMs']);
    const found = problems({ proxy: { routes: { 'a/b:http': { failureAccrual: { backoff: { maxMs: 500 } } } } } });
    assert.deepEqual(found, [{ path: 'proxy.routes["a/b:http"].failureAccrual.backoff.maxMs', message: 'must be at least failureAccrual.backoff.minMs (1000, from proxy.route)' }]);
  });

  it('an override\'s budget fields must belong to the kind the route ends up with', () => {
    const found = problems({ proxy: { routes: { 'a/b:http': { retry: { budget: { min: 4 } } } } } });
    assert.deepEqual(found.map((p) => p.path), ['proxy.routes["a/b:http"].retry.budget.min']);
    assert.match(found[0]?.message ?? '', /kind: concurrency budgets; this route's budget is kind: ratio \(from proxy\.route\); set kind: concurrency here to switch/);
    assert.equal(proxy({ routes: { 'a/b:http': { retry: { budget: { kind: 'concurrency', min: 4 } } } } }).routes['a/b:http']?.retry?.budget?.min, 4);
  });
});

describe('proxy: a resolved section is valid input that resolves to itself', () => {
  it('round-trips through JSON, overrides included', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10 }),
        fc.constantFrom('5xx', '500-504,429', 503, [500, 502], ''),
        fc.constantFrom('ratio', 'concurrency'),
        fc.integer({ min: 1, max: 60_000 }),
        (limit, on, kind, timeoutMs) => {
          const input = { proxy: { route: { timeoutMs, retry: { on, budget: { kind } } }, routes: { 'ns/svc:http': { retry: { limit } }, '[fd00::1]:80': { timeoutMs: 0 } } } };
          const once = parseConfig(input);
          assert.deepEqual(parseConfig(JSON.parse(JSON.stringify(once))), once);
        },
      ),
    );
  });
});
