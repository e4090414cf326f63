const noop = (): void => undefined;

/**
 * Runs tasks one after another, in the order they were handed over: each starts once the one before
 * it settled, whether that one succeeded or failed. An idle queue keeps no settled promise.
 */
export class InTurn {
  private last: Promise<void> | undefined;

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = (this.last ?? Promise.resolve()).then(task);
    const settled = result.then(noop, noop);
    this.last = settled;
    void settled.then(() => {
      if (this.last === settled) this.last = undefined;
    });
    return result;
  }

  /** Resolves once no task is queued or running. */
  async idle(): Promise<void> {
    while (this.last) await this.last;
  }
}
