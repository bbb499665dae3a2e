// The few Linux system calls the linux backend needs, called through koffi (as
// src/host/copy-range.ts does): mount(2), umount2(2), syncfs(2) and ioctl(2) for loop
// devices. Failures throw SyscallError with the errno's name and text.

import { createRequire } from 'node:module';
import { constants } from 'node:os';
import { LcowError } from '../../host/errors.js';

interface Libc {
  ioctl: (fd: number, request: number, ...typedArgs: unknown[]) => number;
  mount: (source: string, target: string, fstype: string | null, flags: number, data: string | null) => number;
  umount2: (target: string, flags: number) => number;
  syncfs: (fd: number) => number;
  strerror: (errno: number) => string;
  errno: () => number;
}

let loaded: Libc | undefined;

function libc(): Libc {
  if (loaded) return loaded;
  if (process.platform !== 'linux') {
    throw new LcowError('SVM_BACKEND_UNAVAILABLE', `the linux backend needs Linux (this is ${process.platform}); choose lcow.backend=hcs on Windows`);
  }
  let koffi;
  try {
    koffi = createRequire(import.meta.url)('koffi');
  } catch (err) {
    throw new LcowError('SVM_BACKEND_UNAVAILABLE', `the linux backend needs koffi, which does not load here: ${(err as Error).message}`, { cause: err });
  }
  const c = koffi.load('libc.so.6');
  loaded = {
    ioctl: c.func('int ioctl(int fd, unsigned long request, ...)'),
    mount: c.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)'),
    umount2: c.func('int umount2(const char *target, int flags)'),
    syncfs: c.func('int syncfs(int fd)'),
    strerror: c.func('const char *strerror(int errnum)'),
    errno: () => koffi.errno() as number,
  };
  return loaded;
}

const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, value]) => [value, name]));

/** A failed system call: `code` is the errno's name (EBUSY), as Node's own errors have it. */
export class SyscallError extends Error {
  readonly errno: number;
  readonly code: string;

  constructor(call: string, errno: number) {
    const code = ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
    super(`${call}: ${code} (${libc().strerror(errno)})`);
    this.name = 'SyscallError';
    this.errno = errno;
    this.code = code;
  }
}

function check(call: string, result: number): number {
  if (result < 0) throw new SyscallError(call, libc().errno());
  return result;
}

// <linux/mount.h>
export const MS_RDONLY = 0x1;
export const MS_REMOUNT = 0x20;
export const MS_BIND = 0x1000;
export const MNT_DETACH = 0x2;
export const UMOUNT_NOFOLLOW = 0x8;

export function mount(source: string, target: string, fstype: string | null, flags: number, data: string | null): void {
  check(`mount ${target}`, libc().mount(source, target, fstype, flags, data));
}

export function umount(target: string, flags = 0): void {
  check(`umount ${target}`, libc().umount2(target, flags | UMOUNT_NOFOLLOW));
}

export function syncfs(fd: number, what: string): void {
  check(`syncfs ${what}`, libc().syncfs(fd));
}

/** ioctl with an integer argument (or none). */
export function ioctlValue(fd: number, request: number, value: number, what: string): number {
  return check(what, libc().ioctl(fd, request, 'unsigned long', value));
}

/** ioctl with a pointer to `buffer`. */
export function ioctlBuffer(fd: number, request: number, buffer: Buffer, what: string): number {
  return check(what, libc().ioctl(fd, request, 'void *', buffer));
}
