// Builds TLS ClientHello bytes field by field, so tests can make valid hellos of any shape and then
// break exactly one thing. Layout: RFC 8446 §5.1 (record) and §4.1.2 (ClientHello).
import fc from 'fast-check';

export interface HelloSpec {
  readonly sni?: string;
  readonly alpn?: readonly string[];
  /** Further extensions (type, body), e.g. padding or GREASE, placed before SNI and ALPN. */
  readonly extra?: readonly (readonly [number, Uint8Array])[];
  readonly sessionIdLength?: number;
  readonly cipherSuites?: number;
  /** Split the handshake message over records of at most this many bytes (default: one record). */
  readonly recordSize?: number;
  readonly recordMinor?: number;
  /** Leave the extensions block out entirely. */
  readonly noExtensions?: boolean;
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function vec16(body: Uint8Array): Buffer {
  return Buffer.concat([u16(body.length), body]);
}

export function extension(type: number, body: Uint8Array): Buffer {
  return Buffer.concat([u16(type), vec16(body)]);
}

export function sniExtension(name: string): Buffer {
  const host = Buffer.from(name, 'latin1');
  return extension(0, vec16(Buffer.concat([Buffer.from([0]), vec16(host)])));
}

export function alpnExtension(names: readonly string[]): Buffer {
  const list = Buffer.concat(names.map((n) => Buffer.concat([Buffer.from([n.length]), Buffer.from(n, 'latin1')])));
  return extension(16, vec16(list));
}

/** The ClientHello handshake message: type 1, 24-bit length, body. */
export function helloMessage(spec: HelloSpec = {}): Buffer {
  const sessionId = Buffer.alloc(spec.sessionIdLength ?? 32, 7);
  const suites = Buffer.alloc(2 * (spec.cipherSuites ?? 3), 0x13);
  const extensions: Buffer[] = [];
  for (const [type, body] of spec.extra ?? []) extensions.push(extension(type, body));
  if (spec.sni !== undefined) extensions.push(sniExtension(spec.sni));
  if (spec.alpn !== undefined) extensions.push(alpnExtension(spec.alpn));
  const body = Buffer.concat([
    Buffer.from([3, 3]),
    Buffer.alloc(32, 0xab),
    Buffer.from([sessionId.length]),
    sessionId,
    vec16(suites),
    Buffer.from([1, 0]),
    ...(spec.noExtensions === true ? [] : [vec16(Buffer.concat(extensions))]),
  ]);
  const length = Buffer.from([1, (body.length >> 16) & 0xff, (body.length >> 8) & 0xff, body.length & 0xff]);
  return Buffer.concat([length, body]);
}

/** Wraps a handshake message in handshake records. */
export function records(message: Uint8Array, recordSize = 1 << 14, minor = 1): Buffer {
  const out: Buffer[] = [];
  for (let at = 0; at < message.length; at += recordSize) {
    const fragment = message.subarray(at, Math.min(message.length, at + recordSize));
    out.push(Buffer.from([22, 3, minor]), u16(fragment.length), Buffer.from(fragment));
  }
  return Buffer.concat(out);
}

export function clientHello(spec: HelloSpec = {}): Buffer {
  return records(helloMessage(spec), spec.recordSize, spec.recordMinor);
}

const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);
export const hostNameArb = fc
  .array(label, { minLength: 1, maxLength: 4 })
  .map((labels) => [...labels, 'svc'].join('.'));

export const helloSpecArb: fc.Arbitrary<HelloSpec> = fc.record(
  {
    sni: hostNameArb,
    alpn: fc.array(fc.constantFrom('h2', 'http/1.1', 'grpc-exp', 'acme-tls/1'), { minLength: 1, maxLength: 3 }),
    extra: fc.array(
      fc.tuple(fc.integer({ min: 17, max: 0xfff0 }), fc.uint8Array({ maxLength: 300 })).map(([t, b]) => [t, b] as const),
      { maxLength: 3 },
    ).map((list) => list.filter((e, i) => list.findIndex((o) => o[0] === e[0]) === i)),
    sessionIdLength: fc.integer({ min: 0, max: 32 }),
    cipherSuites: fc.integer({ min: 1, max: 40 }),
    recordSize: fc.integer({ min: 1, max: 1 << 14 }),
    recordMinor: fc.integer({ min: 0, max: 4 }),
  },
  { requiredKeys: ['sessionIdLength', 'cipherSuites'] },
);
