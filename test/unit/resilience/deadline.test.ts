import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  deadlineParams,
  downstreamDeadline,
  effectiveDeadline,
  formatGrpcTimeout,
  formatL5dCtxDeadline,
  formatWeftDeadline,
  GRPC_TIMEOUT,
  L5D_CTX_DEADLINE,
  l5dDeadlineFor,
  l5dRemainingMs,
  parseGrpcTimeout,
  parseL5dCtxDeadline,
  parseWeftDeadline,
  WEFT_DEADLINE,
} from '../../../agent/resilience/deadline.ts';
import type { ParseResult } from '../../../agent/resilience/retry-policy.ts';

function ok<T>(result: ParseResult<T>): T {
  assert.equal(result.kind, 'ok', result.kind === 'invalid' ? result.reason : '');
  if (result.kind !== 'ok') throw new Error('unreachable');
  return result.value;
}

const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 1e-3, n: 1e-6 };
const validGrpcTimeout = fc
  .tuple(fc.stringMatching(/^[0-9]{1,8}$/), fc.constantFrom('H', 'M', 'S', 'm', 'u', 'n'))
  .map(([digits, unit]) => `${digits}${unit}`);

describe('grpc-timeout', () => {
  it('reads 1-8 digits and a unit', () => {
    assert.equal(ok(parseGrpcTimeout('1H')), 3_600_000);
    assert.equal(ok(parseGrpcTimeout('2M')), 120_000);
    assert.equal(ok(parseGrpcTimeout('250m')), 250);
    assert.equal(ok(parseGrpcTimeout('99999999S')), 99_999_999_000);
    assert.equal(ok(parseGrpcTimeout('1500u')), 1.5);
    assert.equal(ok(parseGrpcTimeout('0n')), 0);
    assert.equal(ok(parseGrpcTimeout(' 5S\t')), 5_000, 'optional whitespace around a field value');
  });

  it('rejects everything else with a reason', () => {
    for (const bad of ['', '10', 'm', '100000000m', '-1S', '1.5S', '5 S', '5s', '5ms', '0x10m', '５S', '5S5', '1e3m', 'S'.repeat(200)]) {
      const result = parseGrpcTimeout(bad);
      assert.equal(result.kind, 'invalid', bad);
      if (result.kind === 'invalid') assert.match(result.reason, /^grpc-timeout: /);
    }
  });

  it('formats in the finest unit that fits 8 digits, rounding down', () => {
    assert.equal(formatGrpcTimeout(50), '50000000n');
    assert.equal(formatGrpcTimeout(250), '250000u');
    assert.equal(formatGrpcTimeout(12.345678), '12345678n');
    assert.equal(formatGrpcTimeout(ok(parseGrpcTimeout('123n'))), '123n', 'float error must not cost a nanosecond');
    assert.equal(formatGrpcTimeout(10_000), '10000000u');
    assert.equal(formatGrpcTimeout(3_600_000), '3600000m');
    assert.equal(formatGrpcTimeout(0), '0n');
    assert.equal(formatGrpcTimeout(-5), '0n');
    assert.equal(formatGrpcTimeout(Number.NaN), '0n');
    assert.equal(formatGrpcTimeout(Number.POSITIVE_INFINITY), '99999999H');
  });

  it('round-trips: parse(format(ms)) never exceeds ms and loses at most 1e-5 of it', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 3.6e14, noNaN: true }), (ms) => {
        const back = ok(parseGrpcTimeout(formatGrpcTimeout(ms)));
        assert.ok(back <= ms * (1 + 1e-12) + 1e-9, `${back} > ${ms}`);
        assert.ok(ms - back <= ms * 1e-5 + 1e-6, `${ms} → ${back}`);
      }),
    );
  });

  it('round-trips every valid value: parse ∘ format ∘ parse = parse', () => {
    fc.assert(
      fc.property(validGrpcTimeout, (text) => {
        const ms = ok(parseGrpcTimeout(text));
        assert.equal(ms, Number(text.slice(0, -1)) * (UNIT_MS[text.slice(-1)] ?? Number.NaN));
        const again = ok(parseGrpcTimeout(formatGrpcTimeout(ms)));
        assert.ok(Math.abs(again - ms) <= ms * 1e-9, `${text}: ${ms} → ${formatGrpcTimeout(ms)} → ${again}`);
      }),
      { numRuns: 1_000 },
    );
  });

  it('never throws on hostile input, and accepts only the grammar', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 20 }), fc.string({ unit: 'binary', maxLength: 20 }), validGrpcTimeout), (text) => {
        const result = parseGrpcTimeout(text);
        assert.equal(result.kind === 'ok', /^[ \t]*[0-9]{1,8}[HMSmun][ \t]*$/.test(text), text);
      }),
    );
  });
});

