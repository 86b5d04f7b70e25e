// The transport's path for fields (parsed head → model → head for the next hop, http1-transport-head.ts):
// no hop-by-hop field ever reaches the next hop, and every end-to-end field does, in order (RFC 9110
// §7.6.1), in both directions. And the heads of the switching messages: Upgrade, CONNECT, 101.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { HttpBody } from '../../../../agent/proxy/http/body.ts';
import { HttpHeaders } from '../../../../agent/proxy/http/headers.ts';
import { HttpRequest, HttpResponse } from '../../../../agent/proxy/http/message.ts';
import {
  encodeRequestHead,
  encodeResponseHead,
  encodeSwitchHead,
  headersOf,
  NO_BODY,
  requestFraming,
  requestOf,
} from '../../../../agent/proxy/http1/http1-transport-head.ts';
import { headView, otherNameArb, owsArb, parseHead, valueArb } from './arbitraries.ts';

interface Line {
  readonly name: string;
  readonly value: string;
  /** e2e: an ordinary field (end-to-end unless Connection names it); hop: hop-by-hop; expect: Expect. */
  readonly kind: 'e2e' | 'hop' | 'expect';
}

const randomCase = (s: string, flips: readonly boolean[]): string =>
  s
    .split('')
    .map((c, i) => (flips[i % Math.max(1, flips.length)] === true ? c.toUpperCase() : c.toLowerCase()))
    .join('');

/** An ordinary field; "close" is left out because it is also a Connection option with a meaning. */
const endToEndArb = fc.record({ name: otherNameArb.filter((n) => n.toLowerCase() !== 'close'), value: valueArb });

/**
 * A head's field lines: end-to-end fields in order, and hop-by-hop ones put in at random places:
 * Connection (split over one or two lines) naming its own fields and sometimes end-to-end-looking
 * ones, the fields it names, Keep-Alive, Proxy-Connection, TE, and an Upgrade that is no upgrade
 * (Connection lacks the "upgrade" option).
 */
const fieldsArb = fc
  .record({
    endToEnd: fc.array(endToEndArb, { maxLength: 10 }),
    named: fc.uniqueArray(otherNameArb.filter((n) => n.toLowerCase() !== 'close'), { maxLength: 3, selector: (n) => n.toLowerCase() }),
    alsoNameEndToEnd: fc.array(fc.boolean(), { maxLength: 10 }),
    persistence: fc.constantFrom(undefined, 'keep-alive', 'close'),
    splitConnection: fc.boolean(),
    keepAlive: fc.boolean(),
    proxyConnection: fc.boolean(),
    te: fc.constantFrom(undefined, 'trailers', 'gzip', 'deflate;q=0.5, Trailers', 'chunked'),
    upgrade: fc.boolean(),
    expect: fc.constantFrom(undefined, '100-continue', '100-Continue'),
    positions: fc.array(fc.nat(), { minLength: 12, maxLength: 12 }),
    flips: fc.array(fc.boolean(), { minLength: 1, maxLength: 5 }),
    ows: fc.array(owsArb, { minLength: 2, maxLength: 2 }),
  })
  .map((spec) => {
    const options = [...spec.named];
    spec.endToEnd.forEach((f, i) => {
      if (spec.alsoNameEndToEnd[i] === true) options.push(f.name);
    });
    const named = new Set(options.map((o) => o.toLowerCase()));
    const hop: Line[] = [];
    const hopLine = (name: string, value: string): void => {
      hop.push({ name: randomCase(name, spec.flips), value, kind: 'hop' });
    };
    const connection = [...options, ...(spec.persistence === undefined ? [] : [spec.persistence])];
    if (connection.length > 0) {
      const cut = spec.splitConnection ? connection.length >> 1 : connection.length;
      if (cut > 0) hopLine('Connection', connection.slice(0, cut).join(', '));
      if (cut < connection.length) hopLine('connection', connection.slice(cut).join(' ,'));
    }
    for (const name of spec.named) hopLine(name, 'hop');
    if (spec.keepAlive) hopLine('Keep-Alive', 'timeout=5, max=100');
    if (spec.proxyConnection) hopLine('Proxy-Connection', 'keep-alive');
    if (spec.te !== undefined) hopLine('TE', spec.te);
    if (spec.upgrade) hopLine('Upgrade', 'h2c');
    if (spec.expect !== undefined) hop.push({ name: randomCase('expect', spec.flips), value: spec.expect, kind: 'expect' });
    // Hop-by-hop lines go in at random places; the end-to-end ones keep their order.
    const lines: Line[] = spec.endToEnd.map((f) => ({ name: f.name, value: f.value, kind: 'e2e' }));
    hop.forEach((line, i) => {
      lines.splice((spec.positions[i] ?? 0) % (lines.length + 1), 0, line);
    });
    const text = lines.map((l) => `${l.name}:${spec.ows[0] ?? ''}${l.value}${spec.ows[1] ?? ''}\r\n`).join('');
    // What the next hop must get, in order (lower-case names): the ordinary fields Connection did not
    // name, and Expect: normalised in a request (where it means 100-continue), as it came in a response.
    const kept = lines.filter((l) => (l.kind === 'e2e' && !named.has(l.name.toLowerCase())) || l.kind === 'expect');
    const requestEndToEnd = kept.map((l): [string, string] => (l.kind === 'expect' ? ['expect', '100-continue'] : [l.name.toLowerCase(), l.value]));
    const responseEndToEnd = kept.map((l): [string, string] => [l.name.toLowerCase(), l.value]);
    const trailers = spec.te !== undefined && /trailers/i.test(spec.te);
    return { text, requestEndToEnd, responseEndToEnd, trailers, named };
  });

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'upgrade', 'transfer-encoding', 'content-length', 'host']);

