// TLS ClientHello recognition: enough of RFC 8446 §5.1 (records) and §4.1.2 (ClientHello) to say
// "this is TLS" from the first six bytes and, once the whole hello is here, which server name (SNI,
// RFC 6066 §3) and application protocols (ALPN, RFC 7301) the client asked for. weft never
// terminates the client's TLS; SNI and ALPN are routing and metrics facts only, so anything
// malformed yields "TLS, no SNI" rather than an error: the bytes pass through and the server decides.
// Every length is checked against what is there before it is used, so no input can throw.

export type HelloState =
  /** The whole ClientHello was read and parsed. */
  | 'parsed'
  /** It is a ClientHello, but something inside it is malformed (SNI and ALPN are not trusted). */
  | 'malformed'
  /** It is a ClientHello, but longer than the peek bound allows reading. */
  | 'truncated';

export interface TlsHello {
  readonly kind: 'tls';
  readonly hello: HelloState;
  /** The first host_name of server_name, lower-cased; absent when not sent or not a valid DNS name. */
  readonly sni?: string;
  /** application_layer_protocol_negotiation in the client's order. */
  readonly alpn?: readonly string[];
}

/** Not a ClientHello: the caller tries other protocols or goes opaque. */
export const NOT_TLS = 'not-tls';
/** A ClientHello so far, not whole yet. */
export const HELLO_NEED_MORE = 'need-more';

export type HelloResult = TlsHello | typeof NOT_TLS | typeof HELLO_NEED_MORE;

const CONTENT_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
const RECORD_HEADER = 5;
/** RFC 8446 §5.1: a plaintext record's fragment is at most 2^14 bytes. */
const MAX_FRAGMENT = 1 << 14;
/** Record versions seen on a ClientHello: 3.0 (SSLv3) to 3.4; TLS 1.3 still sends 3.1 or 3.3 here. */
const MAX_RECORD_MINOR = 4;
const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;
const SNI_HOST_NAME = 0;

const MALFORMED: TlsHello = Object.freeze({ kind: 'tls', hello: 'malformed' });
const TRUNCATED: TlsHello = Object.freeze({ kind: 'tls', hello: 'truncated' });

/**
 * Looks at bytes[0, bytes.length), all of which may be read (the caller has already cut them to
 * the peek bound). `atBound` says no more bytes will come, so a hello still incomplete is truncated.
 */
export function classifyClientHello(bytes: Uint8Array, atBound: boolean): HelloResult {
  const n = bytes.length;
  if (n === 0) return HELLO_NEED_MORE;
  if (bytes[0] !== CONTENT_HANDSHAKE) return NOT_TLS;
  if (n < 2) return HELLO_NEED_MORE;
  if (bytes[1] !== 3) return NOT_TLS;
  if (n < 3) return HELLO_NEED_MORE;
  if ((bytes[2] as number) > MAX_RECORD_MINOR) return NOT_TLS;
  if (n < RECORD_HEADER) return HELLO_NEED_MORE;
  const firstLength = u16(bytes, 3);
  if (firstLength === 0 || firstLength > MAX_FRAGMENT) return NOT_TLS;
  if (n < RECORD_HEADER + 1) return HELLO_NEED_MORE;
  if (bytes[RECORD_HEADER] !== HANDSHAKE_CLIENT_HELLO) return NOT_TLS;

  // From here it is TLS. The handshake message may be split over several records (§5.1 allows it);
  // gather the fragments until the message is whole.
  const message = gatherHandshake(bytes);
  if (message === HELLO_NEED_MORE) return atBound ? TRUNCATED : HELLO_NEED_MORE;
  if (message === 'malformed') return MALFORMED;
  return parseClientHello(message);
}

/**
 * Records one ClientHello may span. Real stacks send it in one record, or a few when it is split on
 * purpose (some clients cut it around the SNI); a hello in hundreds of tiny records is only a way to
 * make every re-classification walk them all, so past this it is malformed (TLS without SNI).
 */
