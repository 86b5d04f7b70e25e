// One field line, `field-name ":" OWS field-value OWS` (RFC 9112 §5), checked in one pass over bytes
// already known to end in CRLF. Shared by the head parser and the chunked trailer section.
import { COLON, CR, FIELD_VALUE, HTAB, SP, TCHAR } from './chars.ts';
import { classifyFieldName } from './known-fields.ts';
import type { Http1ErrorCode } from './rejection.ts';

/** Ints pushed per field: name start, name end, value start, value end (relative to the head), KnownField. */
export const FIELD_STRIDE = 5;

/**
 * Checks buf[start, end) (the line without its CRLF) and appends its FIELD_STRIDE ints to `out`,
 * offsets made relative to `base`. Returns the reason on a bad line, undefined otherwise.
 */
export function parseFieldLine(
  buf: Uint8Array,
  start: number,
  end: number,
  base: number,
  out: number[],
): Http1ErrorCode | undefined {
  let i = start;
  // RFC 9112 §5.2: obs-fold is a line starting with whitespace; we reject it rather than unfold it,
  // since two parsers unfolding differently is a smuggling vector. §2.2 also allows rejecting
  // whitespace before the first field line, which this covers too.
  const first = buf[i];
  if (first === SP || first === HTAB) return 'WEFT_E_HTTP1_OBS_FOLD';
  while (i < end && TCHAR[buf[i] as number] === 1) i++;
  const nameEnd = i;
  const stop = buf[i];
  if (i === end) return 'WEFT_E_HTTP1_BAD_FIELD_NAME'; // no colon at all
  if (stop !== COLON) {
    if (stop === CR) return 'WEFT_E_HTTP1_BARE_CR';
    if (stop === SP || stop === HTAB) {
      // RFC 9112 §5.1: "No whitespace is allowed between the field name and colon ... a server MUST
      // reject" with 400 (and a proxy MUST remove it from a response; we refuse those too).
      let j = i;
      while (j < end && (buf[j] === SP || buf[j] === HTAB)) j++;
      return buf[j] === COLON ? 'WEFT_E_HTTP1_WHITESPACE_BEFORE_COLON' : 'WEFT_E_HTTP1_BAD_FIELD_NAME';
    }
    return 'WEFT_E_HTTP1_BAD_FIELD_NAME';
  }
  if (nameEnd === start) return 'WEFT_E_HTTP1_BAD_FIELD_NAME';
  i++;
  while (i < end && (buf[i] === SP || buf[i] === HTAB)) i++;
  const valueStart = i;
  let valueEnd = i;
  for (; i < end; i++) {
    const b = buf[i] as number;
    if (FIELD_VALUE[b] !== 1) return b === CR ? 'WEFT_E_HTTP1_BARE_CR' : 'WEFT_E_HTTP1_BAD_FIELD_VALUE';
    if (b !== SP && b !== HTAB) valueEnd = i + 1;
  }
  out.push(start - base, nameEnd - base, valueStart - base, valueEnd - base, classifyFieldName(buf, start, nameEnd));
  return undefined;
}
