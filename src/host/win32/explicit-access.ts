// EXPLICIT_ACCESS_W and TRUSTEE_W (accctrl.h) as koffi structs, laid out for x64 as
// windows-host.md §b gives them (TRUSTEE_W 32 bytes, EXPLICIT_ACCESS_W 48), and the one
// entry GrantVmGroupAccess passes to SetEntriesInAclW (go-winio pkg/security).

import { LcowError } from '../errors.js';
import type { Koffi } from './koffi.js';

export const GENERIC_READ = 0x80000000;
export const GRANT_ACCESS = 1;
export const NO_INHERITANCE = 0;
export const SUB_CONTAINERS_AND_OBJECTS_INHERIT = 3;
export const TRUSTEE_IS_SID = 0;
export const TRUSTEE_IS_WELL_KNOWN_GROUP = 5;
/** NT VIRTUAL MACHINE\Virtual Machines: every Hyper-V worker process is a member. */
export const VM_GROUP_SID = 'S-1-5-83-0';

let declared: { explicitAccess: unknown } | undefined;

/** Declares the two structs once per process (koffi type names are global). */
export function explicitAccessType(k: Koffi): unknown {
  if (!declared) {
    const trustee = k.struct('TRUSTEE_W', {
      pMultipleTrustee: 'void *',
      MultipleTrusteeOperation: 'int',
      TrusteeForm: 'int',
      TrusteeType: 'int',
      ptstrName: 'void *',
    });
    const explicitAccess = k.struct('EXPLICIT_ACCESS_W', {
      grfAccessPermissions: 'uint32',
      grfAccessMode: 'int',
      grfInheritance: 'uint32',
      Trustee: trustee,
    });
    if (k.sizeof(trustee) !== 32 || k.sizeof(explicitAccess) !== 48) throw new LcowError('INTERNAL', 'EXPLICIT_ACCESS_W does not have its x64 layout (32-bit Windows is not supported)');
    declared = { explicitAccess };
  }
  return declared.explicitAccess;
}

/** GENERIC_READ granted to `sid`, inherited by children when the object is a directory. */
export function vmGroupGrant(sid: unknown, isDirectory: boolean): Record<string, unknown> {
  return {
    grfAccessPermissions: GENERIC_READ,
    grfAccessMode: GRANT_ACCESS,
    grfInheritance: isDirectory ? SUB_CONTAINERS_AND_OBJECTS_INHERIT : NO_INHERITANCE,
    Trustee: { pMultipleTrustee: null, MultipleTrusteeOperation: 0, TrusteeForm: TRUSTEE_IS_SID, TrusteeType: TRUSTEE_IS_WELL_KNOWN_GROUP, ptstrName: sid },
  };
}
