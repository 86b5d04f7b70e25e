// Load shedding as a layer at the top of a route's stack (after metrics, so shed requests are
// counted): over the route's in-flight bound, or over a source's share, the request is refused at
// once with WEFT_E_RESILIENCE_LOAD_SHED (flags.rejected) whose message is the reason; the proxy
// answers 503 with that reason in `l5d-proxy-error`. Refusing early is the point: queueing work the
// route cannot finish only adds latency to everything behind it.
import { WeftError } from '../errors.ts';
import type { CallContext, Layer, Service } from '../stack/service.ts';
import type { AdmissionParams, AdmissionScope } from './admission.ts';
import { AdmissionController, validateAdmissionParams } from './admission.ts';

export interface AdmissionLayerDeps<Req> {
  /** Who sent the request: the source pod (namespace/name), or its identity. */
  readonly sourceOf: (req: Req, cx: CallContext) => string;
  /** A request was shed, for metrics. */
  readonly onShed?: (scope: AdmissionScope, source: string) => void;
}

export interface AdmissionService<Req, Res> extends Service<Req, Res> {
  readonly admission: AdmissionController;
}

class Admission<Req, Res> implements AdmissionService<Req, Res> {
  readonly admission: AdmissionController;
  readonly #deps: AdmissionLayerDeps<Req>;
  readonly #inner: Service<Req, Res>;

  constructor(params: AdmissionParams, deps: AdmissionLayerDeps<Req>, inner: Service<Req, Res>) {
    this.admission = new AdmissionController(params);
    this.#deps = deps;
    this.#inner = inner;
  }

  async call(req: Req, cx: CallContext): Promise<Res> {
    const source = this.#deps.sourceOf(req, cx);
    const admitted = this.admission.tryAdmit(source);
    if (admitted.kind === 'rejected') {
      this.#deps.onShed?.(admitted.scope, source);
      throw new WeftError('WEFT_E_RESILIENCE_LOAD_SHED', admitted.reason, { flags: { rejected: true } });
    }
    try {
      return await this.#inner.call(req, cx);
    } finally {
      this.admission.release(source);
    }
  }

  close(): Promise<void> {
    return this.#inner.close?.() ?? Promise.resolve();
  }
}

/** One admission controller per wrapped (route) service. */
export function admissionLayer<Req, Res>(params: AdmissionParams, deps: AdmissionLayerDeps<Req>): Layer<Service<Req, Res>, AdmissionService<Req, Res>> {
  validateAdmissionParams(params);
  return {
    role: `load-shed (${params.routeMaxInFlight} in flight, ≤ ${Math.round(params.sourceMaxShare * 100)} % per source)`,
    wrap: (inner) => new Admission<Req, Res>(params, deps, inner),
  };
}
