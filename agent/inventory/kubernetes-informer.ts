// One Kubernetes list+watch that never gives up, shared by the inventory (Pods, Namespaces) and
// discovery (Services, EndpointSlices). It drives @kubernetes/client-node's own informer (ListWatch:
// list, watch from the list's resourceVersion, relist on 410, resume from the last resourceVersion
// when a watch ends) and adds what that informer leaves to its user:
// - a failed list or watch stops the client's informer for good (it only emits `error`), so it is
//   restarted here after a jittered exponential backoff, resuming from its resourceVersion;
// - a watch that goes silent (a stuck proxy, a half-open connection) is cut after `silentWatchMs`
//   (the client's own inactivity timer, which we set) and resumed; bookmarks are asked for so a
//   quiet but healthy watch is never silent that long;
// - a list that hangs is aborted after `listTimeoutMs`;
// - objects the client's cache cannot hold (no metadata.name) are skipped and counted before they
//   reach it: the client would throw on them, and on a relist that throw is an unhandled rejection.
// Kept in inventory/ next to the other shared object code (discovery imports it, as it does object-file.ts).
import type { HttpLibrary, KubeConfig, KubernetesListObject, KubernetesObject, RequestContext, ResponseContext } from '@kubernetes/client-node';
import { ListWatch, Watch } from '@kubernetes/client-node';
// Not re-exported by the package index; the default HTTP library, wrapped below to give lists a deadline.
import { IsomorphicFetchHttpLibrary } from '@kubernetes/client-node/dist/gen/http/isomorphic-fetch.js';
import type { Observable } from '@kubernetes/client-node/dist/gen/rxjsStub.js';
import { describeError, WeftError } from '../errors.ts';
import type { Clock } from '../time/clock.ts';

export interface KubernetesWatchParams {
  /** A watch with no bytes (event or bookmark) for this long is cut and resumed. */
  readonly silentWatchMs: number;
  /** A list (or a watch's response head) taking longer than this is aborted and retried. */
  readonly listTimeoutMs: number;
  /** Restart backoff after a failed list or watch: initial, doubled per failure up to the max, ±20 % jitter. */
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
}

/**
 * The API server sends a bookmark about once a minute on a watch that asked for them, so two
 * minutes of silence means the watch is dead. client-go's reflector restarts lists after errors
 * with backoff between 800 ms and 30 s; the same range here.
 */
export const kubernetesWatchParams: KubernetesWatchParams = {
  silentWatchMs: 120_000,
  listTimeoutMs: 60_000,
  backoffInitialMs: 800,
  backoffMaxMs: 30_000,
};

export type KubernetesArea = 'INVENTORY' | 'DISCOVERY';

/** What happens to the objects of one list+watch; every callback is synchronous and must not throw. */
export interface KubernetesInformerHandlers {
  /** Added or changed (also for objects seen again in a relist). */
  upsert(object: unknown): void;
  /** Deleted, or gone from a relist. */
  remove(object: unknown): void;
  /** The cache holds a full list (every time one was applied). */
  listed(): void;
  /** An object left out before it reached the cache (no metadata.name, not an object). */
  malformed(problem: string): void;
  /** A list or watch failed; a restart is scheduled. */
  failed(error: WeftError): void;
  /** A watch is streaming again (after the first list, a resume or a restart). */
  healthy(): void;
}

export interface KubernetesInformerOptions<T extends KubernetesObject> {
  /** `pods`, `endpointslices`: for messages and codes. */
  readonly what: string;
  readonly area: KubernetesArea;
  /** The watch path, e.g. `/api/v1/pods`. */
  readonly path: string;
  readonly fieldSelector?: string;
  /** Lists the objects with the client's typed API; `options` carries the list deadline. */
  readonly list: (options: { readonly httpApi: HttpLibrary }) => Promise<KubernetesListObject<T>>;
}

export interface KubernetesInformerStatus {
  readonly what: string;
  readonly listed: boolean;
  readonly watching: boolean;
  readonly lists: number;
  readonly restarts: number;
  readonly bookmarks: number;
  readonly malformed: number;
  /** Exceptions thrown by the source's own handlers (a bug): caught so the informer keeps going. */
  readonly handlerErrors: number;
  readonly lastHandlerError: string | undefined;
}

