// Spans to an OpenTelemetry collector over OTLP/HTTP: protobuf ExportTraceServiceRequest posted to
// `<endpoint>/v1/traces` with `content-type: application/x-protobuf`.
//
// Like OpenTelemetry's BatchSpanProcessor (defaults below are its defaults: queue 2048, batch 512,
// every 5 s; the exporter's 10 s timeout), and with one rule over everything: a slow or dead
// collector never slows a request. `add` only pushes onto a bounded queue; a full queue drops the
// span and counts it. Exports run one at a time on timers, never awaited by the request path; an
// export that hangs is cut at its timeout; 429, 502, 503 and 504 (and refused or reset connections)
// are retried a few times with jittered exponential backoff, honouring Retry-After, and then the
// batch is dropped and counted. While one export is in flight the queue keeps filling, so a stuck
// collector costs at most `queueSize` spans of memory.
import { request as httpRequest, Agent as HttpAgent } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { describeError, WeftError } from '../../errors.ts';
import type { Random } from '../../balance/random.ts';
import { parseRetryAfter } from '../../resilience/retry-after.ts';
import type { Clock } from '../../time/clock.ts';
import type { ExportResource } from './otlp-proto.ts';
import { encodeExportRequest, otlpTypes, rejectedSpans } from './otlp-proto.ts';
import type { FinishedSpan, SpanSink } from './span.ts';

export interface OtlpExporterParams {
  /** The collector's base URL (http or https); `/v1/traces` is added unless the path already ends so. */
  readonly endpoint: string;
  /** Spans per export request. */
  readonly batchSize: number;
  /** Spans held while waiting for export; more are dropped (counted). */
  readonly queueSize: number;
  /** A partial batch is sent after this long. */
  readonly flushIntervalMs: number;
  /** One export request (connect, send, answer) is given up after this long. */
  readonly exportTimeoutMs: number;
  /** Attempts per batch for retryable failures (429, 502-504, connection errors). */
  readonly maxAttempts: number;
  /** First retry delay; doubled per attempt, with jitter, capped at `maxBackoffMs`. */
  readonly minBackoffMs: number;
  readonly maxBackoffMs: number;
}

export const otlpExporterParams: Omit<OtlpExporterParams, 'endpoint'> = {
  batchSize: 512,
  queueSize: 2048,
  flushIntervalMs: 5000,
  exportTimeoutMs: 10_000,
  maxAttempts: 3,
  minBackoffMs: 500,
  maxBackoffMs: 5000,
};

export type DropReason = 'queue-full' | 'export-failed' | 'rejected' | 'shutdown';

export interface OtlpExporterDeps {
  readonly clock: Clock;
  readonly random: Random;
  readonly resource: ExportResource;
  /** Called for every span not delivered, with why (for a counter). */
  readonly onDrop?: (reason: DropReason, count: number) => void;
  /** Export failures, at most one per batch (for a log line). */
  readonly onError?: (error: WeftError) => void;
  /** Wall-clock ms since the epoch, for Retry-After dates. */
  readonly wallClock?: () => number;
}

export interface OtlpExporterStatus {
  readonly endpoint: string;
  readonly queued: number;
  readonly exportedSpans: number;
  readonly exportRequests: number;
  readonly dropped: Readonly<Record<DropReason, number>>;
  readonly lastError: string | undefined;
}

/** The collector URL spans are posted to. */
export function tracesUrl(endpoint: string): URL {
  const url = new URL(endpoint);
  if (!url.pathname.endsWith('/v1/traces')) url.pathname = `${url.pathname.replace(/\/+$/, '')}/v1/traces`;
  return url;
}

type Outcome = { kind: 'ok'; body: Buffer } | { kind: 'retry'; error: WeftError; afterMs: number | undefined } | { kind: 'fail'; error: WeftError };

const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);

