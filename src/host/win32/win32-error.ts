// Win32 error codes as Go's syscall.Errno prints them: the system's message text
// (FormatMessageW), or "Winapi error #<n>" when the system has none.

import { loadLibrary, type NativeFunction } from './koffi.js';

const FORMAT_MESSAGE_FROM_SYSTEM = 0x1000;
const FORMAT_MESSAGE_IGNORE_INSERTS = 0x200;

let formatMessage: NativeFunction | undefined;

export function win32ErrorText(code: number): string {
  formatMessage ??= loadLibrary('kernel32.dll').func('uint32 __stdcall FormatMessageW(uint32 flags, void *source, uint32 messageId, uint32 languageId, _Out_ uint16 *buffer, uint32 size, void *arguments)');
  const buffer = new Uint16Array(512);
  const length = formatMessage(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, null, code >>> 0, 0, buffer, buffer.length, null) as number;
  if (length === 0) return `Winapi error #${code}`;
  return String.fromCharCode(...buffer.subarray(0, length)).trim();
}
