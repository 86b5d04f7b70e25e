// A route's recent request outcomes, for SLOs and the status page: counts (requests, failures,
// requests slower than a threshold) per 10 s bucket over the last hour, and a latency histogram per
// bucket over the last 5 minutes for p50/p99. Pure: time comes in as an argument (monotonic ms).
//
// Counts are a ring of buckets keyed by bucket number (floor(now / bucketMs)); a slot holding an
// older bucket number is stale and reads as empty. A window of W ms is the last W / bucketMs buckets,
// the current partial one included, as Prometheus' rate() over a range is.
//
// Quantiles come from fixed log-spaced latency bounds (each 20 % above the last, 0.25 ms to ~2 min),
// interpolated within the bucket that holds the rank, so an estimate is within 20 % of the true
// value. That is finer than Linkerd's response_latency_ms buckets and needs no dependency: the
// memory per route is fixed (about 13 KB), which a streaming sketch or HdrHistogram would not beat
// at this resolution.

export interface OutcomeWindowParams {
  readonly bucketMs: number;
  /** Buckets of counts kept: bucketMs × countBuckets is the longest window (1 h). */
  readonly countBuckets: number;
  /** Buckets with a latency histogram: bucketMs × latencyBuckets is the quantile window (5 m). */
  readonly latencyBuckets: number;
}

export const outcomeWindowParams: OutcomeWindowParams = { bucketMs: 10_000, countBuckets: 360, latencyBuckets: 30 };

/** Upper bounds (ms) of the latency histogram; the last bucket is everything above the last bound. */
export const latencyBounds: readonly number[] = (() => {
  const bounds: number[] = [];
  for (let bound = 0.25; bound < 150_000; bound *= 1.2) bounds.push(bound);
  return bounds;
})();

export interface WindowCounts {
  readonly requests: number;
  readonly failures: number;
  /** Requests slower than the threshold the window was made with. */
  readonly slow: number;
}

export class OutcomeWindow {
  readonly #params: OutcomeWindowParams;
  readonly #slowMs: number;
  // Counts: three per slot (requests, failures, slow), and the bucket number each slot holds.
  readonly #counts: Float64Array;
  readonly #countEpoch: Float64Array;
  readonly #latency: Uint32Array;
  readonly #latencyEpoch: Float64Array;
  #lastEpoch = -Infinity;

  /** `slowMs`: a request that took longer than this counts as slow (the latency objective). */
  constructor(slowMs: number, params: OutcomeWindowParams = outcomeWindowParams) {
    this.#params = params;
    this.#slowMs = slowMs;
    this.#counts = new Float64Array(params.countBuckets * 3);
    this.#countEpoch = new Float64Array(params.countBuckets).fill(-1);
    this.#latency = new Uint32Array(params.latencyBuckets * (latencyBounds.length + 1));
    this.#latencyEpoch = new Float64Array(params.latencyBuckets).fill(-1);
  }

  get slowMs(): number {
    return this.#slowMs;
  }

  /** Monotonic time of the latest record, or -Infinity. */
  get lastRecordAt(): number {
    return this.#lastEpoch === -Infinity ? -Infinity : this.#lastEpoch * this.#params.bucketMs;
  }

  record(now: number, success: boolean, latencyMs: number): void {
    const epoch = Math.floor(now / this.#params.bucketMs);
    this.#lastEpoch = Math.max(this.#lastEpoch, epoch);
    const slot = epoch % this.#params.countBuckets;
    if (this.#countEpoch[slot] !== epoch) {
      this.#countEpoch[slot] = epoch;
      this.#counts.fill(0, slot * 3, slot * 3 + 3);
    }
    this.#counts[slot * 3] = (this.#counts[slot * 3] ?? 0) + 1;
    if (!success) this.#counts[slot * 3 + 1] = (this.#counts[slot * 3 + 1] ?? 0) + 1;
    if (latencyMs > this.#slowMs) this.#counts[slot * 3 + 2] = (this.#counts[slot * 3 + 2] ?? 0) + 1;

    const width = latencyBounds.length + 1;
    const lslot = epoch % this.#params.latencyBuckets;
    if (this.#latencyEpoch[lslot] !== epoch) {
      this.#latencyEpoch[lslot] = epoch;
      this.#latency.fill(0, lslot * width, lslot * width + width);
    }
    const index = lslot * width + boundIndex(latencyMs);
    this.#latency[index] = (this.#latency[index] ?? 0) + 1;
  }

  /** Counts over the last `windowMs` (whole buckets, the current one included). */
  counts(now: number, windowMs: number): WindowCounts {
    const current = Math.floor(now / this.#params.bucketMs);
    const buckets = Math.min(this.#params.countBuckets, Math.max(1, Math.round(windowMs / this.#params.bucketMs)));
    let requests = 0;
    let failures = 0;
    let slow = 0;
    for (let epoch = current - buckets + 1; epoch <= current; epoch++) {
      if (epoch < 0) continue;
      const slot = epoch % this.#params.countBuckets;
      if (this.#countEpoch[slot] !== epoch) continue;
      requests += this.#counts[slot * 3] ?? 0;
      failures += this.#counts[slot * 3 + 1] ?? 0;
      slow += this.#counts[slot * 3 + 2] ?? 0;
    }
    return { requests, failures, slow };
  }

  /**
   * Latency quantiles (0 < q ≤ 1) over the histogram window, in ms; undefined without requests.
   * Estimated by linear interpolation inside the bucket holding the rank.
   */
  quantiles(now: number, qs: readonly number[]): Array<number | undefined> {
    const width = latencyBounds.length + 1;
    const merged = new Float64Array(width);
    const current = Math.floor(now / this.#params.bucketMs);
    let total = 0;
    for (let epoch = current - this.#params.latencyBuckets + 1; epoch <= current; epoch++) {
      if (epoch < 0) continue;
      const slot = epoch % this.#params.latencyBuckets;
      if (this.#latencyEpoch[slot] !== epoch) continue;
      for (let i = 0; i < width; i++) {
        const n = this.#latency[slot * width + i] ?? 0;
        merged[i] = (merged[i] ?? 0) + n;
        total += n;
      }
    }
    return qs.map((q) => (total === 0 ? undefined : quantileOf(merged, total, q)));
  }
}

function boundIndex(latencyMs: number): number {
  // Binary search for the first bound ≥ latency.
  let low = 0;
  let high = latencyBounds.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if ((latencyBounds[mid] ?? Infinity) >= latencyMs) high = mid;
    else low = mid + 1;
  }
  return low;
}

function quantileOf(histogram: Float64Array, total: number, q: number): number {
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let i = 0; i < histogram.length; i++) {
    const n = histogram[i] ?? 0;
    if (seen + n >= rank) {
      const lower = i === 0 ? 0 : (latencyBounds[i - 1] ?? 0);
      // Above the last bound there is no upper edge: report the bound itself.
      const upper = latencyBounds[i] ?? lower;
      return lower + (upper - lower) * ((rank - seen) / n);
    }
    seen += n;
  }
  return latencyBounds[latencyBounds.length - 1] ?? 0;
}
