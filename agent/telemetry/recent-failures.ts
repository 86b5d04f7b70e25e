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

/** The reason shown for a failed response: weft's message, or the upstream's status. */
export function failureReason(status: number, grpcStatus: number | undefined, error: string | undefined, message: string | undefined): string {
  if (message !== undefined && message !== '') return error === undefined ? message : `${error}: ${message}`;
  if (error !== undefined) return error;
  if (grpcStatus !== undefined && grpcStatus !== 0) return `upstream answered gRPC status ${grpcStatus}`;
  return `upstream answered HTTP ${status}`;
}
