// Admission (load shedding): a bounded number of requests in flight per route, shared fairly between
// the pods that send them. One agent serves every pod on the node, so without per-source limits one
// noisy pod could take a route's whole budget and starve its neighbours (ztunnel#24).
// - Route bound: at most `routeMaxInFlight` (Linkerd 2's proxy sheds above 100 000 in flight).
// - Source bound: one source never holds more than `sourceMaxShare` of the route's bound.
// - Fair share under pressure: once the route is past `fairShareAbove` of its bound, a source that
//   already has its fair share (bound ÷ active sources, counting a newcomer) is refused, so capacity
//   freed by completions goes to the others: max-min fairness enforced at admission, O(1).
// Refusals carry the reason the proxy puts in `l5d-proxy-error` on its 503.
import { WeftError } from '../errors.ts';

export interface AdmissionParams {
  readonly routeMaxInFlight: number;
  /** Largest share of the route bound one source may hold (0 < share ≤ 1). */
  readonly sourceMaxShare: number;
  /** Share of the route bound in flight above which sources are held to their fair share. */
  readonly fairShareAbove: number;
}

export const admissionParams: AdmissionParams = { routeMaxInFlight: 100_000, sourceMaxShare: 0.5, fairShareAbove: 0.5 };

export type AdmissionScope = 'route' | 'source' | 'fair-share';

export type Admission =
  | { readonly kind: 'admitted' }
  | { readonly kind: 'rejected'; readonly scope: AdmissionScope; readonly reason: string };

const ADMITTED: Admission = { kind: 'admitted' };

export function validateAdmissionParams(params: AdmissionParams): void {
  const problems: string[] = [];
  if (!(Number.isInteger(params.routeMaxInFlight) && params.routeMaxInFlight >= 1)) problems.push(`routeMaxInFlight must be a positive integer, got ${params.routeMaxInFlight}`);
  if (!(params.sourceMaxShare > 0 && params.sourceMaxShare <= 1)) problems.push(`sourceMaxShare must be within (0, 1], got ${params.sourceMaxShare}`);
  if (!(params.fairShareAbove >= 0 && params.fairShareAbove <= 1)) problems.push(`fairShareAbove must be within 0..1, got ${params.fairShareAbove}`);
  if (problems.length > 0) throw new WeftError('WEFT_E_RESILIENCE_PARAMS', `admission: ${problems.join('; ')}`);
}

export class AdmissionController {
  readonly #params: AdmissionParams;
  readonly #sourceMax: number;
  readonly #pressureAt: number;
  readonly #routeReason: Admission;
  readonly #bySource = new Map<string, number>();
  #inFlight = 0;

  constructor(params: AdmissionParams) {
    validateAdmissionParams(params);
    this.#params = params;
    this.#sourceMax = Math.max(1, Math.floor(params.sourceMaxShare * params.routeMaxInFlight));
    this.#pressureAt = params.fairShareAbove * params.routeMaxInFlight;
    // Built once: under overload every refusal would otherwise format the same string again.
    this.#routeReason = { kind: 'rejected', scope: 'route', reason: `load-shed: route in-flight limit ${params.routeMaxInFlight} reached` };
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  get activeSources(): number {
    return this.#bySource.size;
  }

  inFlightOf(source: string): number {
    return this.#bySource.get(source) ?? 0;
  }

  /** Admits (and counts) the request, or says why not. Every admission must be released once. */
  tryAdmit(source: string): Admission {
    const max = this.#params.routeMaxInFlight;
    if (this.#inFlight >= max) return this.#routeReason;
    const mine = this.#bySource.get(source) ?? 0;
    if (mine >= this.#sourceMax) {
      return { kind: 'rejected', scope: 'source', reason: `load-shed: source ${source} in-flight limit ${this.#sourceMax} reached` };
    }
    if (this.#inFlight >= this.#pressureAt) {
      const sources = this.#bySource.size + (mine === 0 ? 1 : 0);
      const fairShare = Math.ceil(max / sources);
      if (mine >= fairShare) {
        return {
          kind: 'rejected',
          scope: 'fair-share',
          reason: `load-shed: source ${source} has its fair share (${mine} of ${this.#inFlight} in flight, ${sources} sources, route limit ${max})`,
        };
      }
    }
    this.#bySource.set(source, mine + 1);
    this.#inFlight += 1;
    return ADMITTED;
  }

  release(source: string): void {
    const mine = this.#bySource.get(source);
    if (mine === undefined) return;
    if (mine <= 1) this.#bySource.delete(source);
    else this.#bySource.set(source, mine - 1);
    this.#inFlight -= 1;
  }
}
