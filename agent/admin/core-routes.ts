// The routes every agent has: /status (the whole picture as JSON), /live (the process answers),
// /ready (the agent does its job: 200, or 503 with the reasons). The server knows nothing of the
// agent's internals; it asks an AdminProvider.
import { describeError } from '../errors.ts';
import { jsonResponse, textResponse } from './router.ts';
import type { AdminRouter } from './router.ts';

export interface Readiness {
  readonly ready: boolean;
  readonly reasons: readonly string[];
}

export interface AdminProvider {
  /** JSON-serialisable status document (bigints are written as strings). */
  status(): unknown;
  readiness(): Readiness;
}

export function addCoreRoutes(router: AdminRouter, provider: AdminProvider): AdminRouter {
  return router
    .get('/status', (request) => jsonResponse(200, provider.status(), { pretty: request.query.has('pretty') }))
    // Answering at all is the signal: a blocked event loop answers nothing, and the probe times out.
    .get('/live', () => textResponse(200, 'live\n'))
    .get('/ready', () => {
      const readiness = readinessOf(provider);
      return jsonResponse(readiness.ready ? 200 : 503, readiness);
    });
}

/** A provider that throws is not ready, and says why, rather than turning /ready into a 500. */
function readinessOf(provider: AdminProvider): Readiness {
  try {
    const { ready, reasons } = provider.readiness();
    return { ready, reasons: [...reasons] };
  } catch (error) {
    return { ready: false, reasons: [`readiness check failed: ${describeError(error)}`] };
  }
}
