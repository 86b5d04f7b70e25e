// An open-loop HTTP/1.1 load generator with coordinated-omission correction (wrk2's method; Debian's
// `wrk` is closed-loop and autocannon is too, and `h2load --rate` paces connections, not requests).
// Runs inside a pod: `node open-loop.ts <host> <port> <rate> <seconds> <connections>`; prints one
// JSON line (BenchOpenLoopResult) on stdout.
//
// Request i is due at start + i/rate and goes on connection i mod C once that connection is idle
// (keep-alive, no pipelining). Its latency is counted from when it was DUE, so a stall in the
// server, the proxy or this process shows up in every request it delayed. Raw `net` sockets and a
// minimal response parser (Content-Length bodies only: the bench's servers answer that way) keep
// the generator's own cost low; it still runs on a timer of ~1 ms granularity, which adds the same
// offset to every target and cancels in the "added" figures.
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Histogram, correctedLatencyUs, intendedTime } from './stats.ts';
import type { HistogramJson } from './stats.ts';

export interface BenchOpenLoopResult {
  readonly rate: number;
  readonly seconds: number;
  readonly due: number;
  readonly completed: number;
  readonly errors: number;
  readonly achievedRps: number;
  /** From intended send time (CO-corrected), µs. */
  readonly corrected: HistogramJson;
  /** From actual send time (what a closed-loop tool would report), µs. */
  readonly service: HistogramJson;
}

interface Conn {
  readonly socket: Socket;
  busy: boolean;
  next: number; // index of the next request this connection owns
  intended: number;
  sentAt: number;
  buffer: Buffer;
}

async function main(): Promise<void> {
  const [host = '127.0.0.1', portText = '80', rateText = '1000', secondsText = '3', connText = '16'] = process.argv.slice(2);
  const port = Number(portText);
  const rate = Number(rateText);
  const seconds = Number(secondsText);
  const connections = Number(connText);
  const request = Buffer.from(`GET / HTTP/1.1\r\nHost: ${host}:${port}\r\nUser-Agent: weft-bench\r\n\r\n`);
  const corrected = new Histogram();
  const service = new Histogram();
  let completed = 0;
  let errors = 0;

  const conns: Conn[] = await Promise.all(
    Array.from({ length: connections }, (_, k) =>
      new Promise<Conn>((resolve, reject) => {
        const socket = connect({ host, port, noDelay: true }, () => resolve(conn));
        const conn: Conn = { socket, busy: false, next: k, intended: 0, sentAt: 0, buffer: Buffer.alloc(0) };
        socket.once('error', reject);
      }),
    ),
  );
  // Warm the connections (and the proxy's upstream pool) before the clock starts.
  await Promise.all(conns.map((c) => new Promise<void>((resolve) => {
    c.socket.write(request);
    const onData = (chunk: Buffer): void => {
      c.buffer = Buffer.concat([c.buffer, chunk]);
      if (consume(c)) {
        c.socket.off('data', onData);
        resolve();
      }
    };
    c.socket.on('data', onData);
  })));

  const start = performance.now();
  const end = start + seconds * 1000;
  const total = Math.floor(rate * seconds);

  const trySend = (c: Conn, now: number): void => {
    if (c.busy || c.next >= total) return;
    const due = intendedTime(start, rate, c.next);
    if (due > now) return;
    c.busy = true;
    c.intended = due;
    c.sentAt = now;
    c.socket.write(request);
  };
  for (const c of conns) {
    c.socket.removeAllListeners('error');
    c.socket.on('error', () => {
      errors += 1;
    });
    c.socket.on('data', (chunk: Buffer) => {
      c.buffer = c.buffer.length === 0 ? chunk : Buffer.concat([c.buffer, chunk]);
      while (c.busy && consume(c)) {
        const now = performance.now();
        corrected.record(correctedLatencyUs(c.intended, now));
        service.record((now - c.sentAt) * 1000);
        completed += 1;
        c.busy = false;
        c.next += connections;
        trySend(c, now);
      }
    });
  }
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      for (const c of conns) trySend(c, now);
      if (now < end) setTimeout(tick, 0);
      else resolve();
    };
    tick();
  });
  // Requests still due or in flight at the end are waited for briefly, then counted as late.
  const grace = performance.now() + 2000;
  while (conns.some((c) => c.busy || c.next < total) && performance.now() < grace) {
    const now = performance.now();
    for (const c of conns) trySend(c, now);
    await new Promise((r) => setTimeout(r, 1));
  }
  const finished = performance.now();
  for (const c of conns) {
    for (let i = c.next; i < total; i += connections) corrected.record(correctedLatencyUs(intendedTime(start, rate, i), finished));
    c.socket.destroy();
  }
  const result: BenchOpenLoopResult = {
    rate,
    seconds,
    due: total,
    completed,
    errors,
    achievedRps: completed / ((finished - start) / 1000),
    corrected: corrected.toJSON(),
    service: service.toJSON(),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/** Consumes one complete response from the buffer if there is one; Content-Length framing only. */
function consume(c: Conn): boolean {
  const headEnd = c.buffer.indexOf('\r\n\r\n');
  if (headEnd < 0) return false;
  const head = c.buffer.toString('latin1', 0, headEnd);
  const match = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  const length = match === null ? 0 : Number(match[1]);
  const total = headEnd + 4 + length;
  if (c.buffer.length < total) return false;
  c.buffer = c.buffer.subarray(total);
  return true;
}

await main();
