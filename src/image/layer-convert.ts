// One layer's work, as dmverity-vhd does it (microsoft/integrity-vhd cmd/dmverity-vhd,
// vhd.go createVHDLayer and roothash.go; before it hcsshim cmd/dmverity-vhd main.go):
// tar2ext4 with ConvertWhiteout and MaximumDiskSize(128 GiB), no inline data, then
//   roothash: ConvertAndComputeRootDigest, the dm-verity root over the ext4 image alone;
//   create:   AppendDMVerity (superblock at the end of the ext4, hash tree after it) and
//             ConvertToVhd (the fixed VHD footer);
//   create -hdv: no tree in the data file (ext4 + footer), and a separate hash device
//             (ComputeAndWriteHashDevice: the superblock padded to 4096 bytes, the tree,
//             then its own VHD footer).
// The layer streams from the image through the digest checks into the engine; every file
// is written under a temporary name and renamed only after the digests have matched.

import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { readSync, writeSync } from 'node:fs';
import { convertStream } from '../host/convert.js';
import { buildVeritySuperblock, buildVhdFooter } from '../host/engine.js';
import { ChunkReader } from '../host/input.js';
import { OutputFile, scratchFile } from '../host/output.js';
import { contentId, treeLayout, writeHashTree, VERITY_BLOCK } from '../host/verity.js';
import { VerifiedLayerStream, type LayerCompression, type LayerExpectations } from './digest-stream.js';
import type { ByteRange } from './image-files.js';

/** hcsshim dmverity.RecommendedVHDSizeGB, which dmverity-vhd passes as MaximumDiskSize. */
export const LAYER_MAX_DISK_SIZE = 128 * 2 ** 30;

export interface LayerJob {
  blob: ByteRange;
  expected: LayerExpectations;
  /** Where create writes the layer VHD; absent for roothash. */
  vhdPath?: string;
  /** Where create --hash-device writes the hash device. */
  hashDevicePath?: string;
  engineMemoryLimit?: number;
  /** fsync each file before its rename (default true). */
  sync?: boolean;
  /** Derive the verity UUID and the VHD ids from the root hash instead of random bytes. */
  uuidFromContent?: boolean;
}

export interface LayerOutcome {
  rootHash: string;
  compression: LayerCompression;
  storedBytes: number;
  tarBytes: number;
  digest: string;
  diffId: string;
  ext4Bytes: number;
  vhdBytes?: number;
  hashDeviceBytes?: number;
}

export interface LayerHooks {
  onProgress?: (storedBytes: number) => void;
  /** A temporary file now exists (so that whoever owns the signals can remove it). */
  onTemporary?: (path: string) => void;
  cancelled?: () => boolean;
}

const COPY_BLOCK = 4 << 20;

function copyBytes(fromFd: number, fromPosition: number, toFd: number, toPosition: number, length: number): void {
  const buffer = Buffer.allocUnsafe(Math.min(COPY_BLOCK, length));
  for (let done = 0; done < length;) {
    const n = readSync(fromFd, buffer, 0, Math.min(buffer.length, length - done), fromPosition + done);
    if (n === 0) throw new Error(`short read at byte ${fromPosition + done}`);
    let written = 0;
    while (written < n) written += writeSync(toFd, buffer, written, n - written, toPosition + done + written);
    done += n;
  }
}

function open(path: string, hooks: LayerHooks): OutputFile {
  const out = new OutputFile(path);
  if (out.temporary) hooks.onTemporary?.(out.temporary);
  return out;
}

export async function convertLayer(job: LayerJob, hooks: LayerHooks = {}): Promise<LayerOutcome> {
  const stream = new VerifiedLayerStream(job.blob, job.expected, hooks.cancelled);
  const outputs: OutputFile[] = [];
  try {
    const data = job.vhdPath ? open(job.vhdPath, hooks) : scratchFile(tmpdir());
    outputs.push(data);
    if (!job.vhdPath && data.temporary) hooks.onTemporary?.(data.temporary);
    const reader = new ChunkReader(stream);
    let reported = 0;
    const { ext4Bytes } = await convertStream(reader, data, {
      overlay: true,
      maxDiskSize: LAYER_MAX_DISK_SIZE,
      engineMemoryLimit: job.engineMemoryLimit,
      onProgress: () => {
        if (stream.storedBytes > reported) hooks.onProgress?.((reported = stream.storedBytes));
      },
    });
    data.truncate(ext4Bytes);
    // The rest of the blob (tar padding, trailing zeros) is hashed too; the digests are checked at its end.
    await reader.drain();
    const digests = stream.digests!;
    hooks.onProgress?.(digests.storedBytes);
    const dataBlocks = ext4Bytes / VERITY_BLOCK;
    const base = { compression: digests.compression, storedBytes: digests.storedBytes, tarBytes: digests.tarBytes, digest: digests.digest, diffId: digests.diffId, ext4Bytes };
    if (!job.vhdPath) {
      const root = await writeHashTree(data.descriptor, dataBlocks, ext4Bytes);
      return { ...base, rootHash: root.toString('hex') };
    }
    // The tree goes after the superblock's block either way; with a hash device it moves there afterwards.
    const treeOffset = ext4Bytes + VERITY_BLOCK;
    const root = await writeHashTree(data.descriptor, dataBlocks, treeOffset);
    const treeBytes = treeLayout(dataBlocks).treeBlocks * VERITY_BLOCK;
    const verityUuid = job.uuidFromContent ? contentId('verity uuid', root) : randomBytes(16);
    const superblock = buildVeritySuperblock(dataBlocks, verityUuid);
    const footerId = (purpose: string) => (job.uuidFromContent ? contentId(purpose, root, verityUuid) : randomBytes(16));
    let vhdBytes: number;
    let hashDeviceBytes: number | undefined;
    if (job.hashDevicePath) {
      const hash = open(job.hashDevicePath, hooks);
      outputs.push(hash);
      hash.write(superblock, 0);
      copyBytes(data.descriptor, treeOffset, hash.descriptor, VERITY_BLOCK, treeBytes);
      hashDeviceBytes = VERITY_BLOCK + treeBytes;
      hash.write(buildVhdFooter(hashDeviceBytes, footerId('hash device vhd unique id')), hashDeviceBytes);
      hashDeviceBytes += 512;
      data.truncate(ext4Bytes);
      data.write(buildVhdFooter(ext4Bytes, footerId('vhd unique id')), ext4Bytes);
      vhdBytes = ext4Bytes + 512;
    } else {
      data.write(superblock, ext4Bytes);
      vhdBytes = treeOffset + treeBytes;
      data.write(buildVhdFooter(vhdBytes, footerId('vhd unique id')), vhdBytes);
      vhdBytes += 512;
    }
    // The hash device first: a data VHD is never there without the tree it needs.
    for (const out of outputs.slice().reverse()) out.commit(job.sync ?? true);
    return { ...base, rootHash: root.toString('hex'), vhdBytes, hashDeviceBytes };
  } finally {
    // Removes a scratch file and whatever a failure left; a committed file was renamed away, so nothing is left to remove.
    for (const out of outputs) out.abandon();
  }
}