const long = fc.bigInt({ min: 0n, max: 2n ** 63n - 1n });

describe('l5d-ctx-deadline', () => {
  it('reads Finagle\'s "<timestamp-ns> <deadline-ns>"', () => {
    assert.deepEqual(ok(parseL5dCtxDeadline('1700000000000000000 1700000000250000000')), { timestampNs: 1_700_000_000_000_000_000n, deadlineNs: 1_700_000_000_250_000_000n });
  });

  it('round-trips every pair of non-negative longs exactly', () => {
    fc.assert(
      fc.property(long, long, (timestampNs, deadlineNs) => {
        assert.deepEqual(ok(parseL5dCtxDeadline(formatL5dCtxDeadline({ timestampNs, deadlineNs }))), { timestampNs, deadlineNs });
      }),
    );
  });

  it('combines several values to the strictest and skips unreadable ones, as Linkerd 1 does', () => {
    assert.deepEqual(ok(parseL5dCtxDeadline(['10 500', '20 400, junk', '5 900'])), { timestampNs: 20n, deadlineNs: 400n });
  });

  it('rejects hostile values with a reason', () => {
    for (const bad of ['', '1', '1 2 3', '1  2', '-1 2', '1 -2', '1.0 2', 'a b', '9223372036854775808 1', '1 99999999999999999999', ' , ', '1\t2', 'x'.repeat(2_000)]) {
      const result = parseL5dCtxDeadline(bad);
      assert.equal(result.kind, 'invalid', JSON.stringify(bad));
      if (result.kind === 'invalid') assert.match(result.reason, /^l5d-ctx-deadline: /);
    }
    assert.equal(parseL5dCtxDeadline(Array.from({ length: 20 }, () => '1 2')).kind, 'invalid', 'too many values');
    fc.assert(fc.property(fc.oneof(fc.string(), fc.array(fc.string(), { maxLength: 5 })), (value) => void parseL5dCtxDeadline(value)));
  });

  it('leaves deadline - now, but never more than the sender granted (clock skew)', () => {
    const d = { timestampNs: 1_000_000_000_000n, deadlineNs: 1_000_500_000_000n }; // set at t=1e6 ms, 500 ms budget
    assert.equal(l5dRemainingMs(d, 1_000_100), 400);
    assert.equal(l5dRemainingMs(d, 999_000), 500, 'our clock is behind theirs: capped at the budget');
    assert.equal(l5dRemainingMs(d, 1_000_600), -100);
  });

  it('builds a deadline from the time left', () => {
    assert.deepEqual(l5dDeadlineFor(250, 1_700_000_000_000), { timestampNs: 1_700_000_000_000_000_000n, deadlineNs: 1_700_000_000_250_000_000n });
  });
});

describe('weft-deadline', () => {
  it('is the remaining milliseconds as 1-10 digits', () => {
    assert.equal(ok(parseWeftDeadline('1500')), 1_500);
    assert.equal(formatWeftDeadline(1_500.9), '1500');
    assert.equal(formatWeftDeadline(-3), '0');
    assert.equal(formatWeftDeadline(1e20), '9999999999');
    for (const bad of ['', '-1', '1.5', '1e3', '12345678901', '0x10', '15ms', '１']) assert.equal(parseWeftDeadline(bad).kind, 'invalid', bad);
  });

  it('round-trips whole milliseconds exactly and never rounds time up', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 9_999_999_999 }), (ms) => assert.equal(ok(parseWeftDeadline(formatWeftDeadline(ms))), ms)));
    fc.assert(
      fc.property(fc.double({ min: 0, max: 9_999_999_999, noNaN: true }), (ms) => {
        const back = ok(parseWeftDeadline(formatWeftDeadline(ms)));
        assert.ok(back <= ms && ms - back < 1);
      }),
    );
  });

  it('never throws on hostile input', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 30 }), (value) => void parseWeftDeadline(value)));
  });
});