const MAX_RECORDS = 64;

/** The whole handshake message (type and length included), or why there is none yet. */
function gatherHandshake(bytes: Uint8Array): Uint8Array | typeof HELLO_NEED_MORE | 'malformed' {
  // One pass of arithmetic over the record headers; the fragments are copied only once whole, since
  // this runs again on every read while the hello is incomplete.
  const n = bytes.length;
  const head = [0, 0, 0, 0];
  let gathered = 0;
  let wanted = -1;
  let pos = 0;
  for (let records = 1; ; records++) {
    if (pos + RECORD_HEADER > n) return HELLO_NEED_MORE;
    // A later record of the same message must be another handshake record of the same version.
    if (pos > 0 && (bytes[pos] !== CONTENT_HANDSHAKE || bytes[pos + 1] !== 3)) return 'malformed';
    if (records > MAX_RECORDS) return 'malformed';
    const length = u16(bytes, pos + 3);
    if (length === 0 || length > MAX_FRAGMENT) return 'malformed';
    const fragStart = pos + RECORD_HEADER;
    const available = Math.min(length, n - fragStart);
    for (let i = 0; gathered + i < 4 && i < available; i++) head[gathered + i] = bytes[fragStart + i] as number;
    gathered += available;
    if (wanted < 0 && gathered >= 4) wanted = 4 + (((head[1] as number) << 16) | ((head[2] as number) << 8) | (head[3] as number));
    if (wanted >= 0 && gathered >= wanted) return assemble(bytes, wanted);
    if (available < length) return HELLO_NEED_MORE;
    pos = fragStart + length;
  }
}

/** The first `wanted` fragment bytes of the records from bytes[0] (already checked by gatherHandshake). */
function assemble(bytes: Uint8Array, wanted: number): Uint8Array {
  const first = u16(bytes, 3);
  if (first >= wanted) return bytes.subarray(RECORD_HEADER, RECORD_HEADER + wanted);
  const out = new Uint8Array(wanted);
  let at = 0;
  let pos = 0;
  while (at < wanted) {
    const length = u16(bytes, pos + 3);
    const take = Math.min(length, wanted - at);
    out.set(bytes.subarray(pos + RECORD_HEADER, pos + RECORD_HEADER + take), at);
    at += take;
    pos += RECORD_HEADER + length;
  }
  return out;
}

function u16(b: Uint8Array, i: number): number {
  return ((b[i] as number) << 8) | (b[i + 1] as number);
}

/** A cursor over one length-delimited region; every read is checked against `end`. */
class Reader {
  pos: number;
  readonly end: number;
  readonly b: Uint8Array;

  constructor(b: Uint8Array, pos: number, end: number) {
    this.b = b;
    this.pos = pos;
    this.end = end;
  }

  get left(): number {
    return this.end - this.pos;
  }

  u8(): number | undefined {
    if (this.left < 1) return undefined;
    return this.b[this.pos++];
  }

  u16(): number | undefined {
    if (this.left < 2) return undefined;
    const v = u16(this.b, this.pos);
    this.pos += 2;
    return v;
  }

  /** A sub-reader over the next `length` bytes, skipping them here. */
  take(length: number | undefined): Reader | undefined {
    if (length === undefined || this.left < length) return undefined;
    const sub = new Reader(this.b, this.pos, this.pos + length);
    this.pos += length;
    return sub;
  }
}

