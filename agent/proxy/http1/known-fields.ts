// The field names the framing layer acts on, recognised once while the head is parsed (by length,
// then a case-insensitive byte compare: no string is made for a name nobody asked about).
import { equalsLower } from './chars.ts';

export const KnownField = {
  other: 0,
  host: 1,
  contentLength: 2,
  transferEncoding: 3,
  connection: 4,
  keepAlive: 5,
  proxyConnection: 6,
  te: 7,
  upgrade: 8,
  expect: 9,
  proxyAuthorization: 10,
  proxyAuthenticate: 11,
} as const;
export type KnownField = (typeof KnownField)[keyof typeof KnownField];

export function classifyFieldName(buf: Uint8Array, start: number, end: number): KnownField {
  switch (end - start) {
    case 2:
      return equalsLower(buf, start, end, 'te') ? KnownField.te : KnownField.other;
    case 4:
      return equalsLower(buf, start, end, 'host') ? KnownField.host : KnownField.other;
    case 6:
      return equalsLower(buf, start, end, 'expect') ? KnownField.expect : KnownField.other;
    case 7:
      return equalsLower(buf, start, end, 'upgrade') ? KnownField.upgrade : KnownField.other;
    case 10:
      if (equalsLower(buf, start, end, 'connection')) return KnownField.connection;
      return equalsLower(buf, start, end, 'keep-alive') ? KnownField.keepAlive : KnownField.other;
    case 14:
      return equalsLower(buf, start, end, 'content-length') ? KnownField.contentLength : KnownField.other;
    case 16:
      return equalsLower(buf, start, end, 'proxy-connection') ? KnownField.proxyConnection : KnownField.other;
    case 17:
      return equalsLower(buf, start, end, 'transfer-encoding') ? KnownField.transferEncoding : KnownField.other;
    case 18:
      return equalsLower(buf, start, end, 'proxy-authenticate') ? KnownField.proxyAuthenticate : KnownField.other;
    case 19:
      return equalsLower(buf, start, end, 'proxy-authorization') ? KnownField.proxyAuthorization : KnownField.other;
    default:
      return KnownField.other;
  }
}
