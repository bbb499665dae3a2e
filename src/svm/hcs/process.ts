// A process in the utility VM (windows-host.md §a.4 "Run a command"; hcsshim v1
// process.go): created with three pipes, its Exited notification, stdin closed through
// HcsModifyProcess, the exit code from HcsGetProcessProperties, killed with
// HcsTerminateProcess, and closed once.

import type { Readable, Writable } from 'node:stream';
import type { HcsApi, HcsHandle, ProcessInformation } from './api.js';
import { CLOSE_STDIN_DOCUMENT } from './documents.js';
import { HCS_E_INVALID_STATE, HCS_E_PROCESS_ALREADY_STOPPED, HCS_E_SYSTEM_NOT_FOUND, HcsError, hresultFromWin32, isFailure } from './hresult.js';
import { Notification, NotificationQueue } from './notifications.js';
import { closeStream, pipeReadable, pipeWritable } from './pipe-streams.js';
import { callError } from './result-document.js';

/** Answers to CloseStdin that mean "nothing left to close" (opengcs ignores them, §6.5). */
const STDIN_GONE = new Set([HCS_E_SYSTEM_NOT_FOUND, hresultFromWin32(0x490), hresultFromWin32(6), HCS_E_INVALID_STATE, HCS_E_PROCESS_ALREADY_STOPPED]);

export interface ProcessProperties {
  ProcessId?: number;
  Exited?: boolean;
  ExitCode?: number;
  LastWaitResult?: number;
}

export class HcsProcess {
  readonly processId: number;
  /** `<system id>:<pid>`, as the names in error texts. */
  readonly id: string;
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  readonly notifications: NotificationQueue;
  private readonly api: HcsApi;
  private handle: HcsHandle | null;
  private callback: HcsHandle | null = null;

  private constructor(api: HcsApi, systemId: string, handle: HcsHandle, info: ProcessInformation) {
    this.api = api;
    this.handle = handle;
    this.processId = info.processId;
    this.id = `${systemId}:${info.processId}`;
    this.notifications = new NotificationQueue(this.id, Notification.ProcessExited);
    this.stdin = info.stdin === null ? null : pipeWritable(api.pipes, info.stdin);
    this.stdout = info.stdout === null ? null : pipeReadable(api.pipes, info.stdout);
    this.stderr = info.stderr === null ? null : pipeReadable(api.pipes, info.stderr);
  }

  static async create(api: HcsApi, systemId: string, system: HcsHandle, parameters: string): Promise<HcsProcess> {
    const created = await api.createProcess(system, parameters);
    if (isFailure(created.hresult) || created.process === null) {
      for (const pipe of [created.info.stdin, created.info.stdout, created.info.stderr]) if (pipe !== null) await api.pipes.close(pipe);
      if (created.process !== null) await api.closeProcess(created.process);
      throw callError('CreateProcess', systemId, created);
    }
    const process = new HcsProcess(api, systemId, created.process, created.info);
    const registered = await api.registerProcessCallback(created.process, (type, status, data) => process.notifications.deliver(type, status, data));
    if (isFailure(registered.hresult) || registered.callback === null) {
      await process.kill().catch(() => undefined);
      await process.close();
      throw callError('RegisterProcessCallback', process.id, { hresult: registered.hresult, result: null });
    }
    process.callback = registered.callback;
    return process;
  }

  private live(operation: string): HcsHandle {
    if (this.handle === null) throw new HcsError(operation, this.id, hresultFromWin32(6), 'the handle has already been closed', 'HCS_HANDLE_CLOSED');
    return this.handle;
  }

  /** Tells the guest there is no more input, then closes our end (hcsshim CloseStdin). */
  async closeStdin(): Promise<void> {
    const call = await this.api.modifyProcess(this.live('CloseStdin'), CLOSE_STDIN_DOCUMENT);
    if (isFailure(call.hresult) && !STDIN_GONE.has(call.hresult >>> 0)) throw callError('CloseStdin', this.id, call);
    if (this.stdin) await closeStream(this.stdin);
  }

  /** Resolves on the Exited notification; bounded when `timeoutSeconds` is given. */
  async wait(timeoutSeconds?: number): Promise<void> {
    await this.notifications.wait(Notification.ProcessExited, 'Wait', timeoutSeconds);
  }

  async properties(): Promise<ProcessProperties> {
    const call = await this.api.getProcessProperties(this.live('Properties'));
    if (isFailure(call.hresult)) throw callError('Properties', this.id, call);
    try {
      return JSON.parse(call.properties ?? '{}') as ProcessProperties;
    } catch {
      throw new HcsError('Properties', this.id, 0xc037010d, `properties are not JSON: ${call.properties}`, 'HCS_BAD_DOCUMENT');
    }
  }

  /** The exit code of an exited process (hcsshim ExitCode: not exited is an invalid state). */
  async exitCode(): Promise<number> {
    const properties = await this.properties();
    if (!properties.Exited || typeof properties.ExitCode !== 'number') {
      throw new HcsError('ExitCode', this.id, HCS_E_INVALID_STATE, 'the process is in an invalid state for the attempted operation', 'HCS_INVALID_PROCESS_STATE');
    }
    return properties.ExitCode;
  }

  /** HcsTerminateProcess; a process that already stopped is not an error. */
  async kill(): Promise<void> {
    if (this.handle === null || this.notifications.hasExited) return;
    const call = await this.api.terminateProcess(this.handle);
    if (isFailure(call.hresult) && call.hresult >>> 0 !== HCS_E_PROCESS_ALREADY_STOPPED) throw callError('Kill', this.id, call);
  }

  /** Closes the pipes, unregisters the callback and closes the handle; safe to call twice. */
  async close(): Promise<void> {
    await Promise.all([this.stdin, this.stdout, this.stderr].map((stream) => (stream ? closeStream(stream) : undefined)));
    this.notifications.close();
    const callback = this.callback;
    const handle = this.handle;
    this.callback = null;
    this.handle = null;
    if (callback !== null) await this.api.unregisterProcessCallback(callback);
    if (handle !== null) await this.api.closeProcess(handle);
  }
}
