// A one-line progress bar on a terminal; silent when stderr is not a TTY or the total
// is unknown, so pipes and logs stay clean. Log lines clear it first (clear()), so a
// message never lands glued to the bar; on success the last frame shows the total.

import { fstatSync } from 'node:fs';

const BAR_WIDTH = 30;

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

/**
 * process.stderr when it may be a terminal. Making that stream costs start-up (a socket and
 * the net module on a pipe), so a descriptor that is not a character device is ruled out first.
 */
function stderrIfTerminal(): NodeJS.WriteStream | undefined {
  try {
    return fstatSync(2).isCharacterDevice() ? process.stderr : undefined;
  } catch {
    return undefined; // no stderr at all
  }
}

export class Progress {
  private readonly enabled: boolean;
  private readonly started = Date.now();
  private readonly given?: NodeJS.WriteStream;
  private shown = false;
  private last = 0;

  constructor(private readonly label: string, private readonly total: number | undefined, stream?: NodeJS.WriteStream) {
    this.enabled = total !== undefined && total > 0 && Boolean((stream ?? stderrIfTerminal())?.isTTY);
    this.given = stream;
  }

  private get stream(): NodeJS.WriteStream {
    return this.given ?? process.stderr;
  }

  update(done: number): void {
    if (!this.enabled) return;
    this.last = done;
    const total = this.total!;
    const fraction = Math.min(1, done / total);
    const filled = Math.round(fraction * BAR_WIDTH);
    const seconds = Math.max(0.001, (Date.now() - this.started) / 1000);
    const line = `${this.label} [${'='.repeat(filled)}${' '.repeat(BAR_WIDTH - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ${mib(Math.min(done, total))}/${mib(total)} ${mib(done / seconds)}/s`;
    this.stream.write(`\r${line}\x1b[K`);
    this.shown = true;
  }

  /** Erases the bar (before a log line); the next update draws it again. */
  clear(): void {
    if (this.shown) this.stream.write('\r\x1b[K');
    this.shown = false;
  }

  /**
   * Success: the input was read to its end (a tar file's trailing padding is never read,
   * and bytes copied in the kernel are counted as consumed), so the last frame shows the
   * total and stays on its own line.
   */
  complete(): void {
    if (!this.enabled || (!this.shown && this.last === 0)) return;
    this.update(this.total!);
    this.stream.write('\n');
    this.shown = false;
  }

  /** Failure or end: erase the bar so the error line stands alone. */
  finish(): void {
    this.clear();
  }
}
