// Encoder of the chunked transfer coding (RFC 9112 §7.1), in the canonical form every parser reads
// the same way: lowercase hex size with no leading zeros, no extensions, CRLF everywhere.
// For writev/cork: chunkHeader(n), the data itself, CRLF — no copy of the data. encodeChunk copies
// into one buffer when one write is wanted instead.

export const CRLF: Buffer = Buffer.from('\r\n', 'latin1');
/** The last chunk with no trailers: "0" CRLF, then the empty line ending the trailer section. */
export const LAST_CHUNK: Buffer = Buffer.from('0\r\n\r\n', 'latin1');

const SMALL = 256;
const smallHeaders: Buffer[] = Array.from({ length: SMALL }, (_, n) => Buffer.from(`${n.toString(16)}\r\n`, 'latin1'));

/** "<hex size>" CRLF, for a chunk of `size` bytes (size > 0: a 0 would end the body). */
export function chunkHeader(size: number): Buffer {
  if (!(Number.isSafeInteger(size) && size > 0)) throw new RangeError(`chunk size must be a positive safe integer, got ${size}`);
  return size < SMALL ? (smallHeaders[size] as Buffer) : Buffer.from(`${size.toString(16)}\r\n`, 'latin1');
}

/** One whole chunk in one buffer: header, data[start, end), CRLF. Empty data gives an empty buffer (no chunk). */
export function encodeChunk(data: Uint8Array, start = 0, end = data.length): Buffer {
  const size = end - start;
  if (size <= 0) return Buffer.alloc(0);
  const header = size.toString(16);
  const out = Buffer.allocUnsafe(header.length + size + 4);
  let o = out.write(header, 0, 'latin1');
  out[o++] = 0x0d;
  out[o++] = 0x0a;
  out.set(data.subarray(start, end), o);
  o += size;
  out[o++] = 0x0d;
  out[o] = 0x0a;
  return out;
}

/**
 * The last chunk and trailer section: "0" CRLF, the trailer field lines (each ending CRLF, as
 * ChunkedDecoder.trailers or encodeFieldLines gives them), CRLF.
 */
export function lastChunk(trailers?: Buffer): Buffer {
  if (trailers === undefined || trailers.length === 0) return LAST_CHUNK;
  return Buffer.concat([LAST_CHUNK.subarray(0, 3), trailers, CRLF]);
}