export class OtlpHttpExporter implements SpanSink {
  readonly #params: OtlpExporterParams;
  readonly #deps: OtlpExporterDeps;
  readonly #url: URL;
  readonly #agent: HttpAgent;
  #queue: FinishedSpan[] = [];
  #exporting = false;
  #closed = false;
  #cancelTimer: (() => void) | undefined;
  /** Ends the export in flight early (close). */
  #abort = new AbortController();
  #idle: Promise<void> = Promise.resolve();
  #exportedSpans = 0;
  #exportRequests = 0;
  readonly #dropped: Record<DropReason, number> = { 'queue-full': 0, 'export-failed': 0, rejected: 0, shutdown: 0 };
  #lastError: string | undefined;

  constructor(params: OtlpExporterParams, deps: OtlpExporterDeps) {
    this.#params = params;
    this.#deps = deps;
    this.#url = tracesUrl(params.endpoint);
    if (this.#url.protocol !== 'http:' && this.#url.protocol !== 'https:') {
      throw new WeftError('WEFT_E_CONFIG_OTLP_ENDPOINT', `telemetry.tracing.endpoint ${params.endpoint} is not an http or https URL; give the collector's OTLP/HTTP address, e.g. http://otel-collector:4318`);
    }
    // One connection, kept alive: exports are sequential, and the agent should not hold more.
    const agentOptions = { keepAlive: true, maxSockets: 1 };
    this.#agent = this.#url.protocol === 'https:' ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions);
    // The schema is parsed now, at start (a few ms, and a missing .proto fails here), not at the
    // first export while requests flow.
    otlpTypes();
    this.#arm();
  }

