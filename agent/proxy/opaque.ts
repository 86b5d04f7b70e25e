// Opaque TCP: bytes both ways with the semantics an application would see on a direct connection.
// - Backpressure: pipe() pauses the faster side when the slower one's buffer is full.
// - Half-close: a FIN from one side becomes end() on the other, and the other direction keeps
//   flowing (both sockets must be created with allowHalfOpen).
// - Reset: an RST (or any socket error) on one side becomes an RST on the other, never a clean FIN,
//   so the peer can tell a crash from an orderly close.
import type { Socket } from 'node:net';

export type OpaqueEnding = 'closed' | 'client-reset' | 'upstream-reset';

export interface OpaqueResult {
  readonly ending: OpaqueEnding;
  /** Bytes read from the client (and written upstream). */
  readonly clientBytes: number;
  /** Bytes read from upstream (and written to the client). */
  readonly upstreamBytes: number;
  /** The first socket error seen, if the connection ended in a reset. */
  readonly error: NodeJS.ErrnoException | undefined;
}

/** Splices two connected sockets; resolves once both are closed. */
export function spliceOpaque(client: Socket, upstream: Socket): Promise<OpaqueResult> {
  return new Promise((resolve) => {
    let ending: OpaqueEnding = 'closed';
    let firstError: NodeJS.ErrnoException | undefined;
    let open = 2;

    const resetBoth = (from: 'client' | 'upstream', error: NodeJS.ErrnoException): void => {
      if (firstError !== undefined) return;
      firstError = error;
      ending = from === 'client' ? 'client-reset' : 'upstream-reset';
      const other = from === 'client' ? upstream : client;
      if (!other.destroyed) other.resetAndDestroy();
    };
    const onClose = (): void => {
      open -= 1;
      if (open > 0) return;
      resolve({
        ending,
        clientBytes: client.bytesRead,
        upstreamBytes: upstream.bytesRead,
        error: firstError,
      });
    };

    client.on('error', (error: NodeJS.ErrnoException) => resetBoth('client', error));
    upstream.on('error', (error: NodeJS.ErrnoException) => resetBoth('upstream', error));
    client.once('close', onClose);
    upstream.once('close', onClose);
    // end: true turns the reader's FIN into end() on the writer: exactly a half-close.
    client.pipe(upstream, { end: true });
    upstream.pipe(client, { end: true });
  });
}
