import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { seededRandom } from '../../../agent/balance/random.ts';
import { isWeftError, WeftError } from '../../../agent/errors.ts';
import type { AttemptResult, RetryInput, RetryPolicyParams } from '../../../agent/resilience/retry-policy.ts';
import {
  classifyError,
  isIdempotent,
  parseGrpcCodes,
  parseRetryStatuses,
  RetryPolicy,
  retryConditions,
  retryPolicyParams,
  TriedEndpoints,
} from '../../../agent/resilience/retry-policy.ts';

const policy = (params: Partial<RetryPolicyParams> = {}) => new RetryPolicy({ ...retryPolicyParams, ...params }, seededRandom(1));
const input = (over: Partial<RetryInput> & { result: AttemptResult }): RetryInput => ({
  request: { method: 'GET', bodyBytes: 0 },
  retries: 0,
  now: 1_000,
  deadline: undefined,
  ...over,
});
const status = (code: number, grpcStatus?: number): AttemptResult => (grpcStatus === undefined ? { kind: 'response', status: code } : { kind: 'response', status: code, grpcStatus });

describe('retry policy defaults', () => {
  it('are 1 retry, 5xx for idempotent methods, 64 KiB bodies, 25-250 ms backoff, no per-try timeout', () => {
    assert.equal(retryPolicyParams.maxRetries, 1);
    assert.equal(retryPolicyParams.maxBodyBytes, 65_536);
    assert.equal(retryPolicyParams.perTryTimeoutMs, undefined);
    assert.deepEqual(retryConditions, { statuses: [[500, 599]], grpcCodes: [], methods: 'idempotent', onTimeout: true, onReset: true });
  });

  it('knows the RFC 9110 idempotent methods, case-sensitively', () => {
    for (const m of ['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']) assert.equal(isIdempotent(m), true, m);
    for (const m of ['POST', 'PATCH', 'CONNECT', 'get', 'Get']) assert.equal(isIdempotent(m), false, m);
  });
});

describe('RetryPolicy.decide', () => {
  it('retries a 503 on GET after a backoff, and not on POST', () => {
    const get = policy().decide(input({ result: status(503) }));
    assert.equal(get.retry, true);
    if (get.retry) assert.ok(get.delayMs >= 25 && get.delayMs <= 50);
    assert.deepEqual(policy().decide(input({ request: { method: 'POST', bodyBytes: 10 }, result: status(503) })), { retry: false, reason: 'not-idempotent' });
  });

  it('retries a request that was never sent for every method, at once', () => {
    assert.deepEqual(policy().decide(input({ request: { method: 'POST', bodyBytes: 100 }, result: { kind: 'not-sent' } })), { retry: true, delayMs: 0 });
  });

  it('does not retry successes, 4xx, fatal results or gRPC codes the route did not list', () => {
    for (const result of [status(200), status(404), status(429), { kind: 'fatal' } as const, status(200, 14)]) {
      assert.equal(policy().decide(input({ result })).retry, false, JSON.stringify(result));
    }
    assert.deepEqual(policy().decide(input({ result: status(200) })), { retry: false, reason: 'success' });
    assert.deepEqual(policy().decide(input({ result: status(200, 0) })), { retry: false, reason: 'success' });
  });

  it('stops at the retry limit', () => {
    assert.deepEqual(policy().decide(input({ result: status(502), retries: 1 })), { retry: false, reason: 'limit' });
    assert.equal(policy({ maxRetries: 3 }).decide(input({ result: status(502), retries: 2 })).retry, true);
    assert.deepEqual(policy({ maxRetries: 0 }).decide(input({ result: { kind: 'not-sent' } })), { retry: false, reason: 'limit' });
  });

  it('never retries a body over the replay limit or of unknown length', () => {
    assert.deepEqual(policy().decide(input({ request: { method: 'PUT', bodyBytes: 65_537 }, result: { kind: 'not-sent' } })), { retry: false, reason: 'body-too-large' });
    assert.equal(policy().decide(input({ request: { method: 'PUT', bodyBytes: 65_536 }, result: status(500) })).retry, true);
    assert.deepEqual(policy().decide(input({ request: { method: 'PUT', bodyBytes: undefined }, result: status(500) })), { retry: false, reason: 'body-unknown' });
  });

  it('does not retry when the backoff would end past the deadline', () => {
    assert.deepEqual(policy().decide(input({ result: status(500), now: 1_000, deadline: 1_020 })), { retry: false, reason: 'deadline' });
    assert.equal(policy().decide(input({ result: status(500), now: 1_000, deadline: 1_051 })).retry, true);
  });

  it('lets a route widen: all 5xx for every method, gRPC UNAVAILABLE', () => {
    const wide = policy({ conditions: { ...retryConditions, methods: 'any', grpcCodes: [14] } });
    assert.equal(wide.decide(input({ request: { method: 'POST', bodyBytes: 10 }, result: status(500) })).retry, true);
    assert.equal(wide.decide(input({ request: { method: 'POST', bodyBytes: 10 }, result: status(200, 14) })).retry, true);
    assert.equal(wide.decide(input({ request: { method: 'POST', bodyBytes: 10 }, result: status(200, 13) })).retry, false);
  });

  it('lets a route narrow: only 503, no timeouts, no resets', () => {
    const narrow = policy({ conditions: { ...retryConditions, statuses: [[503, 503]], onTimeout: false, onReset: false } });
    assert.equal(narrow.decide(input({ result: status(503) })).retry, true);
    assert.deepEqual(narrow.decide(input({ result: status(500) })), { retry: false, reason: 'not-retryable' });
    assert.deepEqual(narrow.decide(input({ result: { kind: 'timeout' } })), { retry: false, reason: 'not-retryable' });
    assert.deepEqual(narrow.decide(input({ result: { kind: 'failed-after-write' } })), { retry: false, reason: 'not-retryable' });
    assert.equal(narrow.decide(input({ result: { kind: 'not-sent' } })).retry, true, 'not-sent stays retryable');
  });

  it('never retries a non-idempotent request the server may have seen unless the route says any method', () => {
    const results = fc.oneof(
      fc.record({ kind: fc.constant('response' as const), status: fc.integer({ min: 100, max: 599 }) }),
      fc.constantFrom<AttemptResult>({ kind: 'failed-after-write' }, { kind: 'timeout' }, { kind: 'fatal' }),
    );
    fc.assert(
      fc.property(fc.constantFrom('POST', 'PATCH', 'CONNECT', 'get'), results, fc.nat({ max: 100_000 }), fc.nat({ max: 3 }), (method, result, bodyBytes, retries) => {
        const decision = policy({ maxRetries: 3 }).decide(input({ request: { method, bodyBytes }, result, retries }));
        assert.equal(decision.retry, false);
      }),
    );
  });

  it('rejects invalid params', () => {
    assert.throws(() => policy({ maxRetries: -1 }), isWeftError);
    assert.throws(() => policy({ perTryTimeoutMs: 0 }), isWeftError);
    assert.throws(() => policy({ conditions: { ...retryConditions, statuses: [[600, 700]] } }), isWeftError);
  });
});