export class KubernetesInformer<T extends KubernetesObject> {
  readonly #options: KubernetesInformerOptions<T>;
  readonly #params: KubernetesWatchParams;
  readonly #clock: Clock;
  readonly #handlers: KubernetesInformerHandlers;
  readonly #informer: ListWatch<T>;
  #closed = false;
  #started = false;
  #cancelRestart: (() => void) | undefined;
  #failures = 0;
  #phase: 'list' | 'watch' = 'list';
  #listedSinceWatch = false;
  #listed = false;
  #watching = false;
  #lists = 0;
  #restarts = 0;
  #bookmarks = 0;
  #malformed = 0;
  #handlerErrors = 0;
  #lastHandlerError: string | undefined;

  constructor(kubeConfig: KubeConfig, options: KubernetesInformerOptions<T>, params: KubernetesWatchParams, clock: Clock, handlers: KubernetesInformerHandlers) {
    this.#options = options;
    this.#params = params;
    this.#clock = clock;
    this.#handlers = handlers;
    const watch = new ObservedWatch(kubeConfig, params.silentWatchMs, {
      closed: () => this.#closed,
      opening: () => this.#onWatchOpening(),
      streaming: () => this.#onStreaming(),
      bookmark: () => {
        this.#bookmarks += 1;
      },
      malformed: (problem) => this.#onMalformed(problem),
    });
    const httpApi = new DeadlineHttpLibrary(params.listTimeoutMs);
    this.#informer = new ListWatch<T>(options.path, watch, () => this.#list(httpApi), false, undefined, options.fieldSelector, {
      // The client's own reconnect delay (after a watch ends cleanly) on our clock, capped like ours.
      delayFn: (ms) => new Promise<void>((resolve) => this.#clock.setTimer(Math.min(ms, params.backoffMaxMs), resolve)),
    });
    this.#informer.on('add', (object) => this.#guard(() => handlers.upsert(object)));
    this.#informer.on('update', (object) => this.#guard(() => handlers.upsert(object)));
    this.#informer.on('delete', (object) => this.#guard(() => handlers.remove(object)));
    this.#informer.on('error', (error: unknown) => this.#onError(error));
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#run();
  }

  status(): KubernetesInformerStatus {
    return {
      what: this.#options.what,
      listed: this.#listed,
      watching: this.#watching,
      lists: this.#lists,
      restarts: this.#restarts,
      bookmarks: this.#bookmarks,
      malformed: this.#malformed,
      handlerErrors: this.#handlerErrors,
      lastHandlerError: this.#lastHandlerError,
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#cancelRestart?.();
    this.#watching = false;
    await this.#informer.stop();
  }

  #run(): void {
    this.#informer.start().catch((error: unknown) => this.#onError(error));
  }

  async #list(httpApi: HttpLibrary): Promise<KubernetesListObject<T>> {
    this.#phase = 'list';
    const list = await this.#options.list({ httpApi });
    // The client's cache reads metadata.name and metadata.namespace of every item; leave out what it cannot.
    // A list without items (a broken proxy) reads as empty, not as a crash inside the client.
    const listed = (list.items as readonly T[] | undefined) ?? [];
    const items = listed.filter((item: unknown) => {
      const problem = cacheProblem(item);
      if (problem !== undefined) this.#onMalformed(problem);
      return problem === undefined;
    });
    this.#lists += 1;
    this.#listedSinceWatch = true;
    return { ...list, items };
  }

  #onWatchOpening(): void {
    // The client opens a watch right after it applied a list to its cache: that is "listed".
    this.#phase = 'watch';
    if (this.#listedSinceWatch) {
      this.#listedSinceWatch = false;
      this.#listed = true;
      this.#guard(() => this.#handlers.listed());
    }
  }

  #onStreaming(): void {
    this.#watching = true;
    this.#failures = 0;
    this.#guard(() => this.#handlers.healthy());
  }

  #onMalformed(problem: string): void {
    this.#malformed += 1;
    this.#guard(() => this.#handlers.malformed(problem));
  }

  #onError(cause: unknown): void {
    if (this.#closed) return;
    this.#watching = false;
    this.#failures += 1;
    const delay = backoff(this.#params, this.#failures);
    const { area, what } = this.#options;
    const phase = this.#phase;
    const error = new WeftError(
      `WEFT_E_${area}_K8S_${phase === 'list' ? 'LIST' : 'WATCH'}`,
      `kubernetes ${what} ${phase} failed: ${describeCause(cause)}; retrying in ${Math.round(delay)} ms; the last good set stays in use`,
      { cause, flags: { retryable: true } },
    );
    this.#guard(() => this.#handlers.failed(error));
    this.#cancelRestart?.();
    this.#cancelRestart = this.#clock.setTimer(delay, () => {
      this.#cancelRestart = undefined;
      if (this.#closed) return;
      this.#restarts += 1;
      this.#run();
    });
  }

  /**
   * The client swallows what a watch callback throws (and a throw while it applies a list escapes as
   * an unhandled rejection); a handler bug is caught here, counted and shown in status instead of
   * vanishing or taking the agent down.
   */
  #guard(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.#handlerErrors += 1;
      this.#lastHandlerError = describeError(error);
    }
  }
}

