// One ext4 inode as the tar entries Docker's archive writer would give it (FileInfoHeader
// with fillGo18FileTypeBits, the hard-link map of tarAppender, the overlay whiteout
// converter), with the differences a layer.vhd needs to convert back to the same image:
// exact times (PAX mtime/atime/ctime where whole ustar seconds cannot hold them) and every
// xattr. uname/gname stay empty: the ids belong to the image, and the host's (or a VM's)
// name database says nothing about them; hcsshim ignores names anyway.

import { corrupt } from '../../host/ext4/fault.js';
import type { Inode } from '../../host/ext4/inode.js';
import type { Ext4Reader } from '../../host/ext4/reader.js';
import type { Xattr } from '../../host/ext4/xattr.js';
import { hcsshimOpaqueDirTimeOf, hcsshimTimeOf, kernelTimeOf } from './inode-times.js';
import type { LayerOrigin } from './layer-view.js';
import { TYPEFLAG, type TarEntry, type TarTime } from './tar-header.js';
import {
  childPath,
  isOpaque,
  isWhiteoutDevice,
  OPAQUE_MARKER,
  OPAQUE_XATTR,
  OVERLAY_XATTR_PREFIX,
  WHITEOUT_FILE_MODE,
  whiteoutName,
} from './whiteouts.js';

/** A header, and for a regular file the inode whose bytes follow it. */
export interface TarItem {
  header: TarEntry;
  data?: Inode;
}

const TYPEFLAGS: Partial<Record<Inode['type'], number>> = {
  file: TYPEFLAG.file,
  dir: TYPEFLAG.dir,
  symlink: TYPEFLAG.symlink,
  chr: TYPEFLAG.char,
  blk: TYPEFLAG.block,
  fifo: TYPEFLAG.fifo,
};

const ZERO_TIME: TarTime = { seconds: 0, nanoseconds: 0 };
const TYPE_AND_PERMISSIONS = 0o177777;
const SLASH = Buffer.from('/');

interface Times {
  mtime: TarTime;
  atime?: TarTime;
  ctime?: TarTime;
}

/** Per-export state: how to read times, and the first name of each hard-linked inode. */
export class TarEntryMaker {
  /** Inode number -> tar path of its first name, for inodes with more than one link. */
  private readonly firstNames = new Map<number, Buffer>();

  constructor(private readonly reader: Ext4Reader, private readonly origin: LayerOrigin) {}

  private times(inode: Inode, followedByOpaqueMarker: boolean): Times {
    if (this.origin === 'kernel') {
      // Docker: mtime truncated to the second, atime and ctime dropped (a read changes atime).
      return { mtime: { seconds: kernelTimeOf(inode.mtime).seconds, nanoseconds: 0 } };
    }
    const read = followedByOpaqueMarker ? hcsshimOpaqueDirTimeOf : hcsshimTimeOf;
    return { mtime: read(inode.mtime) ?? ZERO_TIME, atime: read(inode.atime), ctime: read(inode.ctime) };
  }

  /** The xattrs to write as SCHILY.xattr records. */
  private exportedXattrs(xattrs: Xattr[], opaque: boolean): TarEntry['xattrs'] {
    const kept = xattrs.filter((x) => {
      // Docker drops the opaque xattr of a directory it writes a marker for.
      if (opaque && x.name === OPAQUE_XATTR) return false;
      return this.origin === 'tar2ext4' || !x.name.startsWith(OVERLAY_XATTR_PREFIX);
    });
    return kept.map((x) => ({ name: x.nameBytes, value: x.value }));
  }

  private base(inode: Inode, name: Buffer, typeflag: number, times: Times): TarEntry {
    return { name, typeflag, mode: inode.mode & TYPE_AND_PERMISSIONS, uid: inode.uid, gid: inode.gid, size: 0, ...times };
  }

  /** `<dir>/.wh..wh..opq` for an opaque directory at `dirPath` ('' is the layer root). */
  private opaqueMarker(dir: Inode, dirPath: Buffer): TarItem {
    const header: TarEntry = {
      name: childPath(dirPath, OPAQUE_MARKER),
      typeflag: TYPEFLAG.file,
      mode: dir.mode & 0o777,
      uid: dir.uid,
      gid: dir.gid,
      size: 0,
      mtime: ZERO_TIME,
    };
    return { header };
  }

