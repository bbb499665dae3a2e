// One file opened in the guest by `remotefs openfile <path> <flag> <perm>` (spec/driver.md
// §9): requests and answers in the framing of framing.ts, one at a time. A CmdFailed
// answer's reason is the error JSON the tool writes to stderr. Unlike the reference
// client, Seek is sent as Seek (the reference sent the Write command code).

import type { Readable, Writable } from 'node:stream';
import { LcowError } from '../../../host/errors.js';
import { Mutex } from '../../mutex.js';
import { withCopyTimeout } from '../run-process.js';
import { exportedErrorOf } from './errors.js';
import { decodeHeader, encodeHeader, encodeSeek, FileCommand, HEADER_SIZE, SEEK_SIZE } from './framing.js';
import { ExactReader } from './exact-reader.js';

/** What RemoteFile needs of a guest process (HcsProcess has it). */
export interface RemoteProcess {
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  closeStdin(): Promise<void>;
  wait(timeoutSeconds?: number): Promise<void>;
  kill(): Promise<void>;
  close(): Promise<void>;
}

export class RemoteFile {
  readonly path: string;
  private readonly process: RemoteProcess;
  private readonly answers: ExactReader;
  private readonly timeoutSeconds: number;
  private readonly lock = new Mutex();
  private stderrText = '';
  private closed = false;

  constructor(process: RemoteProcess, path: string, timeoutSeconds: number) {
    if (!process.stdin || !process.stdout || !process.stderr) throw new LcowError('REMOTEFS_FAILED', `remotefs openfile ${path}: the process has no pipes`);
    this.process = process;
    this.path = path;
    this.timeoutSeconds = timeoutSeconds;
    this.answers = new ExactReader(process.stdout);
    process.stderr.on('data', (chunk: Buffer) => (this.stderrText += chunk.toString('utf8')));
  }

  /** One request (a header with `size`, then `data` when there is any) and its answer's payload. */
  private async exchange(command: number, size: number, data: Buffer | null, name: string): Promise<Buffer> {
    if (this.closed) throw new LcowError('REMOTEFS_CLOSED', `remotefs openfile ${this.path}: ${name} on a closed file`);
    return this.lock.run(() =>
      withCopyTimeout(
        (async () => {
          const stdin = this.process.stdin!;
          await new Promise<void>((resolve, reject) => stdin.write(data ? Buffer.concat([encodeHeader(command, size), data]) : encodeHeader(command, size), (err) => (err ? reject(err) : resolve())));
          const header = decodeHeader(await this.answers.read(HEADER_SIZE));
          const payload = await this.answers.read(header.size);
          if (header.command === FileCommand.Ok) return payload;
          if (header.command === FileCommand.Failed) throw await this.failure(name);
          throw new LcowError('REMOTEFS_BAD_ANSWER', `remotefs openfile ${this.path}: ${name}: unexpected answer ${header.command}`);
        })(),
        this.timeoutSeconds,
        `remotefs openfile ${this.path} ${name}`,
      ),
    );
  }

  /** The error JSON on stderr, which may arrive a little after the CmdFailed header. */
  private async failure(name: string): Promise<Error> {
    for (let waited = 0; waited < 2000; waited += 20) {
      const error = exportedErrorOf(`openfile ${this.path} ${name}`, this.stderrText);
      if (error) return error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return new LcowError('REMOTEFS_FAILED', `remotefs openfile ${this.path}: ${name} failed: ${this.stderrText.trim() || 'no error on stderr'}`);
  }

  /** Up to `length` bytes at the current offset; an empty buffer at the end of the file. */
  async read(length: number): Promise<Buffer> {
    // A Read header carries the wanted length and no data.
    const payload = await this.exchange(FileCommand.Read, length, null, 'read');
    return payload.subarray(0, length);
  }

  async write(data: Buffer): Promise<number> {
    await this.exchange(FileCommand.Write, data.length, data, 'write');
    return data.length;
  }

  /** The new offset. */
  async seek(offset: bigint, whence: 0 | 1 | 2): Promise<bigint> {
    const payload = await this.exchange(FileCommand.Seek, SEEK_SIZE, encodeSeek(offset, whence), 'seek');
    if (payload.length < 8) throw new LcowError('REMOTEFS_BAD_ANSWER', `remotefs openfile ${this.path}: seek: a ${payload.length}-byte answer`);
    return payload.readBigInt64BE(0);
  }

  /** Sends Close, then waits for the tool to exit and releases the process. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.exchange(FileCommand.Close, 0, null, 'close');
      this.closed = true;
      await this.process.closeStdin().catch(() => undefined);
      await this.process.wait(this.timeoutSeconds).catch(() => undefined);
    } finally {
      this.closed = true;
      await this.process.kill().catch(() => undefined);
      await this.process.close();
    }
  }
}
