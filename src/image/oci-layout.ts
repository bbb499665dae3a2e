// OCI image layouts (image-spec image-layout.md): `oci-layout`, `index.json`, and blobs
// under `blobs/<algorithm>/<hex>`. The index may list manifests directly or through
// nested indexes (a multi-platform image); `--platform` picks one manifest, and without
// it there must be exactly one. Every manifest, index and config read is checked against
// its descriptor's digest and size; layers are checked while they stream.

import { LcowError } from '../host/errors.js';
import { decodeConfig } from './image-config.js';
import { formatDigest, parseDigest, type Digest } from './digest.js';
import { malformed, type ImageFiles } from './image-files.js';
import { arrayField, objectAt, readJsonObject, sizeField, stringField, type JsonObject } from './json-blob.js';
import { formatPlatform, platformMatches, platformOf, type Platform } from './platform.js';
import type { LayerRef, ResolvedImage } from './image-model.js';

export const OCI_LAYOUT = 'oci-layout';
export const OCI_INDEX = 'index.json';

const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);
const MANIFEST_TYPES = new Set(['application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json']);
/** Nested indexes deeper than this are a loop or an attack; real images use one or two levels. */
const MAX_INDEX_DEPTH = 8;

interface Descriptor {
  mediaType?: string;
  digest: Digest;
  size?: number;
  platform?: Platform;
  annotations?: JsonObject;
}

function decodeDescriptor(value: unknown, what: string): Descriptor {
  const d = objectAt(value, what);
  const mediaType = d.mediaType === undefined ? undefined : stringField(d, 'mediaType', what);
  const platform = d.platform === undefined ? undefined : platformOf(objectAt(d.platform, `${what}.platform`));
  const annotations = d.annotations === undefined ? undefined : objectAt(d.annotations, `${what}.annotations`);
  return { mediaType, digest: parseDigest(d.digest, `${what}.digest`), size: sizeField(d, 'size', what), platform, annotations };
}

export function blobName(digest: Digest): string {
  return `blobs/${digest.algorithm}/${digest.hex}`;
}

function readBlobJson(files: ImageFiles, d: Descriptor, what: string): JsonObject {
  return readJsonObject(files, blobName(d.digest), what, { digest: d.digest, size: d.size });
}

/** A manifest the index leads to, with the platform its descriptor names (if any). */
interface Candidate {
  descriptor: Descriptor;
  what: string;
}

/** Attestations (BuildKit's provenance, SBOMs) are manifests too, for platform unknown/unknown: not images. */
function isAttestation(d: Descriptor): boolean {
  return d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest'
    || (d.platform?.os === 'unknown' && d.platform.architecture === 'unknown');
}

function collectManifests(files: ImageFiles, index: JsonObject, what: string, depth: number, out: Candidate[]): void {
  if (depth > MAX_INDEX_DEPTH) throw malformed(`${what}: indexes nested more than ${MAX_INDEX_DEPTH} deep`);
  arrayField(index, 'manifests', what).forEach((value, i) => {
    const where = `${what}.manifests[${i}]`;
    const d = decodeDescriptor(value, where);
    let mediaType = d.mediaType;
    let document: JsonObject | undefined;
    if (mediaType === undefined) {
      // Older writers leave the descriptor's mediaType out: the document says what it is.
      document = readBlobJson(files, d, where);
      mediaType = typeof document.mediaType === 'string' ? document.mediaType : Array.isArray(document.manifests) ? [...INDEX_TYPES][0] : [...MANIFEST_TYPES][0];
    }
    if (INDEX_TYPES.has(mediaType)) {
      collectManifests(files, document ?? readBlobJson(files, d, where), `the index ${formatDigest(d.digest)}`, depth + 1, out);
    } else if (MANIFEST_TYPES.has(mediaType) && !isAttestation(d)) {
      out.push({ descriptor: d, what: `the manifest ${formatDigest(d.digest)}` });
    }
    // Anything else (artifacts, signatures) is not an image to convert.
  });
}

