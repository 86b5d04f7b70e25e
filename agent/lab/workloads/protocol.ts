// The JSON lines the lab workloads write to stdout (and the client reads from stdin). Types only:
// the workloads run as plain .ts files on Node 24 and import nothing but node: modules and this.

/** How a TCP connection ended, as seen by the side that reports it. */
export type ConnectionEnd = 'end' | 'reset' | 'error' | 'timeout';

export type EchoServerEvent =
  | { readonly event: 'listening'; readonly address: string; readonly port: number }
  | {
      readonly event: 'connection';
      readonly id: number;
      /** The peer as the server's kernel saw it: proves which source IP a connection came from. */
      readonly remoteAddress: string;
      readonly remotePort: number;
      readonly localAddress: string;
      readonly localPort: number;
    }
  | {
      readonly event: 'closed';
      readonly id: number;
      readonly bytesIn: number;
      readonly bytesOut: number;
      readonly how: ConnectionEnd;
      readonly errorCode: string | null;
    };

/** One connection for the client to make. */
export interface ClientCommand {
  readonly id: number;
  readonly op: 'connect';
  readonly host: string;
  readonly port: number;
  /** Bytes to send after connecting, base64. */
  readonly data: string;
  /** Half-close (FIN) after sending, then read until the peer ends; otherwise wait for the peer to end. */
  readonly halfClose: boolean;
  readonly timeoutMs: number;
}

export type ClientEvent =
  | { readonly event: 'ready'; readonly pid: number }
  | {
      readonly event: 'result';
      readonly id: number;
      readonly connected: boolean;
      readonly localAddress: string | null;
      readonly localPort: number | null;
      readonly remoteAddress: string | null;
      readonly remotePort: number | null;
      /** What came back, base64. */
      readonly received: string;
      readonly how: ConnectionEnd;
      readonly errorCode: string | null;
      readonly durationMs: number;
    }
  | { readonly event: 'bad-command'; readonly line: string; readonly message: string };
