import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { HttpHeaders } from '../../../../agent/proxy/http/headers.ts';
import type { Incoming } from '../../../../agent/telemetry/tracing/propagation.ts';
import {
  extract, formatB3Single, formatsOf, formatTraceparent, inject, parseB3Single, parseTraceparent, parseTracestate,
} from '../../../../agent/telemetry/tracing/propagation.ts';
import type { TraceContext } from '../../../../agent/telemetry/tracing/trace-context.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

const headers = (...list: string[]): HttpHeaders => new HttpHeaders(list);
const hex = (n: number): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: n, maxLength: n });
const context: fc.Arbitrary<TraceContext> = fc.record({
  traceId: hex(32).filter((s) => /[1-9a-f]/.test(s)),
  spanId: hex(16).filter((s) => /[1-9a-f]/.test(s)),
  sampled: fc.boolean(),
  debug: fc.constant(false),
  traceState: fc.constantFrom(undefined, 'rojo=00f067aa0ba902b7', 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7'),
});

function parentOf(incoming: Incoming): TraceContext {
  assert.equal(incoming.kind, 'parent');
  return incoming.kind === 'parent' ? incoming.parent : assert.fail('no parent');
}

describe('W3C traceparent', () => {
  it('parses the spec example: trace id, parent id, sampled flag', () => {
    assert.deepEqual(parseTraceparent(`00-${TRACE}-${SPAN}-01`), { traceId: TRACE, spanId: SPAN, flags: 1 });
    assert.deepEqual(parseTraceparent(`00-${TRACE}-${SPAN}-00`), { traceId: TRACE, spanId: SPAN, flags: 0 });
  });

  it('refuses what the spec calls invalid: zero ids, upper case, version ff, a longer version 00, wrong lengths', () => {
    for (const bad of [
      `00-${'0'.repeat(32)}-${SPAN}-01`, `00-${TRACE}-${'0'.repeat(16)}-01`, `00-${TRACE.toUpperCase()}-${SPAN}-01`,
      `ff-${TRACE}-${SPAN}-01`, `00-${TRACE}-${SPAN}-01-extra`, `00-${TRACE.slice(1)}-${SPAN}-01`, `00-${TRACE}-${SPAN}-1`, '', '00',
      `0-${TRACE}-${SPAN}-01`, `00_${TRACE}_${SPAN}_01`,
    ]) assert.equal(parseTraceparent(bad), undefined, bad);
  });

  it('accepts a later version with more fields, reading only the version-00 part', () => {
    assert.deepEqual(parseTraceparent(`01-${TRACE}-${SPAN}-01-what-the-future-holds`), { traceId: TRACE, spanId: SPAN, flags: 1 });
  });

  it('round-trips any context through format and parse (property)', () => {
    fc.assert(fc.property(context, (cx) => {
      const parsed = parseTraceparent(formatTraceparent(cx));
      assert.deepEqual(parsed, { traceId: cx.traceId, spanId: cx.spanId, flags: cx.sampled ? 1 : 0 });
    }));
  });

  it('never throws on arbitrary text, and a malformed value is ignored: no parent (property)', () => {
    fc.assert(fc.property(fc.string(), fc.string(), (traceparent, tracestate) => {
      const incoming = extract(headers('traceparent', traceparent, 'tracestate', tracestate));
      if (incoming.kind === 'parent') assert.deepEqual(parseTraceparent(traceparent)?.traceId, incoming.parent.traceId);
      else assert.equal(parseTraceparent(traceparent), undefined);
    }), { numRuns: 2000 });
  });

  it('never throws on near-miss values built from valid pieces (property)', () => {
    const piece = fc.oneof(hex(2), hex(16), hex(32), fc.constantFrom('-', '00', 'ff', 'FF', '0'.repeat(32), ' ', 'zz'));
    fc.assert(fc.property(fc.array(piece, { maxLength: 8 }), (pieces) => {
      const value = pieces.join('');
      const parsed = parseTraceparent(value);
      if (parsed !== undefined) {
        assert.match(parsed.traceId, /^[0-9a-f]{32}$/);
        assert.notEqual(parsed.traceId, '0'.repeat(32));
        assert.notEqual(parsed.spanId, '0'.repeat(16));
      }
    }), { numRuns: 2000 });
  });

  it('ignores two traceparent fields (which one would be the caller?)', () => {
    assert.equal(extract(headers('traceparent', `00-${TRACE}-${SPAN}-01`, 'traceparent', `00-${TRACE}-${SPAN}-01`)).kind, 'none');
  });

  it('keeps a valid tracestate with the parent, joined from several fields, and drops a malformed one', () => {
    const cx = parentOf(extract(headers('traceparent', `00-${TRACE}-${SPAN}-01`, 'tracestate', 'rojo=00f067aa0ba902b7', 'tracestate', 'congo=t61rcWkgMzE')));
    assert.equal(cx.traceState, 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE');
    assert.equal(parseTracestate(['rojo=1,rojo=2']), undefined, 'duplicate key');
    assert.equal(parseTracestate(['Rojo=1']), undefined, 'upper-case key');
    assert.equal(parseTracestate(['novalue']), undefined);
    assert.equal(parseTracestate([Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(',')]), undefined, 'more than 32 members');
    assert.equal(parseTracestate(['tenant@vendor=x, ,a=b']), 'tenant@vendor=x,a=b');
  });
});

describe('B3', () => {
  it('parses single-header b3 with sampling and parent, 128- and 64-bit trace ids', () => {
    const full = parseB3Single(`${TRACE}-${SPAN}-1-05e3ac9a4f6e3b90`);
    assert.equal(parentOf(full as Incoming).traceId, TRACE);
    assert.equal(parentOf(full as Incoming).sampled, true);
    const short = parseB3Single(`a3ce929d0e0e4736-${SPAN}-0`) as Extract<Incoming, { kind: 'parent' }>;
    assert.equal(short.parent.traceId, '0000000000000000a3ce929d0e0e4736');
    assert.equal(short.shortTraceId, true);
    assert.equal(short.parent.sampled, false);
    const debug = parseB3Single(`${TRACE}-${SPAN}-d`) as Extract<Incoming, { kind: 'parent' }>;
    assert.deepEqual([debug.parent.sampled, debug.parent.debug], [true, true]);
    const deferred = parseB3Single(`${TRACE}-${SPAN}`) as Extract<Incoming, { kind: 'parent' }>;
    assert.equal(deferred.deferred, true);
  });

  it('reads b3: 0 / 1 / d as a sampling decision without a parent', () => {
    assert.deepEqual(parseB3Single('0'), { kind: 'decision', sampled: false, debug: false });
    assert.deepEqual(parseB3Single('d'), { kind: 'decision', sampled: true, debug: true });
    assert.equal(parseB3Single('x'), undefined);
  });

  it('refuses malformed single headers', () => {
    for (const bad of [`${TRACE}-${SPAN}-2`, `${TRACE}-short-1`, `${TRACE}-${SPAN}-1-zz`, `${TRACE}-${SPAN}-1-${SPAN}-more`, `${'0'.repeat(32)}-${SPAN}-1`, '-', '']) {
      assert.equal(parseB3Single(bad), undefined, bad);
    }
  });

  it('parses multi-header B3, case-insensitive hex, sampled as 1/true, flags 1 as debug', () => {
    const m = extract(headers('x-b3-traceid', TRACE.toUpperCase(), 'x-b3-spanid', SPAN, 'x-b3-parentspanid', '05e3ac9a4f6e3b90', 'x-b3-sampled', 'true'));
    assert.deepEqual(parentOf(m), { traceId: TRACE, spanId: SPAN, sampled: true, debug: false, traceState: undefined });
    const d = extract(headers('x-b3-traceid', TRACE, 'x-b3-spanid', SPAN, 'x-b3-flags', '1'));
    assert.equal(parentOf(d).debug, true);
    assert.deepEqual(extract(headers('x-b3-sampled', '0')), { kind: 'decision', sampled: false, debug: false });
    assert.equal(extract(headers('x-b3-traceid', TRACE)).kind, 'none', 'a trace id without a span id');
  });

  it('never throws on arbitrary b3 values (property)', () => {
    fc.assert(fc.property(fc.string(), fc.string(), fc.string(), fc.string(), (b3, t, s, sampled) => {
      extract(headers('b3', b3));
      extract(headers('x-b3-traceid', t, 'x-b3-spanid', s, 'x-b3-sampled', sampled));
    }), { numRuns: 1000 });
  });

  it('round-trips a context through b3 single (property)', () => {
    fc.assert(fc.property(context, fc.option(hex(16).filter((s) => /[1-9a-f]/.test(s)), { nil: undefined }), (cx, parent) => {
      const incoming = parseB3Single(formatB3Single(cx, parent));
      const got = parentOf(incoming as Incoming);
      assert.deepEqual([got.traceId, got.spanId, got.sampled], [cx.traceId, cx.spanId, cx.sampled]);
    }));
  });
});

describe('choosing and writing formats', () => {
  it('prefers W3C over b3 over x-b3-* when several are valid', () => {
    const h = headers('x-b3-traceid', 'a'.repeat(32), 'x-b3-spanid', 'b'.repeat(16), 'b3', `${'c'.repeat(32)}-${SPAN}-1`, 'traceparent', `00-${TRACE}-${SPAN}-01`);
    assert.equal(parentOf(extract(h)).traceId, TRACE);
    assert.deepEqual(formatsOf(h), ['w3c', 'b3-single', 'b3-multi']);
    h.delete('traceparent');
    assert.equal(parentOf(extract(h)).traceId, 'c'.repeat(32));
  });

  it('falls back to the next format when the preferred one is malformed', () => {
    const h = headers('traceparent', 'garbage', 'b3', `${TRACE}-${SPAN}-1`);
    assert.equal(parentOf(extract(h)).traceId, TRACE);
  });

  it('writes each requested format and removes stale fields of the others', () => {
    const cx: TraceContext = { traceId: TRACE, spanId: 'b7ad6b7169203331', sampled: true, debug: false, traceState: 'rojo=1' };
    const h = headers('traceparent', 'stale', 'x-b3-sampled', '0', 'accept', '*/*');
    inject(h, cx, ['w3c', 'b3-multi', 'b3-single'], SPAN);
    assert.deepEqual(h.list, [
      'accept', '*/*',
      'traceparent', `00-${TRACE}-b7ad6b7169203331-01`, 'tracestate', 'rojo=1',
      'x-b3-traceid', TRACE, 'x-b3-spanid', 'b7ad6b7169203331', 'x-b3-parentspanid', SPAN, 'x-b3-sampled', '1',
      'b3', `${TRACE}-b7ad6b7169203331-1-${SPAN}`,
    ]);
  });

  it('writes a 64-bit B3 trace id back as 64 bits', () => {
    const cx: TraceContext = { traceId: '0000000000000000a3ce929d0e0e4736', spanId: SPAN, sampled: false, debug: true, traceState: undefined };
    const h = new HttpHeaders();
    inject(h, cx, ['b3-single', 'b3-multi'], undefined, true);
    assert.deepEqual(h.list, ['b3', `a3ce929d0e0e4736-${SPAN}-d`, 'x-b3-traceid', 'a3ce929d0e0e4736', 'x-b3-spanid', SPAN, 'x-b3-flags', '1']);
  });
});
