// File names of `create`'s outputs. dmverity-vhd names each layer VHD by the hex of the
// layer's diff id (the config's rootfs.diff_ids entry, the uncompressed digest), without
// the "sha256:" prefix: integrity-vhd createvhd.go moves each VHD to
// `filepath.Join(outDir, layerDiffId+".vhd")`, layerDiffId being splitDigest(diff_id)'s
// hex (docker.go, oci.go); hcsshim's older cmd/dmverity-vhd did the same through the
// config's diff_ids or the `blobs/sha256/<hex>` names of uncompressed Docker 25 layers.
// Its `-hdv` hash device is written as `<member path with "/" as "_">.hash-dev.vhd`
// instead, which does not pair with the VHD's name; lcow names both by the diff id, so
// `<hex>.vhd` and `<hex>.hash-dev.vhd` sit side by side.

import { join } from 'node:path';
import type { Digest } from './digest.js';

export const VHD_SUFFIX = '.vhd';
export const HASH_DEVICE_SUFFIX = '.hash-dev.vhd';

/** The diff id was held to hex of its algorithm's length by parseDigest, so it is one safe path element. */
export function layerVhdPath(directory: string, diffId: Digest): string {
  return join(directory, `${diffId.hex}${VHD_SUFFIX}`);
}

export function hashDevicePath(directory: string, diffId: Digest): string {
  return join(directory, `${diffId.hex}${HASH_DEVICE_SUFFIX}`);
}
