// HcsApi over vmcompute.dll through koffi (windows-host.md §a.2, §c). Strings go in as
// UTF-16 (char16_t), every PWSTR HCS returns is copied and then freed with CoTaskMemFree
// (ole32), as hcsshim does. Calls run with koffi's `.async` on worker threads, and the
// notification callbacks are registered koffi callbacks (one per handle, unregistered
// when HCS has let go of it): HCS calls them on its own threads and koffi queues each
// call to the JavaScript thread, which is never blocked waiting for one.

import { callAsync, koffi, loadLibrary, type Koffi, type NativeFunction } from '../../host/win32/koffi.js';
import { OverlappedPipes } from '../../host/win32/overlapped-pipes.js';
import type { HcsApi, HcsCallResult, HcsHandle, NotificationSink, ProcessInformation } from './api.js';

interface Native {
  create: NativeFunction;
  start: NativeFunction;
  terminate: NativeFunction;
  modify: NativeFunction;
  properties: NativeFunction;
  register: NativeFunction;
  unregister: NativeFunction;
  close: NativeFunction;
  createProcess: NativeFunction;
  registerProcess: NativeFunction;
  unregisterProcess: NativeFunction;
  processProperties: NativeFunction;
  modifyProcess: NativeFunction;
  terminateProcess: NativeFunction;
  closeProcess: NativeFunction;
  coTaskMemFree: NativeFunction;
  callbackType: unknown;
}

/** A registered callback: HCS's handle for it and koffi's slot. */
interface CallbackHandle {
  native: unknown;
  registered: unknown;
}

/** koffi type names are process-wide: declared once, whatever number of DLLs is bound. */
let callbackTypeOnce: unknown;

function callbackTypeOf(k: Koffi): unknown {
  if (!callbackTypeOnce) {
    k.struct('HCS_PROCESS_INFORMATION', { ProcessId: 'uint32', Reserved: 'uint32', StdInput: 'void *', StdOutput: 'void *', StdError: 'void *' });
    callbackTypeOnce = k.pointer(k.proto('void __stdcall HCS_NOTIFICATION_CALLBACK(uint32 type, void *context, int32 status, const char16_t *data)'));
  }
  return callbackTypeOnce;
}

function bindVmcompute(k: Koffi, dll: string): Native {
  const lib = loadLibrary(dll);
  const ole32 = loadLibrary('ole32.dll');
  const callbackType = callbackTypeOf(k);
  const fn = (signature: string): NativeFunction => lib.func(signature);
  return {
    create: fn('uint32 __stdcall HcsCreateComputeSystem(const char16_t *id, const char16_t *configuration, void *identity, _Out_ void **computeSystem, _Out_ void **result)'),
    start: fn('uint32 __stdcall HcsStartComputeSystem(void *computeSystem, const char16_t *options, _Out_ void **result)'),
    terminate: fn('uint32 __stdcall HcsTerminateComputeSystem(void *computeSystem, const char16_t *options, _Out_ void **result)'),
    modify: fn('uint32 __stdcall HcsModifyComputeSystem(void *computeSystem, const char16_t *configuration, _Out_ void **result)'),
    properties: fn('uint32 __stdcall HcsGetComputeSystemProperties(void *computeSystem, const char16_t *query, _Out_ void **properties, _Out_ void **result)'),
    register: lib.func('HcsRegisterComputeSystemCallback', 'uint32', ['void *', callbackType, 'uintptr_t', k.out(k.pointer('void *'))]),
    unregister: fn('uint32 __stdcall HcsUnregisterComputeSystemCallback(void *callbackHandle)'),
    close: fn('uint32 __stdcall HcsCloseComputeSystem(void *computeSystem)'),
    createProcess: fn('uint32 __stdcall HcsCreateProcess(void *computeSystem, const char16_t *parameters, _Out_ HCS_PROCESS_INFORMATION *information, _Out_ void **process, _Out_ void **result)'),
    registerProcess: lib.func('HcsRegisterProcessCallback', 'uint32', ['void *', callbackType, 'uintptr_t', k.out(k.pointer('void *'))]),
    unregisterProcess: fn('uint32 __stdcall HcsUnregisterProcessCallback(void *callbackHandle)'),
    processProperties: fn('uint32 __stdcall HcsGetProcessProperties(void *process, _Out_ void **properties, _Out_ void **result)'),
    modifyProcess: fn('uint32 __stdcall HcsModifyProcess(void *process, const char16_t *settings, _Out_ void **result)'),
    terminateProcess: fn('uint32 __stdcall HcsTerminateProcess(void *process, _Out_ void **result)'),
    closeProcess: fn('uint32 __stdcall HcsCloseProcess(void *process)'),
    coTaskMemFree: ole32.func('void __stdcall CoTaskMemFree(void *pv)'),
    callbackType,
  };
}

export class Vmcompute implements HcsApi {
  private readonly k: Koffi;
  private readonly native: Native;
  readonly pipes = new OverlappedPipes();
  /** hcsshim passes a small integer as the callback context, never a pointer; so do we. */
  private nextContext = 1;

  /** `dll`: vmcompute.dll, or a path to another implementation of it (the tests' fake). */
  constructor(dll = 'vmcompute.dll') {
    this.k = koffi();
    this.native = bindVmcompute(this.k, dll);
  }

