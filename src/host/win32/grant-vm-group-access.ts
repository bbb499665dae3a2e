// GrantVmGroupAccess (windows-host.md §b): gives the Hyper-V "Virtual Machines" group
// (S-1-5-83-0) read access to a layer or sandbox disk, so a utility VM's worker process
// can open it. computecore.dll's HcsGrantVmGroupAccess does it where Windows exports it;
// otherwise go-winio's sequence: stat, CreateFileW (READ_CONTROL | WRITE_DAC), GetSecurityInfo
// (DACL), ConvertStringSidToSidW, SetEntriesInAclW (the old DACL with the grant merged in),
// SetSecurityInfo; every failure is named by its step as go-winio names it:
// `GrantVmGroupAccess: <step> <path>: <Windows error text>`.

import { statSync } from 'node:fs';
import { LcowError } from '../errors.js';
import { explicitAccessType, VM_GROUP_SID, vmGroupGrant } from './explicit-access.js';
import { koffi, loadLibrary, type Koffi, type NativeFunction } from './koffi.js';
import { longPath } from './long-path.js';
import { win32ErrorText } from './win32-error.js';

const READ_CONTROL = 0x20000;
const WRITE_DAC = 0x40000;
const FILE_SHARE_READ = 0x1;
const FILE_SHARE_WRITE = 0x2;
const OPEN_EXISTING = 3;
const FILE_ATTRIBUTE_NORMAL = 0x80;
const FILE_FLAG_BACKUP_SEMANTICS = 0x02000000;
const SE_FILE_OBJECT = 1;
const DACL_SECURITY_INFORMATION = 4;
const SDDL_REVISION_1 = 1;
const TITLE = 'GrantVmGroupAccess:';

export interface GrantOptions {
  /** computecore.dll, or another implementation of HcsGrantVmGroupAccess (tests); null: never try it. */
  computecore?: string | null;
  /** Also report the DACL that was set, as SDDL. */
  describe?: boolean;
}

export interface GrantReport {
  method: 'HcsGrantVmGroupAccess' | 'advapi32';
  /** The Windows calls made, in order. */
  calls: string[];
  /** With `describe`: the new DACL as SDDL (`D:...`), for the advapi32 sequence. */
  daclSddl?: string;
}

interface Advapi {
  CreateFileW: NativeFunction;
  CloseHandle: NativeFunction;
  GetLastError: NativeFunction;
  LocalFree: NativeFunction;
  GetSecurityInfo: NativeFunction;
  ConvertStringSidToSidW: NativeFunction;
  SetEntriesInAclW: NativeFunction;
  SetSecurityInfo: NativeFunction;
  InitializeSecurityDescriptor: NativeFunction;
  SetSecurityDescriptorDacl: NativeFunction;
  ConvertSecurityDescriptorToStringSecurityDescriptorW: NativeFunction;
  GetNamedSecurityInfoW: NativeFunction;
}

let advapi: Advapi | undefined;

function bindAdvapi(k: Koffi): Advapi {
  if (advapi) return advapi;
  const kernel32 = loadLibrary('kernel32.dll');
  const advapi32 = loadLibrary('advapi32.dll');
  const explicitAccess = explicitAccessType(k);
  advapi = {
    // INVALID_HANDLE_VALUE is -1: the handle comes back as an integer to compare.
    CreateFileW: kernel32.func('intptr_t __stdcall CreateFileW(const char16_t *name, uint32 access, uint32 share, void *security, uint32 disposition, uint32 flags, void *template)'),
    CloseHandle: kernel32.func('bool __stdcall CloseHandle(intptr_t handle)'),
    GetLastError: kernel32.func('uint32 __stdcall GetLastError()'),
    LocalFree: kernel32.func('void * __stdcall LocalFree(void *memory)'),
    GetSecurityInfo: advapi32.func('uint32 __stdcall GetSecurityInfo(intptr_t handle, int objectType, uint32 information, void *owner, void *group, _Out_ void **dacl, void *sacl, _Out_ void **descriptor)'),
    ConvertStringSidToSidW: advapi32.func('bool __stdcall ConvertStringSidToSidW(const char16_t *text, _Out_ void **sid)'),
    SetEntriesInAclW: advapi32.func('SetEntriesInAclW', 'uint32', ['uint32', k.pointer(explicitAccess), 'void *', k.out(k.pointer('void *'))]),
    SetSecurityInfo: advapi32.func('uint32 __stdcall SetSecurityInfo(intptr_t handle, int objectType, uint32 information, void *owner, void *group, void *dacl, void *sacl)'),
    InitializeSecurityDescriptor: advapi32.func('bool __stdcall InitializeSecurityDescriptor(void *descriptor, uint32 revision)'),
    SetSecurityDescriptorDacl: advapi32.func('bool __stdcall SetSecurityDescriptorDacl(void *descriptor, bool present, void *dacl, bool defaulted)'),
    ConvertSecurityDescriptorToStringSecurityDescriptorW: advapi32.func('bool __stdcall ConvertSecurityDescriptorToStringSecurityDescriptorW(void *descriptor, uint32 revision, uint32 information, _Out_ void **text, _Out_ uint32 *length)'),
    GetNamedSecurityInfoW: advapi32.func('uint32 __stdcall GetNamedSecurityInfoW(const char16_t *name, int objectType, uint32 information, void *owner, void *group, _Out_ void **dacl, void *sacl, _Out_ void **descriptor)'),
  };
  return advapi;
}

/** A failed step, worded as go-winio words it; the Win32 code (or HRESULT) is kept. */
export class GrantError extends LcowError {
  readonly step: string;
  readonly win32: number;

