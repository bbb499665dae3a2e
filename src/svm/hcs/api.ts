// The HCS v1 surface the hcs backend drives (windows-host.md §a.2), as JavaScript sees
// it: every call resolves to its HRESULT and the strings HCS returned, already copied
// and freed. Two implementations: vmcompute.ts (koffi over vmcompute.dll, Windows) and
// fake-hcs.ts (in process, for the tests of everything above the FFI). Calls are
// asynchronous because real HCS calls may block while HCS works; notifications arrive
// through the sink given at registration, on the JavaScript thread.

/** An HCS_SYSTEM, HCS_PROCESS or HCS_CALLBACK handle, or a pipe HANDLE: opaque to everything above the FFI. */
export type HcsHandle = unknown;

/** (notificationType, notificationStatus HRESULT, notificationData) of HCS_NOTIFICATION_CALLBACK. */
export type NotificationSink = (type: number, status: number, data: string | null) => void;

/** What a call answers: its HRESULT and the result document (null when HCS sent none). */
export interface HcsCallResult {
  hresult: number;
  result: string | null;
}

/** HCS_PROCESS_INFORMATION: the guest pid and our ends of the three pipes (null when not created). */
export interface ProcessInformation {
  processId: number;
  stdin: HcsHandle | null;
  stdout: HcsHandle | null;
  stderr: HcsHandle | null;
}

/** Byte I/O on the pipe handles of a process. */
export interface PipeIo {
  /** Up to `length` bytes; null once the other end is closed (broken pipe, no data, end of file). */
  read(pipe: HcsHandle, length: number): Promise<Buffer | null>;
  /** Writes all of `data`. */
  write(pipe: HcsHandle, data: Buffer): Promise<void>;
  /** Cancels what is under way on the handle and closes it. */
  close(pipe: HcsHandle): Promise<void>;
}

export interface HcsApi {
  createComputeSystem(id: string, configuration: string): Promise<HcsCallResult & { system: HcsHandle | null }>;
  startComputeSystem(system: HcsHandle, options: string): Promise<HcsCallResult>;
  terminateComputeSystem(system: HcsHandle, options: string): Promise<HcsCallResult>;
  modifyComputeSystem(system: HcsHandle, configuration: string): Promise<HcsCallResult>;
  getComputeSystemProperties(system: HcsHandle, query: string): Promise<HcsCallResult & { properties: string | null }>;
  registerComputeSystemCallback(system: HcsHandle, sink: NotificationSink): Promise<{ hresult: number; callback: HcsHandle | null }>;
  unregisterComputeSystemCallback(callback: HcsHandle): Promise<number>;
  closeComputeSystem(system: HcsHandle): Promise<number>;
  createProcess(system: HcsHandle, parameters: string): Promise<HcsCallResult & { process: HcsHandle | null; info: ProcessInformation }>;
  registerProcessCallback(process: HcsHandle, sink: NotificationSink): Promise<{ hresult: number; callback: HcsHandle | null }>;
  unregisterProcessCallback(callback: HcsHandle): Promise<number>;
  getProcessProperties(process: HcsHandle): Promise<HcsCallResult & { properties: string | null }>;
  modifyProcess(process: HcsHandle, settings: string): Promise<HcsCallResult>;
  terminateProcess(process: HcsHandle): Promise<HcsCallResult>;
  closeProcess(process: HcsHandle): Promise<number>;
  readonly pipes: PipeIo;
}
