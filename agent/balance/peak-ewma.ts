// Peak-EWMA latency estimate (Finagle `PeakEwma`, tower `load::PeakEwma` as used by linkerd2-proxy):
// an exponentially weighted moving average of round-trip times that is deliberately pessimistic.
// - A sample above the current estimate replaces it at once (the "peak"), so one slow response
//   steers traffic away immediately instead of being averaged into obscurity.
// - A sample below it is blended in with weight 1 - e^(-Δt/decay): time-based, not count-based, so
//   the estimate moves at the same speed whatever the request rate.
// - Read while idle, the estimate decays toward zero, so an endpoint that was slow long ago gets
//   traffic again and is re-measured (tower decays on every load read; we project without mutating).
// Cost for P2C = estimate × (pending + 1): latency times the work already queued there.
import { WeftError } from '../errors.ts';

export interface PeakEwmaParams {
  /** Estimate for an endpoint with no samples yet. linkerd2-proxy: 30 ms (DEFAULT_EWMA). */
  readonly defaultRttMs: number;
  /** Time constant of the decay. linkerd2-proxy: 10 s. */
  readonly decayMs: number;
}

export const peakEwmaParams: PeakEwmaParams = { defaultRttMs: 30, decayMs: 10_000 };

export function validatePeakEwmaParams(params: PeakEwmaParams): void {
  if (!(params.defaultRttMs > 0 && Number.isFinite(params.defaultRttMs))) {
    throw new WeftError('WEFT_E_BALANCE_PARAMS', `peak-EWMA defaultRttMs must be a positive number, got ${params.defaultRttMs}`);
  }
  if (!(params.decayMs >= 1 && Number.isFinite(params.decayMs))) {
    throw new WeftError('WEFT_E_BALANCE_PARAMS', `peak-EWMA decayMs must be at least 1 ms, got ${params.decayMs}`);
  }
}

export class PeakEwma {
  readonly #decayMs: number;
  #value: number;
  #at: number;

  /** `now` is the clock's time at creation: the default estimate starts decaying from there. */
  constructor(params: PeakEwmaParams, now: number) {
    this.#decayMs = params.decayMs;
    this.#value = params.defaultRttMs;
    this.#at = now;
  }

  /** The estimate projected to `now` (decayed toward zero since the last sample); no mutation. */
  estimate(now: number): number {
    const elapsed = now - this.#at;
    if (elapsed <= 0) return this.#value;
    return this.#value * Math.exp(-elapsed / this.#decayMs);
  }

  /** P2C cost: latency estimate × (requests pending on the endpoint + this one). */
  cost(pending: number, now: number): number {
    return this.estimate(now) * (pending + 1);
  }

  /** Records one round trip that ended at `now`. */
  observe(rttMs: number, now: number): void {
    if (!(rttMs >= 0)) return; // NaN or negative: a clock oddity, not a measurement.
    const elapsed = now - this.#at;
    if (elapsed < 0) return; // out of order; the newer sample already counted.
    const projected = elapsed === 0 ? this.#value : this.#value * Math.exp(-elapsed / this.#decayMs);
    if (rttMs > projected) {
      this.#value = rttMs;
    } else {
      const keep = Math.exp(-elapsed / this.#decayMs);
      this.#value = this.#value * keep + rttMs * (1 - keep);
    }
    this.#at = now;
  }

  /**
   * Records a failed round trip: a failure never makes the endpoint look faster than the current
   * estimate. Otherwise an endpoint that fails fast (connection refused in 1 ms) would attract
   * more traffic under P2C just as it breaks; the breaker ejects it, and until then this keeps it
   * from winning on speed.
   */
  observeFailure(rttMs: number, now: number): void {
    if (now < this.#at) return;
    const current = this.estimate(now);
    if (rttMs > current) {
      this.observe(rttMs, now);
    } else {
      this.#value = current;
      this.#at = now;
    }
  }
}
