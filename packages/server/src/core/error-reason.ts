/**
 * Why something failed, for an outcome or a log line: the messages of an error and of its causes
 * (clients nest them: `cause`, AggregateError's `errors`), without repeats; an error without causes
 * gives its message alone, anything else its string.
 */
export function reasonOf(error: unknown): string {
  const messages = new Set<string>();
  const walk = (value: unknown, depth: number) => {
    if (!(value instanceof Error) || depth > 3) return;
    if (value.message) messages.add(value.message);
    for (const inner of (value as { errors?: unknown[] }).errors ?? []) walk(inner, depth + 1);
    walk(value.cause, depth + 1);
  };
  walk(error, 0);
  return [...messages].slice(0, 4).join(': ') || String(error);
}