/** msg is the whole handshake message: type (1), length (3), ClientHello body. */
function parseClientHello(msg: Uint8Array): TlsHello {
  const r = new Reader(msg, 4, msg.length);
  // legacy_version (2) and random (32).
  if (r.take(34) === undefined) return MALFORMED;
  const sessionIdLength = r.u8();
  if (sessionIdLength === undefined || sessionIdLength > 32 || r.take(sessionIdLength) === undefined) return MALFORMED;
  const suitesLength = r.u16();
  if (suitesLength === undefined || suitesLength < 2 || suitesLength % 2 !== 0 || r.take(suitesLength) === undefined) return MALFORMED;
  const compressionLength = r.u8();
  if (compressionLength === undefined || compressionLength < 1 || r.take(compressionLength) === undefined) return MALFORMED;
  // Extensions are optional (a bare SSLv3-style hello ends here) but, when present, fill the rest exactly.
  if (r.left === 0) return { kind: 'tls', hello: 'parsed' };
  const extensions = r.take(r.u16());
  if (extensions === undefined || r.left !== 0) return MALFORMED;

  const seen = new Set<number>();
  let sni: string | undefined;
  let alpn: string[] | undefined;
  while (extensions.left > 0) {
    const type = extensions.u16();
    const body = extensions.take(extensions.u16());
    if (type === undefined || body === undefined) return MALFORMED;
    // RFC 8446 §4.2: at most one extension of each type.
    if (seen.has(type)) return MALFORMED;
    seen.add(type);
    if (type === EXT_SERVER_NAME) {
      const name = parseServerName(body);
      if (name === false) return MALFORMED;
      sni = name;
    } else if (type === EXT_ALPN) {
      const protocols = parseAlpn(body);
      if (protocols === undefined) return MALFORMED;
      alpn = protocols;
    }
  }
  return {
    kind: 'tls',
    hello: 'parsed',
    ...(sni === undefined ? {} : { sni }),
    ...(alpn === undefined ? {} : { alpn: Object.freeze(alpn) }),
  };
}

/** The first host_name, undefined when there is none or it is not a DNS name; false when the list's framing is broken. */
function parseServerName(body: Reader): string | undefined | false {
  const list = body.take(body.u16());
  if (list === undefined || body.left !== 0 || list.left === 0) return false;
  let name: string | undefined;
  while (list.left > 0) {
    const nameType = list.u8();
    const value = list.take(list.u16());
    if (nameType === undefined || value === undefined) return false;
    if (nameType === SNI_HOST_NAME && name === undefined) name = hostName(value);
  }
  return name;
}

/**
 * RFC 6066 §3: HostName is the DNS name, ASCII, no trailing dot, not an IP literal. Letters, digits,
 * hyphen, dot (and underscore, which real service names carry); labels 1–63, the whole ≤ 253.
 */
function hostName(value: Reader): string | undefined {
  const { b, pos, end } = value;
  const length = end - pos;
  if (length < 1 || length > 253) return undefined;
  let label = 0;
  let allDigitsOrDots = true;
  for (let i = pos; i < end; i++) {
    const c = b[i] as number;
    if (c === 0x2e) {
      if (label === 0) return undefined;
      label = 0;
      continue;
    }
    const alpha = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
    const digit = c >= 0x30 && c <= 0x39;
    if (!(alpha || digit || c === 0x2d || c === 0x5f)) return undefined;
    if (!digit) allDigitsOrDots = false;
    if (++label > 63) return undefined;
  }
  if (label === 0) return undefined;
  // An IPv4 literal is not a host_name (IPv6 ones already failed on ':').
  if (allDigitsOrDots) return undefined;
  return Buffer.from(b.buffer, b.byteOffset + pos, length).toString('latin1').toLowerCase();
}

/** ProtocolNameList (RFC 7301 §3.1): non-empty, each name 1–255 bytes; names kept as latin1 strings. */
function parseAlpn(body: Reader): string[] | undefined {
  const list = body.take(body.u16());
  if (list === undefined || body.left !== 0 || list.left === 0) return undefined;
  const names: string[] = [];
  while (list.left > 0) {
    const length = list.u8();
    if (length === undefined || length === 0) return undefined;
    const name = list.take(length);
    if (name === undefined) return undefined;
    names.push(Buffer.from(name.b.buffer, name.b.byteOffset + name.pos, length).toString('latin1'));
  }
  return names;
}
