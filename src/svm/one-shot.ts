// A signal that fires exactly once and carries an optional error: the start and stop
// signals of a service VM (spec/driver.md §5.1). Waiting after it fired returns at once.

export class OneShot {
  private fired = false;
  private error: Error | undefined;
  private readonly done: Promise<void>;
  private release!: () => void;

  constructor() {
    this.done = new Promise((resolve) => {
      this.release = resolve;
    });
  }

  get hasFired(): boolean {
    return this.fired;
  }

  /** The error it fired with (undefined before it fired, or when it fired clean). */
  get firedError(): Error | undefined {
    return this.error;
  }

  /** Fires; a second call is ignored (the first result stands). */
  fire(error?: Error): void {
    if (this.fired) return;
    this.fired = true;
    this.error = error;
    this.release();
  }

  /** Resolves to the error it fired with, or undefined. */
  async wait(): Promise<Error | undefined> {
    await this.done;
    return this.error;
  }
}
