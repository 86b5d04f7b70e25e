// Protocol detection on a live socket: read the client's first bytes until the classifier decides,
// the wait runs out or the peek bound is reached, and hand back everything read so the caller can
// replay it upstream byte for byte. Nothing read is ever lost or altered.
// - A server-first destination port is decided at once, nothing read (Linkerd's opaque ports): the
//   client is waiting for the server, so waiting for the client would only add the timeout.
// - The socket is left paused, with only the caller's own listeners on it; bytes that arrive after the
//   decision stay in the socket's buffer for whoever reads next.
// - A client that half-closes or resets while we wait resolves (never rejects, never an unhandled
//   'error'), as its own outcome: a reset connection has nowhere to go, but one that half-closed may
//   still be waiting for a reply, so the caller can forward the prefix and the FIN.
import type { Socket } from 'node:net';
import type { Clock } from '../../time/clock.ts';
import { type Classification, type ClassifyLimits, type Http1Detected, type Http2Detected, type OpaqueDetected, type TlsHello, classify } from './classify.ts';
import type { DetectParams } from './params.ts';

export interface OpaqueByTimeout {
  readonly kind: 'opaque';
  /** 'timeout': the client sent too little within timeoutMs. 'server-first-port': not waited for at all. */
  readonly reason: 'timeout' | 'server-first-port';
}

export interface ClientClosed {
  readonly kind: 'client-closed';
  /**
   * 'eof': the client sent FIN before detection decided; it may still read (half-close), so forwarding
   * the prefix and then the FIN upstream keeps what it would have seen without the mesh.
   * 'reset': the connection errored or was torn down; nothing can be sent back.
   */
  readonly how: 'eof' | 'reset';
  /** The socket error code for 'reset' (ECONNRESET, ...), when there was one. */
  readonly code?: string;
}

export type DetectedProtocol = Http1Detected | Http2Detected | TlsHello | OpaqueDetected | OpaqueByTimeout | ClientClosed;

export interface DetectResult {
  readonly protocol: DetectedProtocol;
  /** Every byte read from the client, in order; the caller writes these upstream first. */
  readonly prefix: Buffer;
}

/** One name per outcome, for a counter each. */
export const detectOutcomes = [
  'http1',
  'http2',
  'tls',
  'opaque-unrecognized',
  'opaque-http1-refused',
  'opaque-bound',
  'opaque-timeout',
  'opaque-server-first-port',
  'client-eof',
  'client-reset',
] as const;

export type DetectOutcome = (typeof detectOutcomes)[number];

/**
 * Counters, passed in (never a global registry); `dstPort` lets the wiring label what timed out
 * where (mind the label's cardinality). Called once per connection from socket event handlers, so it
 * must not throw.
 */
export interface DetectCounters {
  count(outcome: DetectOutcome, dstPort: number): void;
}

export function detectOutcomeOf(protocol: DetectedProtocol): DetectOutcome {
  switch (protocol.kind) {
    case 'http1':
    case 'http2':
    case 'tls':
      return protocol.kind;
    case 'opaque':
      return `opaque-${protocol.reason}`;
    case 'client-closed':
      return protocol.how === 'eof' ? 'client-eof' : 'client-reset';
  }
}

const SERVER_FIRST: OpaqueByTimeout = Object.freeze({ kind: 'opaque', reason: 'server-first-port' });
const TIMEOUT: OpaqueByTimeout = Object.freeze({ kind: 'opaque', reason: 'timeout' });
const EOF: ClientClosed = Object.freeze({ kind: 'client-closed', how: 'eof' });
const EMPTY = Buffer.alloc(0);
/** First size of the gathering buffer: a request line or a ClientHello nearly always fits. */
const INITIAL_CAPACITY = 2048;

/**
 * Detects the protocol a client speaks to `dstPort`. Resolves once decided; never rejects. `socket`
 * must not have been read from yet.
 */
export function detectProtocol(socket: Socket, dstPort: number, params: DetectParams, clock: Clock, counters: DetectCounters): Promise<DetectResult> {
  const finish = (protocol: DetectedProtocol, prefix: Buffer): DetectResult => {
    counters.count(detectOutcomeOf(protocol), dstPort);
    return { protocol, prefix };
  };
  if (params.serverFirstPorts.has(dstPort)) return Promise.resolve(finish(SERVER_FIRST, EMPTY));
  if (socket.destroyed) return Promise.resolve(finish({ kind: 'client-closed', how: 'reset' }, EMPTY));

  const limits: ClassifyLimits = params;
  return new Promise((resolve) => {
    // Gathered bytes: acc[0, length). Doubling, so gathering many small reads stays linear.
    let acc = Buffer.allocUnsafe(Math.min(INITIAL_CAPACITY, params.maxPeekBytes));
    let length = 0;
    let done = false;

    const settle = (protocol: DetectedProtocol): void => {
      if (done) return;
      done = true;
      cancelTimer();
      socket.pause();
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onError);
      socket.off('close', onClose);
      resolve(finish(protocol, acc.subarray(0, length)));
    };
    const onData = (chunk: Buffer): void => {
      if (length + chunk.length > acc.length) {
        // Only the first maxPeekBytes are classified, but every byte read is kept for the replay.
        let capacity = acc.length * 2;
        while (capacity < length + chunk.length) capacity *= 2;
        const grown = Buffer.allocUnsafe(capacity);
        acc.copy(grown, 0, 0, length);
        acc = grown;
      }
      chunk.copy(acc, length);
      length += chunk.length;
      const r: Classification = classify(acc.subarray(0, length), limits);
      if (r.kind !== 'need-more') settle(r);
    };
    const onEnd = (): void => settle(EOF);
    const onError = (error: NodeJS.ErrnoException): void => {
      settle(error.code === undefined ? { kind: 'client-closed', how: 'reset' } : { kind: 'client-closed', how: 'reset', code: error.code });
    };
    // Torn down without an error or a FIN first (destroyed by someone): nothing more will come.
    const onClose = (): void => settle({ kind: 'client-closed', how: 'reset' });

    const cancelTimer = clock.setTimer(params.timeoutMs, () => settle(TIMEOUT));
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onError);
    socket.on('close', onClose);
    // Flowing until the decision (a 'data' listener alone would not restart a socket someone paused);
    // settle() pauses it again before anyone else sees a byte.
    socket.resume();
  });
}