interface LoadedManifest {
  candidate: Candidate;
  manifest: JsonObject;
  config: ReturnType<typeof decodeConfig>;
  configDigest: Digest;
  platform?: Platform;
}

function loadManifest(files: ImageFiles, candidate: Candidate): LoadedManifest {
  const manifest = readBlobJson(files, candidate.descriptor, candidate.what);
  const configDescriptor = decodeDescriptor(manifest.config, `${candidate.what}: config`);
  const config = decodeConfig(readBlobJson(files, configDescriptor, `the config of ${candidate.what}`), `the config ${formatDigest(configDescriptor.digest)}`);
  return { candidate, manifest, config, configDigest: configDescriptor.digest, platform: candidate.descriptor.platform ?? config.platform };
}

function choose(files: ImageFiles, candidates: Candidate[], query: Platform | undefined): LoadedManifest {
  if (candidates.length === 0) throw malformed(`${files.given}: ${OCI_INDEX} leads to no image manifest`);
  const loaded = candidates.map((c) => loadManifest(files, c));
  const named = (list: LoadedManifest[]) => list.map((m) => (m.platform ? formatPlatform(m.platform) : 'no platform')).join(', ');
  if (!query) {
    if (loaded.length === 1) return loaded[0];
    throw new LcowError('IMAGE_AMBIGUOUS', `${files.given} holds ${loaded.length} images (${named(loaded)}); choose one with --platform`);
  }
  const matching = loaded.filter((m) => m.platform && platformMatches(query, m.platform));
  if (matching.length === 1) return matching[0];
  if (matching.length === 0) throw new LcowError('IMAGE_PLATFORM_NOT_FOUND', `${files.given} has no image for ${formatPlatform(query)}; it has ${named(loaded)}`);
  throw new LcowError('IMAGE_AMBIGUOUS', `${files.given} has ${matching.length} images matching ${formatPlatform(query)} (${named(matching)}); name the variant too`);
}

export function readOciLayout(files: ImageFiles, query: Platform | undefined): ResolvedImage {
  if (files.has(OCI_LAYOUT)) {
    const layout = readJsonObject(files, OCI_LAYOUT, OCI_LAYOUT);
    if (typeof layout.imageLayoutVersion !== 'string' || !layout.imageLayoutVersion.startsWith('1.')) {
      throw new LcowError('IMAGE_UNSUPPORTED', `${OCI_LAYOUT} says imageLayoutVersion ${JSON.stringify(layout.imageLayoutVersion)}; lcow reads version 1.x layouts`);
    }
  }
  const candidates: Candidate[] = [];
  collectManifests(files, readJsonObject(files, OCI_INDEX, OCI_INDEX), OCI_INDEX, 0, candidates);
  const chosen = choose(files, candidates, query);
  const layerDescriptors = arrayField(chosen.manifest, 'layers', chosen.candidate.what);
  if (layerDescriptors.length !== chosen.config.diffIds.length) {
    throw malformed(`${chosen.candidate.what} lists ${layerDescriptors.length} layers but its config has ${chosen.config.diffIds.length} diff_ids`);
  }
  const layers: LayerRef[] = layerDescriptors.map((value, index) => {
    const d = decodeDescriptor(value, `layer ${index} of ${chosen.candidate.what}`);
    const blob = blobName(d.digest);
    if (!files.has(blob)) {
      const foreign = d.mediaType?.includes('nondistributable') || d.mediaType?.includes('foreign');
      throw new LcowError('IMAGE_BLOB_MISSING', `layer ${index}: ${blob} is not in ${files.given}${foreign ? ` (a non-distributable layer, ${d.mediaType}: fetch it into the layout first)` : ''}`);
    }
    return { index, blob: files.canonical(blob, `layer ${index}`), diffId: chosen.config.diffIds[index], digest: d.digest, size: d.size, mediaType: d.mediaType };
  });
  return { format: 'oci-layout', platform: chosen.platform, id: chosen.candidate.descriptor.digest, layers };
}
