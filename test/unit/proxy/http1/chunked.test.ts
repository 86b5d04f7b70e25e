import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { BodyReader } from '../../../../agent/proxy/http1/body-reader.ts';
import { ChunkedDecoder } from '../../../../agent/proxy/http1/chunked-decoder.ts';
import { CRLF, chunkHeader, encodeChunk, lastChunk } from '../../../../agent/proxy/http1/chunked-encoder.ts';
import { LengthBodyReader } from '../../../../agent/proxy/http1/length-body.ts';
import { http1Params } from '../../../../agent/proxy/http1/params.ts';
import { UntilCloseBodyReader } from '../../../../agent/proxy/http1/until-close-body.ts';
import { serializeTrailers } from './body-support.ts';
import { cutsArb, fieldArb, latin1, split, tokenArb } from './arbitraries.ts';

interface Drained {
  readonly data: Buffer;
  /** 'done' with the offset of the first byte after the body in the whole input; or 'error' / 'more'. */
  readonly outcome: 'done' | 'error' | 'more';
  readonly end: number;
  readonly code: string | undefined;
  readonly status: number | undefined;
}

/** Runs a body reader over pieces of input until it is done or refuses. */
function drain(reader: BodyReader, pieces: readonly Buffer[]): Drained {
  const data: Buffer[] = [];
  let consumed = 0;
  for (const piece of pieces) {
    let pos = 0;
    for (let guard = 0; ; guard++) {
      assert.ok(guard <= piece.length + 2, 'a reader must consume bytes on every data step');
      const step = reader.next(piece, pos);
      if (step === 'data') {
        assert.ok(reader.dataEnd > reader.dataStart && reader.dataStart >= pos);
        data.push(piece.subarray(reader.dataStart, reader.dataEnd));
        pos = reader.offset;
        continue;
      }
      if (step === 'done') return { data: Buffer.concat(data), outcome: 'done', end: consumed + reader.offset, code: undefined, status: undefined };
      if (step === 'error') {
        return { data: Buffer.concat(data), outcome: 'error', end: -1, code: reader.rejection?.code, status: reader.rejection?.status };
      }
      assert.equal(reader.offset, piece.length);
      break;
    }
    consumed += piece.length;
  }
  return { data: Buffer.concat(data), outcome: 'more', end: -1, code: undefined, status: undefined };
}

const decode = (text: string, side: 'request' | 'response' = 'request') => drain(new ChunkedDecoder(side), [latin1(text)]);