  /** Queues a span; never blocks. A full queue (or a closed exporter) drops it and counts the drop. */
  add(span: FinishedSpan): void {
    if (this.#closed) return this.#drop('shutdown', 1);
    if (this.#queue.length >= this.#params.queueSize) return this.#drop('queue-full', 1);
    this.#queue.push(span);
    // A full batch goes at once, but off the request path (after this turn of the event loop).
    if (this.#queue.length === this.#params.batchSize && !this.#exporting) setImmediate(() => this.#kick());
  }

  status(): OtlpExporterStatus {
    return {
      endpoint: this.#url.href,
      queued: this.#queue.length,
      exportedSpans: this.#exportedSpans,
      exportRequests: this.#exportRequests,
      dropped: { ...this.#dropped },
      lastError: this.#lastError,
    };
  }

  /** Sends what is queued now (tests; and close). Resolves when the queue is empty or export gave up. */
  async flush(): Promise<void> {
    await this.#idle;
    while (this.#queue.length > 0 && !this.#abort.signal.aborted) {
      this.#kick();
      await this.#idle;
    }
  }

  /** Stops the timer and sends what is queued, waiting at most `graceMs`; the rest is dropped (counted). */
  async close(graceMs = 2000): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#cancelTimer?.();
    let cancel: (() => void) | undefined;
    const grace = new Promise<void>((resolve) => {
      cancel = this.#deps.clock.setTimer(graceMs, resolve);
    });
    await Promise.race([this.flush(), grace]);
    cancel?.();
    this.#abort.abort();
    await this.#idle;
    if (this.#queue.length > 0) this.#drop('shutdown', this.#queue.length);
    this.#queue = [];
    this.#agent.destroy();
  }

  #arm(): void {
    if (this.#closed) return;
    this.#cancelTimer = this.#deps.clock.setTimer(this.#params.flushIntervalMs, () => {
      this.#kick();
      this.#arm();
    });
  }

  #kick(): void {
    if (this.#exporting || this.#queue.length === 0) return;
    this.#exporting = true;
    const batch = this.#queue.splice(0, this.#params.batchSize);
    this.#idle = this.#exportBatch(batch).finally(() => {
      this.#exporting = false;
      // More than a batch waited meanwhile: send the next one now rather than at the next tick.
      if (this.#queue.length >= this.#params.batchSize && !this.#abort.signal.aborted) setImmediate(() => this.#kick());
    });
  }

  async #exportBatch(batch: FinishedSpan[]): Promise<void> {
    let body: Uint8Array;
    try {
      body = encodeExportRequest(batch, this.#deps.resource);
    } catch (error) {
      this.#fail(new WeftError('WEFT_E_OTLP_ENCODE', `otlp: could not encode ${batch.length} spans: ${describeError(error)}`, { cause: error }), 'export-failed', batch.length);
      return;
    }
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.#post(body);
      if (outcome.kind === 'ok') {
        const { rejected, message } = rejectedSpans(outcome.body);
        this.#exportedSpans += batch.length - rejected;
        if (rejected > 0) this.#fail(new WeftError('WEFT_E_OTLP_REJECTED', `otlp: the collector rejected ${rejected} of ${batch.length} spans: ${message}`), 'rejected', rejected);
        return;
      }
      if (outcome.kind === 'fail' || attempt >= this.#params.maxAttempts || this.#abort.signal.aborted) {
        this.#fail(outcome.error, 'export-failed', batch.length);
        return;
      }
      const backoff = Math.min(this.#params.maxBackoffMs, this.#params.minBackoffMs * 2 ** (attempt - 1));
      const delay = Math.min(this.#params.maxBackoffMs, outcome.afterMs ?? backoff * (0.5 + this.#deps.random() / 2));
      await this.#sleep(delay);
    }
  }

  #post(body: Uint8Array): Promise<Outcome> {
    this.#exportRequests++;
    const url = this.#url;
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<Outcome>((resolve) => {
      let settled = false;
      const settle = (outcome: Outcome): void => {
        if (settled) return;
        settled = true;
        cancelTimeout();
        this.#abort.signal.removeEventListener('abort', onAbort);
        resolve(outcome);
      };
      const req = send(url, {
        method: 'POST',
        agent: this.#agent,
        headers: { 'content-type': 'application/x-protobuf', 'content-length': body.length },
      }, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          // The answer is a small message; never hold a large error page.
          if (size < 65_536) chunks.push(chunk);
          size += chunk.length;
        });
        res.on('error', (error) => settle({ kind: 'retry', error: exportError(url, error), afterMs: undefined }));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) return settle({ kind: 'ok', body: Buffer.concat(chunks) });
          const error = new WeftError('WEFT_E_OTLP_STATUS', `otlp: ${url.href} answered ${status}; spans are dropped after ${this.#params.maxAttempts} tries (check the collector's OTLP/HTTP receiver and its limits)`);
          if (!RETRYABLE_STATUS.has(status)) return settle({ kind: 'fail', error });
          const retryAfter = res.headers['retry-after'];
          const parsed = retryAfter === undefined ? undefined : parseRetryAfter(retryAfter, (this.#deps.wallClock ?? Date.now)());
          settle({ kind: 'retry', error, afterMs: parsed?.kind === 'ok' ? parsed.value : undefined });
        });
      });
      const cancelTimeout = this.#deps.clock.setTimer(this.#params.exportTimeoutMs, () => {
        req.destroy();
        settle({ kind: 'retry', error: new WeftError('WEFT_E_OTLP_TIMEOUT', `otlp: ${url.href} did not answer within ${this.#params.exportTimeoutMs} ms`), afterMs: undefined });
      });
      const onAbort = (): void => {
        req.destroy();
        settle({ kind: 'fail', error: new WeftError('WEFT_E_OTLP_SHUTDOWN', 'otlp: export cut short by shutdown') });
      };
      this.#abort.signal.addEventListener('abort', onAbort);
      req.on('error', (error) => settle({ kind: 'retry', error: exportError(url, error), afterMs: undefined }));
      req.end(body);
    });
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const onAbort = (): void => {
        cancel();
        resolve();
      };
      const cancel = this.#deps.clock.setTimer(ms, () => {
        this.#abort.signal.removeEventListener('abort', onAbort);
        resolve();
      });
      this.#abort.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  #fail(error: WeftError, reason: DropReason, count: number): void {
    this.#lastError = error.message;
    this.#drop(reason, count);
    this.#deps.onError?.(error);
  }

  #drop(reason: DropReason, count: number): void {
    this.#dropped[reason] += count;
    this.#deps.onDrop?.(reason, count);
  }
}

function exportError(url: URL, error: unknown): WeftError {
  return new WeftError('WEFT_E_OTLP_CONNECT', `otlp: could not post spans to ${url.href}: ${describeError(error)}`, { cause: error });
}
