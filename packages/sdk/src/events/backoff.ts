/** Exponential backoff with full jitter: a random delay in [0, min(max, base·2^(attempt−1))]. */
export function fullJitter(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
  return Math.round(random() * ceiling);
}
