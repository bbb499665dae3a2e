// The image config (image-spec config.md): its rootfs.diff_ids, one per layer in order,
// and the platform it was built for. The same document in `docker save` archives and
// OCI layouts.

import { parseDigest, type Digest } from './digest.js';
import { malformed } from './image-files.js';
import { arrayField, objectAt, type JsonObject } from './json-blob.js';
import { platformOf, type Platform } from './platform.js';

export interface ImageConfig {
  diffIds: Digest[];
  platform?: Platform;
}

export function decodeConfig(config: JsonObject, what: string): ImageConfig {
  const rootfs = objectAt(config.rootfs, `${what}: rootfs`);
  if (rootfs.type !== 'layers') throw malformed(`${what}: rootfs.type is ${JSON.stringify(rootfs.type)}, not "layers"`);
  const diffIds = arrayField(rootfs, 'diff_ids', `${what}: rootfs`).map((d, i) => parseDigest(d, `${what}: rootfs.diff_ids[${i}]`));
  return { diffIds, platform: platformOf(config) };
}
