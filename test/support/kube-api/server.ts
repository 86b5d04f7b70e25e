// A Kubernetes API server for tests, good enough for the real @kubernetes/client-node: an in-memory
// store of Pods, Namespaces, Services and EndpointSlices under one global resourceVersion counter,
// LIST and WATCH (chunked JSON lines, replay after a resourceVersion from a bounded history, 410 Gone
// as an ERROR event once the history no longer reaches back, BOOKMARKs when asked) and the failures
// a source must survive, on demand: 5xx answers, slow answers, dropped watches, silent watches.
// Listens on 127.0.0.1 only. Objects are stored as plain JSON, unvalidated, so a test can serve the
// malformed objects a source must skip.
import { once } from 'node:events';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export const RESOURCES = {
  pods: { kind: 'Pod', apiVersion: 'v1', prefix: '/api/v1', namespaced: true },
  namespaces: { kind: 'Namespace', apiVersion: 'v1', prefix: '/api/v1', namespaced: false },
  services: { kind: 'Service', apiVersion: 'v1', prefix: '/api/v1', namespaced: true },
  endpointslices: { kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', prefix: '/apis/discovery.k8s.io/v1', namespaced: true },
} as const;
export type Resource = keyof typeof RESOURCES;

export type JsonObject = Record<string, unknown>;
export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

interface HistoryEntry {
  readonly rv: number;
  readonly resource: Resource;
  readonly type: EventType;
  /** The object after the change (before it, for DELETED), with its resourceVersion. */
  readonly object: JsonObject;
  /** The object before the change, to tell a selector's "stopped matching" apart. */
  readonly previous: JsonObject | undefined;
}

export interface RequestRecord {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly watch: boolean;
  /** The status answered (a watch answers 200 even when it carries a 410 ERROR event). */
  status: number;
  /** For a watch: it was answered with an ERROR 410 event (history too short). */
  gone?: boolean;
}

/** Which requests a planned failure or delay applies to. */
export type RequestMatch = 'any' | 'list' | 'watch';

export interface FakeKubeApiOptions {
  /** Events kept for replay; a watch from before the oldest answers 410. Default 1000. */
  readonly historyLimit?: number;
  /** How often open watches that asked for bookmarks get one; 0 = never. Default 0. */
  readonly bookmarkIntervalMs?: number;
  /**
   * How a watch from too old a resourceVersion is refused: an ERROR event with a 410 Status inside a
   * 200 stream (what kube-apiserver does), or a plain HTTP 410 answer (what some proxies and older
   * servers do). Default 'event'.
   */
  readonly goneAs?: 'event' | 'status';
}

interface OpenWatch {
  readonly resource: Resource;
  readonly namespace: string | undefined;
  readonly fieldSelector: Selector;
  readonly labelSelector: Selector;
  readonly res: ServerResponse;
  readonly bookmarks: boolean;
  /** A silent watch answered 200 and then says nothing, ever (a stuck proxy or API server). */
  readonly silent: boolean;
  bookmarkTimer: NodeJS.Timeout | undefined;
}

interface PlannedFailure {
  remaining: number;
  readonly status: number;
  readonly match: RequestMatch;
  readonly path: string | undefined;
}

interface PlannedDelay {
  remaining: number;
  readonly ms: number;
  readonly match: RequestMatch;
  readonly path: string | undefined;
}

type Selector = readonly { readonly path: readonly string[]; readonly value: string; readonly equal: boolean }[];

export class FakeKubeApi {
  readonly #server: Server;
  readonly #store = new Map<Resource, Map<string, JsonObject>>(Object.keys(RESOURCES).map((r) => [r as Resource, new Map()]));
  readonly #history: HistoryEntry[] = [];
  readonly #watches = new Set<OpenWatch>();
  readonly #failures: PlannedFailure[] = [];
  readonly #delays: PlannedDelay[] = [];
  readonly #delayed = new Set<NodeJS.Timeout>();
  readonly #historyLimit: number;
  readonly #bookmarkIntervalMs: number;
  readonly #goneAs: 'event' | 'status';
  /** Watches from a resourceVersion below this answer 410: the history no longer reaches back. */
  #oldestReplayable = 0;
  #rv = 0;
  #rawKeys = 0;
  #silent = false;
  readonly requests: RequestRecord[] = [];

  constructor(options: FakeKubeApiOptions = {}) {
    this.#historyLimit = options.historyLimit ?? 1000;
    this.#bookmarkIntervalMs = options.bookmarkIntervalMs ?? 0;
    this.#goneAs = options.goneAs ?? 'event';
    this.#server = createServer((req, res) => this.#handle(req, res));
  }

  /** Starts listening on 127.0.0.1 on a free port; returns the server URL (`http://127.0.0.1:N`). */
  async start(): Promise<string> {
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    return this.url;
  }

  get url(): string {
    const address = this.#server.address() as AddressInfo | null;
    if (address === null) throw new Error('the fake API server is not listening; call start() first');
    return `http://127.0.0.1:${address.port}`;
  }

  get resourceVersion(): string {
    return String(this.#rv);
  }

  /** Open watches, by resource. */
  openWatches(resource?: Resource): number {
    return [...this.#watches].filter((w) => resource === undefined || w.resource === resource).length;
  }

  async close(): Promise<void> {
    for (const timer of this.#delayed) clearTimeout(timer);
    this.#delayed.clear();
    for (const watch of this.#watches) this.#closeWatch(watch, true);
    this.#server.closeAllConnections();
    this.#server.close();
    await once(this.#server, 'close');
  }

  // ---- the store, as a test changes it ----

  /** Adds an object (ADDED), or replaces it (MODIFIED) when one of that namespace/name exists. Returns it with its resourceVersion. */
  apply(resource: Resource, object: JsonObject): JsonObject {
    const key = objectKey(resource, object) ?? `raw-${++this.#rawKeys}`;
    const store = this.#bucket(resource);
    const previous = store.get(key);
    const stored = this.#stamp(object);
    store.set(key, stored);
    this.#record(resource, previous === undefined ? 'ADDED' : 'MODIFIED', stored, previous);
    return stored;
  }

  /** Deletes an object (DELETED); false when there was none. */
  delete(resource: Resource, namespace: string | undefined, name: string): boolean {
    const key = RESOURCES[resource].namespaced ? `${namespace ?? 'default'}/${name}` : name;
    const store = this.#bucket(resource);
    const previous = store.get(key);
    if (previous === undefined) return false;
    store.delete(key);
    // The API server sends the object as it was last, with the deletion's resourceVersion.
    this.#record(resource, 'DELETED', this.#stamp(previous), previous);
    return true;
  }

  get(resource: Resource, namespace: string | undefined, name: string): JsonObject | undefined {
    return this.#bucket(resource).get(RESOURCES[resource].namespaced ? `${namespace ?? 'default'}/${name}` : name);
  }

  list(resource: Resource): JsonObject[] {
    return [...this.#bucket(resource).values()];
  }

  // ---- failures on demand ----

  /** The next `n` requests (of the kind matched, on `path` if given) answer `status` with a Status body. */
  failNext(n: number, status = 500, match: RequestMatch = 'any', path?: string): void {
    this.#failures.push({ remaining: n, status, match, path });
  }

  /** The next `n` requests (of the kind matched, on `path` if given) are answered only after `ms`. */
  delayNext(n: number, ms: number, match: RequestMatch = 'any', path?: string): void {
    this.#delays.push({ remaining: n, ms, match, path });
  }

  /** Ends every open watch, as an API server restart or a load balancer's idle cut does. `abrupt` destroys the socket instead of ending the stream. */
  dropWatches(options: { readonly abrupt?: boolean } = {}): number {
    const count = this.#watches.size;
    for (const watch of [...this.#watches]) this.#closeWatch(watch, options.abrupt === true);
    return count;
  }

  /** While on, new watches answer 200 and then never send anything (no events, no bookmarks). */
  silenceWatches(on: boolean): void {
    this.#silent = on;
  }

  /** Forgets the event history: any watch from a resourceVersion before now answers 410 Gone. */
  compactHistory(): void {
    this.#history.length = 0;
    this.#oldestReplayable = this.#rv;
  }

  /** Requests of one kind since the log began (or since `from`). */
  requestsOf(match: RequestMatch, path?: string, from = 0): RequestRecord[] {
    return this.requests.slice(from).filter((r) => matches(match, r.watch) && (path === undefined || r.path === path));
  }

  // ---- internals ----

  #bucket(resource: Resource): Map<string, JsonObject> {
    const bucket = this.#store.get(resource);
    if (bucket === undefined) throw new Error(`unknown resource ${resource}`);
    return bucket;
  }

  #stamp(object: JsonObject): JsonObject {
    this.#rv += 1;
    const metadata = object['metadata'];
    if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) return structuredClone(object);
    return { ...structuredClone(object), metadata: { ...structuredClone(metadata), resourceVersion: String(this.#rv) } };
  }

  #record(resource: Resource, type: EventType, object: JsonObject, previous: JsonObject | undefined): void {
    const entry: HistoryEntry = { rv: this.#rv, resource, type, object, previous };
    this.#history.push(entry);
    while (this.#history.length > this.#historyLimit) {
      const dropped = this.#history.shift();
      if (dropped !== undefined) this.#oldestReplayable = dropped.rv;
    }
    for (const watch of this.#watches) this.#deliver(watch, entry);
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const query = Object.fromEntries(url.searchParams);
    const watch = query['watch'] === 'true' || query['watch'] === '1';
    const record: RequestRecord = { method: req.method ?? 'GET', path: url.pathname, query, watch, status: 0 };
    this.requests.push(record);
    const delay = take(this.#delays, watch, url.pathname);
    const answer = (): void => {
      const failure = take(this.#failures, watch, url.pathname);
      if (failure !== undefined) {
        record.status = failure.status;
        sendStatus(res, failure.status, `injected failure ${failure.status}`);
        return;
      }
      const route = parsePath(url.pathname);
      if (route === undefined || req.method !== 'GET') {
        record.status = 404;
        sendStatus(res, 404, `the fake API server does not serve ${req.method ?? 'GET'} ${url.pathname}`);
        return;
      }
      if (watch) this.#watch(route, query, record, res);
      else this.#list(route, query, record, res);
    };
    if (delay === undefined) {
      answer();
      return;
    }
    const timer = setTimeout(() => {
      this.#delayed.delete(timer);
      if (!res.destroyed) answer();
    }, delay.ms);
    this.#delayed.add(timer);
  }

  #select(route: Route, query: Record<string, string>): (object: JsonObject) => boolean {
    const fields = parseSelector(query['fieldSelector']);
    const labels = parseSelector(query['labelSelector']);
    return (object) => inNamespace(object, route.namespace) && selects(fields, object) && selects(labels.map((s) => ({ ...s, path: ['metadata', 'labels', ...s.path] })), object);
  }

  #list(route: Route, query: Record<string, string>, record: RequestRecord, res: ServerResponse): void {
    const info = RESOURCES[route.resource];
    const select = this.#select(route, query);
    const items = this.list(route.resource).filter(select).map((object) => withKind(route.resource, object));
    record.status = 200;
    sendJson(res, 200, { kind: `${info.kind}List`, apiVersion: info.apiVersion, metadata: { resourceVersion: String(this.#rv) }, items });
  }

  #watch(route: Route, query: Record<string, string>, record: RequestRecord, res: ServerResponse): void {
    const from = query['resourceVersion'];
    const expired = from !== undefined && from !== '' && from !== '0' && !(Number.isInteger(Number(from)) && Number(from) >= this.#oldestReplayable);
    if (expired && this.#goneAs === 'status' && !this.#silent) {
      record.status = 410;
      record.gone = true;
      sendJson(res, 410, statusObject(410, `too old resource version: ${from} (${this.#oldestReplayable})`, 'Expired'));
      return;
    }
    const fieldSelector = parseSelector(query['fieldSelector']);
    const labelSelector = parseSelector(query['labelSelector']);
    record.status = 200;
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache' });
    res.flushHeaders();
    const watch: OpenWatch = {
      resource: route.resource,
      namespace: route.namespace,
      fieldSelector,
      labelSelector,
      res,
      bookmarks: query['allowWatchBookmarks'] === 'true',
      silent: this.#silent,
      bookmarkTimer: undefined,
    };
    const select = this.#select(route, query);
    if (!watch.silent) {
      if (from === undefined || from === '' || from === '0') {
        // No resourceVersion: the API server starts with the current state as ADDED events.
        for (const object of this.list(route.resource).filter(select)) writeEvent(res, 'ADDED', withKind(route.resource, object));
      } else {
        const rv = Number(from);
        if (!Number.isInteger(rv) || rv < this.#oldestReplayable) {
          // As the API server does inside a watch: a Status with code 410 as an ERROR event, then the end.
          record.gone = true;
          writeLine(res, { type: 'ERROR', object: statusObject(410, `too old resource version: ${from} (${this.#oldestReplayable})`, 'Expired') });
          res.end();
          return;
        }
        for (const entry of this.#history) if (entry.rv > rv && entry.resource === route.resource) this.#send(watch, entry);
      }
    }
    this.#watches.add(watch);
    res.on('close', () => this.#closeWatch(watch, false));
    if (watch.bookmarks && this.#bookmarkIntervalMs > 0 && !watch.silent) {
      watch.bookmarkTimer = setInterval(() => {
        const info = RESOURCES[route.resource];
        writeEvent(res, 'BOOKMARK', { kind: info.kind, apiVersion: info.apiVersion, metadata: { resourceVersion: String(this.#rv) } });
      }, this.#bookmarkIntervalMs);
      watch.bookmarkTimer.unref();
    }
  }

  #deliver(watch: OpenWatch, entry: HistoryEntry): void {
    if (watch.silent || entry.resource !== watch.resource) return;
    this.#send(watch, entry);
  }

  /** One history entry as this watch sees it through its selectors (in or out of the selection). */
  #send(watch: OpenWatch, entry: HistoryEntry): void {
    const selected = (object: JsonObject | undefined): boolean =>
      object !== undefined &&
      inNamespace(object, watch.namespace) &&
      selects(watch.fieldSelector, object) &&
      selects(watch.labelSelector.map((s) => ({ ...s, path: ['metadata', 'labels', ...s.path] })), object);
    const now = selected(entry.object);
    const before = entry.type !== 'ADDED' && selected(entry.previous);
    let type: EventType | undefined;
    if (entry.type === 'DELETED') type = before ? 'DELETED' : undefined;
    else if (now) type = before ? 'MODIFIED' : 'ADDED';
    else if (before) type = 'DELETED';
    if (type !== undefined) writeEvent(watch.res, type, withKind(watch.resource, entry.object));
  }

  #closeWatch(watch: OpenWatch, abrupt: boolean): void {
    if (!this.#watches.delete(watch)) return;
    if (watch.bookmarkTimer !== undefined) clearInterval(watch.bookmarkTimer);
    if (abrupt) watch.res.destroy();
    else watch.res.end();
  }
}

interface Route {
  readonly resource: Resource;
  readonly namespace: string | undefined;
}

/** `/api/v1/pods`, `/api/v1/namespaces/demo/pods`, `/apis/discovery.k8s.io/v1/endpointslices`, … */
function parsePath(path: string): Route | undefined {
  for (const [resource, info] of Object.entries(RESOURCES) as [Resource, (typeof RESOURCES)[Resource]][]) {
    if (!path.startsWith(`${info.prefix}/`)) continue;
    const rest = path.slice(info.prefix.length + 1).split('/');
    if (rest.length === 1 && rest[0] === resource) return { resource, namespace: undefined };
    if (info.namespaced && rest.length === 3 && rest[0] === 'namespaces' && rest[2] === resource && rest[1] !== undefined) {
      return { resource, namespace: rest[1] };
    }
  }
  return undefined;
}

function objectKey(resource: Resource, object: JsonObject): string | undefined {
  const metadata = object['metadata'];
  if (typeof metadata !== 'object' || metadata === null) return undefined;
  const { name, namespace } = metadata as { name?: unknown; namespace?: unknown };
  if (typeof name !== 'string') return undefined;
  if (!RESOURCES[resource].namespaced) return name;
  return `${typeof namespace === 'string' ? namespace : 'default'}/${name}`;
}

function withKind(resource: Resource, object: JsonObject): JsonObject {
  const info = RESOURCES[resource];
  return { kind: info.kind, apiVersion: info.apiVersion, ...object };
}

function inNamespace(object: JsonObject, namespace: string | undefined): boolean {
  if (namespace === undefined) return true;
  return lookup(object, ['metadata', 'namespace']) === namespace;
}

/** `spec.nodeName=n1,metadata.name!=x` (field) or `app=web` (label): equality-based only. */
function parseSelector(text: string | undefined): Selector {
  if (text === undefined || text === '') return [];
  return text.split(',').map((term) => {
    const notEqual = term.indexOf('!=');
    const at = notEqual >= 0 ? notEqual : term.indexOf('=');
    if (at < 0) throw new Error(`the fake API server cannot read selector term ${JSON.stringify(term)}`);
    const key = term.slice(0, at).trim();
    const value = term.slice(at + (notEqual >= 0 ? 2 : term[at + 1] === '=' ? 2 : 1)).trim();
    // Labels keys contain dots (`kubernetes.io/service-name`), fields are dotted paths; the caller prefixes labels.
    return { path: key.includes('/') ? [key] : key.split('.'), value, equal: notEqual < 0 };
  });
}

function selects(selector: Selector, object: JsonObject): boolean {
  return selector.every((term) => {
    const value = lookup(object, term.path);
    const actual = typeof value === 'string' ? value : value === undefined ? '' : JSON.stringify(value);
    return (actual === term.value) === term.equal;
  });
}

function lookup(object: unknown, path: readonly string[]): unknown {
  let at = object;
  for (const part of path) {
    if (typeof at !== 'object' || at === null) return undefined;
    at = (at as Record<string, unknown>)[part];
  }
  return at;
}

function matches(match: RequestMatch, watch: boolean): boolean {
  return match === 'any' || (match === 'watch') === watch;
}

function take<T extends { remaining: number; readonly match: RequestMatch; readonly path: string | undefined }>(plans: T[], watch: boolean, path: string): T | undefined {
  const plan = plans.find((p) => p.remaining > 0 && matches(p.match, watch) && (p.path === undefined || p.path === path));
  if (plan === undefined) return undefined;
  plan.remaining -= 1;
  if (plan.remaining === 0) plans.splice(plans.indexOf(plan), 1);
  return plan;
}

function statusObject(code: number, message: string, reason?: string): JsonObject {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, ...(reason === undefined ? {} : { reason }), code };
}

function sendStatus(res: ServerResponse, code: number, message: string): void {
  sendJson(res, code, statusObject(code, message));
}

function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function writeEvent(res: ServerResponse, type: EventType | 'BOOKMARK', object: JsonObject): void {
  writeLine(res, { type, object });
}

function writeLine(res: ServerResponse, event: unknown): void {
  if (!res.writableEnded && !res.destroyed) res.write(`${JSON.stringify(event)}\n`);
}
