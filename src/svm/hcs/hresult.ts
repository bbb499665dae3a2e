// HRESULTs that HCS v1 returns and hcsshim names (internal/hcs/errors.go, windows-host.md
// §a.2), decoded into errors with a stable code. A failure carries the HRESULT itself, so
// callers can test for one (the manager treats a pending terminate as success), the HCS
// operation it came from, and the ErrorMessage of the result JSON when HCS sent one.

import { LcowError } from '../../host/errors.js';

export const E_POINTER = 0x80004003;
export const HCS_E_OPERATION_PENDING = 0xc0370103;
export const HCS_E_INVALID_STATE = 0xc0370105;
export const HCS_E_UNEXPECTED_EXIT = 0xc0370106;
export const HCS_E_UNKNOWN_MESSAGE = 0xc037010b;
export const HCS_E_INVALID_JSON = 0xc037010d;
export const HCS_E_SYSTEM_NOT_FOUND = 0xc037010e;
export const HCS_E_SYSTEM_ALREADY_STOPPED = 0xc0370110;
export const HCS_E_SYSTEM_ALREADY_STOPPED_WARNING = 0x80370110;
export const HCS_E_PROCESS_ALREADY_STOPPED = 0x8037011f;

/** A Win32 error code as an HRESULT (FACILITY_WIN32), as HRESULT_FROM_WIN32 makes it. */
export function hresultFromWin32(code: number): number {
  return code === 0 ? 0 : ((code & 0xffff) | 0x80070000) >>> 0;
}

interface KnownCode {
  name: string;
  text: string;
}

/** Names as hcsshim's Err* variables (and the Win32 codes they wrap), texts as Windows words them. */
const KNOWN: ReadonlyMap<number, KnownCode> = new Map([
  [HCS_E_OPERATION_PENDING, { name: 'HCS_E_OPERATION_PENDING', text: 'the operation is pending' }],
  [HCS_E_INVALID_STATE, { name: 'HCS_E_INVALID_STATE', text: 'the requested virtual machine or container operation is not valid in the current state' }],
  [HCS_E_UNEXPECTED_EXIT, { name: 'HCS_E_UNEXPECTED_EXIT', text: 'the virtual machine or container exited unexpectedly' }],
  [HCS_E_UNKNOWN_MESSAGE, { name: 'HCS_E_UNKNOWN_MESSAGE', text: 'a message was received that the virtual machine or container did not understand' }],
  [HCS_E_INVALID_JSON, { name: 'HCS_E_INVALID_JSON', text: 'the JSON document is invalid' }],
  [HCS_E_SYSTEM_NOT_FOUND, { name: 'HCS_E_SYSTEM_NOT_FOUND', text: 'a virtual machine or container with the specified identifier does not exist' }],
  [HCS_E_SYSTEM_ALREADY_STOPPED, { name: 'HCS_E_SYSTEM_ALREADY_STOPPED', text: 'the virtual machine or container with the specified identifier is not running' }],
  [HCS_E_SYSTEM_ALREADY_STOPPED_WARNING, { name: 'HCS_E_SYSTEM_ALREADY_STOPPED', text: 'the virtual machine or container with the specified identifier is not running' }],
  [HCS_E_PROCESS_ALREADY_STOPPED, { name: 'HCS_E_PROCESS_ALREADY_STOPPED', text: 'the process has already exited' }],
  [hresultFromWin32(5), { name: 'ERROR_ACCESS_DENIED', text: 'Access is denied.' }],
  [hresultFromWin32(6), { name: 'ERROR_INVALID_HANDLE', text: 'The handle is invalid.' }],
  [hresultFromWin32(0x32), { name: 'ERROR_NOT_SUPPORTED', text: 'The request is not supported.' }],
  [hresultFromWin32(0x7f), { name: 'ERROR_PROC_NOT_FOUND', text: 'The specified procedure could not be found.' }],
  [hresultFromWin32(0x490), { name: 'ERROR_NOT_FOUND', text: 'Element not found.' }],
  [hresultFromWin32(2), { name: 'ERROR_FILE_NOT_FOUND', text: 'The system cannot find the file specified.' }],
  [hresultFromWin32(3), { name: 'ERROR_PATH_NOT_FOUND', text: 'The system cannot find the path specified.' }],
  [E_POINTER, { name: 'E_POINTER', text: 'Invalid pointer' }],
  [0x80004001, { name: 'E_NOTIMPL', text: 'Not implemented' }],
  [0x80070057, { name: 'E_INVALIDARG', text: 'The parameter is incorrect.' }],
  [0x8000ffff, { name: 'E_UNEXPECTED', text: 'Catastrophic failure' }],
]);

export function isFailure(hresult: number): boolean {
  return (hresult | 0) < 0;
}

export function hex(hresult: number): string {
  return `0x${(hresult >>> 0).toString(16).padStart(8, '0')}`;
}

/** `HCS_E_SYSTEM_NOT_FOUND (0xc037010e)`, or the bare hex for a code nobody named. */
export function describeHresult(hresult: number): { name: string; text: string } {
  const known = KNOWN.get(hresult >>> 0);
  if (known) return known;
  return { name: hex(hresult), text: 'unknown HRESULT' };
}

/** Error from an HCS call: `hcsshim::<operation> <id>: <text> (<name> <hex>)[: <ErrorMessage>]`. */
export class HcsError extends LcowError {
  readonly hresult: number;
  readonly operation: string;
  readonly errorMessage?: string;

  constructor(operation: string, id: string, hresult: number, errorMessage?: string, code = 'HCS_CALL_FAILED') {
    const { name, text } = describeHresult(hresult);
    const detail = errorMessage ? `: ${errorMessage}` : '';
    const label = name === hex(hresult) ? name : `${name} ${hex(hresult)}`;
    super(code, `hcsshim::${operation} ${id}: ${text} (${label})${detail}`);
    this.name = 'HcsError';
    this.hresult = hresult >>> 0;
    this.operation = operation;
    this.errorMessage = errorMessage;
  }
}

/** hcsshim's non-HRESULT failures of the notification model, with their texts. */
export type WaitFailure = 'timeout' | 'unexpected-exit' | 'service-disconnect' | 'closed';

const WAIT_FAILURES: Record<WaitFailure, { code: string; text: string }> = {
  timeout: { code: 'HCS_TIMEOUT', text: 'hcsshim: timeout waiting for notification' },
  'unexpected-exit': { code: 'HCS_UNEXPECTED_EXIT', text: 'unexpected container exit' },
  'service-disconnect': { code: 'HCS_SERVICE_DISCONNECT', text: 'lost communication with compute service' },
  closed: { code: 'HCS_HANDLE_CLOSED', text: 'hcsshim: the handle generating this notification has been closed' },
};

export class HcsWaitError extends LcowError {
  readonly failure: WaitFailure;
  readonly operation: string;

  constructor(operation: string, id: string, failure: WaitFailure, seconds?: number) {
    const { code, text } = WAIT_FAILURES[failure];
    const after = failure === 'timeout' && seconds !== undefined ? ` after ${seconds} s` : '';
    super(code, `hcsshim::${operation} ${id}: ${text}${after}`);
    this.name = 'HcsWaitError';
    this.failure = failure;
    this.operation = operation;
  }
}
