// A one-line progress bar on a terminal; silent when stderr is not a TTY or the total
// is unknown, so pipes and logs stay clean.

const BAR_WIDTH = 30;

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

export class Progress {
  private readonly enabled: boolean;
  private readonly started = Date.now();
  private shown = false;

  constructor(private readonly label: string, private readonly total: number | undefined, stream: NodeJS.WriteStream = process.stderr) {
    this.enabled = Boolean(stream.isTTY) && total !== undefined && total > 0;
    this.stream = stream;
  }

  private readonly stream: NodeJS.WriteStream;

  update(done: number): void {
    if (!this.enabled) return;
    const total = this.total!;
    const fraction = Math.min(1, done / total);
    const filled = Math.round(fraction * BAR_WIDTH);
    const seconds = Math.max(0.001, (Date.now() - this.started) / 1000);
    const line = `${this.label} [${'='.repeat(filled)}${' '.repeat(BAR_WIDTH - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ${mib(done)}/${mib(total)} ${mib(done / seconds)}/s`;
    this.stream.write(`\r${line}`);
    this.shown = true;
  }

  finish(): void {
    if (this.shown) this.stream.write('\r\x1b[K');
    this.shown = false;
  }
}