  constructor(step: string, path: string, win32: number, extra = '') {
    super('WIN32_GRANT_FAILED', `${TITLE} ${step} ${path}${extra}: ${win32ErrorText(win32)}`);
    this.name = 'GrantError';
    this.step = step;
    this.win32 = win32;
  }
}

function failed(step: string, path: string, win32: number, extra = ''): GrantError {
  return new GrantError(step, path, win32, extra);
}

/** HcsGrantVmGroupAccess when `dll` loads and exports it; undefined otherwise. */
function hcsGrant(dll: string): NativeFunction | undefined {
  try {
    return loadLibrary(dll).func('uint32 __stdcall HcsGrantVmGroupAccess(const char16_t *filePath)');
  } catch {
    return undefined;
  }
}

/** A DACL as SDDL, through a security descriptor made for the purpose. */
function daclAsSddl(api: Advapi, k: Koffi, dacl: unknown): string {
  const descriptor = Buffer.alloc(64); // SECURITY_DESCRIPTOR is 40 bytes on x64
  if (!api.InitializeSecurityDescriptor(descriptor, 1) || !api.SetSecurityDescriptorDacl(descriptor, true, dacl, false)) {
    throw new LcowError('WIN32_GRANT_FAILED', `${TITLE} describing the DACL failed: ${win32ErrorText(api.GetLastError())}`);
  }
  const text: unknown[] = [null];
  if (!api.ConvertSecurityDescriptorToStringSecurityDescriptorW(descriptor, SDDL_REVISION_1, DACL_SECURITY_INFORMATION, text, [0])) {
    throw new LcowError('WIN32_GRANT_FAILED', `${TITLE} describing the DACL failed: ${win32ErrorText(api.GetLastError())}`);
  }
  try {
    return k.decode(text[0], 'char16_t', -1) as string;
  } finally {
    api.LocalFree(text[0]);
  }
}

/** The DACL of `path` as the file system has it now, as SDDL. */
export function daclSddlOf(path: string): string {
  const k = koffi();
  const api = bindAdvapi(k);
  const dacl: unknown[] = [null];
  const descriptor: unknown[] = [null];
  const status = api.GetNamedSecurityInfoW(longPath(path), SE_FILE_OBJECT, DACL_SECURITY_INFORMATION, null, null, dacl, null, descriptor) as number;
  if (status !== 0) throw failed('GetNamedSecurityInfo', path, status);
  try {
    return daclAsSddl(api, k, dacl[0]);
  } finally {
    api.LocalFree(descriptor[0]);
  }
}

export async function grantVmGroupAccess(path: string, options: GrantOptions = {}): Promise<GrantReport> {
  const computecore = options.computecore === undefined ? 'computecore.dll' : options.computecore;
  const grant = computecore === null ? undefined : hcsGrant(computecore);
  if (grant) {
    const hresult = grant(longPath(path)) as number;
    if ((hresult | 0) < 0) throw failed('HcsGrantVmGroupAccess', path, hresult);
    return { method: 'HcsGrantVmGroupAccess', calls: ['HcsGrantVmGroupAccess'] };
  }
  return advapiGrant(path, options.describe === true);
}

function advapiGrant(path: string, describe: boolean): GrantReport {
  const calls: string[] = ['os.Stat'];
  let isDirectory: boolean;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch (err) {
    throw new LcowError('WIN32_GRANT_FAILED', `${TITLE} os.Stat ${path}: ${(err as Error).message}`, { cause: err });
  }
  const k = koffi();
  const api = bindAdvapi(k);
  calls.push('CreateFileW');
  const handle = api.CreateFileW(longPath(path), READ_CONTROL | WRITE_DAC, FILE_SHARE_READ | FILE_SHARE_WRITE, null, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL | (isDirectory ? FILE_FLAG_BACKUP_SEMANTICS : 0), null) as number | bigint;
  if (Number(handle) === -1) throw failed('windows.CreateFile', path, api.GetLastError());
  try {
    const oldDacl: unknown[] = [null];
    const descriptor: unknown[] = [null];
    calls.push('GetSecurityInfo');
    const got = api.GetSecurityInfo(handle, SE_FILE_OBJECT, DACL_SECURITY_INFORMATION, null, null, oldDacl, null, descriptor) as number;
    if (got !== 0) throw failed('GetSecurityInfo', path, got);
    try {
      const sid: unknown[] = [null];
      calls.push('ConvertStringSidToSidW');
      if (!api.ConvertStringSidToSidW(VM_GROUP_SID, sid)) throw failed('windows.StringToSid', path, api.GetLastError(), ` ${VM_GROUP_SID}`);
      try {
        const newDacl: unknown[] = [null];
        calls.push('SetEntriesInAclW');
        const merged = api.SetEntriesInAclW(1, vmGroupGrant(sid[0], isDirectory), oldDacl[0], newDacl) as number;
        if (merged !== 0) throw failed('SetEntriesInAcl', path, merged);
        try {
          calls.push('SetSecurityInfo');
          const set = api.SetSecurityInfo(handle, SE_FILE_OBJECT, DACL_SECURITY_INFORMATION, null, null, newDacl[0], null) as number;
          if (set !== 0) throw failed('SetSecurityInfo', path, set);
          return { method: 'advapi32', calls, daclSddl: describe ? daclAsSddl(api, k, newDacl[0]) : undefined };
        } finally {
          api.LocalFree(newDacl[0]);
        }
      } finally {
        api.LocalFree(sid[0]);
      }
    } finally {
      api.LocalFree(descriptor[0]);
    }
  } finally {
    api.CloseHandle(handle);
  }
}