describe('effectiveDeadline', () => {
  const at = { now: 5_000, nowEpochMs: 1_700_000_000_000 };

  it('is the route timeout (10 s by default) when callers say nothing', () => {
    assert.equal(deadlineParams.routeTimeoutMs, 10_000);
    assert.deepEqual(effectiveDeadline(deadlineParams, {}, at), { deadline: 15_000, source: 'route', budgetMs: 10_000, invalid: [] });
  });

  it('takes the strictest of the route, the context and each incoming header', () => {
    const l5d = formatL5dCtxDeadline(l5dDeadlineFor(300, at.nowEpochMs - 100)); // set 100 ms ago with 300 ms: 200 left
    const result = effectiveDeadline(deadlineParams, { [GRPC_TIMEOUT]: '2S', [L5D_CTX_DEADLINE]: l5d, [WEFT_DEADLINE]: '700' }, { ...at, contextDeadline: 9_000 });
    assert.equal(result.source, L5D_CTX_DEADLINE);
    assert.equal(result.deadline, 5_200);
    assert.equal(effectiveDeadline(deadlineParams, { [WEFT_DEADLINE]: '700' }, at).deadline, 5_700);
    assert.equal(effectiveDeadline(deadlineParams, { [GRPC_TIMEOUT]: '150m' }, { ...at, contextDeadline: 5_100 }).source, 'context');
  });

  it('ignores unreadable headers and reports why', () => {
    const result = effectiveDeadline(deadlineParams, { [GRPC_TIMEOUT]: 'soon', [WEFT_DEADLINE]: '-1' }, at);
    assert.equal(result.source, 'route');
    assert.deepEqual(result.invalid.map((i) => i.header), [GRPC_TIMEOUT, WEFT_DEADLINE]);
  });

  it('ignores headers the route does not honour, and has no deadline without a route timeout', () => {
    const params = { ...deadlineParams, routeTimeoutMs: undefined, honour: { ...deadlineParams.honour, [WEFT_DEADLINE]: false } };
    assert.deepEqual(effectiveDeadline(params, { [WEFT_DEADLINE]: '5' }, at), { deadline: undefined, source: undefined, budgetMs: undefined, invalid: [] });
  });

  it('treats an expired incoming deadline as "now"', () => {
    assert.equal(effectiveDeadline(deadlineParams, { [GRPC_TIMEOUT]: '0m' }, at).deadline, at.now);
  });

  it('can never be extended by what a caller sends', () => {
    fc.assert(
      fc.property(fc.record({ [GRPC_TIMEOUT]: fc.option(fc.string(), { nil: undefined }), [L5D_CTX_DEADLINE]: fc.option(fc.string(), { nil: undefined }), [WEFT_DEADLINE]: fc.option(fc.string(), { nil: undefined }) }), (incoming) => {
        const result = effectiveDeadline(deadlineParams, incoming, at);
        assert.ok(result.deadline !== undefined && result.deadline <= at.now + 10_000 && result.deadline >= at.now);
      }),
    );
  });
});

describe('downstreamDeadline', () => {
  it('sends the time left after what this hop spent', () => {
    const result = downstreamDeadline(deadlineParams, 10_000, { now: 9_300, nowEpochMs: 0 }, false);
    assert.deepEqual(result, { kind: 'headers', remainingMs: 700, headers: [[WEFT_DEADLINE, '700']] });
  });

  it('adds grpc-timeout for gRPC and l5d-ctx-deadline when asked', () => {
    const params = { ...deadlineParams, propagate: { [GRPC_TIMEOUT]: true, [L5D_CTX_DEADLINE]: true, [WEFT_DEADLINE]: true } };
    const result = downstreamDeadline(params, 1_250, { now: 1_000, nowEpochMs: 1_700_000_000_000 }, true);
    assert.deepEqual(result, {
      kind: 'headers',
      remainingMs: 250,
      headers: [
        [GRPC_TIMEOUT, '250000u'],
        [L5D_CTX_DEADLINE, '1700000000000000000 1700000000250000000'],
        [WEFT_DEADLINE, '250'],
      ],
    });
  });

  it('says expired rather than sending a zero, and nothing without a deadline', () => {
    assert.deepEqual(downstreamDeadline(deadlineParams, 1_000, { now: 1_000, nowEpochMs: 0 }, true), { kind: 'expired' });
    assert.deepEqual(downstreamDeadline(deadlineParams, undefined, { now: 1_000, nowEpochMs: 0 }, true), { kind: 'none' });
  });
});
