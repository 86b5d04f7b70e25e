// The access log: one JSON line per request the route stack finished (telemetry.accessLog, off by
// default). It is a subscriber of the `weft:proxy:response` channel like `weft tap`, so with it off
// the request path builds nothing for it. Lines go to stdout beside the agent's logs, tagged
// `"log":"access"` so a collector can route them, and do not follow the agent's log level: an
// operator who turned the access log on wants every line, also while the level is warn.
import { pino } from 'pino';
import type { Logger } from 'pino';
import { responseChannel } from './tap.ts';
import type { ProxyResponseEvent } from './tap.ts';

export class AccessLog {
  readonly #out: Logger;
  readonly #onMessage = (message: unknown): void => this.#write(message as ProxyResponseEvent);
  #open = false;

  constructor(destination?: NodeJS.WritableStream) {
    const options = { level: 'info', base: { agent: 'weft', log: 'access' }, timestamp: false, formatters: { level: (label: string) => ({ level: label }) } };
    this.#out = destination === undefined ? pino(options) : pino(options, destination);
  }

  start(): this {
    if (!this.#open) responseChannel.subscribe(this.#onMessage);
    this.#open = true;
    return this;
  }

  close(): void {
    if (this.#open) responseChannel.unsubscribe(this.#onMessage);
    this.#open = false;
  }

  #write(e: ProxyResponseEvent): void {
    this.#out.info({
      // When the request arrived (the line is written when it finished).
      time: e.time,
      source: e.source,
      authority: e.authority,
      route: e.route,
      method: e.method,
      path: e.path,
      protocol: e.protocol,
      status: e.status,
      ...(e.grpcStatus === undefined ? {} : { grpcStatus: e.grpcStatus }),
      durationMs: Math.round(e.durationMs * 1000) / 1000,
      upstream: e.upstream ?? null,
      error: e.error ?? null,
      traceId: e.traceId ?? null,
    });
  }
}
