// GET /log-level answers the agent's log level; PUT /log-level with a level as the body (`debug`,
// or JSON `{"level":"debug"}`) changes it at once for every part of the agent, until the next
// change or restart (configuration still decides the level at start). A level that is not one is
// a 400 that lists the levels.
import { jsonResponse } from './router.ts';
import type { AdminRouter } from './router.ts';

export interface LogLevelControl {
  get(): string;
  set(level: string): void;
  readonly levels: readonly string[];
}

export function addLogLevelRoutes(router: AdminRouter, control: LogLevelControl, log?: (previous: string, level: string) => void): AdminRouter {
  return router
    .get('/log-level', () => jsonResponse(200, { level: control.get() }))
    .route('PUT', '/log-level', (request) => {
      const level = levelOf(request.body ?? '');
      if (level === undefined || !control.levels.includes(level)) {
        const given = (request.body ?? '').trim();
        return jsonResponse(400, { error: `${given === '' ? 'no level given' : `${JSON.stringify(given.slice(0, 64))} is not a log level`}: send one of ${control.levels.join(', ')} as the body` });
      }
      const previous = control.get();
      control.set(level);
      log?.(previous, level);
      return jsonResponse(200, { level, previous });
    });
}

/** `debug`, `"debug"` or `{"level":"debug"}`. */
function levelOf(body: string): string | undefined {
  const text = body.trim();
  if (text.startsWith('{') || text.startsWith('"')) {
    try {
      const value: unknown = JSON.parse(text);
      if (typeof value === 'string') return value.toLowerCase();
      if (typeof value === 'object' && value !== null && typeof (value as { level?: unknown }).level === 'string') return (value as { level: string }).level.toLowerCase();
    } catch {
      return undefined;
    }
    return undefined;
  }
  return text.toLowerCase();
}
