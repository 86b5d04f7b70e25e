// The balancer as a stack layer: it wraps the endpoint stack (a NewService that builds one Service per
// endpoint: breaker → pool → connection) and returns one Service for the concrete backend, fed with
// discovery updates. Per call: pick an endpoint (skipping ejected ones and the ones this request
// already tried), count it pending, and record the round trip into its peak-EWMA.
// The round trip ends when the endpoint Service resolves (response head), as tower's
// `CompleteOnResponse` does; streaming the body is not latency the balancer can act on.
import type { Clock } from '../time/clock.ts';
import { WeftError } from '../errors.ts';
import type { CallContext, Layer, NewService, Service } from '../stack/service.ts';
import type { ApertureParams } from './aperture.ts';
import { AperturePicker, apertureParams } from './aperture.ts';
import type { EndpointAddress, EndpointUpdate, SetNode, UpdateSummary } from './endpoint-set.ts';
import { EndpointSet } from './endpoint-set.ts';
import { P2cPicker } from './p2c.ts';
import type { PeakEwmaParams } from './peak-ewma.ts';
import { PeakEwma, peakEwmaParams, validatePeakEwmaParams } from './peak-ewma.ts';
import type { Exclusion, PanicParams, Picker, PickNode } from './pick.ts';
import { panicParams } from './pick.ts';
import type { Random } from './random.ts';
import { RoundRobinPicker } from './round-robin.ts';

export type BalanceAlgorithm = 'p2c-peak-ewma' | 'p2c-least-loaded' | 'round-robin' | 'aperture';

export interface BalanceParams {
  /** Linkerd 2 balances with P2C + peak-EWMA; Linkerd 1 offered all four. */
  readonly algorithm: BalanceAlgorithm;
  readonly peakEwma: PeakEwmaParams;
  readonly aperture: ApertureParams;
  readonly panic: PanicParams;
}

export const balanceParams: BalanceParams = {
  algorithm: 'p2c-peak-ewma',
  peakEwma: peakEwmaParams,
  aperture: apertureParams,
  panic: panicParams,
};

export interface BalanceDeps {
  readonly clock: Clock;
  readonly random: Random;
  /** An endpoint service failed to close after its endpoint left; for the log. */
  readonly onCloseError?: (key: string, error: unknown) => void;
}

/** An endpoint Service may say it is ejected (the breaker layer does); the balancer then avoids it. */
export interface EndpointService<Req, Res> extends Service<Req, Res> {
  available?(): boolean;
}

/** The context a retry hands down: which endpoints this request already tried. */
export interface AttemptContext extends CallContext {
  readonly tried?: Exclusion | undefined;
}

export interface EndpointSnapshot {
  readonly key: string;
  readonly pending: number;
  readonly rttMs: number;
  readonly available: boolean;
}

export interface BalancerSnapshot {
  readonly algorithm: string;
  readonly pending: number;
  readonly endpoints: readonly EndpointSnapshot[];
  /** Aperture only: the endpoints in the window. */
  readonly window?: readonly string[];
}

export interface Balancer<Req, Res, T extends EndpointAddress> extends Service<Req, Res> {
  call(req: Req, cx: AttemptContext): Promise<Res>;
  /** Applies a discovery update; endpoints that stay keep their load, latency and breaker. */
  update(update: EndpointUpdate<T>): UpdateSummary;
  snapshot(): BalancerSnapshot;
  close(): Promise<void>;
}

class EndpointNode<T, Req, Res> implements PickNode, SetNode {
  readonly key: string;
  endpoint: T;
  index = -1;
  pending = 0;
  readonly ewma: PeakEwma;
  readonly service: EndpointService<Req, Res>;

  constructor(key: string, endpoint: T, service: EndpointService<Req, Res>, ewma: PeakEwma) {
    this.key = key;
    this.endpoint = endpoint;
    this.service = service;
    this.ewma = ewma;
  }

  available(): boolean {
    return this.service.available === undefined || this.service.available();
  }
}

function newPicker<N extends PickNode>(params: BalanceParams, random: Random): Picker<N> {
  switch (params.algorithm) {
    case 'p2c-peak-ewma':
      return new P2cPicker<N>('peak-ewma', random, params.panic);
    case 'p2c-least-loaded':
      return new P2cPicker<N>('least-loaded', random, params.panic);
    case 'round-robin':
      return new RoundRobinPicker<N>(random, params.panic);
    case 'aperture':
      return new AperturePicker<N>(params.aperture, random, params.panic);
  }
}

class BalancerService<Req, Res, T extends EndpointAddress> implements Balancer<Req, Res, T> {
  readonly #params: BalanceParams;
  readonly #deps: BalanceDeps;
  readonly #newEndpoint: NewService<T, EndpointService<Req, Res>>;
  readonly #picker: Picker<EndpointNode<T, Req, Res>>;
  readonly #set: EndpointSet<T, EndpointNode<T, Req, Res>>;
  readonly #closing = new Set<Promise<void>>();
  #pending = 0;
  #closed = false;

