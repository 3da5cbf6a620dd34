/** Milliseconds since the epoch. Injected so tests can move time without faking globals. */
export type Clock = () => number;

/** The real wall clock. */
export const systemClock: Clock = () => Date.now();
