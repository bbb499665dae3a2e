// Opens the ext4 inside a layer's disk for reading: layer.vhd (footer left out) or the
// virtual disk of sandbox.vhdx, rooted where the layer's own content is.

import { Ext4Reader } from '../host/ext4/reader.js';
import { openImageSource } from '../host/ext4/source.js';
import { openVhdxSource } from '../host/vhdx/reader.js';
import { sandboxView, type LayerView } from './export/layer-tar.js';
import type { LayerDisk } from './layer-disk.js';

export function openLayerView(disk: LayerDisk): LayerView {
  const source = disk.readOnly ? openImageSource(disk.hostPath) : openVhdxSource(disk.hostPath);
  let reader: Ext4Reader;
  try {
    reader = Ext4Reader.open(source);
  } catch (err) {
    source.close();
    throw err;
  }
  // A sandbox was written by the kernel: its times and overlay xattrs are read as such.
  return disk.readOnly ? { reader, root: '/' } : sandboxView(reader);
}

/** Opens every disk, closing what was opened when one fails. */
export function openLayerViews(disks: LayerDisk[]): LayerView[] {
  const views: LayerView[] = [];
  try {
    for (const disk of disks) views.push(openLayerView(disk));
  } catch (err) {
    closeLayerViews(views);
    throw err;
  }
  return views;
}

export function closeLayerViews(views: LayerView[]): void {
  for (const view of views) view.reader.close();
}
