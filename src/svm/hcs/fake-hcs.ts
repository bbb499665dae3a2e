// An in-process stand-in for vmcompute.dll behind HcsApi, so that everything above the
// FFI (the notification waits, timeouts, error documents, unexpected exits, processes and
// their pipes, the backend and the remote file system) is tested on any host. It answers
// as HCS v1 does: pending for create/start/terminate with the completion notification
// delivered later, result documents on failure, MappedVirtualDisk properties, and guest
// processes played by a handler with real byte pipes. It records every call with its
// document and counts open handles, so tests can check that everything was closed.

import { Readable } from 'node:stream';
import type { HcsApi, HcsCallResult, HcsHandle, NotificationSink, PipeIo, ProcessInformation } from './api.js';
import { HCS_E_OPERATION_PENDING, HCS_E_SYSTEM_ALREADY_STOPPED, HCS_E_SYSTEM_NOT_FOUND, hresultFromWin32 } from './hresult.js';
import { Notification } from './notifications.js';

/** How a create or start answers: at once, pending then completed, pending forever, or the VM exits instead. */
export type Completion = 'sync' | 'pending' | 'never' | 'exit';

export interface GuestProcessIo {
  commandLine: string;
  stdin: Readable;
  stdout: (data: Buffer | string) => void;
  stderr: (data: Buffer | string) => void;
}

/** Plays a process in the VM; resolves to its exit code. */
export type GuestHandler = (io: GuestProcessIo) => Promise<number>;

export interface FakeHcsBehaviour {
  create?: Completion;
  start?: Completion;
  /** A failing HRESULT and error document for a call by name (e.g. 'ModifyComputeSystem'). */
  fail?: (call: string, document: string | null) => { hresult: number; result?: string } | undefined;
  /** The status a pending create/start completes with (default 0). */
  completionStatus?: (call: 'CreateComputeSystem' | 'StartComputeSystem') => { status: number; data?: string };
  /** Terminate never produces the Exited notification. */
  neverExits?: boolean;
  guest?: GuestHandler;
}

export interface RecordedCall {
  call: string;
  /** The id or handle name it concerned. */
  target: string;
  document: string | null;
}

class FakePipe {
  private readonly chunks: Buffer[] = [];
  private ended = false;
  private wake: (() => void) | undefined;
  closed = false;

  push(data: Buffer): void {
    if (this.ended) return;
    this.chunks.push(data);
    this.notify();
  }

