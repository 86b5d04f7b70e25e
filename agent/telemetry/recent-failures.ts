// The latest failed requests with their reasons, for /status, the status page and `weft status`:
// a fixed ring, newest first when read, so memory stays flat however many requests fail.

export interface FailedRequest {
  /** Wall-clock time, ISO 8601. */
  readonly at: string;
  readonly authority: string;
  /** `namespace/pod` of the caller, or '' when not a pod. */
  readonly source: string;
  readonly status: number;
  readonly grpcStatus: number | undefined;
  /** weft's error code when weft answered itself (l5d-proxy-error), else undefined. */
  readonly error: string | undefined;
  /** Why, in words: weft's error message, or what the upstream answered. */
  readonly reason: string;
  readonly latencyMs: number;
}

export class RecentFailures {
  readonly #capacity: number;
  readonly #ring: FailedRequest[] = [];
  #next = 0;
  #total = 0;

  constructor(capacity = 50) {
    this.#capacity = capacity;
  }

  get total(): number {
    return this.#total;
  }

  add(failure: FailedRequest): void {
    this.#total += 1;
    if (this.#ring.length < this.#capacity) this.#ring.push(failure);
    else this.#ring[this.#next] = failure;
    this.#next = (this.#next + 1) % this.#capacity;
  }

  /** Newest first. */
  list(): FailedRequest[] {
    const out: FailedRequest[] = [];
    for (let i = 1; i <= this.#ring.length; i++) {
      const item = this.#ring[(this.#next - i + this.#capacity * 2) % this.#capacity];
      if (item !== undefined) out.push(item);
    }
    return out;
  }
}

/** What weft's own error answers mean, in words, for the codes a route's requests end with. */
const meanings: Readonly<Record<string, string>> = {
  WEFT_E_HTTP_UPSTREAM: 'upstream connection failed or was reset',
  WEFT_E_RESILIENCE_DEADLINE_EXCEEDED: 'deadline exceeded',
  WEFT_E_RESILIENCE_TRY_TIMEOUT: 'per-try timeout',
  WEFT_E_RESILIENCE_LOAD_SHED: 'load shed: too many requests in flight',
  WEFT_E_RESILIENCE_RETRY_BUDGET_EXHAUSTED: 'retry budget exhausted',
  WEFT_E_BALANCE_NO_ENDPOINTS: 'no endpoints',
  WEFT_E_BALANCE_ALL_EJECTED: 'every endpoint ejected by failure accrual',
  WEFT_E_NAMING_NO_ROUTE: 'no route: the dtab binds the name to nothing',
  WEFT_E_NAMING_EMPTY: 'the name binds to an empty set of endpoints',
  WEFT_E_NAMING_FAILED: 'naming failed',
};

/** The reason shown for a failed response: weft's message, or the upstream's status. */
export function failureReason(status: number, grpcStatus: number | undefined, error: string | undefined, message: string | undefined): string {
  if (message !== undefined && message !== '') return error === undefined ? message : `${message} (${error}, weft answered ${status})`;
  if (error !== undefined) return `${meanings[error] ?? error} (${error}, weft answered ${status})`;
  if (grpcStatus !== undefined && grpcStatus !== 0) return `upstream answered gRPC status ${grpcStatus}`;
  return `upstream answered HTTP ${status}`;
}
