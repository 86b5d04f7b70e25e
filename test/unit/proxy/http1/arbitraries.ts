// fast-check generators for HTTP/1.1 heads and bodies, and the small drivers the http1 tests share.
import fc from 'fast-check';
import { KnownField, classifyFieldName } from '../../../../agent/proxy/http1/known-fields.ts';
import type { Http1Head } from '../../../../agent/proxy/http1/head.ts';
import { HeadParser, type HeadResult } from '../../../../agent/proxy/http1/head-parser.ts';
import type { ResponseContext } from '../../../../agent/proxy/http1/framing.ts';
import type { Http1Params } from '../../../../agent/proxy/http1/params.ts';
import type { Http1Side } from '../../../../agent/proxy/http1/rejection.ts';

const chars = (s: string): string[] => s.split('');
const range = (from: number, to: number): string[] =>
  Array.from({ length: to - from + 1 }, (_, i) => String.fromCharCode(from + i));

export const TCHARS = chars("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
/** Visible ASCII and obs-text: what a field value may hold besides inner SP/HTAB. */
const VALUE_CHARS = [...range(0x21, 0x7e), ...range(0x80, 0xff)];
const TARGET_CHARS = range(0x21, 0x7e);
const HOST_CHARS = chars("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%!$&'()*+,;=");

export const tokenArb = (maxLength = 12): fc.Arbitrary<string> =>
  fc.string({ unit: fc.constantFrom(...TCHARS), minLength: 1, maxLength });

/** A field name weft does not act on (so it passes through untouched). */
export const otherNameArb: fc.Arbitrary<string> = tokenArb(16).filter((name) => {
  const b = Buffer.from(name, 'latin1');
  return classifyFieldName(b, 0, b.length) === KnownField.other;
});

/** A field value without leading or trailing whitespace (the parser trims OWS; these round-trip). */
export const valueArb: fc.Arbitrary<string> = fc.oneof(
  fc.constant(''),
  fc
    .tuple(
      fc.string({ unit: fc.constantFrom(...VALUE_CHARS), minLength: 1, maxLength: 12 }),
      fc.array(
        fc.tuple(fc.string({ unit: fc.constantFrom(' ', '\t'), minLength: 1, maxLength: 2 }), fc.string({ unit: fc.constantFrom(...VALUE_CHARS), minLength: 1, maxLength: 12 })),
        { maxLength: 3 },
      ),
    )
    .map(([first, rest]) => first + rest.map(([ws, word]) => ws + word).join('')),
);

export const owsArb: fc.Arbitrary<string> = fc.string({ unit: fc.constantFrom(' ', '\t'), maxLength: 2 });

export const hostArb: fc.Arbitrary<string> = fc
  .tuple(fc.string({ unit: fc.constantFrom(...HOST_CHARS), minLength: 1, maxLength: 20 }), fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined }))
  .map(([host, port]) => (port === undefined ? host : `${host}:${port}`));

export const originTargetArb: fc.Arbitrary<string> = fc
  .string({ unit: fc.constantFrom(...TARGET_CHARS), maxLength: 40 })
  .map((rest) => `/${rest}`);

export const methodArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE'),
  tokenArb(10).filter((m) => m !== 'CONNECT'),
);

export interface FieldSpec {
  readonly name: string;
  readonly value: string;
  readonly before: string;
  readonly after: string;
}

export const fieldArb: fc.Arbitrary<FieldSpec> = fc.record({
  name: otherNameArb,
  value: valueArb,
  before: owsArb,
  after: owsArb,
});

export type BodySpec = { readonly kind: 'none' } | { readonly kind: 'length'; readonly length: number } | { readonly kind: 'chunked' };

export interface RequestSpec {
  readonly method: string;
  readonly target: string;
  readonly minor: 0 | 1;
  /** Field lines in order, Host and framing fields included. */
  readonly fields: readonly FieldSpec[];
  readonly body: BodySpec;
  readonly connection: 'close' | 'keep-alive' | undefined;
}

function randomCase(s: string, flips: readonly boolean[]): string {
  return s
    .split('')
    .map((c, i) => (flips[i % Math.max(1, flips.length)] === true ? c.toUpperCase() : c))
    .join('');
}

