// Overlay whiteouts to OCI (AUFS-style) whiteouts, as Docker's archive package writes
// them in OverlayWhiteoutFormat (pkg/archive/archive_linux.go, overlayWhiteoutConverter):
// a character device 0:0 becomes an empty regular file `.wh.<name>` (mode 0600, owner and
// mtime of the device), and a directory with trusted.overlay.opaque = "y" is followed by
// an empty regular file `<dir>/.wh..wh..opq` with the directory's permission bits and owner.

import type { DeviceNumber, Inode } from '../../host/ext4/inode.js';
import type { Xattr } from '../../host/ext4/xattr.js';

export const WHITEOUT_PREFIX = Buffer.from('.wh.', 'latin1');
export const OPAQUE_MARKER = Buffer.from('.wh..wh..opq', 'latin1');
export const OPAQUE_XATTR = 'trusted.overlay.opaque';
/** Overlayfs's private state (origin, impure, redirect, nlink, ...): meaningless outside the mount. */
export const OVERLAY_XATTR_PREFIX = 'trusted.overlay.';
/** The mode Docker gives a whiteout file. */
export const WHITEOUT_FILE_MODE = 0o600;

/** Overlayfs's whiteout: a character device with number 0:0 (whatever its mode or links). */
export function isWhiteoutDevice(inode: Inode, device: () => DeviceNumber): boolean {
  if (inode.type !== 'chr') return false;
  const { major, minor } = device();
  return major === 0 && minor === 0;
}

/** Overlayfs's opaque directory: trusted.overlay.opaque is exactly "y". */
export function isOpaque(xattrs: Xattr[]): boolean {
  return xattrs.some((x) => x.name === OPAQUE_XATTR && x.value.length === 1 && x.value[0] === 0x79);
}

/** `.wh.<name>`. */
export function whiteoutName(name: Buffer): Buffer {
  return Buffer.concat([WHITEOUT_PREFIX, name]);
}

/** The tar path of `name` inside the directory at `dirPath` ('' is the layer root). */
export function childPath(dirPath: Buffer, name: Buffer): Buffer {
  return dirPath.length === 0 ? name : Buffer.concat([dirPath, Buffer.from('/'), name]);
}
