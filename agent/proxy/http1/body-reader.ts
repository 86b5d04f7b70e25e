// The one shape every body reader has, so the connection layer frames length, chunked and
// read-until-close bodies with the same loop. Pull-style: each call reports one step and where it
// stopped; data is handed back as a range of the caller's buffer, never copied.
import type { Http1Rejection } from './rejection.ts';

/**
 * - data: buf[dataStart, dataEnd) is body content; call again from `offset`.
 * - more: everything from pos to the end of buf is consumed; call again with the next chunk.
 * - done: the body is complete; the next message starts at `offset` (pipelining).
 * - error: refused, see `rejection`; the connection cannot be trusted any more.
 */
export type BodyStep = 'data' | 'more' | 'done' | 'error';

export interface BodyReader {
  next(buf: Buffer, pos: number): BodyStep;
  /** The peer closed the connection: 'done' if that ends this body (read-until-close), else 'error'. */
  close(): BodyStep;
  readonly dataStart: number;
  readonly dataEnd: number;
  readonly offset: number;
  readonly rejection: Http1Rejection | undefined;
  /** Content bytes handed out so far. */
  readonly received: number;
}
