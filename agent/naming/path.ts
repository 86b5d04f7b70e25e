// Finagle's Path (finagle-core Path.scala): a hierarchical name made of non-empty byte-string
// segments, shown as `/a/b/c`, with `/` for the empty path. A segment is a byte string, not text,
// because Finagle's `\xHH` escapes can name any byte, including ones that are not UTF-8; here each
// byte is one UTF-16 code unit 0..255 of a JS string, so plain ASCII names stay plain strings
// (map keys, comparisons, JSON) and text goes through segmentFromText/segmentToText.
import { WeftError } from '../errors.ts';

/** A path is plain data: its segments, in order. `[]` is the root path `/`. */
export type Path = readonly string[];

export const emptyPath: Path = Object.freeze([]);

/** Code of errors for values that cannot be a path segment (built in code, not parsed). */
export const namingInvalidCode = 'WEFT_E_NAMING_INVALID';

// Finagle Path.showableChars: DNS label characters plus `_:.#$%-`. Anything else is shown as
// `\xHH`, and then every byte of the segment is (Finagle escapes the whole segment, not the byte).
const showable = new Uint8Array(128);
for (const c of '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_:.#$%-') {
  showable[c.charCodeAt(0)] = 1;
}

/** True for the characters a segment may contain unescaped (Finagle `Path.isShowable`). */
export function isShowableChar(code: number): boolean {
  return code < 128 && showable[code] === 1;
}

/** True when `segment` is a valid segment: non-empty and every code unit a byte (0..255). */
export function isSegment(segment: string): boolean {
  if (segment.length === 0) return false;
  for (let i = 0; i < segment.length; i++) if (segment.charCodeAt(i) > 0xff) return false;
  return true;
}

/** Builds a path from byte-string segments; throws WEFT_E_NAMING_INVALID for a bad segment. */
export function pathOf(...segments: string[]): Path {
  for (const [i, segment] of segments.entries()) {
    if (!isSegment(segment)) {
      throw new WeftError(
        namingInvalidCode,
        `path segment ${i} (${JSON.stringify(segment)}) is ${segment.length === 0 ? 'empty' : 'not a byte string'}; ` +
          'segments are non-empty and each character is a byte 0-255 (use segmentFromText for text)',
      );
    }
  }
  return Object.freeze(segments);
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: false });

/** The segment (byte string) holding the UTF-8 bytes of `text`. */
export function segmentFromText(text: string): string {
  let out = '';
  for (const byte of utf8Encoder.encode(text)) out += String.fromCharCode(byte);
  return out;
}

/** The text of a segment read as UTF-8 (invalid sequences become U+FFFD). */
export function segmentToText(segment: string): string {
  const bytes = new Uint8Array(segment.length);
  for (let i = 0; i < segment.length; i++) bytes[i] = segment.charCodeAt(i) & 0xff;
  return utf8Decoder.decode(bytes);
}

/** Finagle `Path.showElem`: raw when every byte is showable, else every byte as `\xhh`. */
export function showSegment(segment: string): string {
  let plain = true;
  for (let i = 0; i < segment.length; i++) {
    if (!isShowableChar(segment.charCodeAt(i))) {
      plain = false;
      break;
    }
  }
  if (plain) return segment;
  let out = '';
  for (let i = 0; i < segment.length; i++) {
    out += '\\x' + (segment.charCodeAt(i) & 0xff).toString(16).padStart(2, '0');
  }
  return out;
}

/** Finagle `Path.show`: `/a/b`, and `/` for the empty path. Parses back to the same path. */
export function showPath(path: Path): string {
  if (path.length === 0) return '/';
  let out = '';
  for (const segment of path) out += '/' + showSegment(segment);
  return out;
}

export function pathEquals(a: Path, b: Path): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Prefix match on whole segments: `/s` is a prefix of `/s/crawler`, not of `/s#/crawler`. */
export function pathStartsWith(path: Path, prefix: Path): boolean {
  if (prefix.length > path.length) return false;
  for (let i = 0; i < prefix.length; i++) if (path[i] !== prefix[i]) return false;
  return true;
}

export function pathTake(path: Path, n: number): Path {
  return n >= path.length ? path : Object.freeze(path.slice(0, n));
}

export function pathDrop(path: Path, n: number): Path {
  return n <= 0 ? path : Object.freeze(path.slice(n));
}

export function pathConcat(a: Path, b: Path): Path {
  if (b.length === 0) return a;
  if (a.length === 0) return b;
  return Object.freeze([...a, ...b]);
}
