// GET /explain?authority=<host[:port]>[&namespace=<ns>][&dst=<ip:port>][&dtab=<dtab>]: how a request
// with that authority would be named, delegated step by step through the dtab (plus an override,
// as a trusted caller would send it), and the endpoints it would end on. JSON by default; the
// step-by-step text alone with `Accept: text/plain` (what `weft explain` prints).
import { isIP } from 'node:net';
import type { ExplainAnswer, ExplainQuery } from '../proxy/request-router.ts';
import type { AdminHandler, AdminResponse } from './router.ts';

function bad(reason: string): AdminResponse {
  return { status: 400, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: reason }) };
}

/** `ip:port` or `[v6]:port`. */
export function parseHostPort(text: string): { address: string; port: number } | undefined {
  const match = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:]+):(\d{1,5})$/.exec(text);
  if (match === null) return undefined;
  const address = match[1] as string;
  const port = Number(match[2]);
  if (isIP(address) === 0 || port < 1 || port > 65535) return undefined;
  return { address, port };
}

export function explainHandler(explain: (query: ExplainQuery) => ExplainAnswer): AdminHandler {
  return (request) => {
    const authority = request.query.get('authority');
    if (authority === null || authority === '') return bad('authority is required: /explain?authority=web.shop:80');
    if (authority.length > 1024) return bad('authority is longer than 1024 characters');
    const dstText = request.query.get('dst');
    const dst = dstText === null ? undefined : parseHostPort(dstText);
    if (dstText !== null && dst === undefined) return bad(`dst must be ip:port (or [v6]:port), got ${JSON.stringify(dstText)}`);
    const namespace = request.query.get('namespace') ?? undefined;
    const dtab = request.query.get('dtab') ?? undefined;
    let answer: ExplainAnswer;
    try {
      answer = explain({ authority, namespace, dst, dtab });
    } catch (error) {
      return bad(`dtab: ${error instanceof Error ? error.message : String(error)}`);
    }
    const accept = request.headers.accept ?? '';
    if (accept.includes('text/plain')) {
      const lines = [
        `${answer.authority}${answer.dst === undefined ? '' : ` (dialled ${answer.dst})`}${answer.namespace === undefined ? '' : ` from namespace ${answer.namespace}`}`,
        `names: ${answer.names}`,
        '',
        answer.steps.trimEnd(),
        '',
        ...(answer.backends.length === 0
          ? ['no backend: the name binds to nothing here']
          : answer.backends.map((b) => `${b.bound}${b.share < 1 ? ` (${Math.round(b.share * 1000) / 10} %)` : ''} → ${b.route ?? 'unresolved'}: ${b.endpoints.length === 0 ? 'no endpoints' : b.endpoints.join(', ')}`)),
      ];
      return { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: `${lines.join('\n')}\n` };
    }
    return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(answer) };
  };
}
