// Aperture (Finagle `ApertureLeastLoaded` with its `LoadBand` controller): P2C over a window of the
// first k endpoints of a random order, where k follows the offered load. A client with little
// traffic talks to few endpoints (fewer connections, warmer pools, less fan-in per server); as its
// load grows the window widens one endpoint at a time, and narrows again when load falls.
// - The order is shuffled per balancer, so different agents' windows cover different endpoints.
//   Endpoints that stay keep their place across updates (no reshuffle, no churn); a new endpoint
//   lands at a random place.
// - Load band: an EMA of the total pending requests (window `smoothWinMs`) divided by k. At or
//   above `highLoad` per endpoint, widen; at or below `lowLoad`, narrow; never below `minAperture`.
import { WeftError } from '../errors.ts';
import type { Exclusion, LoadMetric, PanicParams, Picker, PickNode } from './pick.ts';
import { better, collectCandidates, panicParams, pickTwo, samplePreferred, validatePanicParams } from './pick.ts';
import type { Random } from './random.ts';
import { randomIndex } from './random.ts';

export interface ApertureParams {
  /** Smoothing window of the offered-load EMA. Finagle `Balancers.aperture`: 15 s. */
  readonly smoothWinMs: number;
  /** Narrow when the smoothed load per endpoint is at or below this. Finagle: 0.875. */
  readonly lowLoad: number;
  /** Widen when the smoothed load per endpoint is at or above this. Finagle: 1.125. */
  readonly highLoad: number;
  /** Smallest window (clamped to the number of endpoints). Finagle: 1. */
  readonly minAperture: number;
  /** Load compared inside the window. Finagle's `aperture` is least-loaded; `AperturePeakEwma` exists too. */
  readonly load: LoadMetric;
}

export const apertureParams: ApertureParams = {
  smoothWinMs: 15_000,
  lowLoad: 0.875,
  highLoad: 1.125,
  minAperture: 1,
  load: 'least-loaded',
};

export function validateApertureParams(params: ApertureParams): void {
  const problems: string[] = [];
  if (!(params.smoothWinMs > 0)) problems.push(`smoothWinMs must be positive, got ${params.smoothWinMs}`);
  if (!(params.lowLoad >= 0 && params.lowLoad < params.highLoad)) {
    problems.push(`need 0 <= lowLoad < highLoad, got ${params.lowLoad} and ${params.highLoad}`);
  }
  if (!(Number.isInteger(params.minAperture) && params.minAperture >= 1)) {
    problems.push(`minAperture must be a positive integer, got ${params.minAperture}`);
  }
  if (problems.length > 0) throw new WeftError('WEFT_E_BALANCE_PARAMS', `aperture: ${problems.join('; ')}`);
}

/** The load-band controller alone: decides the window size from the offered load. */
export class LoadBand {
  readonly #params: ApertureParams;
  #aperture: number;
  #ema = 0;
  #at = Number.NaN;

  constructor(params: ApertureParams) {
    validateApertureParams(params);
    this.#params = params;
    this.#aperture = params.minAperture;
  }

  get aperture(): number {
    return this.#aperture;
  }

  /** The smoothed offered load (total pending requests). */
  get offeredLoad(): number {
    return this.#ema;
  }

  /** Window size to use for `nodeCount` endpoints: the controller's size, clamped. */
  window(nodeCount: number): number {
    const min = Math.min(this.#params.minAperture, nodeCount);
    return Math.max(min, Math.min(this.#aperture, nodeCount));
  }

  /** Feeds the current total of pending requests; widens or narrows by one step at most. */
  update(totalPending: number, nodeCount: number, now: number): void {
    if (Number.isNaN(this.#at)) {
      this.#ema = totalPending;
    } else {
      const elapsed = Math.max(0, now - this.#at);
      const keep = Math.exp(-elapsed / this.#params.smoothWinMs);
      this.#ema = totalPending * (1 - keep) + this.#ema * keep;
    }
    this.#at = now;
    // Keep the controller's own size inside what exists, so a shrunken set cannot leave it stuck.
    const min = Math.min(this.#params.minAperture, Math.max(1, nodeCount));
    const max = Math.max(min, nodeCount);
    if (this.#aperture > max) this.#aperture = max;
    if (this.#aperture < min) this.#aperture = min;
    const perEndpoint = this.#ema / this.#aperture;
    if (perEndpoint >= this.#params.highLoad && this.#aperture < max) this.#aperture += 1;
    else if (perEndpoint <= this.#params.lowLoad && this.#aperture > min) this.#aperture -= 1;
  }
}

export class AperturePicker<N extends PickNode> implements Picker<N> {
  readonly name: string;
  readonly band: LoadBand;
  readonly #params: ApertureParams;
  readonly #random: Random;
  readonly #panic: PanicParams;
  /** Every endpoint, in this balancer's random order; the window is a prefix of it. */
  readonly #order: N[] = [];
  readonly #scratch: N[] = [];

  constructor(params: ApertureParams, random: Random, panic: PanicParams = panicParams) {
    validatePanicParams(panic);
    this.band = new LoadBand(params);
    this.name = `aperture-${params.load}`;
    this.#params = params;
    this.#random = random;
    this.#panic = panic;
  }

  /** The endpoints in the window now, for /status. */
  windowKeys(): string[] {
    return this.#order.slice(0, this.band.window(this.#order.length)).map((node) => node.key);
  }

  added(node: N): void {
    // Insert at a uniformly random place: an incremental shuffle that leaves others where they were.
    const at = randomIndex(this.#random, this.#order.length + 1);
    this.#order.splice(at, 0, node);
  }

  removed(node: N): void {
    const at = this.#order.indexOf(node);
    if (at >= 0) this.#order.splice(at, 1);
  }

  loadChanged(totalPending: number, nodeCount: number, now: number): void {
    this.band.update(totalPending, nodeCount, now);
  }

  pick(_nodes: readonly N[], exclude: Exclusion | undefined, now: number): N | undefined {
    const order = this.#order;
    const n = order.length;
    if (n === 0) return undefined;
    const window = this.band.window(n);
    const metric = this.#params.load;
    const effort = this.#panic.maxEffort;
    if (window === 1) {
      const only = order[0];
      if (only !== undefined && only.available() && (exclude === undefined || !exclude.has(only.key))) return only;
    } else {
      const a = samplePreferred(order, window, exclude, effort, this.#random, -1);
      if (a >= 0) {
        const b = samplePreferred(order, window, exclude, effort, this.#random, a);
        if (b >= 0) return better(order[a], order[b], metric, now);
      }
    }
    // The window is mostly ejected or tried: take the first `window` usable endpoints in order,
    // which is the window slid past the unusable ones.
    const candidates = this.#scratch;
    collectCandidates(order, exclude, this.#panic.panicThresholdPercent, candidates);
    const chosen = pickTwo(candidates, Math.min(window, candidates.length), metric, this.#random, now);
    candidates.length = 0;
    return chosen;
  }
}
