// One HCS v1 compute system (the utility VM) as hcsshim's v1 ComputeSystem drives it
// (windows-host.md §a.3–a.4): create, register the notification callback, wait out a
// pending create or start, terminate and wait for the exit, modify, properties, and the
// processes created in it. Handles are closed once, after their callback is unregistered.

import type { HcsApi, HcsCallResult, HcsHandle } from './api.js';
import { E_POINTER, HCS_E_OPERATION_PENDING, HCS_E_SYSTEM_ALREADY_STOPPED, HCS_E_SYSTEM_ALREADY_STOPPED_WARNING, HcsError, hresultFromWin32, isFailure } from './hresult.js';
import { Notification, NotificationQueue } from './notifications.js';
import { HcsProcess } from './process.js';
import { callError } from './result-document.js';

export interface SystemTimeouts {
  /** Bound on the CreateCompleted wait (hcsshim: HCSSHIM_TIMEOUT_SYSTEMCREATE, 4 minutes). */
  createSeconds: number;
  /** Bound on the StartCompleted wait (hcsshim: HCSSHIM_TIMEOUT_SYSTEMSTART, 4 minutes). */
  startSeconds: number;
}

export class ComputeSystem {
  readonly id: string;
  private readonly api: HcsApi;
  private handle: HcsHandle | null;
  private callback: HcsHandle | null = null;
  readonly notifications: NotificationQueue;

  private constructor(api: HcsApi, id: string, handle: HcsHandle) {
    this.api = api;
    this.id = id;
    this.handle = handle;
    this.notifications = new NotificationQueue(id, Notification.SystemExited);
  }

  /** HcsCreateComputeSystem, callback registration, and the wait for CreateCompleted when the create is pending. */
  static async create(api: HcsApi, id: string, configuration: string, timeouts: SystemTimeouts): Promise<ComputeSystem> {
    const created = await api.createComputeSystem(id, configuration);
    const pending = created.hresult >>> 0 === HCS_E_OPERATION_PENDING;
    if (created.system === null || (isFailure(created.hresult) && !pending)) {
      if (created.system !== null) await api.closeComputeSystem(created.system);
      // A "success" without a handle is HCS breaking its contract: reported as E_POINTER.
      throw callError('CreateComputeSystem', id, { hresult: isFailure(created.hresult) ? created.hresult : E_POINTER, result: created.result });
    }
    const system = new ComputeSystem(api, id, created.system);
    try {
      await system.registerCallback();
      if (pending) await system.notifications.wait(Notification.SystemCreateCompleted, 'CreateComputeSystem', timeouts.createSeconds);
    } catch (err) {
      await system.close();
      throw err;
    }
    return system;
  }

  private async registerCallback(): Promise<void> {
    const registered = await this.api.registerComputeSystemCallback(this.live('RegisterComputeSystemCallback'), (type, status, data) => this.notifications.deliver(type, status, data));
    if (isFailure(registered.hresult) || registered.callback === null) throw callError('RegisterComputeSystemCallback', this.id, { hresult: registered.hresult, result: null });
    this.callback = registered.callback;
  }

  private live(operation: string): HcsHandle {
    if (this.handle === null) throw new HcsError(operation, this.id, hresultFromWin32(6), 'the handle has already been closed', 'HCS_HANDLE_CLOSED');
    return this.handle;
  }

  /** HcsStartComputeSystem, waiting for StartCompleted when pending. */
  async start(timeoutSeconds: number): Promise<void> {
    const started = await this.api.startComputeSystem(this.live('Start'), '');
    await this.completed('Start', started, Notification.SystemStartCompleted, timeoutSeconds);
  }

  private async completed(operation: string, call: HcsCallResult, expected: number, timeoutSeconds: number): Promise<void> {
    if (call.hresult >>> 0 === HCS_E_OPERATION_PENDING) {
      await this.notifications.wait(expected, operation, timeoutSeconds);
      return;
    }
    if (isFailure(call.hresult)) throw callError(operation, this.id, call);
  }

  /** HcsTerminateComputeSystem. Pending is the normal answer and "already stopped" is done, not failed. */
  async terminate(): Promise<void> {
    if (this.handle === null || this.notifications.hasExited) return;
    const call = await this.api.terminateComputeSystem(this.handle, '');
    const hresult = call.hresult >>> 0;
    if (hresult === HCS_E_OPERATION_PENDING || hresult === HCS_E_SYSTEM_ALREADY_STOPPED || hresult === HCS_E_SYSTEM_ALREADY_STOPPED_WARNING) return;
    if (isFailure(call.hresult)) throw callError('Terminate', this.id, call);
  }

  /** Resolves once the Exited notification has come, whatever its status (the system is gone either way). */
  async waitExited(timeoutSeconds?: number): Promise<void> {
    await this.notifications.wait(Notification.SystemExited, 'Wait', timeoutSeconds).catch((err) => {
      if (!(err instanceof HcsError)) throw err;
    });
  }

  /** HcsModifyComputeSystem (synchronous in v1, as hcsshim treats it). */
  async modify(configuration: string): Promise<void> {
    const call = await this.api.modifyComputeSystem(this.live('Modify'), configuration);
    if (isFailure(call.hresult)) throw callError('Modify', this.id, call);
  }

  /** HcsGetComputeSystemProperties: the properties document. */
  async properties(query: string): Promise<string> {
    const call = await this.api.getComputeSystemProperties(this.live('Properties'), query);
    if (isFailure(call.hresult)) throw callError('Properties', this.id, call);
    return call.properties ?? '{}';
  }

  /** HcsCreateProcess with its callback registered; the caller owns (and closes) the process. */
  async createProcess(parameters: string): Promise<HcsProcess> {
    return HcsProcess.create(this.api, this.id, this.live('CreateProcess'), parameters);
  }

  /** Unregisters the callback (ending every wait) and closes the handle; safe to call twice. */
  async close(): Promise<void> {
    this.notifications.close();
    const callback = this.callback;
    const handle = this.handle;
    this.callback = null;
    this.handle = null;
    if (callback !== null) await this.api.unregisterComputeSystemCallback(callback);
    if (handle !== null) await this.api.closeComputeSystem(handle);
  }
}