  constructor(params: BalanceParams, deps: BalanceDeps, newEndpoint: NewService<T, EndpointService<Req, Res>>) {
    this.#params = params;
    this.#deps = deps;
    this.#newEndpoint = newEndpoint;
    this.#picker = newPicker(params, deps.random);
    this.#set = new EndpointSet<T, EndpointNode<T, Req, Res>>({
      create: (endpoint, key) => {
        const node = new EndpointNode<T, Req, Res>(key, endpoint, this.#newEndpoint(endpoint), new PeakEwma(this.#params.peakEwma, this.#deps.clock.now()));
        this.#picker.added?.(node);
        return node;
      },
      changed: (node, endpoint) => {
        node.endpoint = endpoint;
      },
      removed: (node) => {
        this.#picker.removed?.(node);
        this.#closeEndpoint(node);
      },
    });
  }

  update(update: EndpointUpdate<T>): UpdateSummary {
    if (this.#closed) return { added: 0, removed: 0, kept: 0 };
    const summary = this.#set.apply(update);
    this.#picker.loadChanged?.(this.#pending, this.#set.size, this.#deps.clock.now());
    return summary;
  }

  async call(req: Req, cx: AttemptContext): Promise<Res> {
    if (this.#closed) {
      throw new WeftError('WEFT_E_BALANCE_CLOSED', 'balancer is closed: the backend was removed or the agent is stopping', { flags: { rejected: true } });
    }
    const clock = this.#deps.clock;
    const tried = cx.tried;
    const start = clock.now();
    const node = this.#picker.pick(this.#set.nodes, tried, start);
    if (node === undefined) throw this.#noEndpoint();
    tried?.add(node.key);
    node.pending += 1;
    this.#pending += 1;
    this.#picker.loadChanged?.(this.#pending, this.#set.size, start);
    try {
      const res = await node.service.call(req, cx);
      const end = clock.now();
      node.ewma.observe(end - start, end);
      return res;
    } catch (error) {
      const end = clock.now();
      node.ewma.observeFailure(end - start, end);
      throw error;
    } finally {
      node.pending -= 1;
      this.#pending -= 1;
      this.#picker.loadChanged?.(this.#pending, this.#set.size, clock.now());
    }
  }

  snapshot(): BalancerSnapshot {
    const now = this.#deps.clock.now();
    const endpoints = this.#set.nodes.map((node) => ({
      key: node.key,
      pending: node.pending,
      rttMs: node.ewma.estimate(now),
      available: node.available(),
    }));
    endpoints.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const picker = this.#picker;
    return picker instanceof AperturePicker
      ? { algorithm: picker.name, pending: this.#pending, endpoints, window: picker.windowKeys() }
      : { algorithm: picker.name, pending: this.#pending, endpoints };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#set.clear();
    await Promise.all([...this.#closing]);
  }

  #closeEndpoint(node: EndpointNode<T, Req, Res>): void {
    const service = node.service;
    if (service.close === undefined) return;
    // Requests already sent keep running; closing is the endpoint stack's job to do gracefully.
    const closing: Promise<void> = service.close().then(
      () => this.#forget(closing),
      (error: unknown) => {
        this.#forget(closing);
        this.#deps.onCloseError?.(node.key, error);
      },
    );
    this.#closing.add(closing);
  }

  #forget(closing: Promise<void>): void {
    this.#closing.delete(closing);
  }

  #noEndpoint(): WeftError {
    if (this.#set.size === 0) {
      return new WeftError('WEFT_E_BALANCE_NO_ENDPOINTS', 'no endpoints: discovery has none for this backend; check the Service selector and pod readiness', {
        flags: { rejected: true },
      });
    }
    return new WeftError(
      'WEFT_E_BALANCE_ALL_EJECTED',
      `all ${this.#set.size} endpoints are ejected by failure accrual and panic mode is off (panicThresholdPercent ${this.#params.panic.panicThresholdPercent})`,
      { flags: { rejected: true } },
    );
  }
}

/**
 * Builds balancers: `wrap(newEndpoint)` gives one balancer for a concrete backend, which makes one
 * endpoint Service per discovered address with `newEndpoint` and closes it when the address leaves.
 */
export function balanceLayer<Req, Res, T extends EndpointAddress>(
  params: BalanceParams,
  deps: BalanceDeps,
): Layer<NewService<T, EndpointService<Req, Res>>, Balancer<Req, Res, T>> {
  validatePeakEwmaParams(params.peakEwma);
  // Build one picker now so bad aperture/panic params fail at configuration, not on first use.
  newPicker(params, deps.random);
  return {
    role: `balance ${params.algorithm === 'aperture' ? `aperture-${params.aperture.load}` : params.algorithm}`,
    wrap: (newEndpoint) => new BalancerService<Req, Res, T>(params, deps, newEndpoint),
  };
}
