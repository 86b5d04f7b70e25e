// Time as an injected dependency: algorithms and layers take a Clock so tests drive time, and
// deadlines are absolute monotonic instants (never wall-clock, which jumps).

export interface Clock {
  /** Monotonic milliseconds (fractional), comparable only with other values of the same clock. */
  now(): number;
  /** Runs `fn` after `ms`; the returned function cancels it. */
  setTimer(ms: number, fn: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimer(ms, fn) {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return () => clearTimeout(timer);
  },
};
