// A head back to bytes for the next hop, in one buffer sized up front and filled by a few copies:
// the start line with weft's own version (RFC 9110 §2.5: an intermediary sends its own
// HTTP-version), the forwarded field lines copied as they came (consecutive ones in one copy), the
// caller's precomputed extra lines, then the framing and Connection fields written once, canonically
// (last, so that serializing a serialized head gives the same bytes).
import { WeftError } from '../../errors.ts';
import { CR, FIELD_VALUE, HTAB, LF, SP, TCHAR } from './chars.ts';
import { FIELD_STRIDE } from './field-line.ts';
import type { BodyFraming } from './framing.ts';
import type { Http1Head } from './head.ts';
import { type ForwardOptions, isForwarded } from './hop-by-hop.ts';

export interface SerializeOptions extends ForwardOptions {
  /** The framing to write; default the head's. E.g. a read-until-close response re-framed as chunked for a keep-alive client. */
  readonly body?: BodyFraming;
  /** With body 'length': the length; default head.contentLength. */
  readonly contentLength?: number;
  /** A Connection option to send. An upgrade message always sends "upgrade" instead. */
  readonly connection?: 'keep-alive' | 'close';
  /** More field lines, each ending CRLF, made once with encodeFieldLines (e.g. l5d-dst-canonical). */
  readonly extraFields?: Buffer;
}

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');
const REQUEST_VERSION = latin1(' HTTP/1.1\r\n');
const RESPONSE_VERSION = latin1('HTTP/1.1 ');
const CRLF = latin1('\r\n');
const CONTENT_LENGTH = latin1('content-length: ');
const TE_CHUNKED = latin1('transfer-encoding: chunked\r\n');
const CONNECTION_UPGRADE = latin1('connection: upgrade\r\n');
const CONNECTION_CLOSE = latin1('connection: close\r\n');
const CONNECTION_KEEP_ALIVE = latin1('connection: keep-alive\r\n');

/** Serializes `head` for the next hop, hop-by-hop fields removed (see hop-by-hop.ts). */
export function serializeHead(head: Http1Head, options: SerializeOptions = {}): Buffer {
  // Offsets are relative to the head's start in `src`.
  const src = head.source;
  const at = head.start;
  const f = head.fields;
  const n = head.fieldCount;
  const sectionEnd = head.length - 2; // the blank line's CRLF
  const lineEnd = (n > 0 ? (f[0] as number) : sectionEnd) - 2; // end of the start line, CRLF excluded

  const isRequest = head.kind === 'request';
  // Request: method SP target, then " HTTP/1.1" CRLF. Response: "HTTP/1.1 ", then status SP reason.
  const startFrom = isRequest ? 0 : 9;
  const startTo = isRequest ? lineEnd - 9 : lineEnd;
  let total = (startTo - startFrom) + (isRequest ? REQUEST_VERSION.length : RESPONSE_VERSION.length + 2);

  const keep: boolean[] = [];
  for (let i = 0; i < n; i++) {
    const k = isForwarded(head, i, options);
    keep.push(k);
    if (k) total += ((i + 1 < n ? (f[(i + 1) * FIELD_STRIDE] as number) : sectionEnd) - (f[i * FIELD_STRIDE] as number));
  }

  const body = options.body ?? head.body;
  const length = framedLength(head, body, options);
  const digits = length < 0 ? '' : String(length);
  if (body === 'chunked') total += TE_CHUNKED.length;
  else if (length >= 0) total += CONTENT_LENGTH.length + digits.length + 2;
  const connection = head.upgrade
    ? CONNECTION_UPGRADE
    : options.connection === 'close'
      ? CONNECTION_CLOSE
      : options.connection === 'keep-alive'
        ? CONNECTION_KEEP_ALIVE
        : undefined;
  if (connection !== undefined) total += connection.length;
  const extra = options.extraFields;
  if (extra !== undefined) total += extra.length;
  total += 2;

  const out = Buffer.allocUnsafe(total);
  let o = 0;
  if (isRequest) {
    o += src.copy(out, o, at + startFrom, at + startTo);
    o += REQUEST_VERSION.copy(out, o);
  } else {
    o += RESPONSE_VERSION.copy(out, o);
    o += src.copy(out, o, at + startFrom, at + startTo);
    o += CRLF.copy(out, o);
  }
  // Runs of forwarded lines are contiguous in the original head: one copy per run.
  let run = -1;
  for (let i = 0; i < n; i++) {
    const lineStart = f[i * FIELD_STRIDE] as number;
    if (keep[i] === true) {
      if (run < 0) run = lineStart;
    } else if (run >= 0) {
      o += src.copy(out, o, at + run, at + lineStart);
      run = -1;
    }
  }
  if (run >= 0) o += src.copy(out, o, at + run, at + sectionEnd);
  if (extra !== undefined) o += extra.copy(out, o);
  if (body === 'chunked') {
    o += TE_CHUNKED.copy(out, o);
  } else if (length >= 0) {
    o += CONTENT_LENGTH.copy(out, o);
    o += out.write(digits, o, 'latin1');
    out[o++] = CR;
    out[o++] = LF;
  }
  if (connection !== undefined) o += connection.copy(out, o);
  out[o++] = CR;
  out[o] = LF;
  return out;
}

/** The Content-Length to write, or -1 for none. */
function framedLength(head: Http1Head, body: BodyFraming, options: SerializeOptions): number {
  if (body === 'length') {
    const length = options.contentLength ?? head.contentLength;
    if (!(Number.isSafeInteger(length) && length >= 0)) {
      throw new WeftError('WEFT_E_HTTP1_SERIALIZE', `http1: body 'length' needs a content length, got ${length}`);
    }
    return length;
  }
  // A HEAD response or a 304 has no body, but its Content-Length still describes the representation
  // (RFC 9110 §8.6), so it goes on. 1xx and 204 never carry one.
  if (body === 'none' && head.kind === 'response' && head.status >= 200 && head.status !== 204) return head.contentLength;
  return -1;
}

/**
 * Field lines "name: value" CRLF, checked, for SerializeOptions.extraFields. Made once per route or
 * per config, not per request. Throws on a name that is not a token or a value with a control
 * character (that would be header injection).
 */
export function encodeFieldLines(fields: readonly (readonly [string, string])[]): Buffer {
  let text = '';
  for (const [name, value] of fields) {
    if (name.length === 0 || ![...name].every((c) => TCHAR[c.charCodeAt(0)] === 1)) {
      throw new WeftError('WEFT_E_HTTP1_BAD_FIELD', `http1: field name ${JSON.stringify(name)} is not a token`);
    }
    let from = 0;
    let to = value.length;
    while (from < to && (value.charCodeAt(from) === SP || value.charCodeAt(from) === HTAB)) from++;
    while (to > from && (value.charCodeAt(to - 1) === SP || value.charCodeAt(to - 1) === HTAB)) to--;
    const v = value.slice(from, to);
    for (let i = 0; i < v.length; i++) {
      const c = v.charCodeAt(i);
      if (c > 0xff || FIELD_VALUE[c] !== 1) {
        throw new WeftError('WEFT_E_HTTP1_BAD_FIELD', `http1: value of ${name} holds a control or non-latin1 character`);
      }
    }
    text += `${name}: ${v}\r\n`;
  }
  return Buffer.from(text, 'latin1');
}
