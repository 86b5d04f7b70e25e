// Deadlines as a layer: the effective deadline (route timeout, the context's, and what the caller
// sent) goes into the call context for every layer below (retries stop when it is near, the
// endpoint client writes what is left into the downstream headers), and the layer enforces it: when
// it passes, the request's signal aborts and the caller gets WEFT_E_RESILIENCE_DEADLINE_EXCEEDED
// (the proxy answers 504, as Linkerd 2 does for its route timeout), whether or not the layers below
// noticed. Linkerd 1 only carried deadlines as advice; weft enforces them.
import { WeftError } from '../errors.ts';
import type { CallContext, Layer, Service } from '../stack/service.ts';
import type { Clock } from '../time/clock.ts';
import type { DeadlineParams, EffectiveDeadline, IncomingDeadlines, InvalidDeadlineHeader } from './deadline.ts';
import { effectiveDeadline } from './deadline.ts';

export interface DeadlineLayerDeps<Req, Res> {
  readonly clock: Clock;
  /** Wall-clock ms since the epoch, for l5d-ctx-deadline (Date.now in production). */
  readonly wallClock: () => number;
  /** The deadline headers of the request as received. */
  readonly incoming: (req: Req) => IncomingDeadlines;
  /** A deadline header was present but unreadable (it was ignored). */
  readonly onInvalidHeader?: (invalid: InvalidDeadlineHeader) => void;
  /** Releases a response that arrived after the deadline had already failed the request. */
  readonly discard?: (res: Res) => void;
}

function noop(): void {}

function exceeded(effective: EffectiveDeadline): WeftError {
  const budget = effective.budgetMs === undefined ? '' : ` of ${Math.round(effective.budgetMs)} ms`;
  const what =
    effective.source === 'route'
      ? `the route timeout${budget}`
      : effective.source === 'context'
        ? `the deadline set further up the stack${budget}`
        : `the caller's ${effective.source ?? 'deadline'}${budget}`;
  return new WeftError('WEFT_E_RESILIENCE_DEADLINE_EXCEEDED', `deadline exceeded: ${what} passed before a response`, { flags: { interrupted: true } });
}

class Deadline<Req, Res> implements Service<Req, Res> {
  readonly #params: DeadlineParams;
  readonly #deps: DeadlineLayerDeps<Req, Res>;
  readonly #inner: Service<Req, Res>;

  constructor(params: DeadlineParams, deps: DeadlineLayerDeps<Req, Res>, inner: Service<Req, Res>) {
    this.#params = params;
    this.#deps = deps;
    this.#inner = inner;
  }

  async call(req: Req, cx: CallContext): Promise<Res> {
    const clock = this.#deps.clock;
    const now = clock.now();
    const effective = effectiveDeadline(this.#params, this.#deps.incoming(req), { now, nowEpochMs: this.#deps.wallClock(), contextDeadline: cx.deadline });
    const onInvalid = this.#deps.onInvalidHeader;
    if (onInvalid !== undefined) for (const invalid of effective.invalid) onInvalid(invalid);
    const deadline = effective.deadline;
    if (deadline === undefined) return this.#inner.call(req, cx);
    // Already over (a caller's grpc-timeout of 0, or a context deadline in the past): do not send.
    if (deadline <= now) throw exceeded(effective);
    // A child signal that aborts with the caller's or at the deadline. Linked by hand rather than
    // with AbortSignal.any, which allocates weak references and finalization records per call
    // (measured on the request path: a visible share of CPU and GC under load).
    const controller = new AbortController();
    const parent = cx.signal;
    if (parent.aborted) controller.abort(parent.reason);
    const onParentAbort = (): void => controller.abort(parent.reason);
    // Kept after the response head, as AbortSignal.any would be: a caller leaving mid-body still
    // cancels the upstream. The parent is the request's own signal, so nothing long-lived piles up.
    parent.addEventListener('abort', onParentAbort, { once: true });
    const child: CallContext = { deadline, signal: controller.signal };
    const inner = this.#inner.call(req, child);
    let cancel = noop;
    const expired = new Promise<never>((_, reject) => {
      cancel = clock.setTimer(deadline - now, () => {
        const error = exceeded(effective);
        controller.abort(error);
        reject(error);
      });
    });
    let answered = false;
    try {
      const res = await Promise.race([inner, expired]);
      answered = true;
      return res;
    } finally {
      cancel();
      // The deadline won: a response that still arrives has nobody to go to.
      if (!answered && controller.signal.aborted) void inner.then((res) => this.#deps.discard?.(res), noop);
    }
  }

  close(): Promise<void> {
    return this.#inner.close?.() ?? Promise.resolve();
  }
}

export function deadlineLayer<Req, Res>(params: DeadlineParams, deps: DeadlineLayerDeps<Req, Res>): Layer<Service<Req, Res>, Service<Req, Res>> {
  const route = params.routeTimeoutMs === undefined ? 'no route timeout' : `route ${params.routeTimeoutMs} ms`;
  return { role: `deadline (${route})`, wrap: (inner) => new Deadline<Req, Res>(params, deps, inner) };
}
