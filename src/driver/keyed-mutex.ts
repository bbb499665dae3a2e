// One operation at a time per key (a layer id); different keys run concurrently.

export class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>();

  /** Runs `operation` once every earlier operation on `key` has settled. */
  async run<T>(key: string, operation: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const current = previous.then(operation, operation);
    const tail = current.catch(() => undefined);
    this.tails.set(key, tail);
    try {
      return await current;
    } finally {
      // The last one out forgets the key, so the map does not grow with every id seen.
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
