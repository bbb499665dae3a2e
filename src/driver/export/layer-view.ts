// What one layer disk holds for the exporters: its ext4 reader, the directory that is the
// layer's content, and who wrote it (which decides how stored times and xattrs read back).

import type { Ext4Reader } from '../../host/ext4/reader.js';
import type { Inode } from '../../host/ext4/inode.js';
import { LcowError } from '../../host/errors.js';

/**
 * 'tar2ext4': a layer.vhd, written by hcsshim's converter (or ours): times are read with
 * hcsshim's encoding and kept exactly, so the export converts back to the same image.
 * 'kernel': a sandbox the Linux kernel wrote: the kernel's time encoding, and the tar
 * follows Docker's writer (whole-second mtimes, no atime/ctime, no overlay-private xattrs).
 */
export type LayerOrigin = 'tar2ext4' | 'kernel';

export interface LayerView {
  reader: Ext4Reader;
  /** '/' for layer.vhd; '/upper' for a used sandbox, '/' for one without upper/. */
  root: string;
  /** Default 'tar2ext4'. */
  origin?: LayerOrigin;
}

const UPPER = '/upper';

/** '/upper' when the sandbox has that directory (overlay was used), else '/'. */
export function sandboxRoot(reader: Ext4Reader): string {
  const upper = reader.lookup(UPPER);
  return upper !== undefined && reader.inode(upper).type === 'dir' ? UPPER : '/';
}

/** The view of a sandbox.vhdx's file system. */
export function sandboxView(reader: Ext4Reader): LayerView {
  return { reader, root: sandboxRoot(reader), origin: 'kernel' };
}

/** The view's root directory inode; a root that is missing or not a directory is an error. */
export function viewRoot(view: LayerView): Inode {
  const number = view.reader.lookup(view.root);
  if (number === undefined) throw new LcowError('LAYER_ROOT_MISSING', `layer root ${view.root} does not exist in the disk`);
  const inode = view.reader.inode(number);
  if (inode.type !== 'dir') throw new LcowError('LAYER_ROOT_MISSING', `layer root ${view.root} is not a directory (${inode.type})`);
  return inode;
}
