// The first line of a message: request-line (RFC 9112 §3) or status-line (§4), checked in one pass
// that also finds the line's end; the first byte out of place decides the reason. Strict: single SPs
// (§3 allows whitespace-splitting parsers, and that leniency is where two parsers start to disagree),
// a case-sensitive "HTTP/" name (§2.3), and only HTTP/1.0 and HTTP/1.1.
import { AUTHORITY, FIELD_VALUE, SP, TARGET, TCHAR, equalsAscii } from './chars.ts';
import { type LineResult, NEED_MORE, lineStop } from './field-line.ts';
import type { Http1ErrorCode } from './rejection.ts';

export type TargetForm = 'origin' | 'absolute' | 'authority' | 'asterisk';

/** What the start line said, offsets relative to the head. Owned and reused by one parser. */
export class StartLine {
  method = '';
  targetStart = 0;
  targetEnd = 0;
  targetForm: TargetForm = 'origin';
  minor = 1;
  status = 0;
  reasonStart = 0;
  reasonEnd = 0;
}

const H = 0x48;
const T = 0x54;
const P = 0x50;
const SLASH = 0x2f;
const DOT = 0x2e;
const STAR = 0x2a;
const COLON = 0x3a;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;

function isDigit(b: number | undefined): b is number {
  return b !== undefined && b >= 0x30 && b <= 0x39;
}

function isAlpha(b: number | undefined): boolean {
  return b !== undefined && ((b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a));
}

const VERSION_PREFIX = [H, T, T, P, SLASH];

/**
 * Checks the 8 bytes of "HTTP/" DIGIT "." DIGIT from buf[i] one by one, so the first wrong byte
 * decides. Returns i + 8, NEED_MORE, or the reason (`bad` for a wrong byte).
 */
function versionBytes(buf: Buffer, i: number, end: number, bad: Http1ErrorCode): LineResult {
  // Nearly always "HTTP/1.1" or "HTTP/1.0": one straight comparison, then the general loop.
  if (
    i + 8 <= end &&
    buf[i] === H &&
    buf[i + 1] === T &&
    buf[i + 2] === T &&
    buf[i + 3] === P &&
    buf[i + 4] === SLASH &&
    buf[i + 5] === 0x31 &&
    buf[i + 6] === DOT &&
    (buf[i + 7] === 0x31 || buf[i + 7] === 0x30)
  ) {
    return i + 8;
  }
  for (let k = 0; k < 8; k++, i++) {
    if (i === end) return NEED_MORE;
    const b = buf[i];
    const ok = k < 5 ? b === VERSION_PREFIX[k] : k === 6 ? b === DOT : isDigit(b);
    if (!ok) return stopReason(buf, i, end, bad, bad);
  }
  return i;
}

/** lineStop, where ending the line here is itself the reason `atLineEnd`. */
function stopReason(buf: Buffer, i: number, end: number, atLineEnd: Http1ErrorCode, other: Http1ErrorCode): LineResult {
  const r = lineStop(buf, i, end, atLineEnd, other);
  return r === 0 ? atLineEnd : r;
}

/**
 * The minor version of "HTTP/" DIGIT "." DIGIT at buf[i] (already checked): 0 or 1, or -1 for a
 * version not spoken here. RFC 9110 §2.5 would let a 1.x recipient treat x > 1 as 1.1; refusing is
 * simpler and unambiguous.
 */
function minorVersion(buf: Buffer, i: number): number {
  const minor = buf[i + 7] as number;
  if (buf[i + 5] !== 0x31 || minor > 0x31) return -1;
  return minor - 0x30;
}

// Methods are case-sensitive (RFC 9110 §9.1); the common ones come back as constants, not new strings.
function method(buf: Buffer, start: number, end: number): string {
  const b0 = buf[start];
  switch (end - start) {
    case 3:
      if (b0 === 0x47 && buf[start + 1] === 0x45 && buf[start + 2] === 0x54) return 'GET';
      if (b0 === 0x50 && buf[start + 1] === 0x55 && buf[start + 2] === 0x54) return 'PUT';
      break;
    case 4:
      if (equalsAscii(buf, start, 'POST')) return 'POST';
      if (equalsAscii(buf, start, 'HEAD')) return 'HEAD';
      break;
    case 5:
      if (equalsAscii(buf, start, 'PATCH')) return 'PATCH';
      if (equalsAscii(buf, start, 'TRACE')) return 'TRACE';
      break;
    case 6:
      if (equalsAscii(buf, start, 'DELETE')) return 'DELETE';
      break;
    case 7:
      if (equalsAscii(buf, start, 'OPTIONS')) return 'OPTIONS';
      if (equalsAscii(buf, start, 'CONNECT')) return 'CONNECT';
      break;
    default:
      break;
  }
  return buf.toString('latin1', start, end);
}

/**
 * Parses the request-line starting at buf[start], looking no further than buf[end - 1]. Offsets in
 * `out` are relative to `base`. Returns where the next line starts, NEED_MORE, or the reason.
 */
