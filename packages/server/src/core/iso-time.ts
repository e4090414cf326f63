/**
 * ISO 8601 of a time in ms. Events of one commit, and deliveries of one batch, share their
 * millisecond, so the last answer is kept: most calls cost a comparison instead of a Date.
 */
let lastMs = Number.NaN;
let lastIso = '';

export function isoTime(ms: number): string {
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}

let lastParsed = '';
let lastParsedMs = Number.NaN;

/** The ms of an ISO 8601 time, kept for the last one asked for (a batch's events share theirs). */
export function msOfIso(iso: string): number {
  if (iso !== lastParsed) {
    lastParsed = iso;
    lastParsedMs = Date.parse(iso);
  }
  return lastParsedMs;
}
