/** "3 s", "4 min", "2 h", "5 d": how long ago a time was, for tables read at a glance. */
export function age(since: number | string | null, now = Date.now()): string {
  if (since === null) return '—';
  const seconds = Math.max(0, Math.round((now - (typeof since === 'number' ? since : Date.parse(since))) / 1000));
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86_400)} d`;
}

/** A share as a percentage with one decimal, "—" when there is nothing to share. */
export function percent(part: number, whole: number): string {
  return whole === 0 ? '—' : `${((100 * part) / whole).toFixed(1)} %`;
}
