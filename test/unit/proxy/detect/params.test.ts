import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { H2_PREFACE } from '../../../../agent/proxy/detect/classify.ts';
import { detectParams, validateDetectParams, withDetectParams } from '../../../../agent/proxy/detect/params.ts';
import { http1Params } from '../../../../agent/proxy/http1/params.ts';

describe('detectParams', () => {
  it('defaults are valid: a 1 s wait, one TLS record of peek, the http1 line limit, and Linkerd’s server-first ports', () => {
    validateDetectParams(detectParams);
    assert.equal(detectParams.timeoutMs, 1000);
    assert.equal(detectParams.maxPeekBytes, (1 << 14) + 5);
    assert.equal(detectParams.maxRequestLineBytes, http1Params.maxRequestLineBytes);
    assert.ok(detectParams.maxPeekBytes >= detectParams.maxRequestLineBytes + 2, 'a whole request line fits in the peek');
    assert.deepEqual([...detectParams.serverFirstPorts].sort((a, b) => a - b), [25, 587, 3306, 4444, 5432, 6379, 9300, 11211]);
  });

  it('overrides replace single values and are validated', () => {
    const p = withDetectParams({ timeoutMs: 50, serverFirstPorts: new Set([2525]) });
    assert.equal(p.timeoutMs, 50);
    assert.equal(p.maxPeekBytes, detectParams.maxPeekBytes);
    assert.deepEqual([...p.serverFirstPorts], [2525]);
  });

  it('refuses values that would make detection stall or never see a preface, with WEFT_E_DETECT_PARAMS', () => {
    const bad = [
      { timeoutMs: 0 },
      { timeoutMs: 1.5 },
      { timeoutMs: Number.POSITIVE_INFINITY },
      { maxPeekBytes: H2_PREFACE.length - 1 },
      { maxRequestLineBytes: 0 },
      { serverFirstPorts: new Set([0]) },
      { serverFirstPorts: new Set([65536]) },
    ];
    for (const overrides of bad) {
      assert.throws(() => withDetectParams(overrides), { code: 'WEFT_E_DETECT_PARAMS' }, JSON.stringify(overrides));
    }
    assert.doesNotThrow(() => withDetectParams({ maxPeekBytes: H2_PREFACE.length }));
  });
});