describe('ChunkedDecoder', () => {
  it('hands out chunk data and ends right after the final CRLF', () => {
    const text = '5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nNEXT';
    const r = decode(text);
    assert.equal(r.outcome, 'done');
    assert.equal(r.data.toString(), 'hello world');
    assert.equal(r.end, text.length - 4);
  });

  it('accepts hex in either case, leading zeros, and extensions with token and quoted values (then drops them)', () => {
    const r = decode('A;name=value\r\n0123456789\r\n00b ; a ; b = "q\\"x\\\\" ;c=d\r\nhello world\r\n0;last\r\n\r\n');
    assert.equal(r.outcome, 'done');
    assert.equal(r.data.toString(), '0123456789hello world');
  });

  it('keeps the trailer section as checked field lines', () => {
    const decoder = new ChunkedDecoder('request');
    const r = drain(decoder, [latin1('3\r\nabc\r\n0\r\nExpires: never\r\nX-Sum:  12 \r\n\r\n')]);
    assert.equal(r.outcome, 'done');
    assert.equal(decoder.trailers?.toString('latin1'), 'Expires: never\r\nX-Sum:  12 \r\n');
    assert.equal(decoder.trailerFields.length, 10);
  });

  it('reports no trailers when there were none', () => {
    const decoder = new ChunkedDecoder('request');
    drain(decoder, [latin1('0\r\n\r\n')]);
    assert.equal(decoder.trailers, undefined);
  });

  const refusals: [string, string, number, string][] = [
    ['chunk-size with 0x', '0x5\r\nhello\r\n0\r\n\r\n', 400, 'WEFT_E_HTTP1_BAD_CHUNK_SIZE'],
    ['negative chunk-size', '-1\r\n0\r\n\r\n', 400, 'WEFT_E_HTTP1_BAD_CHUNK_SIZE'],
    ['chunk-size with a plus', '+5\r\nhello\r\n0\r\n\r\n', 400, 'WEFT_E_HTTP1_BAD_CHUNK_SIZE'],
    ['empty chunk-size', '\r\nhello\r\n0\r\n\r\n', 400, 'WEFT_E_HTTP1_BAD_CHUNK_SIZE'],
    ['space before chunk-size', ' 5\r\nhello\r\n0\r\n\r\n', 400, 'WEFT_E_HTTP1_BAD_CHUNK_SIZE'],
    ['space after chunk-size with no extension', '5 \r\nhello\r\n0\r\n\r\n', 400, 'WEFT_E_HTTP1_BAD_CHUNK_SIZE'],
    ['chunk-size with a non-hex letter', '5g\r\nhello\r\n0\r\n\r\n', 400, 'WEFT_E_HTTP1_BAD_CHUNK_SIZE'],
    ['chunk-size past 2^53 (17 hex digits)', `${'f'.repeat(17)}\r\n`, 400, 'WEFT_E_HTTP1_CHUNK_SIZE_OVERFLOW'],
    ['chunk-size that wraps 64 bits', '10000000000000000\r\n', 400, 'WEFT_E_HTTP1_CHUNK_SIZE_OVERFLOW'],
    ['chunk-size line ended by a bare LF', '5\nhello\r\n0\r\n\r\n', 400, 'WEFT_E_HTTP1_BARE_LF'],
    ['chunk-size line with a bare CR', '5\rhello\r\n0\r\n\r\n', 400, 'WEFT_E_HTTP1_BARE_CR'],
    ['chunk data followed by a bare LF', '5\r\nhello\n0\r\n\r\n', 400, 'WEFT_E_HTTP1_BARE_LF'],
    ['chunk data longer than its size', '3\r\nhello\r\n0\r\n\r\n', 400, 'WEFT_E_HTTP1_BAD_CHUNK_END'],
    ['chunk data followed by CR and something else', '5\r\nhello\rX0\r\n\r\n', 400, 'WEFT_E_HTTP1_BARE_CR'],
    ['extension with an empty name', '5;\r\nhello\r\n0\r\n\r\n', 400, 'WEFT_E_HTTP1_BAD_CHUNK_EXTENSION'],
    ['extension with an empty value', '5;a=\r\nhello\r\n0\r\n\r\n', 400, 'WEFT_E_HTTP1_BAD_CHUNK_EXTENSION'],
    ['extension with a bare LF inside', '5;a\nb\r\nhello\r\n0\r\n\r\n', 400, 'WEFT_E_HTTP1_BARE_LF'],
    ['extension with a LF in a quoted value', '5;a="x\ny"\r\nhello\r\n0\r\n\r\n', 400, 'WEFT_E_HTTP1_BARE_LF'],
    ['extension with a control in a quoted value', '5;a="x\x01y"\r\nhello\r\n0\r\n\r\n', 400, 'WEFT_E_HTTP1_BAD_CHUNK_EXTENSION'],
    ['extension with an unterminated quote', '5;a="x\r\nhello\r\n0\r\n\r\n', 400, 'WEFT_E_HTTP1_BAD_CHUNK_EXTENSION'],
    ['extension with whitespace before CRLF', '5;a=b \r\nhello\r\n0\r\n\r\n', 400, 'WEFT_E_HTTP1_BAD_CHUNK_EXTENSION'],
    ['extension with a separator in its name', '5;a(b\r\nhello\r\n0\r\n\r\n', 400, 'WEFT_E_HTTP1_BAD_CHUNK_EXTENSION'],
    ['last chunk with a bare LF', '0\n\r\n', 400, 'WEFT_E_HTTP1_BARE_LF'],
    ['final blank line with a bare LF', '0\r\n\n', 400, 'WEFT_E_HTTP1_BARE_LF'],
    ['final blank line with a bare CR', '0\r\n\rX', 400, 'WEFT_E_HTTP1_BARE_CR'],
    ['trailer ended by a bare LF', '0\r\nX: y\n\r\n', 400, 'WEFT_E_HTTP1_BARE_LF'],
    ['trailer folded', '0\r\nX: y\r\n z\r\n\r\n', 400, 'WEFT_E_HTTP1_OBS_FOLD'],
    ['trailer with a space before the colon', '0\r\nX : y\r\n\r\n', 400, 'WEFT_E_HTTP1_WHITESPACE_BEFORE_COLON'],
    ['trailer with a NUL', '0\r\nX: a\x00\r\n\r\n', 400, 'WEFT_E_HTTP1_BAD_FIELD_VALUE'],
    ['trailer without a colon', '0\r\nXY\r\n\r\n', 400, 'WEFT_E_HTTP1_BAD_FIELD_NAME'],
  ];
  for (const [name, text, status, code] of refusals) {
    it(`refuses ${name} (${status} ${code})`, () => {
      const r = decode(text);
      assert.deepEqual([r.outcome, r.status, r.code], ['error', status, code]);
    });
  }

  it('refuses in a response with 502', () => {
    const r = decode('0x5\r\n', 'response');
    assert.deepEqual([r.status, r.code], [502, 'WEFT_E_HTTP1_BAD_CHUNK_SIZE']);
  });

  it('bounds a chunk-size line, the extension bytes of a body, and the trailer section', () => {
    const params = { ...http1Params, maxChunkLineBytes: 16, maxChunkExtensionBytes: 32, maxTrailerBytes: 24, maxFields: 2 };
    const run = (text: string) => {
      const r = drain(new ChunkedDecoder('request', params), [latin1(text)]);
      return [r.outcome, r.code];
    };
    assert.deepEqual(run(`${'0'.repeat(16)}\r\n\r\n`), ['done', undefined]);
    assert.deepEqual(run(`${'0'.repeat(17)}\r\n\r\n`), ['error', 'WEFT_E_HTTP1_CHUNK_LINE_TOO_LONG']);
    assert.deepEqual(run('1;aaaaaaaaaa\r\nx\r\n1;aaaaaaaaaa\r\nx\r\n0;aaaaaaaaaa\r\n\r\n'), ['error', 'WEFT_E_HTTP1_CHUNK_EXTENSIONS_TOO_LARGE']);
    assert.deepEqual(run(`0\r\nX: ${'v'.repeat(19)}\r\n\r\n`), ['done', undefined]);
    assert.deepEqual(run(`0\r\nX: ${'v'.repeat(20)}\r\n\r\n`), ['error', 'WEFT_E_HTTP1_TRAILERS_TOO_LARGE']);
    assert.deepEqual(run('0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n'), ['error', 'WEFT_E_HTTP1_TOO_MANY_FIELDS']);
  });

  it('a close before the end is a truncation; after the end it is not', () => {
    const decoder = new ChunkedDecoder('request');
    drain(decoder, [latin1('5\r\nhel')]);
    assert.equal(decoder.close(), 'error');
    assert.equal(decoder.rejection?.code, 'WEFT_E_HTTP1_TRUNCATED');
    const whole = new ChunkedDecoder('request');
    drain(whole, [latin1('0\r\n\r\n')]);
    assert.equal(whole.close(), 'done');
  });
});

