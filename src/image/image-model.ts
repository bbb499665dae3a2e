// What an image reader (docker-archive.ts, oci-layout.ts) hands the converter: the
// layers in order, base first, each with the file holding it and the digests it must
// have. Everything else in a manifest is left where it is.

import type { Digest } from './digest.js';
import type { Platform } from './platform.js';

export interface LayerRef {
  /** Position in the manifest, 0 for the base layer (dmverity-vhd's "Layer N"). */
  index: number;
  /** The file holding the layer, in the image's own naming (blobs/sha256/..., <id>/layer.tar). */
  blob: string;
  /** The config's rootfs.diff_ids entry: the digest of the uncompressed tar. */
  diffId: Digest;
  /** The digest the stored blob must have (the manifest's descriptor, or the blob's own name). */
  digest?: Digest;
  /** The stored size the manifest's descriptor gives. */
  size?: number;
  mediaType?: string;
}

export interface ResolvedImage {
  format: 'docker-archive' | 'oci-layout';
  /** The platform the config names, when it names one. */
  platform?: Platform;
  /** The manifest's digest (OCI) or the config's (docker save's image id). */
  id?: Digest;
  layers: LayerRef[];
}
