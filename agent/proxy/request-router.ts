// Per-request routing, Finagle's naming on the request path (linkerd2-proxy's logical → concrete
// stages): a request is named from its Host / :authority and the connection's original destination
// (naming/logical-name.ts), the name is bound through the dtab (the base, plus a per-request
// override from a trusted caller), one concrete backend is chosen (a weighted union splits traffic),
// and the request goes to that backend's route stack.
//
// The override header (weft-dtab, and Linkerd's l5d-dtab) is routing power: a caller that sets it
// decides where the request goes. It is honoured only from trusted callers (by default: a meshed
// pod calling a Service of its own namespace) and stripped from everyone else before forwarding;
// both are counted. A malformed override from a trusted caller is a 400 with the parse error.
import type { EndpointAddress } from '../balance/endpoint-set.ts';
import type { Random } from '../balance/random.ts';
import { WeftError } from '../errors.ts';
import type { BoundName, Namers } from '../naming/bind.ts';
import { bindTree, explainTree } from '../naming/bind.ts';
import { formatDtab } from '../naming/dtab.ts';
import { formatExplanation, showBoundTree } from '../naming/explain.ts';
import { showNameTree } from '../naming/name-tree.ts';
import { chooseBound } from '../naming/choose.ts';
import type { Dtab } from '../naming/dtab.ts';
import type { ServiceLookup } from '../naming/k8s-namers.ts';
import { requestNameTree } from '../naming/logical-name.ts';
import type { NameTree } from '../naming/name-tree.ts';
import { parseDtabOverride, withOverride } from '../naming/override.ts';
import type { Path } from '../naming/path.ts';
import { showPath } from '../naming/path.ts';
import type { CallContext, Service } from '../stack/service.ts';
import { sourceLabels } from '../telemetry/http-metrics-layer.ts';
import type { HttpRequest, HttpResponse, RequestOrigin } from './http/message.ts';

export const WEFT_DTAB = 'weft-dtab';
export const L5D_DTAB = 'l5d-dtab';

/** A concrete backend: the route it is served by and the endpoints discovery has for it. */
export interface Backend {
  /** Route key: `ns/svc:port` for a Service, `ip:port` for an address. */
  readonly name: string;
  /** Metrics label: the Service, or "passthrough" (never a raw address). */
  readonly authority: string;
  readonly endpoints: readonly EndpointAddress[];
  /** The Service's namespace, when it is one (for override trust). */
  readonly namespace: string | undefined;
}

export interface NamingView {
  /** The current table; a new object whenever discovery changes (bindings are cached per view). */
  readonly lookup: ServiceLookup;
  /** The backend a bound name stands for, or undefined when it has no endpoints source here. */
  backend(name: BoundName): Backend | undefined;
}

export type OverrideOutcome = 'honoured' | 'stripped-untrusted' | 'invalid';

export interface RequestRouterDeps {
  readonly dtab: Dtab;
  readonly namers: Namers;
  readonly view: () => NamingView;
  readonly random: Random;
  readonly onOverride?: (outcome: OverrideOutcome) => void;
}

const CACHE_LIMIT = 10_000;

/** What `weft explain` and the admin endpoint ask about. */
export interface ExplainQuery {
  readonly authority: string;
  /** The caller's namespace (for one-label hosts like `web`). */
  readonly namespace?: string | undefined;
  /** The original destination, `ip:port`; its port is also the default port of the authority. */
  readonly dst?: { readonly address: string; readonly port: number } | undefined;
  /** An override dtab, as a trusted caller would send it. */
  readonly dtab?: string | undefined;
}

export interface ExplainedBackend {
  /** The bound name, e.g. /#/k8s/shop/web/80. */
  readonly bound: string;
  /** Its share of requests when a weighted union splits them (1 otherwise). */
  readonly share: number;
  readonly route: string | undefined;
  readonly endpoints: readonly string[];
}

export interface ExplainAnswer {
  readonly authority: string;
  readonly namespace: string | undefined;
  readonly dst: string | undefined;
  /** The names the request goes by, best first. */
  readonly names: string;
  readonly dtab: string;
  /** The delegation, step by step (naming/explain.ts). */
  readonly steps: string;
  readonly result: string;
  readonly backends: readonly ExplainedBackend[];
}

/** Binds request names and caches bindings of requests without an override, per discovery view. */
export class RequestRouter {
  readonly #deps: RequestRouterDeps;
  #cacheView: NamingView | undefined;
  readonly #cache = new Map<string, NameTree<BoundName>>();