  /** A directory's header (name ends in '/'), and its opaque marker when it has one. */
  directory(dir: Inode, path: Buffer, tarName: Buffer): TarItem[] {
    const xattrs = this.reader.xattrs(dir);
    const opaque = isOpaque(xattrs);
    const header = this.base(dir, tarName, TYPEFLAG.dir, this.times(dir, opaque));
    header.xattrs = this.exportedXattrs(xattrs, opaque);
    return opaque ? [{ header }, this.opaqueMarker(dir, path)] : [{ header }];
  }

  /**
   * The layer root: `./` only where it differs from the root every conversion starts
   * from (0755 root:root, times 0, no xattrs), so a plain layer's tar has no root entry,
   * as Docker's has none; then `.wh..wh..opq` if the root is opaque.
   */
  root(root: Inode): TarItem[] {
    const items = this.directory(root, Buffer.alloc(0), Buffer.from('./'));
    const header = items[0].header;
    const plain =
      this.origin === 'kernel' ||
      ((root.mode & TYPE_AND_PERMISSIONS) === 0o40755 && root.uid === 0 && root.gid === 0 &&
        header.mtime.seconds === 0 && header.mtime.nanoseconds === 0 && !header.atime && !header.ctime &&
        (header.xattrs ?? []).length === 0);
    return plain ? items.slice(1) : items;
  }

  /** The entries for `name` in the directory at `dirPath`; none for a socket (Docker skips them). */
  entry(dirPath: Buffer, name: Buffer, inode: Inode): TarItem[] {
    const path = childPath(dirPath, name);
    if (inode.type === 'dir') return this.directory(inode, path, Buffer.concat([path, SLASH]));
    if (isWhiteoutDevice(inode, () => this.reader.device(inode))) {
      const { mtime } = this.times(inode, false);
      const header: TarEntry = {
        name: childPath(dirPath, whiteoutName(name)),
        typeflag: TYPEFLAG.file,
        mode: WHITEOUT_FILE_MODE,
        uid: inode.uid,
        gid: inode.gid,
        size: 0,
        mtime: { seconds: mtime.seconds, nanoseconds: 0 },
      };
      return [{ header }];
    }
    if (inode.type === 'sock') return [];
    const typeflag = TYPEFLAGS[inode.type];
    if (typeflag === undefined) throw corrupt(`inode ${inode.number} (${path.toString('utf8')}) has no valid file type (mode 0${inode.mode.toString(8)})`);
    if (inode.linksCount > 1) {
      const first = this.firstNames.get(inode.number);
      if (first) return [{ header: this.hardLink(inode, path, first) }];
      this.firstNames.set(inode.number, path);
    }
    const header = this.base(inode, path, typeflag, this.times(inode, false));
    header.xattrs = this.exportedXattrs(this.reader.xattrs(inode), false);
    switch (inode.type) {
      case 'file':
        header.size = inode.size;
        return [{ header, data: inode }];
      case 'symlink':
        header.linkname = this.reader.readlink(inode);
        return [{ header }];
      case 'chr':
      case 'blk': {
        const { major, minor } = this.reader.device(inode);
        Object.assign(header, { devmajor: major, devminor: minor });
        return [{ header }];
      }
      default:
        return [{ header }];
    }
  }

  /** A later name of a hard-linked inode: a link to the first name (whole-second mtime, no xattrs: the first entry carries them). */
  private hardLink(inode: Inode, path: Buffer, first: Buffer): TarEntry {
    const { mtime } = this.times(inode, false);
    const header = this.base(inode, path, TYPEFLAG.hardlink, { mtime: { seconds: mtime.seconds, nanoseconds: 0 } });
    header.linkname = first;
    return header;
  }
}

/** True for the lost+found every conversion (and mke2fs) creates at the root, still as it was made: not layer content. */
export function isPristineLostFound(reader: Ext4Reader, origin: LayerOrigin, inode: Inode): boolean {
  if (inode.type !== 'dir' || (inode.mode & TYPE_AND_PERMISSIONS) !== 0o40700 || inode.uid !== 0 || inode.gid !== 0) return false;
  if (origin === 'tar2ext4') {
    for (const t of [inode.atime, inode.mtime, inode.ctime]) if (t.lo !== 0 || t.extra !== 0) return false;
  }
  if (reader.xattrs(inode).length > 0) return false;
  for (const entry of reader.entries(inode)) if (!entry.dot) return false;
  return true;
}

export const LOST_AND_FOUND = Buffer.from('lost+found');
