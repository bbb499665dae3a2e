// Whole images: every layer of a `docker save` archive or OCI layout to its dm-verity
// root hash (imageRootHashes, `lcow image roothash`) or to its layer VHD
// (createImageVhds, `lcow image create`), as Microsoft's dmverity-vhd does, with the
// digests of every layer checked while it streams and the layers converted in parallel.

import { mkdirSync, statSync } from 'node:fs';
import { LcowError } from '../host/errors.js';
import { describeValue, systemReason } from '../host/output.js';
import { closest } from '../host/nearest-name.js';
import { ENGINE_MEMORY_MAX, ENGINE_MEMORY_MIN } from '../host/check-options.js';
import { DOCKER_MANIFEST, readDockerArchive } from './docker-archive.js';
import { formatDigest } from './digest.js';
import type { ImageFiles } from './image-files.js';
import type { LayerRef, ResolvedImage } from './image-model.js';
import type { LayerJob } from './layer-convert.js';
import { LayerJobError, runLayerJobs } from './layer-jobs.js';
import { OCI_INDEX, OCI_LAYOUT, readOciLayout } from './oci-layout.js';
import { openImage } from './open-image.js';
import { formatPlatform, parsePlatform } from './platform.js';
import { hashDevicePath, layerVhdPath } from './vhd-names.js';

export interface ImageOptions {
  /** `os/arch[/variant]`: the image to take from a multi-platform index. */
  platform?: string;
  /** Layers converted at once, at most; default os.availableParallelism(). */
  workers?: number;
  /** Cap on each conversion's engine memory, 10 MiB to 4 GiB (the default). */
  engineMemoryLimit?: number;
  /** Called as layers are read, with the stored bytes read so far and the total to read. */
  onProgress?: (bytes: number, total: number) => void;
}

export interface CreateImageOptions extends ImageOptions {
  /** Write the hash tree to `<diff id>.hash-dev.vhd` instead of appending it (dmverity-vhd -hdv). */
  hashDevice?: boolean;
  /** fsync each file before renaming it into place (default true). */
  sync?: boolean;
  /** Derive the verity UUIDs and VHD ids from the root hash, so the same image gives the same files. */
  uuidFromContent?: boolean;
}

export interface ImageLayerResult {
  /** 0 for the base layer, as dmverity-vhd counts. */
  index: number;
  /** The config's diff_id: the uncompressed tar's digest. */
  diffId: string;
  /** The digest of the blob as stored (compressed, if it is). */
  digest: string;
  mediaType?: string;
  /** The file in the image that holds the layer. */
  blob: string;
  compression: 'none' | 'gzip' | 'zstd';
  compressedSize: number;
  uncompressedSize: number;
  /** The dm-verity root hash of the layer's ext4 image (hex). */
  rootHash: string;
  /** create: the layer VHD, its size, and with hashDevice the hash device and its size. */
  vhd?: string;
  vhdSize?: number;
  hashDevice?: string;
  hashDeviceSize?: number;
}

export interface ImageResult {
  format: ResolvedImage['format'];
  platform?: string;
  /** The manifest digest (OCI) or the image id (the config digest of a docker save archive). */
  id?: string;
  layers: ImageLayerResult[];
}

type Check = (value: unknown) => string | undefined;
const boolean: Check = (v) => (typeof v === 'boolean' ? undefined : 'must be true or false');
const OPTION_CHECKS: Record<string, Check> = {
  platform: (v) => (typeof v === 'string' ? undefined : 'must be a string os/arch[/variant]'),
  workers: (v) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 1 && v <= 256 ? undefined : 'must be a whole number from 1 to 256'),
  engineMemoryLimit: (v) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= ENGINE_MEMORY_MIN && v <= ENGINE_MEMORY_MAX ? undefined : `must be from ${ENGINE_MEMORY_MIN} (10 MiB) to ${ENGINE_MEMORY_MAX} (4 GiB) bytes`),
  onProgress: (v) => (typeof v === 'function' ? undefined : 'must be a function'),
  hashDevice: boolean,
  sync: boolean,
  uuidFromContent: boolean,
};
const ROOTHASH_KEYS = ['platform', 'workers', 'engineMemoryLimit', 'onProgress'];
const CREATE_KEYS = [...ROOTHASH_KEYS, 'hashDevice', 'sync', 'uuidFromContent'];

