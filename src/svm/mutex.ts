// One holder at a time, in arrival order: the per-SVM mutex that serialises disk and
// mount operations (spec/driver.md §5.1) and the scratch-cache mutex.

export class Mutex {
  private tail: Promise<void> = Promise.resolve();

  /** Runs `work` once every earlier holder has finished (whether it failed or not). */
  run<T>(work: () => Promise<T>): Promise<T> {
    const result = this.tail.then(work);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}
