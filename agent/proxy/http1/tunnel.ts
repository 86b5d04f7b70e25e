// After a 101 or a 2xx to CONNECT the client's connection is no longer HTTP: its bytes and the
// upstream tunnel's are spliced, with the semantics of opaque.ts (spliceOpaque), which this follows:
// - backpressure both ways (pipe);
// - half-close: a FIN from one side becomes end() on the other, and the other direction keeps flowing
//   (both sockets are made allowHalfOpen here; Node reads the flag when the FIN arrives);
// - reset: an error on one side resets the other, never a clean FIN, so a peer can tell a crash from
//   an orderly close.
// Unlike spliceOpaque, the upstream side is any Duplex (HttpResponse.tunnel: a socket from the
// HTTP/1.1 pool today, an HTTP/2 stream later), and the client may already have sent bytes past its
// head (early data the server connection held while the service decided): those go first.
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

export type TunnelEnding = 'closed' | 'client-reset' | 'upstream-reset';

export interface TunnelResult {
  readonly ending: TunnelEnding;
  /** Bytes from the client to the tunnel, early data included. */
  readonly clientBytes: number;
  /** Bytes from the tunnel to the client. */
  readonly upstreamBytes: number;
  /** The first error seen, if the tunnel ended in a reset. */
  readonly error: Error | undefined;
}

// A socket is reset with an RST. Any other Duplex is destroyed without an error (an HTTP/2 stream
// then sends RST_STREAM), so no 'error' is emitted where nobody may be listening.
function reset(stream: Duplex): void {
  if (stream.destroyed) return;
  if (stream instanceof Socket) stream.resetAndDestroy();
  else stream.destroy();
}

/** Counts one direction's bytes without a per-chunk closure: one instance per direction. */
class ByteCounter {
  bytes = 0;
  readonly onData = (chunk: Buffer): void => {
    this.bytes += chunk.length;
  };
}

/**
 * Splices `client` (an accepted socket whose HTTP is over) and `tunnel`; `early` are client bytes
 * already read past the switching request. Resolves once both sides are closed.
 */
export function spliceTunnel(client: Socket, tunnel: Duplex, early: Buffer | undefined): Promise<TunnelResult> {
  return new Promise((resolve) => {
    let ending: TunnelEnding = 'closed';
    let firstError: Error | undefined;
    let open = 2;
    const up = new ByteCounter();
    const down = new ByteCounter();
    const clientToTunnel = early?.length ?? 0;

    const resetBoth = (from: 'client' | 'upstream', error: Error): void => {
      if (firstError !== undefined) return;
      firstError = error;
      ending = from === 'client' ? 'client-reset' : 'upstream-reset';
      reset(from === 'client' ? tunnel : client);
    };
    const onClose = (): void => {
      open -= 1;
      if (open > 0) return;
      resolve({ ending, clientBytes: clientToTunnel + up.bytes, upstreamBytes: down.bytes, error: firstError });
    };

    // Either side gone before the splice (the upstream reset right after its 101, the client left
    // while the service decided): the other is reset, as if it had happened a moment later.
    if (tunnel.destroyed || client.destroyed) {
      const fromClient = client.destroyed;
      const error = new Error(fromClient ? 'the client closed before the switch' : 'the tunnel closed before the switch');
      reset(client);
      reset(tunnel);
      resolve({ ending: fromClient ? 'client-reset' : 'upstream-reset', clientBytes: 0, upstreamBytes: 0, error });
      return;
    }
    client.allowHalfOpen = true;
    if (tunnel instanceof Socket) tunnel.allowHalfOpen = true;
    client.on('error', (error: Error) => resetBoth('client', error));
    tunnel.on('error', (error: Error) => resetBoth('upstream', error));
    client.once('close', onClose);
    tunnel.once('close', onClose);
    if (early !== undefined && early.length > 0) tunnel.write(early);
    client.on('data', up.onData);
    tunnel.on('data', down.onData);
    // end: true turns a FIN into end() on the other side: exactly a half-close. pipe() ends the
    // writer at once if the reader had already ended (a client that half-closed after early data).
    client.pipe(tunnel, { end: true });
    tunnel.pipe(client, { end: true });
  });
}