describe('hop-by-hop fields through the HTTP/1.1 transport (RFC 9110 §7.6.1)', () => {
  it('request: no hop-by-hop field reaches the upstream, every end-to-end field does in order; TE survives only as "te: trailers" with connection: te', () => {
    fc.assert(
      fc.property(fieldsArb, ({ text, requestEndToEnd: endToEnd, trailers, named }) => {
        const head = parseHead(`POST /p HTTP/1.1\r\nHost: svc:80\r\n${text}Content-Length: 3\r\n\r\n`);
        const req = requestOf(head, HttpBody.from('abc'));
        assert.ok(req !== undefined);
        assert.equal(req.upgrade, undefined, 'an Upgrade without the upgrade option is no upgrade');
        // The model: end-to-end fields in order, te: trailers the only trace of TE.
        const model = req.headers.list;
        const pairs: [string, string][] = [];
        for (let i = 0; i < model.length; i += 2) pairs.push([model[i] as string, model[i + 1] as string]);
        assert.deepEqual(
          pairs.filter(([n]) => n !== 'te'),
          endToEnd,
        );
        assert.deepEqual(pairs.filter(([n]) => n === 'te'), trailers ? [['te', 'trailers']] : []);
        // The wire: Host, the end-to-end fields, this hop's TE with its Connection option, framing.
        const wire = headView(parseHead(encodeRequestHead(req, requestFraming(req)).toString('latin1'))).fields;
        const hopLines: [string, string][] = trailers ? [['te', 'trailers'], ['connection', 'te']] : [];
        assert.deepEqual(wire, [['host', 'svc:80'], ...endToEnd, ...hopLines, ['content-length', '3']]);
        for (const [name] of wire.slice(1, 1 + endToEnd.length)) {
          assert.ok(!HOP_BY_HOP.has(name) && !named.has(name), `${name} reached the next hop`);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('response: no hop-by-hop field reaches the client, every end-to-end field does in order; TE and Upgrade never do', () => {
    fc.assert(
      fc.property(fieldsArb, ({ text, responseEndToEnd }) => {
        const head = parseHead(`HTTP/1.1 200 OK\r\n${text}Content-Length: 3\r\n\r\n`, 'response', { method: 'GET', upgrade: false });
        const res = new HttpResponse(head.status, headersOf(head), HttpBody.from('abc'));
        const wire = headView(parseHead(encodeResponseHead(res, 3, undefined).toString('latin1'), 'response', { method: 'GET', upgrade: false })).fields;
        // Expect means nothing in a response: an ordinary field there, passed as it came.
        assert.deepEqual(wire, [...responseEndToEnd, ['content-length', '3']]);
      }),
      { numRuns: 400 },
    );
  });
});

describe('heads of switching messages', () => {
  it('an Upgrade request becomes HttpRequest.upgrade and goes out with connection: upgrade; end-to-end fields ride along', () => {
    const head = parseHead(
      'GET /chat HTTP/1.1\r\nHost: chat\r\nConnection: Upgrade, keep-alive\r\nUpgrade: websocket\r\nUpgrade: x-other/2\r\nSec-WebSocket-Key: k\r\nTE: trailers\r\n\r\n',
    );
    const req = requestOf(head, HttpBody.empty());
    assert.ok(req !== undefined);
    assert.equal(req.upgrade, 'websocket, x-other/2');
    assert.deepEqual(req.headers.list, ['sec-websocket-key', 'k', 'te', 'trailers']);
    assert.equal(
      encodeRequestHead(req, requestFraming(req)).toString('latin1'),
      'GET /chat HTTP/1.1\r\nhost: chat\r\nsec-websocket-key: k\r\nte: trailers\r\nupgrade: websocket, x-other/2\r\nconnection: te, upgrade\r\n\r\n',
    );
  });

  it('a CONNECT request goes out in authority-form with no framing; its model has no path', () => {
    const head = parseHead('CONNECT db.internal:5432 HTTP/1.1\r\nHost: db.internal:5432\r\nProxy-Connection: keep-alive\r\nX-Trace: 1\r\n\r\n');
    const req = requestOf(head, HttpBody.empty());
    assert.ok(req !== undefined);
    assert.deepEqual([req.method, req.upgrade, req.authority, req.path], ['CONNECT', 'CONNECT', 'db.internal:5432', '']);
    assert.equal(requestFraming(req), NO_BODY);
    assert.equal(encodeRequestHead(req, requestFraming(req)).toString('latin1'), 'CONNECT db.internal:5432 HTTP/1.1\r\nhost: db.internal:5432\r\nx-trace: 1\r\n\r\n');
  });

  it('refuses an upgrade value that would split the head', () => {
    for (const upgrade of ['websocket\r\nx: 1', 'web socket', '', 'CONNECT']) {
      const req = new HttpRequest('GET', 'http', 'svc', '/');
      req.upgrade = upgrade;
      assert.throws(() => encodeRequestHead(req, NO_BODY), { code: 'WEFT_E_HTTP_BAD_REQUEST_HEAD' }, JSON.stringify(upgrade));
    }
  });

  it("a 101 keeps the upstream's Upgrade in its model and goes to the client with connection: upgrade and no framing", () => {
    const head = parseHead('HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade, x-hop\r\nX-Hop: 1\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: a\r\n\r\n', 'response', {
      method: 'GET',
      upgrade: true,
    });
    const res = new HttpResponse(101, headersOf(head));
    assert.deepEqual(res.headers.list, ['upgrade', 'websocket', 'sec-websocket-accept', 'a']);
    assert.equal(encodeSwitchHead(res).toString('latin1'), 'HTTP/1.1 101 Switching Protocols\r\nsec-websocket-accept: a\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n');
    const established = new HttpResponse(200, new HttpHeaders(['content-length', '5', 'x-a', '1']));
    assert.equal(encodeSwitchHead(established).toString('latin1'), 'HTTP/1.1 200 OK\r\nx-a: 1\r\n\r\n');
  });

  it('drops an expectation other than 100-continue, and 100-continue from HTTP/1.0 (RFC 9110 §10.1.1)', () => {
    const other = requestOf(parseHead('POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\n'), HttpBody.from('x'));
    assert.deepEqual(other?.headers.list, []);
    const old = requestOf(parseHead('POST / HTTP/1.0\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n'), HttpBody.from('x'));
    assert.deepEqual(old?.headers.list, []);
  });
});
