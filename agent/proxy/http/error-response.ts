// How the proxy answers a request it could not carry, whatever the protocol: the status says which
// side is at fault, and `l5d-proxy-error` names the reason (DESIGN.md "every refusal says why").
//   the caller's request was unusable (a malformed override dtab)  → 400
//   the deadline passed (route timeout, per-try, caller's header)  → 504
//   weft refused it (load shed, no endpoints, budget, breaker)      → 503
//   anything else (upstream reset, connect failure)                → 502
import { describeError, isWeftError } from '../../errors.ts';
import { HttpBody } from './body.ts';
import { HttpHeaders } from './headers.ts';
import { HttpResponse } from './message.ts';

/** Codes of errors that are the caller's fault: answered 400, never counted against an endpoint. */
const BAD_REQUEST_CODES: ReadonlySet<string> = new Set(['WEFT_E_NAMING_BAD_OVERRIDE']);

export function errorStatus(error: unknown): { readonly status: number; readonly code: string } {
  if (!isWeftError(error)) return { status: 502, code: 'WEFT_E_HTTP_UPSTREAM' };
  if (BAD_REQUEST_CODES.has(error.code)) return { status: 400, code: error.code };
  if (error.code.includes('DEADLINE') || error.code.includes('TIMEOUT')) return { status: 504, code: error.code };
  if (error.flags.rejected === true) return { status: 503, code: error.code };
  return { status: 502, code: error.code };
}

export function errorResponse(error: unknown): HttpResponse {
  const { status, code } = errorStatus(error);
  const headers = new HttpHeaders();
  headers.addTrusted('l5d-proxy-error', code);
  headers.addTrusted('content-type', 'text/plain; charset=utf-8');
  return new HttpResponse(status, headers, HttpBody.from(`${describeError(error).replace(/[\r\n]/g, ' ')}\n`));
}
