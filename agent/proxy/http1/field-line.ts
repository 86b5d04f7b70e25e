// One field line, `field-name ":" OWS field-value OWS CRLF` (RFC 9112 §5), checked in one pass that
// also finds where the line ends. Shared by the head parser and the chunked trailer section.
// The first byte that is out of place decides the reason, so the same bytes are refused for the same
// reason however they were cut into chunks.
import { COLON, CR, FIELD_VALUE, HTAB, LF, SP, TCHAR } from './chars.ts';
import { classifyFieldName } from './known-fields.ts';
import type { Http1ErrorCode } from './rejection.ts';

/** Ints pushed per field: name start, name end, value start, value end (relative to the head), KnownField. */
export const FIELD_STRIDE = 5;

/** The line goes on past the bytes available; call again once more have come. */
export const NEED_MORE = -1;

/** Where the next line starts (≥ 0), NEED_MORE, or the reason to refuse. */
export type LineResult = number | Http1ErrorCode;

/**
 * What the byte at buf[i] means where the grammar wanted something else: LF is always a bare LF here
 * (a CR would have come first); CR is the line's end if LF follows (`atLineEnd`, 0 when that is fine),
 * a bare CR if anything else follows; any other byte is `other`.
 */
export function lineStop(buf: Uint8Array, i: number, end: number, atLineEnd: Http1ErrorCode | 0, other: Http1ErrorCode): Http1ErrorCode | 0 | typeof NEED_MORE {
  const b = buf[i];
  if (b === LF) return 'WEFT_E_HTTP1_BARE_LF';
  if (b !== CR) return other;
  if (i + 1 === end) return NEED_MORE;
  return buf[i + 1] === LF ? atLineEnd : 'WEFT_E_HTTP1_BARE_CR';
}

/**
 * Parses the field line starting at buf[start], looking no further than buf[end - 1]. On success
 * appends its FIELD_STRIDE ints to `out`, offsets made relative to `base`.
 */
export function parseFieldLine(buf: Uint8Array, start: number, end: number, base: number, out: number[]): LineResult {
  let i = start;
  while (i < end && TCHAR[buf[i] as number] === 1) i++;
  if (i === end) return NEED_MORE;
  const nameEnd = i;
  const b = buf[i];
  if (b !== COLON) {
    if (b === SP || b === HTAB) {
      // RFC 9112 §5.2: obs-fold is a line starting with whitespace; we refuse it rather than unfold
      // it, since two parsers unfolding differently is a smuggling vector (§2.2 also allows refusing
      // whitespace before the first field line, which this covers).
      if (i === start) return 'WEFT_E_HTTP1_OBS_FOLD';
      // §5.1: "No whitespace is allowed between the field name and colon ... a server MUST reject".
      let j = i;
      while (j < end && (buf[j] === SP || buf[j] === HTAB)) j++;
      if (j === end) return NEED_MORE;
      if (buf[j] === COLON) return 'WEFT_E_HTTP1_WHITESPACE_BEFORE_COLON';
      const r = lineStop(buf, j, end, 'WEFT_E_HTTP1_BAD_FIELD_NAME', 'WEFT_E_HTTP1_BAD_FIELD_NAME');
      return r === 0 ? 'WEFT_E_HTTP1_BAD_FIELD_NAME' : r;
    }
    // A line without a colon, or a name with a byte that is not tchar.
    const r = lineStop(buf, i, end, 'WEFT_E_HTTP1_BAD_FIELD_NAME', 'WEFT_E_HTTP1_BAD_FIELD_NAME');
    return r === 0 ? 'WEFT_E_HTTP1_BAD_FIELD_NAME' : r;
  }
  if (nameEnd === start) return 'WEFT_E_HTTP1_BAD_FIELD_NAME';
  i++;
  while (i < end && (buf[i] === SP || buf[i] === HTAB)) i++;
  const valueStart = i;
  // Controls (NUL, CR, LF, ...) end the scan: CRLF is the line's end, anything else is refused.
  while (i < end && FIELD_VALUE[buf[i] as number] === 1) i++;
  if (i === end) return NEED_MORE;
  const r = lineStop(buf, i, end, 0, 'WEFT_E_HTTP1_BAD_FIELD_VALUE');
  if (r !== 0) return r;
  let valueEnd = i;
  while (valueEnd > valueStart && (buf[valueEnd - 1] === SP || buf[valueEnd - 1] === HTAB)) valueEnd--;
  out.push(start - base, nameEnd - base, valueStart - base, valueEnd - base, classifyFieldName(buf, start, nameEnd));
  return i + 2;
}
