// Round robin (Finagle `roundRobin`, Linkerd 1 `roundRobin`): each endpoint in turn, blind to load.
// Useful when endpoints are identical and requests uniform, or to make traffic predictable in a
// test. Ejected and already-tried endpoints are stepped over; the cursor starts at a random offset
// so that many agents do not all begin on the same endpoint.
import type { Exclusion, PanicParams, Picker, PickNode } from './pick.ts';
import { collectCandidates, isPreferred, panicParams, validatePanicParams } from './pick.ts';
import type { Random } from './random.ts';
import { randomIndex } from './random.ts';

export class RoundRobinPicker<N extends PickNode> implements Picker<N> {
  readonly name = 'round-robin';
  readonly #panic: PanicParams;
  readonly #scratch: N[] = [];
  #cursor: number;

  constructor(random: Random, panic: PanicParams = panicParams) {
    validatePanicParams(panic);
    this.#panic = panic;
    this.#cursor = randomIndex(random, 1 << 30);
  }

  pick(nodes: readonly N[], exclude: Exclusion | undefined, _now: number): N | undefined {
    const n = nodes.length;
    if (n === 0) return undefined;
    for (let step = 0; step < n; step++) {
      const node = nodes[this.#next() % n];
      if (node !== undefined && isPreferred(node, exclude)) return node;
    }
    const candidates = this.#scratch;
    collectCandidates(nodes, exclude, this.#panic.panicThresholdPercent, candidates);
    const chosen = candidates.length === 0 ? undefined : candidates[this.#next() % candidates.length];
    candidates.length = 0;
    return chosen;
  }

  #next(): number {
    const value = this.#cursor;
    // Wrap well below 2^53 so the modulo stays exact forever.
    this.#cursor = value >= 0x3fffffff ? 0 : value + 1;
    return value;
  }
}
