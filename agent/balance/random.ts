// Randomness as an injected dependency, like the Clock: pickers, jitter and shuffles take a Random so
// tests replay the exact same choices from a seed, and production uses Math.random.

/** Uniform in [0, 1), as Math.random. */
export type Random = () => number;

export const systemRandom: Random = Math.random;

/**
 * A small seeded generator (mulberry32: 32-bit state, period 2^32), good enough for load-balancing
 * choices and jitter, and deterministic for tests and reproducible runs. Not for anything secret.
 */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A uniform index in [0, n); n must be ≥ 1. Clamped so a generator returning 1 cannot overrun. */
export function randomIndex(random: Random, n: number): number {
  const i = Math.floor(random() * n);
  return i < n ? i : n - 1;
}
