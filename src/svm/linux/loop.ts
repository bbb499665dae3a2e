// Loop devices through the kernel's ioctls (<linux/loop.h>), not losetup: every device
// is configured with LO_FLAGS_AUTOCLEAR, so it detaches itself when its last user goes.
// We hold the device open only until the ext4 mount holds it; from then on unmounting
// is all it takes, and a process killed at any point leaves either nothing or a mount
// that InitDriver finds by path. No dependency on util-linux versions or output formats.

import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { LcowError } from '../../host/errors.js';
import { ioctlBuffer, ioctlValue, SyscallError } from './libc.js';

const LOOP_SET_FD = 0x4c00;
const LOOP_CLR_FD = 0x4c01;
const LOOP_SET_STATUS64 = 0x4c04;
const LOOP_CONFIGURE = 0x4c0a;
const LOOP_CTL_GET_FREE = 0x4c82;

const LO_FLAGS_READ_ONLY = 1;
const LO_FLAGS_AUTOCLEAR = 4;

// struct loop_info64: lo_device, lo_inode, lo_rdevice, lo_offset, lo_sizelimit (u64 each),
// lo_number, lo_encrypt_type, lo_encrypt_key_size, lo_flags (u32 each), lo_file_name[64],
// lo_crypt_name[64], lo_encrypt_key[32], lo_init[2] (u64).
const INFO_SIZE = 232;
const INFO_OFFSET = 24;
const INFO_SIZELIMIT = 32;
const INFO_FLAGS = 52;
const INFO_FILE_NAME = 56;
const FILE_NAME_SIZE = 64;
// struct loop_config: fd (u32), block_size (u32), info (loop_info64), __reserved[8] (u64).
const CONFIG_SIZE = 8 + INFO_SIZE + 64;
const CONFIG_INFO = 8;

/** Another process can take the free device between GET_FREE and CONFIGURE: try again. */
const MAX_ATTEMPTS = 32;

export interface LoopOptions {
  /** Where the ext4 bytes start in the file. */
  offset: number;
  /** How many bytes the device shows. */
  sizeLimit: number;
  readOnly: boolean;
}

/** A configured loop device, still held open by `fd` (close it once something else holds the device). */
export interface LoopDevice {
  path: string;
  fd: number;
}

function loopInfo(file: string, options: LoopOptions): Buffer {
  const info = Buffer.alloc(INFO_SIZE);
  info.writeBigUInt64LE(BigInt(options.offset), INFO_OFFSET);
  info.writeBigUInt64LE(BigInt(options.sizeLimit), INFO_SIZELIMIT);
  info.writeUInt32LE(LO_FLAGS_AUTOCLEAR | (options.readOnly ? LO_FLAGS_READ_ONLY : 0), INFO_FLAGS);
  // Shown as the device's backing file only when the kernel cannot tell the path itself.
  Buffer.from(file).subarray(0, FILE_NAME_SIZE - 1).copy(info, INFO_FILE_NAME);
  return info;
}

/** LOOP_CONFIGURE (Linux 5.8+) in one call; older kernels get LOOP_SET_FD + LOOP_SET_STATUS64. */
function configure(deviceFd: number, fileFd: number, info: Buffer, device: string): void {
  const config = Buffer.alloc(CONFIG_SIZE);
  config.writeUInt32LE(fileFd, 0);
  info.copy(config, CONFIG_INFO);
  try {
    ioctlBuffer(deviceFd, LOOP_CONFIGURE, config, `LOOP_CONFIGURE ${device}`);
    return;
  } catch (err) {
    if (!(err instanceof SyscallError) || (err.code !== 'EINVAL' && err.code !== 'ENOTTY')) throw err;
  }
  ioctlValue(deviceFd, LOOP_SET_FD, fileFd, `LOOP_SET_FD ${device}`);
  try {
    ioctlBuffer(deviceFd, LOOP_SET_STATUS64, info, `LOOP_SET_STATUS64 ${device}`);
  } catch (err) {
    ioctlValue(deviceFd, LOOP_CLR_FD, 0, `LOOP_CLR_FD ${device}`);
    throw err;
  }
}

/** Maps `options.sizeLimit` bytes of `file` from `options.offset` onto a free loop device. */
export function attachLoop(file: string, options: LoopOptions): LoopDevice {
  const fileFd = openSync(file, options.readOnly ? 'r' : 'r+');
  try {
    const control = openSync('/dev/loop-control', 'r+');
    try {
      for (let attempt = 1; ; attempt += 1) {
        const number = ioctlValue(control, LOOP_CTL_GET_FREE, 0, 'LOOP_CTL_GET_FREE');
        const path = `/dev/loop${number}`;
        const deviceFd = openDevice(path);
        try {
          configure(deviceFd, fileFd, loopInfo(file, options), path);
          return { path, fd: deviceFd };
        } catch (err) {
          closeSync(deviceFd);
          if (!(err instanceof SyscallError && err.code === 'EBUSY') || attempt === MAX_ATTEMPTS) throw err;
        }
      }
    } finally {
      closeSync(control);
    }
  } catch (err) {
    throw new LcowError('SVM_LOOP_FAILED', `cannot attach a loop device to ${file}: ${loopHint(err)}`, { cause: err });
  } finally {
    closeSync(fileFd); // the device holds its own reference to the file
  }
}

/** devtmpfs creates the node when LOOP_CTL_GET_FREE adds a device; give it a moment. */
function openDevice(path: string): number {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return openSync(path, 'r+');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt === 50) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
  }
}

function loopHint(err: unknown): string {
  const message = (err as Error).message;
  const code = (err as { code?: string }).code;
  if (code === 'EPERM' || code === 'EACCES') return `${message}; loop devices need root (CAP_SYS_ADMIN)`;
  if (code === 'ENOENT') return `${message}; this kernel has no loop devices (modprobe loop)`;
  return message;
}

/** LOOP_CLR_FD: detaches now, or (device still in use) as soon as its last user goes. */
export function detachLoop(path: string): void {
  const fd = openSync(path, 'r');
  try {
    ioctlValue(fd, LOOP_CLR_FD, 0, `LOOP_CLR_FD ${path}`);
  } catch (err) {
    if (!(err instanceof SyscallError && err.code === 'ENXIO')) throw err; // ENXIO: already detached
  } finally {
    closeSync(fd);
  }
}

export interface LoopStatus {
  path: string;
  /** The file it maps, as the kernel names it (" (deleted)" removed). */
  backingFile: string;
}

/** Every configured loop device, from sysfs. */
export function loopDevices(): LoopStatus[] {
  let names: string[];
  try {
    names = readdirSync('/sys/block').filter((name) => /^loop[0-9]+$/.test(name));
  } catch {
    return [];
  }
  const devices: LoopStatus[] = [];
  for (const name of names) {
    const backingFile = backingFileOf(`/dev/${name}`);
    if (backingFile !== undefined) devices.push({ path: `/dev/${name}`, backingFile });
  }
  return devices;
}

/** The file behind a loop device; undefined when it maps nothing. */
export function backingFileOf(device: string): string | undefined {
  const name = device.replace(/^\/dev\//, '');
  try {
    return readFileSync(`/sys/block/${name}/loop/backing_file`, 'utf8').replace(/\n$/, '').replace(/ \(deleted\)$/, '');
  } catch {
    return undefined;
  }
}