  /** Copies a returned PWSTR and frees it with CoTaskMemFree; null stays null. */
  private take(pointer: unknown): string | null {
    if (!pointer) return null;
    try {
      return this.k.decode(pointer, 'char16_t', -1) as string;
    } finally {
      this.native.coTaskMemFree(pointer);
    }
  }

  async createComputeSystem(id: string, configuration: string): Promise<HcsCallResult & { system: HcsHandle | null }> {
    const system: unknown[] = [null];
    const result: unknown[] = [null];
    const hresult = await callAsync<number>(this.native.create, id, configuration, null, system, result);
    return { hresult, result: this.take(result[0]), system: system[0] ?? null };
  }

  private async withResult(fn: NativeFunction, ...args: unknown[]): Promise<HcsCallResult> {
    const result: unknown[] = [null];
    const hresult = await callAsync<number>(fn, ...args, result);
    return { hresult, result: this.take(result[0]) };
  }

  startComputeSystem(system: HcsHandle, options: string): Promise<HcsCallResult> {
    return this.withResult(this.native.start, system, options);
  }

  terminateComputeSystem(system: HcsHandle, options: string): Promise<HcsCallResult> {
    return this.withResult(this.native.terminate, system, options);
  }

  modifyComputeSystem(system: HcsHandle, configuration: string): Promise<HcsCallResult> {
    return this.withResult(this.native.modify, system, configuration);
  }

  async getComputeSystemProperties(system: HcsHandle, query: string): Promise<HcsCallResult & { properties: string | null }> {
    const properties: unknown[] = [null];
    const result: unknown[] = [null];
    const hresult = await callAsync<number>(this.native.properties, system, query, properties, result);
    return { hresult, result: this.take(result[0]), properties: this.take(properties[0]) };
  }

  private async registerWith(fn: NativeFunction, handle: HcsHandle, sink: NotificationSink): Promise<{ hresult: number; callback: HcsHandle | null }> {
    // The callback only copies its arguments: it runs while an HCS thread waits for it.
    const registered = this.k.register((type: number, _context: unknown, status: number, data: string | null) => sink(type >>> 0, status >>> 0, data), this.native.callbackType);
    const out: unknown[] = [null];
    let hresult: number;
    try {
      hresult = await callAsync<number>(fn, handle, registered, this.nextContext++, out);
    } catch (err) {
      this.k.unregister(registered);
      throw err;
    }
    if ((hresult | 0) < 0 || !out[0]) {
      this.k.unregister(registered);
      return { hresult, callback: null };
    }
    const callback: CallbackHandle = { native: out[0], registered };
    return { hresult, callback };
  }

  private async unregisterWith(fn: NativeFunction, callback: HcsHandle): Promise<number> {
    const { native, registered } = callback as CallbackHandle;
    const hresult = await callAsync<number>(fn, native);
    // HCS has returned: it will not call this callback again.
    this.k.unregister(registered);
    return hresult;
  }

  registerComputeSystemCallback(system: HcsHandle, sink: NotificationSink): Promise<{ hresult: number; callback: HcsHandle | null }> {
    return this.registerWith(this.native.register, system, sink);
  }

  unregisterComputeSystemCallback(callback: HcsHandle): Promise<number> {
    return this.unregisterWith(this.native.unregister, callback);
  }

  closeComputeSystem(system: HcsHandle): Promise<number> {
    return callAsync<number>(this.native.close, system);
  }

  async createProcess(system: HcsHandle, parameters: string): Promise<HcsCallResult & { process: HcsHandle | null; info: ProcessInformation }> {
    const information: Record<string, unknown> = {};
    const process: unknown[] = [null];
    const result: unknown[] = [null];
    const hresult = await callAsync<number>(this.native.createProcess, system, parameters, information, process, result);
    const info: ProcessInformation = {
      processId: Number(information.ProcessId ?? 0),
      stdin: information.StdInput ?? null,
      stdout: information.StdOutput ?? null,
      stderr: information.StdError ?? null,
    };
    return { hresult, result: this.take(result[0]), process: process[0] ?? null, info };
  }

  registerProcessCallback(process: HcsHandle, sink: NotificationSink): Promise<{ hresult: number; callback: HcsHandle | null }> {
    return this.registerWith(this.native.registerProcess, process, sink);
  }

  unregisterProcessCallback(callback: HcsHandle): Promise<number> {
    return this.unregisterWith(this.native.unregisterProcess, callback);
  }

  async getProcessProperties(process: HcsHandle): Promise<HcsCallResult & { properties: string | null }> {
    const properties: unknown[] = [null];
    const result: unknown[] = [null];
    const hresult = await callAsync<number>(this.native.processProperties, process, properties, result);
    return { hresult, result: this.take(result[0]), properties: this.take(properties[0]) };
  }

  modifyProcess(process: HcsHandle, settings: string): Promise<HcsCallResult> {
    return this.withResult(this.native.modifyProcess, process, settings);
  }

  terminateProcess(process: HcsHandle): Promise<HcsCallResult> {
    return this.withResult(this.native.terminateProcess, process);
  }

  closeProcess(process: HcsHandle): Promise<number> {
    return callAsync<number>(this.native.closeProcess, process);
  }
}