  end(): void {
    this.ended = true;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  async read(length: number): Promise<Buffer | null> {
    for (;;) {
      const first = this.chunks.shift();
      if (first) {
        if (first.length > length) this.chunks.unshift(first.subarray(length));
        return first.subarray(0, length);
      }
      if (this.ended) return null;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** The guest's view of a pipe it reads. */
  readable(): Readable {
    const pipe = this;
    return Readable.from((async function* () {
      for (let chunk = await pipe.read(65536); chunk !== null; chunk = await pipe.read(65536)) yield chunk;
    })());
  }
}

interface FakeSystem {
  kind: 'system';
  id: string;
  sink?: NotificationSink;
  /** Notifications produced before a callback was registered, delivered on registration. */
  early: Array<[number, number, string | null]>;
  running: boolean;
  exited: boolean;
  disks: Map<string, { containerPath: string; lun: number }>;
  nextLun: number;
}

interface FakeProcess {
  kind: 'process';
  pid: number;
  sink?: NotificationSink;
  stdin: FakePipe;
  exited: boolean;
  exitCode: number;
}

export class FakeHcs implements HcsApi {
  readonly calls: RecordedCall[] = [];
  readonly behaviour: FakeHcsBehaviour;
  private readonly open = new Set<object>();
  private nextPid = 100;

  constructor(behaviour: FakeHcsBehaviour = {}) {
    this.behaviour = behaviour;
  }

  /** Handles (systems, processes, callbacks, pipes) not closed yet. */
  get openHandles(): number {
    return this.open.size;
  }

  /** The VM `id` stops by itself (a crash, a shutdown from inside): HCS reports its exit. */
  exitSystem(id: string): void {
    for (const handle of this.open) {
      const system = handle as FakeSystem;
      if (system.kind !== 'system' || system.id !== id) continue;
      system.running = false;
      system.exited = true;
      this.notify(system, Notification.SystemExited, 0);
    }
  }

  /** The documents sent with `call`, in order. */
  documentsOf(call: string): string[] {
    return this.calls.filter((c) => c.call === call).map((c) => c.document ?? '');
  }

  private record(call: string, target: string, document: string | null): HcsCallResult | undefined {
    this.calls.push({ call, target, document });
    const failure = this.behaviour.fail?.(call, document);
    return failure ? { hresult: failure.hresult, result: failure.result ?? null } : undefined;
  }

  private notify(system: FakeSystem | FakeProcess, type: number, status = 0, data: string | null = null): void {
    setImmediate(() => {
      if (system.sink) system.sink(type, status, data);
      else if (system.kind === 'system') system.early.push([type, status, data]);
    });
  }

  private complete(system: FakeSystem, call: 'CreateComputeSystem' | 'StartComputeSystem', mode: Completion, expected: number): HcsCallResult {
    if (mode === 'sync') return { hresult: 0, result: null };
    if (mode === 'pending') {
      const { status, data } = this.behaviour.completionStatus?.(call) ?? { status: 0 };
      this.notify(system, expected, status, data ?? null);
    } else if (mode === 'exit') {
      system.exited = true;
      this.notify(system, Notification.SystemExited, 0);
    }
    return { hresult: HCS_E_OPERATION_PENDING, result: null };
  }

  private systemOf(handle: HcsHandle): FakeSystem {
    const system = handle as FakeSystem;
    if (!this.open.has(system) || system.kind !== 'system') throw new Error('fake HCS: a closed or foreign system handle was used');
    return system;
  }

  async createComputeSystem(id: string, configuration: string): Promise<HcsCallResult & { system: HcsHandle | null }> {
    const failed = this.record('CreateComputeSystem', id, configuration);
    if (failed) return { ...failed, system: null };
    const system: FakeSystem = { kind: 'system', id, early: [], running: false, exited: false, disks: new Map(), nextLun: 0 };
    for (const disk of (JSON.parse(configuration) as { MappedVirtualDisks?: Array<{ HostPath: string; ContainerPath: string }> }).MappedVirtualDisks ?? []) {
      system.disks.set(disk.HostPath, { containerPath: disk.ContainerPath, lun: system.nextLun++ });
    }
    this.open.add(system);
    return { ...this.complete(system, 'CreateComputeSystem', this.behaviour.create ?? 'pending', Notification.SystemCreateCompleted), system };
  }

  async startComputeSystem(handle: HcsHandle, options: string): Promise<HcsCallResult> {
    const system = this.systemOf(handle);
    const failed = this.record('StartComputeSystem', system.id, options);
    if (failed) return failed;
    system.running = true;
    return this.complete(system, 'StartComputeSystem', this.behaviour.start ?? 'pending', Notification.SystemStartCompleted);
  }

  async terminateComputeSystem(handle: HcsHandle, options: string): Promise<HcsCallResult> {
    const system = this.systemOf(handle);
    const failed = this.record('TerminateComputeSystem', system.id, options);
    if (failed) return failed;
    if (system.exited) return { hresult: HCS_E_SYSTEM_ALREADY_STOPPED, result: null };
    system.running = false;
    if (!this.behaviour.neverExits) {
      system.exited = true;
      this.notify(system, Notification.SystemExited, 0);
    }
    return { hresult: HCS_E_OPERATION_PENDING, result: null };
  }

  async modifyComputeSystem(handle: HcsHandle, configuration: string): Promise<HcsCallResult> {
    const system = this.systemOf(handle);
    const failed = this.record('ModifyComputeSystem', system.id, configuration);
    if (failed) return failed;
    if (!system.running) return { hresult: HCS_E_SYSTEM_NOT_FOUND, result: '{"Error":-1070137074,"ErrorMessage":"the system is not running"}' };
    const request = JSON.parse(configuration) as { RequestType: string; Settings: { HostPath: string; ContainerPath: string } };
    if (request.RequestType === 'Add') system.disks.set(request.Settings.HostPath, { containerPath: request.Settings.ContainerPath, lun: system.nextLun++ });
    else if (!system.disks.delete(request.Settings.HostPath)) return { hresult: hresultFromWin32(0x490), result: '{"Error":-2147023728,"ErrorMessage":"Element not found."}' };
    return { hresult: 0, result: null };
  }

  async getComputeSystemProperties(handle: HcsHandle, query: string): Promise<HcsCallResult & { properties: string | null }> {
    const system = this.systemOf(handle);
    const failed = this.record('GetComputeSystemProperties', system.id, query);
    if (failed) return { ...failed, properties: null };
    const disks: Record<string, { HostPath: string; ContainerPath: string }> = {};
    for (const [hostPath, disk] of system.disks) disks[String(disk.lun)] = { HostPath: hostPath, ContainerPath: disk.containerPath };
    return { hresult: 0, result: null, properties: JSON.stringify({ MappedVirtualDiskControllers: { '0': { MappedVirtualDisks: disks } } }) };
  }

  async registerComputeSystemCallback(handle: HcsHandle, sink: NotificationSink): Promise<{ hresult: number; callback: HcsHandle | null }> {
    const system = this.systemOf(handle);
    this.record('RegisterComputeSystemCallback', system.id, null);
    system.sink = sink;
    for (const [type, status, data] of system.early.splice(0)) setImmediate(() => sink(type, status, data));
    const callback = { kind: 'callback', of: system };
    this.open.add(callback);
    return { hresult: 0, callback };
  }

  async unregisterComputeSystemCallback(callback: HcsHandle): Promise<number> {
    const entry = callback as { of: FakeSystem };
    this.record('UnregisterComputeSystemCallback', entry.of.id, null);
    entry.of.sink = undefined;
    this.open.delete(callback as object);
    return 0;
  }

  async closeComputeSystem(handle: HcsHandle): Promise<number> {
    const system = this.systemOf(handle);
    this.record('CloseComputeSystem', system.id, null);
    this.open.delete(system);
    return 0;
  }

  async createProcess(handle: HcsHandle, parameters: string): Promise<HcsCallResult & { process: HcsHandle | null; info: ProcessInformation }> {
    const system = this.systemOf(handle);
    const none = { processId: 0, stdin: null, stdout: null, stderr: null };
    const failed = this.record('CreateProcess', system.id, parameters);
    if (failed) return { ...failed, process: null, info: none };
    if (!system.running) return { hresult: HCS_E_SYSTEM_NOT_FOUND, result: null, process: null, info: none };
    const pipes = { stdin: new FakePipe(), stdout: new FakePipe(), stderr: new FakePipe() };
    const process: FakeProcess = { kind: 'process', pid: this.nextPid++, stdin: pipes.stdin, exited: false, exitCode: -1 };
    for (const pipe of [process, pipes.stdin, pipes.stdout, pipes.stderr]) this.open.add(pipe);
    const { CommandLine: commandLine } = JSON.parse(parameters) as { CommandLine: string };
    const guest = this.behaviour.guest ?? (async () => 0);
    const write = (pipe: FakePipe) => (data: Buffer | string) => pipe.push(Buffer.from(data));
    guest({ commandLine, stdin: pipes.stdin.readable(), stdout: write(pipes.stdout), stderr: write(pipes.stderr) })
      .catch(() => 255)
      .then((exitCode) => {
        pipes.stdout.end();
        pipes.stderr.end();
        process.exited = true;
        process.exitCode = exitCode;
        this.notify(process, Notification.ProcessExited, 0);
      });
    return { hresult: 0, result: null, process, info: { processId: process.pid, ...pipes } };
  }

  async registerProcessCallback(handle: HcsHandle, sink: NotificationSink): Promise<{ hresult: number; callback: HcsHandle | null }> {
    const process = handle as FakeProcess;
    this.record('RegisterProcessCallback', String(process.pid), null);
    process.sink = sink;
    if (process.exited) this.notify(process, Notification.ProcessExited, 0);
    const callback = { kind: 'callback', of: process };
    this.open.add(callback);
    return { hresult: 0, callback };
  }

  async unregisterProcessCallback(callback: HcsHandle): Promise<number> {
    const entry = callback as { of: FakeProcess };
    this.record('UnregisterProcessCallback', String(entry.of.pid), null);
    entry.of.sink = undefined;
    this.open.delete(callback as object);
    return 0;
  }

  async getProcessProperties(handle: HcsHandle): Promise<HcsCallResult & { properties: string | null }> {
    const process = handle as FakeProcess;
    const failed = this.record('GetProcessProperties', String(process.pid), null);
    if (failed) return { ...failed, properties: null };
    const properties = { ProcessId: process.pid, Exited: process.exited, ExitCode: process.exitCode, LastWaitResult: 0 };
    return { hresult: 0, result: null, properties: JSON.stringify(properties) };
  }

  async modifyProcess(handle: HcsHandle, settings: string): Promise<HcsCallResult> {
    const process = handle as FakeProcess;
    const failed = this.record('ModifyProcess', String(process.pid), settings);
    if (failed) return failed;
    process.stdin.end();
    return { hresult: 0, result: null };
  }

  async terminateProcess(handle: HcsHandle): Promise<HcsCallResult> {
    const process = handle as FakeProcess;
    this.record('TerminateProcess', String(process.pid), null);
    process.stdin.end();
    return { hresult: 0, result: null };
  }

  async closeProcess(handle: HcsHandle): Promise<number> {
    const process = handle as FakeProcess;
    this.record('CloseProcess', String(process.pid), null);
    this.open.delete(process);
    return 0;
  }

  readonly pipes: PipeIo = {
    read: async (pipe, length) => (pipe as FakePipe).read(length),
    // A write completes a turn later, as overlapped I/O does: closing a pipe with a write
    // still under way loses it, here as on Windows.
    write: async (pipe, data) => {
      const copy = Buffer.from(data);
      await new Promise((resolve) => setImmediate(resolve));
      (pipe as FakePipe).push(copy);
    },
    close: async (pipe) => {
      const fake = pipe as FakePipe;
      fake.end();
      this.open.delete(fake);
    },
  };
}
