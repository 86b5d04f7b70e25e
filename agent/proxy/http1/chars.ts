// Byte classes of the HTTP grammar as 256-entry tables, so each byte on the hot path costs one
// indexed load. Everything here is ABNF from RFC 9110 §5.6 and RFC 9112.
export const HTAB = 0x09;
export const LF = 0x0a;
export const CR = 0x0d;
export const SP = 0x20;
export const DQUOTE = 0x22;
export const COMMA = 0x2c;
export const COLON = 0x3a;
export const SEMI = 0x3b;
export const EQUALS = 0x3d;
export const BACKSLASH = 0x5c;

function table(member: (b: number) => boolean): Uint8Array {
  const t = new Uint8Array(256);
  for (let b = 0; b < 256; b++) t[b] = member(b) ? 1 : 0;
  return t;
}

const isAlpha = (b: number): boolean => (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
const isDigit = (b: number): boolean => b >= 0x30 && b <= 0x39;

/** tchar (RFC 9110 §5.6.2): the bytes of a token — method, field name, transfer coding, connection option. */
export const TCHAR = table((b) => isAlpha(b) || isDigit(b) || "!#$%&'*+-.^_`|~".includes(String.fromCharCode(b)));

/**
 * Bytes allowed inside a field value (RFC 9110 §5.5): VCHAR, obs-text (0x80–0xFF, kept as opaque
 * octets), SP and HTAB. Everything else is a control: NUL, CR and LF above all, which is how header
 * injection and response splitting get in.
 */
export const FIELD_VALUE = table((b) => b === SP || b === HTAB || (b >= 0x21 && b <= 0x7e) || b >= 0x80);

/**
 * Bytes of a request-target: visible ASCII (RFC 9112 §3.2 and RFC 3986 are ASCII). Bytes RFC 3986
 * leaves out but clients send anyway ({ } | ^ `) are let through: they cannot move where the target
 * ends, which is what matters for framing; whitespace, controls and non-ASCII are refused.
 */
export const TARGET = table((b) => b >= 0x21 && b <= 0x7e);

/**
 * Bytes of uri-host [ ":" port ] (RFC 3986 §3.2.2): unreserved, pct-encoded, sub-delims, ":" and the
 * IP-literal brackets. No "/", "?", "#", "@" or whitespace, so a Host cannot smuggle a path or userinfo.
 */
export const AUTHORITY = table((b) => isAlpha(b) || isDigit(b) || "-._~%!$&'()*+,;=:[]".includes(String.fromCharCode(b)));

/** Chunk-extension quoted-string qdtext (RFC 9110 §5.6.4): HTAB, SP, VCHAR except DQUOTE and "\", obs-text. */
export const QDTEXT = table(
  (b) => b === HTAB || b === SP || b === 0x21 || (b >= 0x23 && b <= 0x5b) || (b >= 0x5d && b <= 0x7e) || b >= 0x80,
);

/** quoted-pair's second byte: HTAB, SP, VCHAR, obs-text. */
export const QUOTABLE = table((b) => b === HTAB || b === SP || (b >= 0x21 && b <= 0x7e) || b >= 0x80);

/** HEXDIG value, or -1. */
export const HEX = (() => {
  const t = new Int8Array(256).fill(-1);
  for (let b = 0x30; b <= 0x39; b++) t[b] = b - 0x30;
  for (let b = 0x41; b <= 0x46; b++) t[b] = b - 0x41 + 10;
  for (let b = 0x61; b <= 0x66; b++) t[b] = b - 0x61 + 10;
  return t;
})();

/** Whether buf[start, end) equals `lower` (ASCII, already lowercase) ignoring the case of A–Z. */
export function equalsLower(buf: Uint8Array, start: number, end: number, lower: string): boolean {
  if (end - start !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    let b = buf[start + i] as number;
    if (b >= 0x41 && b <= 0x5a) b |= 0x20;
    if (b !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** Whether buf[start, start + ascii.length) is exactly `ascii` (case-sensitive). */
export function equalsAscii(buf: Uint8Array, start: number, ascii: string): boolean {
  for (let i = 0; i < ascii.length; i++) {
    if (buf[start + i] !== ascii.charCodeAt(i)) return false;
  }
  return true;
}