/** A valid request head: random other fields, Host (required in 1.1), optional framing and Connection. */
export const requestSpecArb: fc.Arbitrary<RequestSpec> = fc
  .record({
    method: methodArb,
    target: originTargetArb,
    minor: fc.constantFrom<0 | 1>(0, 1),
    others: fc.array(fieldArb, { maxLength: 12 }),
    host: fc.option(hostArb, { nil: undefined }),
    body: fc.oneof(
      fc.constant<BodySpec>({ kind: 'none' }),
      fc.integer({ min: 0, max: 1 << 20 }).map((length): BodySpec => ({ kind: 'length', length })),
      fc.constant<BodySpec>({ kind: 'chunked' }),
    ),
    connection: fc.constantFrom<'close' | 'keep-alive' | undefined>(undefined, 'close', 'keep-alive'),
    positions: fc.array(fc.nat(), { minLength: 3, maxLength: 3 }),
    flips: fc.array(fc.boolean(), { minLength: 1, maxLength: 6 }),
    ows: fc.array(owsArb, { minLength: 6, maxLength: 6 }),
  })
  .map(({ method, target, minor, others, host, body, connection, positions, flips, ows }) => {
    const fields: FieldSpec[] = [...others];
    const insert = (k: number, f: FieldSpec): void => {
      fields.splice((positions[k] ?? 0) % (fields.length + 1), 0, f);
    };
    const effectiveBody: BodySpec = minor === 0 && body.kind === 'chunked' ? { kind: 'none' } : body;
    const hostValue = host ?? (minor === 1 ? 'example.com' : undefined);
    if (hostValue !== undefined) insert(0, { name: randomCase('host', flips), value: hostValue, before: ows[0] ?? '', after: ows[1] ?? '' });
    if (effectiveBody.kind === 'length') {
      insert(1, { name: randomCase('content-length', flips), value: String(effectiveBody.length), before: ows[2] ?? '', after: ows[3] ?? '' });
    } else if (effectiveBody.kind === 'chunked') {
      insert(1, { name: randomCase('transfer-encoding', flips), value: randomCase('chunked', flips), before: ows[2] ?? '', after: ows[3] ?? '' });
    }
    if (connection !== undefined) insert(2, { name: randomCase('connection', flips), value: connection, before: ows[4] ?? '', after: ows[5] ?? '' });
    return { method, target, minor, fields, body: effectiveBody, connection };
  });

export function requestText(spec: RequestSpec): string {
  const lines = spec.fields.map((f) => `${f.name}:${f.before}${f.value}${f.after}\r\n`).join('');
  return `${spec.method} ${spec.target} HTTP/1.${spec.minor}\r\n${lines}\r\n`;
}

export const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Cut points for splitting a buffer of `length` bytes into pieces. */
export const cutsArb: fc.Arbitrary<number[]> = fc.array(fc.nat(), { maxLength: 8 });

export function split(buf: Buffer, cuts: readonly number[]): Buffer[] {
  if (buf.length === 0) return [buf];
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    pieces.push(buf.subarray(from, p));
    from = p;
  }
  pieces.push(buf.subarray(from));
  // Fresh copies, so no piece can reach bytes of another through a shared backing buffer.
  return pieces.map((p) => Buffer.from(p));
}

/** Feeds pieces to a new parser until it decides; `end` is an offset into the whole input. */
export function parsePieces(
  side: Http1Side,
  pieces: readonly Buffer[],
  request?: ResponseContext,
  params?: Http1Params,
): { result: HeadResult; end: number } {
  const parser = params === undefined ? new HeadParser(side) : new HeadParser(side, params);
  let consumed = 0;
  let result: HeadResult = { kind: 'incomplete' };
  for (const piece of pieces) {
    result = parser.feed(piece, 0, request);
    if (result.kind === 'head') return { result, end: consumed + result.end };
    if (result.kind === 'reject') return { result, end: -1 };
    consumed += piece.length;
  }
  return { result, end: -1 };
}

/** Everything a head says, as plain data, for deep comparisons. */
export function headView(head: Http1Head) {
  const fields: [string, string][] = [];
  for (let i = 0; i < head.fieldCount; i++) fields.push([head.name(i), head.value(i)]);
  return {
    kind: head.kind,
    method: head.method,
    target: head.target,
    targetForm: head.targetForm,
    status: head.status,
    reason: head.reason,
    minor: head.minor,
    fields,
    body: head.body,
    contentLength: head.contentLength,
    keepAlive: head.keepAlive,
    upgrade: head.upgrade,
    expectContinue: head.expectContinue,
    connectionOptions: head.connectionOptions,
    hostIndex: head.hostIndex,
    bytes: head.bytes.toString('latin1'),
  };
}

/** Parses a whole head given as text (one piece); throws if it is not a head. */
export function parseHead(text: string, side: Http1Side = 'request', request?: ResponseContext): Http1Head {
  const { result } = parsePieces(side, [latin1(text)], request);
  if (result.kind !== 'head') throw new Error(`expected a head, got ${JSON.stringify(result)}`);
  return result.head;
}

/** The result of parsing `text` in one piece. */
export function parseText(text: string, side: Http1Side = 'request', request?: ResponseContext): HeadResult {
  return parsePieces(side, [latin1(text)], request).result;
}
