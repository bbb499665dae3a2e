// Running one command in the utility VM as opengcs' RunProcess does (spec/driver.md
// §6.5, §8.3): create the process with the reference's parameters, feed stdin and close
// it, collect stdout and stderr, wait for the exit, read the exit code, close. Every
// copy and the exit wait are bounded by UvmTimeoutSeconds.
//
// Where we differ: stdout and stderr are drained at the same time (the reference drained
// stdout first, which deadlocks a child that fills its stderr pipe), and stdin is closed
// even when there is no input, so a command that reads stdin cannot wait forever.

import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { LcowError } from '../../host/errors.js';
import type { ComputeSystem } from './compute-system.js';
import { processDocument } from './documents.js';
import type { HcsProcess } from './process.js';

export interface RunOptions {
  /** Bytes or a stream copied to the process's stdin before it is closed. */
  stdin?: Buffer | Readable;
  /** Where stdout goes when the caller streams it; otherwise it is collected. */
  stdout?: Writable;
  /** Whether the caller reads the stderr text itself (then it is not appended to the exit-code error). */
  callerWantsStderr?: boolean;
  timeoutSeconds: number;
  /** Names the operation in timeout errors, as opengcs' context strings. */
  context: string;
}

export interface RunResult {
  stdout: Buffer;
  stderr: string;
}

/** A non-zero exit: `svm.runProcess: command <cmd> failed with exit code <n>[. (<stderr>)]`. */
export class GuestCommandError extends LcowError {
  readonly exitCode: number;
  readonly stderr: string;

  constructor(commandLine: string, exitCode: number, stderr: string, appendStderr: boolean) {
    const detail = appendStderr && stderr.trim() !== '' ? `. (${stderr.trim()})` : '';
    super('SVM_GUEST_COMMAND_FAILED', `svm.runProcess: command ${commandLine} failed with exit code ${exitCode}${detail}`);
    this.name = 'GuestCommandError';
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

/** Starts `commandLine`; failure reads `failed to create process (<parameters>) in utility VM: <err>`. */
export async function startProcess(system: ComputeSystem, commandLine: string): Promise<HcsProcess> {
  const parameters = processDocument(commandLine);
  try {
    return await system.createProcess(parameters);
  } catch (err) {
    throw new LcowError((err as LcowError).code ?? 'HCS_CALL_FAILED', `failed to create process (${parameters}) in utility VM: ${(err as Error).message}`, { cause: err });
  }
}

/** Resolves with `work`, or rejects with opengcs' copy timeout after `seconds`. */
export async function withCopyTimeout<T>(work: Promise<T>, seconds: number, context: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new LcowError('SVM_TIMEOUT', `opengcs: copyWithTimeout: timed out (${context})`)), seconds * 1000);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

async function collect(stream: Readable | null): Promise<Buffer> {
  if (!stream) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function feed(process: HcsProcess, input: Buffer | Readable | undefined): Promise<void> {
  if (input !== undefined && process.stdin) {
    const source = Buffer.isBuffer(input) ? Readable.from([input]) : input;
    // Ending the stream waits for every write to complete before our end is closed.
    await pipeline(source, process.stdin);
  }
  await process.closeStdin();
}

export async function runProcess(system: ComputeSystem, commandLine: string, options: RunOptions): Promise<RunResult> {
  const process = await startProcess(system, commandLine);
  try {
    const stdoutDone = options.stdout && process.stdout ? pipeline(process.stdout, options.stdout).then(() => Buffer.alloc(0)) : collect(process.stdout);
    const copies = Promise.all([feed(process, options.stdin), stdoutDone, collect(process.stderr)]);
    const [, stdout, stderrBytes] = await withCopyTimeout(copies, options.timeoutSeconds, options.context).catch(async (err) => {
      await process.kill().catch(() => undefined);
      throw err;
    });
    // The wait's own result is ignored, as opengcs does; the exit code decides.
    await process.wait(options.timeoutSeconds).catch(() => undefined);
    const exitCode = await process.exitCode();
    const stderr = stderrBytes.toString('utf8');
    if (exitCode !== 0) throw new GuestCommandError(commandLine, exitCode, stderr, !options.callerWantsStderr);
    return { stdout, stderr };
  } finally {
    await process.close();
  }
}
