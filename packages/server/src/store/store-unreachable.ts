/**
 * Whether an error means the database could not be reached or did not answer in time (a connection
 * refused, reset or ended, a pool that could not connect, a statement cancelled by
 * DATABASE_STATEMENT_TIMEOUT_MS), as opposed to a bug or a refused write. Such a request may be sent
 * again: an append that did not commit stored nothing, and one whose COMMIT went through before the
 * connection broke is stored once when it is sent again with the same producer id.
 */
export function isStoreUnreachable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    // PostgreSQL's connection exceptions (class 08), a statement cancelled by its timeout, a server shutting down or starting.
    if (code.startsWith('08') || code === '57014' || code === '57P01' || code === '57P02' || code === '57P03') return true;
    if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH'].includes(code)) return true;
  }
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended|Query read timeout/i.test(error.message);
}
