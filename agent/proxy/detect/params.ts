// Limits of protocol detection: how long weft waits for a client's first bytes, how many it looks at,
// and which destination ports skip detection because the server speaks first.
import { WeftError } from '../../errors.ts';
import { http1Params } from '../http1/params.ts';

export interface DetectParams {
  /**
   * How long to wait for the client to say enough to decide; then the connection goes opaque.
   * Linkerd waits 10 s, and that wait is linkerd2#1505: every connection of a server-first protocol
   * on a port nobody listed stalls 10 s (longer than many clients' own handshake timeouts, so it
   * looks like an outage). A client-first client writes its first bytes as soon as its connect
   * completes (it connected because it had something to send; a TLS library writes the ClientHello
   * at once), so a real HTTP or TLS client is nearly always decided on its first read. The
   * cost of a short wait falls on the rare client that connects ahead of use (pre-warmed pools): its
   * connection still works, just opaque, and is counted. The cost of a long wait falls on every
   * server-first connection. So 1 s: far above any client's connect→write gap, and a stall a
   * server-first protocol survives.
   */
  readonly timeoutMs: number;
  /**
   * Most bytes read before deciding; past it the connection is opaque (or TLS without SNI). One
   * whole TLS record (2^14 + 5-byte header) so any ClientHello that fits a record is parsed, which
   * also holds the longest HTTP/1 request line the http1 layer accepts (8 KiB).
   */
  readonly maxPeekBytes: number;
  /**
   * Longest HTTP/1 request line (CRLF excluded) detection waits for; a longer line goes opaque
   * rather than stalling. The http1 layer's own limit, so a line detection accepts is one it accepts.
   */
  readonly maxRequestLineBytes: number;
  /**
   * Destination ports whose servers speak first (or whose clients may wait for the server): opaque at
   * once, nothing read. Linkerd's default opaque ports: SMTP 25 and 587, MySQL 3306, Galera 4444,
   * PostgreSQL 5432, Redis 6379, Elasticsearch transport 9300, memcached 11211.
   */
  readonly serverFirstPorts: ReadonlySet<number>;
}

export const detectParams: DetectParams = Object.freeze({
  timeoutMs: 1000,
  maxPeekBytes: 16 * 1024 + 5,
  maxRequestLineBytes: http1Params.maxRequestLineBytes,
  serverFirstPorts: new Set([25, 587, 3306, 4444, 5432, 6379, 9300, 11211]),
});

/** The HTTP/2 client preface is 24 bytes; a peek bound below it could never see one. */
const MIN_PEEK_BYTES = 24;

/** Throws WEFT_E_DETECT_PARAMS naming the first bad value, so a bad config fails at start, not per connection. */
export function validateDetectParams(params: DetectParams): void {
  const fail = (what: string): never => {
    throw new WeftError('WEFT_E_DETECT_PARAMS', `protocol detection: ${what}`);
  };
  if (!(Number.isSafeInteger(params.timeoutMs) && params.timeoutMs >= 1)) {
    fail(`timeoutMs must be a positive integer of milliseconds, got ${params.timeoutMs}`);
  }
  if (!(Number.isSafeInteger(params.maxPeekBytes) && params.maxPeekBytes >= MIN_PEEK_BYTES)) {
    fail(`maxPeekBytes must be an integer of at least ${MIN_PEEK_BYTES} (the HTTP/2 preface), got ${params.maxPeekBytes}`);
  }
  if (!(Number.isSafeInteger(params.maxRequestLineBytes) && params.maxRequestLineBytes >= 1)) {
    fail(`maxRequestLineBytes must be a positive integer, got ${params.maxRequestLineBytes}`);
  }
  for (const port of params.serverFirstPorts) {
    if (!(Number.isInteger(port) && port >= 1 && port <= 65535)) fail(`serverFirstPorts holds ${port}, not a TCP port (1–65535)`);
  }
}

/** Defaults with some values replaced; validated. */
export function withDetectParams(overrides: Partial<DetectParams>): DetectParams {
  const params: DetectParams = { ...detectParams, ...overrides };
  validateDetectParams(params);
  return params;
}