describe('chunked encoder', () => {
  it('writes canonical chunks: lowercase hex, no leading zeros, no extensions', () => {
    assert.equal(encodeChunk(latin1('x'.repeat(26))).toString('latin1'), `1a\r\n${'x'.repeat(26)}\r\n`);
    assert.equal(chunkHeader(4096).toString('latin1'), '1000\r\n');
    assert.equal(chunkHeader(255).toString('latin1'), 'ff\r\n');
    assert.equal(encodeChunk(latin1('abc'), 1, 3).toString('latin1'), '2\r\nbc\r\n');
    assert.equal(encodeChunk(latin1('')).length, 0);
    assert.equal(lastChunk().toString('latin1'), '0\r\n\r\n');
    assert.equal(lastChunk(latin1('X: y\r\n')).toString('latin1'), '0\r\nX: y\r\n\r\n');
    assert.throws(() => chunkHeader(0), RangeError);
  });
});

// Valid chunk extensions, to make the decoder's extension grammar part of the round trip.
const extensionArb = fc.array(
  fc.tuple(
    fc.constantFrom('', ' ', '\t '),
    tokenArb(6),
    fc.option(
      fc.oneof(
        tokenArb(6),
        fc.string({ unit: fc.constantFrom('a', ' ', '"', '\\', ';', '=', '\xe9'), maxLength: 6 }).map((s) => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`),
      ),
      { nil: undefined },
    ),
  ),
  { maxLength: 2 },
).map((exts) => exts.map(([ws, name, value]) => `${ws};${ws}${name}${value === undefined ? '' : `${ws}=${ws}${value}`}`).join(''));

describe('chunked: properties', () => {
  it('encode → decode gives back any body, cut into any chunks, however the encoding is split', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 3000 }),
        fc.array(fc.integer({ min: 1, max: 700 }), { maxLength: 10 }),
        fc.array(fieldArb, { maxLength: 3 }),
        fc.array(extensionArb, { maxLength: 3 }),
        cutsArb,
        (body, sizes, trailerFields, extensions, cuts) => {
          const parts: Buffer[] = [];
          let at = 0;
          let k = 0;
          while (at < body.length) {
            const size = Math.min(sizes[k % Math.max(1, sizes.length)] ?? body.length, body.length - at);
            const ext = extensions[k % Math.max(1, extensions.length)] ?? '';
            const chunk = encodeChunk(body, at, at + size);
            // Put the extension between the hex size and the CRLF of this chunk's line.
            const crlf = chunk.indexOf(CRLF);
            parts.push(chunk.subarray(0, crlf), latin1(ext), chunk.subarray(crlf));
            at += size;
            k++;
          }
          const trailers = serializeTrailers(trailerFields);
          parts.push(lastChunk(trailers.length === 0 ? undefined : trailers));
          const encoded = Buffer.concat(parts);
          const next = latin1('GET / HTTP/1.1\r\n');
          const decoder = new ChunkedDecoder('request');
          const r = drain(decoder, split(Buffer.concat([encoded, next]), cuts));
          assert.equal(r.outcome, 'done', r.code);
          assert.deepEqual(r.data, Buffer.from(body));
          assert.equal(r.end, encoded.length);
          assert.deepEqual(decoder.trailers ?? Buffer.alloc(0), trailers);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('garbage never throws and always ends in data, more, done or error', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
          fc.tuple(fc.uint8Array({ maxLength: 100 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 })).map(([body, edits]) => {
            const b = Buffer.concat([encodeChunk(body), lastChunk(latin1('T: v\r\n'))]);
            for (const [at, byte] of edits) b[at % b.length] = byte;
            return b;
          }),
        ),
        cutsArb,
        (bytes, cuts) => {
          const r = drain(new ChunkedDecoder('response'), split(bytes, cuts));
          if (r.outcome === 'error') assert.ok(r.code !== undefined && r.status === 502);
          if (r.outcome === 'done') assert.ok(r.end >= 5 && r.end <= bytes.length);
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('LengthBodyReader and UntilCloseBodyReader', () => {
  it('a length body hands out exactly N bytes and ends there, however it is split', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 500 }), fc.uint8Array({ maxLength: 50 }), cutsArb, (body, tail, cuts) => {
        const all = Buffer.concat([body, tail]);
        const r = drain(new LengthBodyReader('request', body.length), split(all, cuts));
        assert.equal(r.outcome, 'done');
        assert.deepEqual(r.data, Buffer.from(body));
        assert.equal(r.end, body.length);
      }),
    );
  });

  it('a length body closed early is truncated (400 for a request, 502 for a response); a zero length is done at once', () => {
    const reader = new LengthBodyReader('response', 10);
    drain(reader, [latin1('abc')]);
    assert.equal(reader.close(), 'error');
    assert.deepEqual([reader.rejection?.status, reader.rejection?.code], [502, 'WEFT_E_HTTP1_TRUNCATED']);
    assert.equal(reader.remaining, 7);
    const empty = new LengthBodyReader('request', 0);
    assert.equal(empty.next(latin1('GET'), 0), 'done');
    assert.equal(empty.offset, 0);
  });

  it('an until-close body is every byte, and the close is its end', () => {
    const reader = new UntilCloseBodyReader();
    const r = drain(reader, [latin1('abc'), latin1('def')]);
    assert.deepEqual([r.outcome, r.data.toString()], ['more', 'abcdef']);
    assert.equal(reader.close(), 'done');
    assert.equal(reader.received, 6);
  });
});
