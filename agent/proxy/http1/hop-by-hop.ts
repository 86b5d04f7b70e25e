// Which fields of a head go on to the next hop (RFC 9110 §7.6.1). Connection-specific fields are
// dropped: Connection itself and every field it names, Keep-Alive, Proxy-Connection (never standard,
// still sent), TE, and Upgrade unless this message is the upgrade. Content-Length and
// Transfer-Encoding are dropped too, because the serializer writes the framing itself, once and in
// canonical form: a duplicated or oddly spelled framing field never reaches a downstream parser.
import { FIELD_STRIDE } from './field-line.ts';
import type { Http1Head } from './head.ts';
import { KnownField } from './known-fields.ts';

export interface ForwardOptions {
  /**
   * Proxy-Authorization / Proxy-Authenticate were for weft, and end here. weft asks no proxy
   * credentials of its own, so by default they go on to whichever proxy they are for
   * (RFC 9110 §11.7.1–2: consumed by the proxy that demanded them, relayed otherwise).
   */
  readonly proxyAuthIsOurs?: boolean;
}

/** The fields every proxy drops, for documentation and /status. */
export const hopByHopFields: readonly string[] = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'transfer-encoding',
  'upgrade',
  'content-length',
];

/** Whether field i of `head` is forwarded. */
export function isForwarded(head: Http1Head, i: number, options: ForwardOptions = {}): boolean {
  switch (head.fields[i * FIELD_STRIDE + 4] as KnownField) {
    case KnownField.contentLength:
    case KnownField.transferEncoding:
    case KnownField.connection:
    case KnownField.keepAlive:
    case KnownField.proxyConnection:
    case KnownField.te:
      return false;
    case KnownField.upgrade:
      // RFC 9110 §7.8: Upgrade is hop-by-hop; it goes on only with the upgrade it asks for (a request
      // that asks, or the 101 that grants it), with "connection: upgrade" and no other option. So
      // WebSocket passes (its Sec-WebSocket-* fields are end-to-end) and h2c does not: HTTP2-Settings
      // is named in Connection and dropped, and a server MUST NOT upgrade without it (RFC 7540
      // §3.2.1), so it answers in HTTP/1.1. HTTP/2 to weft is the h2 path, not an upgrade.
      return head.upgrade;
    case KnownField.proxyAuthorization:
    case KnownField.proxyAuthenticate:
      return options.proxyAuthIsOurs !== true;
    case KnownField.host:
      // Host stays even if Connection names it: the next hop cannot route an HTTP/1.1 request without it.
      return true;
    default: {
      const named = head.connectionOptions;
      if (named === undefined) return true;
      for (const option of named) if (head.nameIs(i, option)) return false;
      return true;
    }
  }
}