  constructor(deps: RequestRouterDeps) {
    this.#deps = deps;
  }

  /** The backend one request goes to. Throws a WeftError when the name binds to nothing usable. */
  backendFor(req: HttpRequest, dst: { address: string; port: number }): Backend {
    const origin = req.origin;
    const namespace = namespaceOf(origin);
    const view = this.#deps.view();
    const override = this.#override(req, origin, view, namespace, dst);
    const tree = override === undefined ? this.#bindCached(view, req.authority, namespace, dst) : this.#bind(req.authority, namespace, dst, override);
    const choice = chooseBound(tree, this.#deps.random);
    switch (choice.kind) {
      case 'bound': {
        const backend = view.backend(choice.name);
        if (backend === undefined) {
          throw new WeftError('WEFT_E_NAMING_UNRESOLVED', `${showPath(choice.name.id)} is bound, but nothing here resolves it to endpoints`, { flags: { rejected: true } });
        }
        return backend;
      }
      case 'empty':
        throw new WeftError('WEFT_E_NAMING_EMPTY', `${req.authority} binds to an empty set of endpoints`, { flags: { rejected: true } });
      case 'neg':
        throw new WeftError('WEFT_E_NAMING_NO_ROUTE', `no route for ${req.authority} (original destination ${dst.address}:${dst.port}): the dtab binds it to nothing`, { flags: { rejected: true } });
      case 'fail':
        throw new WeftError('WEFT_E_NAMING_FAILED', `binding ${req.authority} failed: ${choice.reason}`, { flags: { rejected: true } });
    }
  }

  /** The delegation of a request name, step by step, and the endpoints it ends on. Throws on a bad dtab. */
  explain(query: ExplainQuery): ExplainAnswer {
    const view = this.#deps.view();
    const dst = query.dst;
    const names = requestNameTree({ authority: query.authority, namespace: query.namespace, defaultPort: dst?.port ?? 80, originalDestination: dst });
    const dtab = this.#dtabWith(query.dtab === undefined || query.dtab.trim() === '' ? undefined : parseDtabOverride(query.dtab));
    const base = {
      authority: query.authority,
      namespace: query.namespace,
      dst: dst === undefined ? undefined : `${dst.address}:${dst.port}`,
      dtab: formatDtab(dtab),
    };
    if (names === undefined) {
      return { ...base, names: '~', steps: 'the authority names no Service and there is no original destination\n', result: '~ (neg: no binding)', backends: [] };
    }
    const explanation = explainTree(dtab, names, this.#deps.namers);
    const backends: ExplainedBackend[] = [];
    collectLeaves(explanation.result, 1, (name, share) => {
      const backend = view.backend(name);
      backends.push({
        bound: showPath(name.id),
        share,
        route: backend?.name,
        endpoints: backend === undefined ? [] : backend.endpoints.map((e) => (e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`)),
      });
    });
    return { ...base, names: showNameTree(names), steps: formatExplanation(explanation), result: showBoundTree(explanation.result), backends };
  }

  #bindCached(view: NamingView, authority: string, namespace: string | undefined, dst: { address: string; port: number }): NameTree<BoundName> {
    if (view !== this.#cacheView) {
      this.#cache.clear();
      this.#cacheView = view;
    }
    const key = `${namespace ?? ''}\n${authority}\n${dst.address}\n${dst.port}`;
    let tree = this.#cache.get(key);
    if (tree === undefined) {
      tree = this.#bind(authority, namespace, dst, undefined);
      // A client sending many distinct Host values cannot grow this without bound.
      if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
      this.#cache.set(key, tree);
    }
    return tree;
  }

  #bind(authority: string, namespace: string | undefined, dst: { address: string; port: number }, override: Dtab | undefined): NameTree<BoundName> {
    const names = requestNameTree({ authority, namespace, defaultPort: dst.port, originalDestination: dst });
    if (names === undefined) return { kind: 'neg' };
    return bindTree(this.#dtabWith(override), names, this.#deps.namers);
  }

  /** The base dtab, plus an override's entries (tried first). */
  #dtabWith(override: Dtab | undefined): Dtab {
    return override === undefined ? this.#deps.dtab : withOverride(this.#deps.dtab, override);
  }

  /** The caller's override if it may set one; the header is removed from untrusted requests. */
  #override(req: HttpRequest, origin: RequestOrigin | undefined, view: NamingView, namespace: string | undefined, dst: { address: string; port: number }): Dtab | undefined {
    const headers = req.headers;
    const values = [...headers.getAll(WEFT_DTAB), ...headers.getAll(L5D_DTAB)];
    if (values.length === 0) return undefined;
    const target = this.#targetNamespace(view, req.authority, namespace, dst);
    const trusted = origin !== undefined && namespace !== undefined && target === namespace;
    if (!trusted) {
      headers.delete(WEFT_DTAB).delete(L5D_DTAB);
      this.#deps.onOverride?.('stripped-untrusted');
      return undefined;
    }
    try {
      const dtab = parseDtabOverride(values);
      this.#deps.onOverride?.('honoured');
      return dtab;
    } catch (error) {
      this.#deps.onOverride?.('invalid');
      throw new WeftError('WEFT_E_NAMING_BAD_OVERRIDE', `the ${WEFT_DTAB}/${L5D_DTAB} header is not a dtab: ${error instanceof Error ? error.message : String(error)}`, {
        cause: error,
        flags: { rejected: true },
      });
    }
  }

  /** The namespace of the Service the request is for, without an override. */
  #targetNamespace(view: NamingView, authority: string, namespace: string | undefined, dst: { address: string; port: number }): string | undefined {
    const leafName = firstLeaf(this.#bindCached(view, authority, namespace, dst));
    return leafName === undefined ? undefined : view.backend(leafName)?.namespace;
  }
}

/** The leaves a request can reach, with their share: Alt's first usable child, a Union's by weight. */
function collectLeaves(tree: NameTree<BoundName>, share: number, out: (name: BoundName, share: number) => void): boolean {
  switch (tree.kind) {
    case 'leaf':
      out(tree.value, share);
      return true;
    case 'alt':
      for (const child of tree.trees) if (collectLeaves(child, share, out)) return true;
      return false;
    case 'union': {
      const total = tree.trees.reduce((sum, b) => sum + (b.weight > 0 ? b.weight : 0), 0);
      let any = false;
      for (const branch of tree.trees) if (branch.weight > 0 && collectLeaves(branch.tree, (share * branch.weight) / total, out)) any = true;
      return any;
    }
    default:
      return false;
  }
}

function firstLeaf(tree: NameTree<BoundName>): BoundName | undefined {
  switch (tree.kind) {
    case 'leaf':
      return tree.value;
    case 'alt':
      for (const child of tree.trees) {
        const found = firstLeaf(child);
        if (found !== undefined) return found;
      }
      return undefined;
    case 'union':
      for (const branch of tree.trees) {
        const found = firstLeaf(branch.tree);
        if (found !== undefined) return found;
      }
      return undefined;
    default:
      return undefined;
  }
}

/** The caller pod's namespace, read as the metrics read the source ("namespace/name"); none for an address. */
function namespaceOf(origin: RequestOrigin | undefined): string | undefined {
  const namespace = sourceLabels(origin?.source).namespace;
  return namespace === '' ? undefined : namespace;
}

/** The per-connection entry: stamps the origin, routes each request to its backend's stack. */
export class RoutedService implements Service<HttpRequest, HttpResponse> {
  readonly #origin: RequestOrigin;
  readonly #dst: { address: string; port: number };
  readonly #router: RequestRouter;
  readonly #routeFor: (backend: Backend) => Service<HttpRequest, HttpResponse>;

  constructor(origin: RequestOrigin, dst: { address: string; port: number }, router: RequestRouter, routeFor: (backend: Backend) => Service<HttpRequest, HttpResponse>) {
    this.#origin = origin;
    this.#dst = dst;
    this.#router = router;
    this.#routeFor = routeFor;
  }

  call(req: HttpRequest, cx: CallContext): Promise<HttpResponse> {
    req.origin = this.#origin;
    let backend: Backend;
    try {
      backend = this.#router.backendFor(req, this.#dst);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    return this.#routeFor(backend).call(req, cx);
  }
}

/** The Service port of a bound `/#/k8s/<ns>/<port>/<svc>` (or `/#/file/…`) id. */
export function k8sBackendName(id: Path): { namespace: string; name: string; port: string } | undefined {
  if (id.length !== 5 || id[0] !== '#' || (id[1] !== 'k8s' && id[1] !== 'file')) return undefined;
  const [, , namespace, port, name] = id as [string, string, string, string, string];
  return { namespace, name, port };
}
