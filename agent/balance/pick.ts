// What every picker shares: the node shape it reads, per-request exclusions, and the rules for an
// endpoint that is ejected or already tried.
// - Preferred: available (its breaker is closed, or half-open with the probe slot free) and not yet
//   tried by this request. Pickers sample preferred nodes in O(1) with a bounded number of draws
//   (Finagle's `maxEffort`), which succeeds almost always when most endpoints are healthy.
// - If the draws fail, one O(n) pass decides. Panic (Envoy's panic threshold, Finagle `PanicMode`):
//   if more than X % of endpoints are ejected, ejection is ignored, because sending to all of them
//   beats sending to none or piling everything onto the few left. Exclusion is only a preference: a
//   retry goes back to the endpoint that failed when nothing else can take it.
import { WeftError } from '../errors.ts';
import type { PeakEwma } from './peak-ewma.ts';
import type { Random } from './random.ts';
import { randomIndex } from './random.ts';

/** The endpoints one request already tried; the retry layer owns it, the balancer reads and adds. */
export interface Exclusion {
  has(key: string): boolean;
  add(key: string): void;
}

export interface PickNode {
  readonly key: string;
  /** Requests sent to this endpoint and not yet answered. */
  readonly pending: number;
  readonly ewma: PeakEwma;
  /** False while ejected: breaker open, or half-open with its one probe already out. */
  available(): boolean;
}

export interface Picker<N extends PickNode> {
  /** Shown on /status, e.g. "p2c-peak-ewma". */
  readonly name: string;
  /** One endpoint for this request, or undefined if there is none to use. */
  pick(nodes: readonly N[], exclude: Exclusion | undefined, now: number): N | undefined;
  /** The endpoint set changed (aperture keeps its own order). */
  added?(node: N): void;
  removed?(node: N): void;
  /** Total requests pending across the balancer changed (aperture sizes itself on it). */
  loadChanged?(totalPending: number, nodeCount: number, now: number): void;
}

export interface PanicParams {
  /** Above this percentage of ejected endpoints, ejection is ignored. 100 disables panic. Envoy: 50. */
  readonly panicThresholdPercent: number;
  /** Random draws per choice before the O(n) pass. Finagle's default `maxEffort` is 5. */
  readonly maxEffort: number;
}

export const panicParams: PanicParams = { panicThresholdPercent: 50, maxEffort: 5 };

export function validatePanicParams(params: PanicParams): void {
  const { panicThresholdPercent: p, maxEffort } = params;
  if (!(p >= 0 && p <= 100)) {
    throw new WeftError('WEFT_E_BALANCE_PARAMS', `panicThresholdPercent must be within 0..100, got ${p}`);
  }
  if (!(Number.isInteger(maxEffort) && maxEffort >= 1)) {
    throw new WeftError('WEFT_E_BALANCE_PARAMS', `maxEffort must be a positive integer, got ${maxEffort}`);
  }
}

export function isPreferred(node: PickNode, exclude: Exclusion | undefined): boolean {
  return node.available() && (exclude === undefined || !exclude.has(node.key));
}

/**
 * The O(n) pass: fills `out` (a reused scratch array, order kept) with the nodes this request may
 * use and returns whether the balancer is in panic. Empty `out` means no endpoint can be used.
 */
export function collectCandidates<N extends PickNode>(
  nodes: readonly N[],
  exclude: Exclusion | undefined,
  panicThresholdPercent: number,
  out: N[],
): boolean {
  out.length = 0;
  let ejected = 0;
  for (const node of nodes) if (!node.available()) ejected += 1;
  const panic = nodes.length > 0 && ejected * 100 > panicThresholdPercent * nodes.length;
  for (const node of nodes) {
    if ((panic || node.available()) && (exclude === undefined || !exclude.has(node.key))) out.push(node);
  }
  if (out.length === 0 && exclude !== undefined) {
    for (const node of nodes) if (panic || node.available()) out.push(node);
  }
  return panic;
}

/** Index of a preferred node among nodes[0..range), found in at most `effort` draws, else -1. */
export function samplePreferred(
  nodes: readonly PickNode[],
  range: number,
  exclude: Exclusion | undefined,
  effort: number,
  random: Random,
  avoid: number,
): number {
  if (range <= 0 || (avoid >= 0 && range === 1)) return -1;
  for (let i = 0; i < effort; i++) {
    let index: number;
    if (avoid < 0) {
      index = randomIndex(random, range);
    } else {
      // Distinct from `avoid` without bias: draw from range - 1 and step over the hole.
      index = randomIndex(random, range - 1);
      if (index >= avoid) index += 1;
    }
    const node = nodes[index];
    if (node !== undefined && isPreferred(node, exclude)) return index;
  }
  return -1;
}

export type LoadMetric = 'peak-ewma' | 'least-loaded';

export function nodeLoad(node: PickNode, metric: LoadMetric, now: number): number {
  return metric === 'peak-ewma' ? node.ewma.cost(node.pending, now) : node.pending;
}

/** Power of two choices over nodes[0..range): the less loaded of two distinct random nodes. */
export function pickTwo<N extends PickNode>(nodes: readonly N[], range: number, metric: LoadMetric, random: Random, now: number): N | undefined {
  if (range <= 0) return undefined;
  if (range === 1) return nodes[0];
  const a = randomIndex(random, range);
  let b = randomIndex(random, range - 1);
  if (b >= a) b += 1;
  return better(nodes[a], nodes[b], metric, now);
}

/** The less loaded of two; ties go to the first (callers draw the pair in random order). */
export function better<N extends PickNode>(a: N | undefined, b: N | undefined, metric: LoadMetric, now: number): N | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return nodeLoad(a, metric, now) <= nodeLoad(b, metric, now) ? a : b;
}
