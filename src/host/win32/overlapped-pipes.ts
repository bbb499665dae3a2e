// Byte I/O on overlapped pipe HANDLEs (the stdio of HCS processes, windows-host.md §c)
// through one I/O completion port, as hcsshim does with go-winio. Reads and writes are
// issued with ntdll's NtReadFile/NtWriteFile, which return their NTSTATUS directly (no
// GetLastError, which another koffi call on another thread could not see); completions
// are collected by a single GetQueuedCompletionStatus loop on one worker thread, running
// only while I/O is outstanding so it never keeps the process alive. Each operation has
// its own native OVERLAPPED (used as IO_STATUS_BLOCK and completion context) and buffer,
// which live until its completion packet has arrived.

import { LcowError } from '../errors.js';
import { callAsync, koffi, loadLibrary, type NativeFunction } from './koffi.js';
import { win32ErrorText } from './win32-error.js';

const STATUS_END_OF_FILE = 0xc0000011;
const STATUS_PIPE_BROKEN = 0xc000014b;
const STATUS_PIPE_EMPTY = 0xc00000d9;
const STATUS_PIPE_CLOSING = 0xc00000b1;
const STATUS_PIPE_DISCONNECTED = 0xc00000b0;
const STATUS_CANCELLED = 0xc0000120;
/** Statuses that mean the writer is gone: the end of the stream (Windows errors 109, 232, 38). */
const END_OF_STREAM = new Set([STATUS_END_OF_FILE, STATUS_PIPE_BROKEN, STATUS_PIPE_EMPTY, STATUS_PIPE_CLOSING, STATUS_PIPE_DISCONNECTED, STATUS_CANCELLED]);
const INFINITE = 0xffffffff;
const STATUS_UNSUCCESSFUL = 0xc0000001;
/** NT_ERROR: the top two bits set. Success and warnings (a partial message) carry data. */
const isError = (status: number): boolean => status >>> 0 >= 0xc0000000;
const OVERLAPPED_SIZE = 32;

interface Bindings {
  NtReadFile: NativeFunction;
  NtWriteFile: NativeFunction;
  RtlNtStatusToDosError: NativeFunction;
  CreateIoCompletionPort: NativeFunction;
  CreateNewIoCompletionPort: NativeFunction;
  GetQueuedCompletionStatus: NativeFunction;
  CancelIoEx: NativeFunction;
  CloseHandle: NativeFunction;
  GetLastError: NativeFunction;
}

let bindings: Bindings | undefined;

function bind(): Bindings {
  if (bindings) return bindings;
  const ntdll = loadLibrary('ntdll.dll');
  const kernel32 = loadLibrary('kernel32.dll');
  bindings = {
    NtReadFile: ntdll.func('uint32 __stdcall NtReadFile(void *file, void *event, void *apc, void *apcContext, void *ioStatus, void *buffer, uint32 length, void *byteOffset, void *key)'),
    NtWriteFile: ntdll.func('uint32 __stdcall NtWriteFile(void *file, void *event, void *apc, void *apcContext, void *ioStatus, void *buffer, uint32 length, void *byteOffset, void *key)'),
    RtlNtStatusToDosError: ntdll.func('uint32 __stdcall RtlNtStatusToDosError(uint32 status)'),
    CreateIoCompletionPort: kernel32.func('void * __stdcall CreateIoCompletionPort(void *file, void *port, uintptr_t key, uint32 threads)'),
    // The same function with INVALID_HANDLE_VALUE as the file: a new port.
    CreateNewIoCompletionPort: kernel32.func('void * __stdcall CreateIoCompletionPort(intptr_t file, void *port, uintptr_t key, uint32 threads)'),
    GetQueuedCompletionStatus: kernel32.func('bool __stdcall GetQueuedCompletionStatus(void *port, _Out_ uint32 *bytes, _Out_ uintptr_t *key, _Out_ void **overlapped, uint32 milliseconds)'),
    CancelIoEx: kernel32.func('bool __stdcall CancelIoEx(void *file, void *overlapped)'),
    CloseHandle: kernel32.func('bool __stdcall CloseHandle(void *handle)'),
    GetLastError: kernel32.func('uint32 __stdcall GetLastError()'),
  };
  return bindings;
}

interface Operation {
  overlapped: unknown;
  buffer: unknown;
  pipe: unknown;
  done: (status: number, bytes: number) => void;
}

export class Win32Error extends LcowError {
  readonly win32: number;

  constructor(what: string, win32: number) {
    super('WIN32_IO_FAILED', `${what}: ${win32ErrorText(win32)}`);
    this.name = 'Win32Error';
    this.win32 = win32;
  }
}

/** PipeIo (src/svm/hcs/api.ts) on real HANDLEs. */
export class OverlappedPipes {
  private port: unknown = null;
  private readonly associated = new Set<bigint>();
  private readonly outstanding = new Map<bigint, Operation>();
  private polling = false;
  /** A native 8-byte zero: the ByteOffset overlapped file objects require (pipes ignore it). */
  private zeroOffset: unknown = null;

