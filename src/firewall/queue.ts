/**
 * A promise-chain mutex: tasks run one at a time in call order. Adapters use it so
 * that, for example, two concurrent opens of the same rule cannot both decide that
 * no rule exists yet and insert two.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  /** Runs `task` after every task queued before it; resolves or rejects with its result. */
  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    // A failed task must not stop the ones queued after it.
    this.tail = result.catch(() => undefined);
    return result;
  }
}
