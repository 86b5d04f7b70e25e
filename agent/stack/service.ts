// The core of the request path (Finagle's `Filter andThen Service`, linkerd2-proxy's tower layers):
// a request flows through small composed layers, each built once per route, backend or endpoint.

/** Per-call context handed down the stack with every request. */
export interface CallContext {
  /** Absolute deadline on the agent's monotonic clock (Clock.now()), or undefined for none. */
  readonly deadline: number | undefined;
  /** Aborted when the caller goes away or the deadline expires; layers pass it to I/O. */
  readonly signal: AbortSignal;
}

export interface Service<Req, Res> {
  call(req: Req, cx: CallContext): Promise<Res>;
  /** Releases pools, timers and sockets held for this service. */
  close?(): Promise<void>;
}

/** Builds one service per target: a route, a concrete backend, an endpoint. */
export type NewService<T, S> = (target: T) => S;

export interface Layer<In, Out> {
  /** What this layer does, as shown in /status (e.g. "retry", "balance p2c-peak-ewma"). */
  readonly role: string;
  wrap(inner: In): Out;
}

/** A built stack keeps the roles of its layers, outermost first, so /status can print it. */
export interface DescribedStack<S> {
  readonly service: S;
  readonly roles: readonly string[];
}

/** Applies layers so that the first one pushed is the outermost. */
export function buildStack<S>(inner: S, layers: ReadonlyArray<Layer<S, S>>): DescribedStack<S> {
  let service = inner;
  for (let i = layers.length - 1; i >= 0; i--) {
    const layer = layers[i];
    if (layer !== undefined) service = layer.wrap(service);
  }
  return { service, roles: layers.map((layer) => layer.role) };
}