  private ensurePort(pipe: unknown): void {
    const api = bind();
    const k = koffi();
    if (this.port === null) {
      this.port = api.CreateNewIoCompletionPort(-1, null, 0, 1);
      if (!this.port) throw new Win32Error('CreateIoCompletionPort', api.GetLastError());
      this.zeroOffset = k.alloc('uint8', 8);
      new Uint8Array(k.view(this.zeroOffset, 8)).fill(0);
    }
    const address = k.address(pipe) as bigint;
    if (this.associated.has(address)) return;
    if (!api.CreateIoCompletionPort(pipe, this.port, 0, 0)) throw new Win32Error('CreateIoCompletionPort (associate a pipe)', api.GetLastError());
    this.associated.add(address);
  }

  private issue(kind: 'NtReadFile' | 'NtWriteFile', pipe: unknown, data: Buffer | null, length: number): Promise<{ status: number; bytes: number; buffer: Buffer }> {
    this.ensurePort(pipe);
    const api = bind();
    const k = koffi();
    const overlapped = k.alloc('uint8', OVERLAPPED_SIZE);
    new Uint8Array(k.view(overlapped, OVERLAPPED_SIZE)).fill(0);
    const buffer = k.alloc('uint8', Math.max(length, 1));
    if (data) new Uint8Array(k.view(buffer, data.length)).set(data);
    return new Promise((resolve) => {
      const finish = (status: number, bytes: number): void => {
        // Copied out (Buffer.from of a Uint8Array copies) before the native buffer is freed.
        const copy = !isError(status) && bytes > 0 && !data ? Buffer.from(new Uint8Array(k.view(buffer, bytes))) : Buffer.alloc(0);
        k.free(overlapped);
        k.free(buffer);
        resolve({ status, bytes, buffer: copy });
      };
      const status = api[kind](pipe, null, null, overlapped, overlapped, buffer, length, this.zeroOffset, null) >>> 0;
      if (isError(status)) {
        finish(status, 0); // failed at once: no completion packet follows
        return;
      }
      this.outstanding.set(k.address(overlapped) as bigint, { overlapped, buffer, pipe, done: finish });
      this.poll(); // STATUS_PENDING or success: the completion packet follows
    });
  }

  /** The completion loop: one packet at a time, while anything is outstanding. */
  private poll(): void {
    if (this.polling || this.outstanding.size === 0) return;
    this.polling = true;
    const k = koffi();
    const bytes = [0];
    const key = [0];
    const overlapped: unknown[] = [null];
    callAsync<boolean>(bind().GetQueuedCompletionStatus, this.port, bytes, key, overlapped, INFINITE).then(
      () => {
        this.polling = false;
        // No packet at all (the port itself failed): nothing outstanding can complete any more.
        if (!overlapped[0]) {
          this.failOutstanding();
          return;
        }
        const address = k.address(overlapped[0]) as bigint;
        const operation = this.outstanding.get(address);
        if (operation) {
          this.outstanding.delete(address);
          // OVERLAPPED.Internal is the final NTSTATUS, InternalHigh the bytes moved.
          const view = new DataView(k.view(operation.overlapped, OVERLAPPED_SIZE));
          operation.done(view.getUint32(0, true), Number(view.getBigUint64(8, true)));
        }
        this.poll();
      },
      () => {
        this.polling = false;
        this.failOutstanding();
      },
    );
  }

  private failOutstanding(): void {
    const operations = [...this.outstanding.values()];
    this.outstanding.clear();
    for (const operation of operations) operation.done(STATUS_UNSUCCESSFUL, 0);
  }

  async read(pipe: unknown, length: number): Promise<Buffer | null> {
    for (;;) {
      const { status, bytes, buffer } = await this.issue('NtReadFile', pipe, null, length);
      if (END_OF_STREAM.has(status)) return null;
      if (isError(status)) throw new Win32Error('ReadFile', bind().RtlNtStatusToDosError(status));
      if (bytes > 0) return buffer;
      // A zero-byte read of a byte pipe is no data yet, not the end: read again.
    }
  }

  async write(pipe: unknown, data: Buffer): Promise<void> {
    for (let offset = 0; offset < data.length; ) {
      const chunk = data.subarray(offset, offset + 1024 * 1024);
      const { status, bytes } = await this.issue('NtWriteFile', pipe, chunk, chunk.length);
      if (isError(status)) throw new Win32Error('WriteFile', bind().RtlNtStatusToDosError(status));
      if (bytes === 0) throw new Win32Error('WriteFile (nothing written)', bind().RtlNtStatusToDosError(STATUS_UNSUCCESSFUL));
      offset += bytes;
    }
  }

  /** Cancels the handle's outstanding I/O, waits for it to finish, then closes the handle. */
  async close(pipe: unknown): Promise<void> {
    const api = bind();
    const k = koffi();
    const address = k.address(pipe) as bigint;
    const mine = [...this.outstanding.values()].filter((operation) => k.address(operation.pipe) === address);
    if (mine.length > 0) {
      const settled = mine.map((operation) => new Promise<void>((resolve) => {
        const done = operation.done;
        operation.done = (status, bytes) => {
          done(status, bytes);
          resolve();
        };
      }));
      api.CancelIoEx(pipe, null);
      await Promise.all(settled);
    }
    this.associated.delete(address);
    api.CloseHandle(pipe);
  }
}