function checkOptions(options: unknown, allowed: string[]): void {
  if (options === undefined) return;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw new LcowError('INVALID_OPTION', `options must be an object, not ${describeValue(options)}`);
  for (const [key, value] of Object.entries(options)) {
    if (!allowed.includes(key)) {
      const nearest = closest(key, allowed);
      throw new LcowError('INVALID_OPTION', `unknown option ${JSON.stringify(key)}${nearest ? ` (did you mean ${nearest}?)` : ''}; known options: ${allowed.join(', ')}`);
    }
    const problem = value === undefined ? undefined : OPTION_CHECKS[key](value);
    if (problem) throw new LcowError('INVALID_OPTION', `option ${key} ${problem}, not ${describeValue(value)}`);
  }
}

function checkPath(value: unknown, what: string): asserts value is string {
  if (typeof value !== 'string') throw new LcowError('INVALID_OPTION', `${what} must be a path string, not ${describeValue(value)}`);
  if (value === '') throw new LcowError('INVALID_OPTION', `${what} path is empty${what === 'the image' ? ' (use "-" for standard input)' : ''}`);
}

/** An OCI layout when it says it is one; else a docker save archive; Docker 25+ archives are both. */
export function resolveImage(files: ImageFiles, platform: string | undefined): ResolvedImage {
  const query = platform === undefined ? undefined : parsePlatform(platform);
  if (files.has(OCI_LAYOUT) || (files.has(OCI_INDEX) && !files.has(DOCKER_MANIFEST))) return readOciLayout(files, query);
  if (files.has(DOCKER_MANIFEST)) return readDockerArchive(files, query);
  throw new LcowError('IMAGE_NOT_RECOGNISED', `${files.given} is neither a docker save archive (no ${DOCKER_MANIFEST}) nor an OCI image layout (no ${OCI_LAYOUT} or ${OCI_INDEX})`);
}

/** "layer 2 (blobs/sha256/ab12...): etc/passwd: reason": one line that names the layer. */
function layerError(layer: LayerRef, err: LcowError): LcowError {
  let reason = err.message;
  if (err.path !== undefined && !reason.startsWith(`${err.path}: `)) reason = `${err.path}: ${reason}`;
  if (err.offset !== undefined) reason += ` (at byte ${err.offset} of the layer's tar)`;
  return new LcowError(err.code, `layer ${layer.index} (${layer.blob}): ${reason}`, { cause: err });
}

interface Plan {
  jobs: LayerJob[];
  /** For each layer, the job whose outcome it takes. */
  jobOfLayer: number[];
}

/**
 * One job per distinct blob (a repeated layer is read once). In create, two blobs with
 * one diff id would write the same file: the second is only checked, not written.
 */
function plan(files: ImageFiles, image: ResolvedImage, make: (layer: LayerRef, writes: boolean) => Omit<LayerJob, 'blob' | 'expected'>): Plan {
  const jobs: LayerJob[] = [];
  const byBlob = new Map<string, number>();
  const written = new Set<string>();
  const jobOfLayer = image.layers.map((layer) => {
    const key = `${layer.blob}\0${formatDigest(layer.diffId)}\0${layer.digest ? formatDigest(layer.digest) : ''}\0${layer.size ?? ''}`;
    const known = byBlob.get(key);
    if (known !== undefined) return known;
    const writes = !written.has(formatDigest(layer.diffId));
    written.add(formatDigest(layer.diffId));
    const blob = files.range(layer.blob, `layer ${layer.index}`);
    jobs.push({ blob, expected: { digest: layer.digest, size: layer.size, diffId: layer.diffId }, ...make(layer, writes) });
    byBlob.set(key, jobs.length - 1);
    return jobs.length - 1;
  });
  return { jobs, jobOfLayer };
}

