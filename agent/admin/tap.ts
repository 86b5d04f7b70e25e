// GET /tap?authority=…&method=…&path=<prefix>&status=5xx&source=ns/pod&max=N: the requests the
// route stack finishes, as they finish, one JSON line each (chunked), until the client leaves or
// `max` have matched. Fed by the `weft:proxy:response` diagnostics channel (telemetry/tap.ts).
// A slow reader never slows a request: events wait in a bounded buffer and the ones that find it
// full are dropped and counted (a `{"dropped":N}` line says how many so far). A bad filter is a
// 400 with the reason; more than `maxSessions` taps at once is a 503.
import { parseTapFilter, TapSubscription, tapSubscriptionParams } from '../telemetry/tap.ts';
import type { TapSubscriptionParams } from '../telemetry/tap.ts';
import { jsonResponse } from './router.ts';
import type { AdminHandler, AdminStreamSink } from './router.ts';

export interface TapHandlerParams {
  readonly subscription: TapSubscriptionParams;
  readonly maxSessions: number;
}

export const tapHandlerParams: TapHandlerParams = { subscription: tapSubscriptionParams, maxSessions: 16 };

export function tapHandler(params: TapHandlerParams = tapHandlerParams): AdminHandler {
  let sessions = 0;
  return (request) => {
    const parsed = parseTapFilter(request.query);
    if (parsed.kind === 'error') return jsonResponse(400, { error: parsed.reason });
    if (sessions >= params.maxSessions) return jsonResponse(503, { error: `${params.maxSessions} taps are running already; stop one first` });
    const filter = parsed.filter;
    return {
      status: 200,
      headers: { 'content-type': 'application/x-ndjson; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' },
      body: '',
      stream: async (sink, signal) => {
        sessions++;
        const subscription = new TapSubscription(filter, params.subscription);
        try {
          let reportedDrops = 0;
          while (!signal.aborted) {
            await subscription.wait(signal);
            const events = subscription.take();
            let text = '';
            if (subscription.dropped > reportedDrops) {
              reportedDrops = subscription.dropped;
              text += `${JSON.stringify({ dropped: reportedDrops })}\n`;
            }
            for (const event of events) text += `${JSON.stringify(event)}\n`;
            if (text !== '' && !sink.write(text)) await drained(sink, signal);
            if (subscription.done && events.length === 0) break;
          }
        } finally {
          subscription.close();
          sessions--;
        }
      },
    };
  };
}

function drained(sink: AdminStreamSink, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const onAbort = (): void => resolve();
    signal.addEventListener('abort', onAbort, { once: true });
    sink.once('drain', () => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}
