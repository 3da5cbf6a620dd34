/** Small statistics and process helpers shared by the benchmark sections. */
import { performance } from "node:perf_hooks";

/** High-resolution epoch milliseconds, comparable across processes on one machine. */
export const preciseNow = (): number => performance.timeOrigin + performance.now();

/** Median of a non-empty list; NaN for an empty one. */
export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/**
 * Median that, for an even count, is the mean of the two middle values (`median` takes
 * the lower one). Alternated rounds (A B, B A, ...) need it: with the lower one, the side
 * whose lower-middle round ran later gains from any drift over the run.
 */
export function midMedian(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const half = sorted.length >> 1;
  const upper = sorted[half] ?? Number.NaN;
  return sorted.length % 2 === 1 ? upper : ((sorted[half - 1] ?? Number.NaN) + upper) / 2;
}

/** Nearest-rank percentile (p in 0..100) of a list; NaN for an empty one. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] ?? Number.NaN;
}

/** Milliseconds from a high-resolution start mark. */
export function msSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Formats a number with a fixed number of decimals, or "n/a". */
export function fmt(value: number, decimals = 0): string {
  return Number.isFinite(value) ? value.toFixed(decimals) : "n/a";
}