export function parseRequestLine(buf: Buffer, start: number, end: number, base: number, out: StartLine): LineResult {
  let i = start;
  while (i < end && TCHAR[buf[i] as number] === 1) i++;
  if (i === end) return NEED_MORE;
  if (buf[i] !== SP) return stopReason(buf, i, end, 'WEFT_E_HTTP1_BAD_REQUEST_LINE', 'WEFT_E_HTTP1_BAD_METHOD');
  if (i === start) return 'WEFT_E_HTTP1_BAD_REQUEST_LINE';
  const methodEnd = i++;
  const targetStart = i;
  while (i < end && TARGET[buf[i] as number] === 1) i++;
  if (i === end) return NEED_MORE;
  if (buf[i] !== SP) return stopReason(buf, i, end, 'WEFT_E_HTTP1_BAD_REQUEST_LINE', 'WEFT_E_HTTP1_BAD_TARGET');
  if (i === targetStart) return 'WEFT_E_HTTP1_BAD_REQUEST_LINE';
  const targetEnd = i++;
  const versionStart = i;
  const v = versionBytes(buf, i, end, 'WEFT_E_HTTP1_BAD_VERSION');
  if (typeof v === 'string' || v === NEED_MORE) return v;
  i = v;
  if (i === end) return NEED_MORE;
  const r = lineStop(buf, i, end, 0, 'WEFT_E_HTTP1_BAD_VERSION');
  if (r !== 0) return r;
  const minor = minorVersion(buf, versionStart);
  if (minor < 0) return 'WEFT_E_HTTP1_UNSUPPORTED_VERSION';

  const m = method(buf, start, methodEnd);
  const form = targetForm(buf, targetStart, targetEnd, m);
  if (form === undefined) return 'WEFT_E_HTTP1_BAD_TARGET';
  out.method = m;
  out.targetStart = targetStart - base;
  out.targetEnd = targetEnd - base;
  out.targetForm = form;
  out.minor = minor;
  out.status = 0;
  out.reasonStart = 0;
  out.reasonEnd = 0;
  return i + 2;
}

// RFC 9112 §3.2: CONNECT takes authority-form and only it; "*" only with OPTIONS; otherwise an
// origin-form path or an absolute URI.
function targetForm(buf: Buffer, start: number, end: number, m: string): TargetForm | undefined {
  const first = buf[start];
  if (m === 'CONNECT') return isAuthorityForm(buf, start, end) ? 'authority' : undefined;
  if (first === SLASH) return 'origin';
  if (first === STAR) return end - start === 1 && m === 'OPTIONS' ? 'asterisk' : undefined;
  // absolute-URI = scheme ":" ...; scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3986 §3.1)
  if (!isAlpha(first)) return undefined;
  for (let i = start + 1; i < end; i++) {
    const b = buf[i] as number;
    if (b === COLON) return i + 1 < end ? 'absolute' : undefined;
    if (!(isAlpha(b) || isDigit(b) || b === 0x2b || b === 0x2d || b === DOT)) return undefined;
  }
  return undefined;
}

// authority-form = uri-host ":" port, the port non-empty and at most 65535 (RFC 9110 §9.3.6: reject
// an empty or invalid port).
function isAuthorityForm(buf: Buffer, start: number, end: number): boolean {
  let colon = -1;
  for (let i = end - 1; i >= start; i--) {
    if (buf[i] === COLON) {
      colon = i;
      break;
    }
  }
  if (colon <= start || end - colon - 1 < 1 || end - colon - 1 > 5) return false;
  let port = 0;
  for (let i = colon + 1; i < end; i++) {
    const b = buf[i];
    if (!isDigit(b)) return false;
    port = port * 10 + (b - 0x30);
  }
  if (port > 65535) return false;
  const bracketed = buf[start] === LBRACKET;
  if (bracketed && buf[colon - 1] !== RBRACKET) return false;
  for (let i = start; i < colon; i++) {
    const b = buf[i] as number;
    if (AUTHORITY[b] !== 1) return false;
    // Only an IP-literal may hold ":" or brackets, and only inside its own brackets.
    if (!bracketed && (b === COLON || b === LBRACKET || b === RBRACKET)) return false;
    if (bracketed && (b === LBRACKET || b === RBRACKET) && i !== start && i !== colon - 1) return false;
  }
  return true;
}

/**
 * Parses the status-line starting at buf[start], looking no further than buf[end - 1]. Offsets in
 * `out` are relative to `base`. Returns where the next line starts, NEED_MORE, or the reason.
 */
export function parseStatusLine(buf: Buffer, start: number, end: number, base: number, out: StartLine): LineResult {
  const bad = 'WEFT_E_HTTP1_BAD_STATUS_LINE';
  const v = versionBytes(buf, start, end, bad);
  if (typeof v === 'string' || v === NEED_MORE) return v;
  let i = v;
  if (i === end) return NEED_MORE;
  if (buf[i] !== SP) return stopReason(buf, i, end, bad, bad);
  i++;
  let status = 0;
  for (let k = 0; k < 3; k++, i++) {
    if (i === end) return NEED_MORE;
    const d = buf[i];
    if (!isDigit(d)) return stopReason(buf, i, end, bad, bad);
    status = status * 10 + (d - 0x30);
  }
  if (i === end) return NEED_MORE;
  let reasonStart = i;
  if (buf[i] === SP) {
    reasonStart = ++i;
    while (i < end && FIELD_VALUE[buf[i] as number] === 1) i++;
    if (i === end) return NEED_MORE;
  }
  // The SP before an empty reason-phrase is often left out; nothing depends on the phrase (RFC 9112
  // §4: a client SHOULD ignore it), so that omission is tolerated.
  const r = lineStop(buf, i, end, 0, bad);
  if (r !== 0) return r;
  if (minorVersion(buf, start) < 0) return 'WEFT_E_HTTP1_UNSUPPORTED_VERSION';
  // RFC 9110 §15: status codes are 100–599; outside that the class, and so the framing, is unknown.
  if (status < 100 || status > 599) return bad;
  out.method = '';
  out.targetStart = 0;
  out.targetEnd = 0;
  out.targetForm = 'origin';
  out.minor = minorVersion(buf, start);
  out.status = status;
  out.reasonStart = reasonStart - base;
  out.reasonEnd = i - base;
  return i + 2;
}
