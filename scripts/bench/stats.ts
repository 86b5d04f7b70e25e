// The bench's arithmetic, pure and unit-tested (test/unit/bench/stats.test.ts): medians, ratios
// over interleaved rounds, a log-linear latency histogram (HdrHistogram's idea at 2 significant
// digits: 64 linear sub-buckets per power of two, so any recorded value is off by < 1/64), and the
// open-loop schedule whose intended send times are the coordinated-omission correction.

/** Median of a list (mean of the middle two when even); NaN when empty. */
export function median(values: readonly number[]): number {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (finite.length === 0) return Number.NaN;
  const mid = finite.length >> 1;
  return finite.length % 2 === 1 ? (finite[mid] ?? Number.NaN) : ((finite[mid - 1] ?? 0) + (finite[mid] ?? 0)) / 2;
}

/**
 * Per-round ratios `a[i] / b[i]` of interleaved rounds, then their median: a round compares two
 * figures taken seconds apart, so a machine that drifts over the run does not bias the result.
 */
export function medianRatio(a: readonly number[], b: readonly number[]): number {
  const ratios: number[] = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x !== undefined && y !== undefined && y > 0) ratios.push(x / y);
  }
  return median(ratios);
}

/** Per-round differences `a[i] - b[i]`, then their median (added latency). */
export function medianDifference(a: readonly number[], b: readonly number[]): number {
  const differences: number[] = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x !== undefined && y !== undefined && Number.isFinite(x) && Number.isFinite(y)) differences.push(x - y);
  }
  return median(differences);
}

const SUB_BITS = 6;
const SUB = 1 << SUB_BITS; // 64 sub-buckets per power of two

/** Bucket index of a non-negative integer value: exact below 128, then 64 per power of two. */
export function bucketOf(value: number): number {
  const v = Math.max(0, Math.floor(value));
  if (v < 2 * SUB) return v;
  const exponent = Math.floor(Math.log2(v)) - SUB_BITS; // ≥ 1
  return (exponent + 1) * SUB + (Math.floor(v / 2 ** exponent) - SUB); // not >>: values pass 2^31
}

/** The largest value that falls into bucket `index` (a percentile is reported as its bucket's top). */
export function bucketTop(index: number): number {
  if (index < 2 * SUB) return index;
  const exponent = Math.floor(index / SUB) - 1;
  const sub = (index % SUB) + SUB;
  return (sub + 1) * 2 ** exponent - 1;
}

export interface HistogramJson {
  readonly counts: Readonly<Record<string, number>>;
  readonly total: number;
  readonly max: number;
}

/** Latencies in whole microseconds. */
export class Histogram {
  readonly #counts = new Map<number, number>();
  #total = 0;
  #max = 0;

  static fromJSON(json: HistogramJson): Histogram {
    const h = new Histogram();
    for (const [index, count] of Object.entries(json.counts)) h.#add(Number(index), count);
    h.#max = Math.max(h.#max, json.max);
    return h;
  }

  get total(): number {
    return this.#total;
  }

  get max(): number {
    return this.#max;
  }

  record(valueUs: number, count = 1): void {
    this.#add(bucketOf(valueUs), count);
    this.#max = Math.max(this.#max, Math.floor(valueUs));
  }

  merge(other: Histogram): void {
    for (const [index, count] of other.#counts) this.#add(index, count);
    this.#max = Math.max(this.#max, other.#max);
  }

  /** The value at percentile `p` (0–100): the top of the bucket holding the ⌈p/100 · n⌉-th value. */
  percentile(p: number): number {
    if (this.#total === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.#total));
    let seen = 0;
    for (const index of [...this.#counts.keys()].sort((a, b) => a - b)) {
      seen += this.#counts.get(index) ?? 0;
      if (seen >= rank) return Math.min(bucketTop(index), this.#max);
    }
    return this.#max;
  }

  toJSON(): HistogramJson {
    return { counts: Object.fromEntries(this.#counts), total: this.#total, max: this.#max };
  }

  #add(index: number, count: number): void {
    this.#counts.set(index, (this.#counts.get(index) ?? 0) + count);
    this.#total += count;
  }
}

/**
 * The open-loop schedule (wrk2's): request `i` is due at `start + i / rate`, whatever happened to
 * earlier ones. `connections` keep-alive connections take requests in turn (i mod connections), so
 * each sends at rate/connections and never pipelines: a request whose connection is still busy
 * waits, and that wait counts.
 */
export function intendedTime(startMs: number, ratePerSecond: number, index: number): number {
  return startMs + (index * 1000) / ratePerSecond;
}

/**
 * Coordinated-omission correction: latency is measured from when the request was due, not from
 * when the (possibly stalled) generator got round to sending it. With a stall of S ms, a closed
 * loop records one slow request; this records every request that should have gone out meanwhile
 * with the time it was kept waiting.
 */
export function correctedLatencyUs(intendedMs: number, completedMs: number): number {
  return Math.max(0, (completedMs - intendedMs) * 1000);
}