async function run(path: string, options: CreateImageOptions, directory: string | undefined): Promise<ImageResult> {
  const opened = await openImage(path);
  try {
    const image = resolveImage(opened.files, options.platform);
    if (directory !== undefined) ensureDirectory(directory);
    const { jobs, jobOfLayer } = plan(opened.files, image, (layer, writes) => ({
      vhdPath: directory !== undefined && writes ? layerVhdPath(directory, layer.diffId) : undefined,
      hashDevicePath: directory !== undefined && writes && options.hashDevice ? hashDevicePath(directory, layer.diffId) : undefined,
      engineMemoryLimit: options.engineMemoryLimit,
      sync: options.sync,
      uuidFromContent: options.uuidFromContent,
    }));
    const total = jobs.reduce((sum, job) => sum + job.blob.size, 0);
    let outcomes;
    try {
      outcomes = await runLayerJobs(jobs, { workers: options.workers, onProgress: options.onProgress && ((bytes) => options.onProgress!(bytes, total)) });
    } catch (err) {
      if (err instanceof LayerJobError) throw layerError(image.layers[jobOfLayer.indexOf(err.job)], err.error);
      throw err;
    }
    const layers = image.layers.map((layer, i): ImageLayerResult => {
      const outcome = outcomes[jobOfLayer[i]];
      const result: ImageLayerResult = {
        index: layer.index,
        diffId: outcome.diffId,
        digest: outcome.digest,
        mediaType: layer.mediaType,
        blob: layer.blob,
        compression: outcome.compression,
        compressedSize: outcome.storedBytes,
        uncompressedSize: outcome.tarBytes,
        rootHash: outcome.rootHash,
      };
      if (directory === undefined) return result;
      // A layer that was only checked shares the file written for its diff id.
      const vhd = layerVhdPath(directory, layer.diffId);
      const writer = outcomes[jobs.findIndex((job) => job.vhdPath === vhd)];
      result.vhd = vhd;
      result.vhdSize = writer.vhdBytes;
      if (options.hashDevice) {
        result.hashDevice = hashDevicePath(directory, layer.diffId);
        result.hashDeviceSize = writer.hashDeviceBytes;
      }
      return result;
    });
    return { format: image.format, platform: image.platform && formatPlatform(image.platform), id: image.id && formatDigest(image.id), layers };
  } finally {
    opened.close();
  }
}

/** As dmverity-vhd creates its output directory; a path that is something else is refused. */
function ensureDirectory(directory: string): void {
  try {
    mkdirSync(directory, { recursive: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTDIR') throw new LcowError('USAGE', `the output directory ${directory} is not a directory`, { cause: err });
    throw new LcowError('OUTPUT_WRITE_FAILED', `cannot create the output directory ${directory}: ${systemReason(err)}`, { cause: err });
  }
  if (!statSync(directory).isDirectory()) throw new LcowError('USAGE', `the output directory ${directory} is not a directory`);
}

/** The dm-verity root hash of every layer, base first (dmverity-vhd roothash). */
export async function imageRootHashes(path: string, options: ImageOptions = {}): Promise<ImageResult> {
  checkPath(path, 'the image');
  checkOptions(options, ROOTHASH_KEYS);
  return run(path, options, undefined);
}

/** One `<diff id hex>.vhd` per layer in `directory` (dmverity-vhd create); other files there are left alone. */
export async function createImageVhds(path: string, directory: string, options: CreateImageOptions = {}): Promise<ImageResult> {
  checkPath(path, 'the image');
  checkPath(directory, 'the output directory');
  checkOptions(options, CREATE_KEYS);
  return run(path, options, directory);
}
