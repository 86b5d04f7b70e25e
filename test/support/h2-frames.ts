// Hand-built HTTP/2 frames for tests that must misbehave on the wire (floods, rapid reset, silence),
// which no well-behaved client library will do. RFC 9113 §4.1: a 9-byte header (24-bit length,
// type, flags, 31-bit stream id) and a payload. Header blocks use HPACK literals without indexing or
// Huffman (RFC 7541 §6.2.2), which every decoder accepts and which need no encoder state.
import type { Socket } from 'node:net';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const FrameType = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;

export const Flag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;

export const ErrorCode = { NO_ERROR: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2, REFUSED_STREAM: 7, CANCEL: 8, ENHANCE_YOUR_CALM: 11 } as const;

export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const out = Buffer.alloc(9 + payload.length);
  out.writeUIntBE(payload.length, 0, 3);
  out[3] = type;
  out[4] = flags;
  out.writeUInt32BE(streamId & 0x7fffffff, 5);
  payload.copy(out, 9);
  return out;
}

export function settings(entries: ReadonlyArray<readonly [id: number, value: number]> = [], ack = false): Buffer {
  const payload = Buffer.alloc(entries.length * 6);
  entries.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, i * 6);
    payload.writeUInt32BE(value, i * 6 + 2);
  });
  return frame(FrameType.SETTINGS, ack ? Flag.ACK : 0, 0, payload);
}

export function ping(data: Buffer = Buffer.alloc(8), ack = false): Buffer {
  return frame(FrameType.PING, ack ? Flag.ACK : 0, 0, data);
}

export function rstStream(streamId: number, code: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(code);
  return frame(FrameType.RST_STREAM, 0, streamId, payload);
}

export function windowUpdate(streamId: number, increment: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(increment);
  return frame(FrameType.WINDOW_UPDATE, 0, streamId, payload);
}

/** HPACK integer with an n-bit prefix (RFC 7541 §5.1); `high` holds the bits above the prefix. */
function hpackInt(value: number, prefixBits: number, high: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [high | value];
  const out = [high | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

function hpackString(s: string): Buffer {
  const bytes = Buffer.from(s, 'latin1');
  return Buffer.concat([Buffer.from(hpackInt(bytes.length, 7, 0)), bytes]);
}

/** A header block of literal fields without indexing, new names (RFC 7541 §6.2.2). */
export function headerBlock(fields: ReadonlyArray<readonly [string, string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of fields) parts.push(Buffer.from([0x00]), hpackString(name), hpackString(value));
  return Buffer.concat(parts);
}

/** A GET of `path` on `streamId` as one HEADERS frame. */
export function headers(streamId: number, fields: ReadonlyArray<readonly [string, string]>, endStream = true): Buffer {
  return frame(FrameType.HEADERS, Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0), streamId, headerBlock(fields));
}

/** A header block split into HEADERS + CONTINUATION frames of at most `maxFrame` bytes (for big blocks). */
export function headerFrames(streamId: number, fields: ReadonlyArray<readonly [string, string]>, endStream = true, maxFrame = 16_384): Buffer {
  const block = headerBlock(fields);
  const out: Buffer[] = [];
  for (let pos = 0; pos < block.length || pos === 0; pos += maxFrame) {
    const last = pos + maxFrame >= block.length;
    const type = pos === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
    const flags = (last ? Flag.END_HEADERS : 0) | (pos === 0 && endStream ? Flag.END_STREAM : 0);
    out.push(frame(type, flags, streamId, block.subarray(pos, pos + maxFrame)));
    if (last) break;
  }
  return Buffer.concat(out);
}

export function getRequest(streamId: number, path = '/', authority = 'weft.test'): Buffer {
  return headers(streamId, [
    [':method', 'GET'],
    [':scheme', 'http'],
    [':path', path],
    [':authority', authority],
  ]);
}

export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
}

/** The error code of a GOAWAY or RST_STREAM frame. */
export function errorCodeOf(f: Frame): number {
  return f.type === FrameType.GOAWAY ? f.payload.readUInt32BE(4) : f.payload.readUInt32BE(0);
}

/** Collects the frames a server sends on `socket` (after its own preface-less start). */
export class FrameCollector {
  readonly frames: Frame[] = [];
  closed = false;
  #buf = Buffer.alloc(0);
  #waiters: Array<() => void> = [];

  constructor(socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, chunk]);
      while (this.#buf.length >= 9) {
        const length = this.#buf.readUIntBE(0, 3);
        if (this.#buf.length < 9 + length) break;
        this.frames.push({
          type: this.#buf[3] as number,
          flags: this.#buf[4] as number,
          streamId: this.#buf.readUInt32BE(5) & 0x7fffffff,
          payload: Buffer.from(this.#buf.subarray(9, 9 + length)),
        });
        this.#buf = this.#buf.subarray(9 + length);
      }
      this.#wake();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.#wake();
    });
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves once `done()` holds; rejects after `timeoutMs`. */
  async until(done: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`h2 frames: no ${what} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 100));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  goaway(): Frame | undefined {
    return this.frames.find((f) => f.type === FrameType.GOAWAY);
  }
}