describe('classifyError', () => {
  it('maps WeftError flags and connect errnos to attempt results', () => {
    assert.deepEqual(classifyError(new WeftError('WEFT_E_PROXY_CONNECT', 'refused', { flags: { retryable: true } })), { kind: 'not-sent' });
    assert.deepEqual(classifyError(new WeftError('WEFT_E_RESILIENCE_LOAD_SHED', 'shed', { flags: { rejected: true } })), { kind: 'fatal' });
    assert.deepEqual(classifyError(new WeftError('WEFT_E_RESILIENCE_DEADLINE_EXCEEDED', 'late', { flags: { interrupted: true } })), { kind: 'fatal' });
    assert.deepEqual(classifyError(new WeftError('WEFT_E_RESILIENCE_TRY_TIMEOUT', 'slow', { flags: { retryable: true } })), { kind: 'timeout' });
    assert.deepEqual(classifyError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })), { kind: 'not-sent' });
    assert.deepEqual(classifyError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })), { kind: 'failed-after-write' });
    assert.deepEqual(classifyError(new DOMException('The operation was aborted', 'AbortError')), { kind: 'fatal' });
    assert.deepEqual(classifyError('a string'), { kind: 'failed-after-write' });
  });
});

describe('TriedEndpoints', () => {
  it('remembers each endpoint once, in order', () => {
    const tried = new TriedEndpoints();
    tried.add('a:1');
    tried.add('b:1');
    tried.add('a:1');
    assert.deepEqual(tried.keys(), ['a:1', 'b:1']);
    assert.equal(tried.size, 2);
    assert.equal(tried.last, 'b:1');
    assert.equal(tried.has('a:1'), true);
    assert.equal(tried.has('c:1'), false);
  });
});

describe('parseRetryStatuses / parseGrpcCodes', () => {
  it('read Linkerd annotation syntax', () => {
    assert.deepEqual(parseRetryStatuses('5xx, gateway-error,429,500-504'), { kind: 'ok', value: [[500, 599], [502, 504], [429, 429], [500, 504]] });
    assert.deepEqual(parseRetryStatuses(''), { kind: 'ok', value: [] });
    assert.deepEqual(parseGrpcCodes('unavailable, RESOURCE_EXHAUSTED,4'), { kind: 'ok', value: [14, 8, 4] });
  });

  it('reject anything else with a reason, never a throw', () => {
    for (const bad of ['6xx', '600', '504-500', 'abc', '5000', '99', ' , ']) {
      const result = parseRetryStatuses(bad);
      assert.equal(result.kind, 'invalid', bad);
    }
    for (const bad of ['ok', '0', '17', 'constructor', '__proto__', 'toString', 'nope']) {
      assert.equal(parseGrpcCodes(bad).kind, 'invalid', bad);
    }
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (text) => {
        const statuses = parseRetryStatuses(text);
        if (statuses.kind === 'ok') for (const [min, max] of statuses.value) assert.ok(min >= 100 && max <= 599 && min <= max);
        const codes = parseGrpcCodes(text);
        if (codes.kind === 'ok') for (const code of codes.value) assert.ok(Number.isInteger(code) && code >= 1 && code <= 16);
      }),
    );
  });
});