/** Why the client's cache could not hold this object, or undefined when it can. */
function cacheProblem(object: unknown): string | undefined {
  if (typeof object !== 'object' || object === null || Array.isArray(object)) return `not an object: ${JSON.stringify(object)?.slice(0, 80)}`;
  const metadata = (object as { metadata?: unknown }).metadata;
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) return 'metadata: required';
  const { name, namespace } = metadata as { name?: unknown; namespace?: unknown };
  if (typeof name !== 'string' || name === '') return 'metadata.name: required';
  if (namespace !== undefined && namespace !== null && typeof namespace !== 'string') return 'metadata.namespace: expected a string';
  return undefined;
}

function backoff(params: KubernetesWatchParams, failures: number): number {
  const base = Math.min(params.backoffMaxMs, params.backoffInitialMs * 2 ** Math.min(failures - 1, 30));
  return base * (0.8 + Math.random() * 0.4);
}

function describeCause(cause: unknown): string {
  if (typeof cause === 'object' && cause !== null) {
    const { statusCode, code } = cause as { statusCode?: unknown; code?: unknown };
    const status = typeof statusCode === 'number' ? statusCode : typeof code === 'number' ? code : undefined;
    if (status !== undefined) return `HTTP ${status} ${describeError(cause)}`;
  }
  return describeError(cause);
}

interface WatchHooks {
  closed(): boolean;
  /** A watch request is about to be made. */
  opening(): void;
  /** The server answered 200: events will stream. */
  streaming(): void;
  bookmark(): void;
  malformed(problem: string): void;
}

/**
 * The client's Watch with what the informer needs to see: when a watch is opened and answered, the
 * bookmarks, and a filter for objects the cache would choke on. Its inactivity timeout (private in
 * client-node 2.x, 30 s) is set to ours.
 */
class ObservedWatch extends Watch {
  readonly #hooks: WatchHooks;

  constructor(config: KubeConfig, silentWatchMs: number, hooks: WatchHooks) {
    super(config);
    this.#hooks = hooks;
    if (typeof Reflect.get(this, 'requestTimeoutMs') !== 'number') {
      throw new WeftError('WEFT_E_INVENTORY_K8S_CLIENT', '@kubernetes/client-node Watch has no requestTimeoutMs; this client version is not supported: install the version package.json names');
    }
    Reflect.set(this, 'requestTimeoutMs', silentWatchMs);
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    // The client's reconnect delay does not look at stop(): a watch due after close() is not opened.
    if (this.#hooks.closed()) return abortedController();
    this.#hooks.opening();
    const state = { ended: false };
    const end = (err: unknown): void => {
      if (state.ended) return;
      state.ended = true;
      done(err);
    };
    const filtered = (phase: string, object: unknown, raw: unknown): void => {
      if (phase === 'BOOKMARK') this.#hooks.bookmark();
      if (phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED') {
        const problem = cacheProblem(object);
        if (problem !== undefined) {
          this.#hooks.malformed(problem);
          return;
        }
      }
      callback(phase, object, raw);
    };
    let controller: AbortController;
    try {
      controller = await super.watch(path, { ...queryParams, allowWatchBookmarks: true }, filtered, end);
    } catch (error) {
      // Authentication (an exec plugin, a token file) can throw before the request; the client would
      // let that escape as an unhandled rejection, so it is reported as the watch's end instead.
      end(error);
      return abortedController();
    }
    // Watch.watch resolves once the response head arrived; a refused one has called done already.
    if (!state.ended) this.#hooks.streaming();
    return controller;
  }

}

function abortedController(): AbortController {
  const controller = new AbortController();
  controller.abort();
  return controller;
}

/** The client's default HTTP library with a deadline on every request (lists). */
class DeadlineHttpLibrary implements HttpLibrary {
  readonly #inner = new IsomorphicFetchHttpLibrary();
  readonly #timeoutMs: number;

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  send(request: RequestContext): Observable<ResponseContext> {
    request.setSignal(AbortSignal.timeout(this.#timeoutMs));
    return this.#inner.send(request);
  }
}
