// Power of two choices (Mitzenmacher; linkerd2-proxy `pool/p2c`, Finagle `P2CPick`): draw two
// distinct endpoints at random and send to the less loaded. O(1) per pick, and it avoids the herd
// effect of always choosing the global minimum from stale load figures. The load is either the
// peak-EWMA cost (latency × pending, weft's and Linkerd 2's default) or the pending count alone
// (Finagle's least-loaded, Linkerd 1's default).
import type { Exclusion, LoadMetric, PanicParams, Picker, PickNode } from './pick.ts';
import { better, collectCandidates, panicParams, pickTwo, samplePreferred, validatePanicParams } from './pick.ts';
import type { Random } from './random.ts';

export class P2cPicker<N extends PickNode> implements Picker<N> {
  readonly name: string;
  readonly #metric: LoadMetric;
  readonly #random: Random;
  readonly #panic: PanicParams;
  readonly #scratch: N[] = [];

  constructor(metric: LoadMetric, random: Random, panic: PanicParams = panicParams) {
    validatePanicParams(panic);
    this.name = metric === 'peak-ewma' ? 'p2c-peak-ewma' : 'p2c-least-loaded';
    this.#metric = metric;
    this.#random = random;
    this.#panic = panic;
  }

  pick(nodes: readonly N[], exclude: Exclusion | undefined, now: number): N | undefined {
    const n = nodes.length;
    if (n === 0) return undefined;
    const effort = this.#panic.maxEffort;
    const a = samplePreferred(nodes, n, exclude, effort, this.#random, -1);
    if (a >= 0) {
      const b = samplePreferred(nodes, n, exclude, effort, this.#random, a);
      if (b >= 0) return better(nodes[a], nodes[b], this.#metric, now);
    }
    // Few preferred endpoints (or just one): decide over all of them.
    const candidates = this.#scratch;
    collectCandidates(nodes, exclude, this.#panic.panicThresholdPercent, candidates);
    const chosen = pickTwo(candidates, candidates.length, this.#metric, this.#random, now);
    candidates.length = 0;
    return chosen;
  }
}
