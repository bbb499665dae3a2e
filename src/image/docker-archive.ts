// `docker save` archives: manifest.json lists, per image, its config and its layer
// files in order, base first (moby image/tarexport). Docker 20.10 writes `<id>/layer.tar`
// (a repeated layer is a symlink to the first copy) and `<image id>.json`; Docker 25 and
// later write `blobs/sha256/<hex>` for both (and an OCI index beside them). Either way
// the config's file name carries its digest (the image id), and its rootfs.diff_ids the
// digest of each uncompressed layer.

import { LcowError } from '../host/errors.js';
import { decodeConfig } from './image-config.js';
import { parseDigest, type Digest } from './digest.js';
import { malformed, normaliseName, type ImageFiles } from './image-files.js';
import { objectAt, parseJsonObject, readJsonObject, stringField } from './json-blob.js';
import { formatPlatform, platformMatches, type Platform } from './platform.js';
import type { LayerRef, ResolvedImage } from './image-model.js';

export const DOCKER_MANIFEST = 'manifest.json';

/** The digest a file name carries: `<hex>.json` (the image id) or `blobs/<algorithm>/<hex>`. */
function digestInName(name: string): Digest | undefined {
  const blob = /^blobs\/(sha256|sha512)\/([0-9a-f]+)$/.exec(name);
  if (blob) return parseDigest(`${blob[1]}:${blob[2]}`, name);
  const config = /^([0-9a-f]{64})\.json$/.exec(name);
  return config ? { algorithm: 'sha256', hex: config[1] } : undefined;
}

function manifestEntries(files: ImageFiles): unknown[] {
  const bytes = files.read(DOCKER_MANIFEST, DOCKER_MANIFEST);
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw malformed(`${DOCKER_MANIFEST} is not valid JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(value)) {
    // Give the object's own wording if it is one.
    parseJsonObject(bytes, DOCKER_MANIFEST);
    throw malformed(`${DOCKER_MANIFEST} is not a JSON array of images`);
  }
  if (value.length === 0) throw malformed(`${DOCKER_MANIFEST} lists no image`);
  return value;
}

export function readDockerArchive(files: ImageFiles, query: Platform | undefined): ResolvedImage {
  const entries = manifestEntries(files);
  if (entries.length > 1) {
    const tags = entries.map((e, i) => {
      const repoTags = (e as { RepoTags?: unknown }).RepoTags;
      return Array.isArray(repoTags) && repoTags.length > 0 ? repoTags.join(',') : `image ${i}`;
    });
    throw new LcowError('IMAGE_AMBIGUOUS', `${files.given} holds ${entries.length} images (${tags.join('; ')}); lcow image reads one: docker save one image per archive`);
  }
  const entry = objectAt(entries[0], `${DOCKER_MANIFEST}[0]`);
  const configName = normaliseName(stringField(entry, 'Config', `${DOCKER_MANIFEST}[0]`), `${DOCKER_MANIFEST}[0].Config`);
  const id = digestInName(configName);
  const config = decodeConfig(readJsonObject(files, configName, 'the image config', { digest: id }), `the image config ${configName}`);
  const layerNames = entry.Layers;
  if (!Array.isArray(layerNames)) throw malformed(`${DOCKER_MANIFEST}[0] has no array "Layers"`);
  if (layerNames.length !== config.diffIds.length) {
    throw malformed(`${DOCKER_MANIFEST}[0] lists ${layerNames.length} layers but the config ${configName} has ${config.diffIds.length} diff_ids`);
  }
  if (query && config.platform && !platformMatches(query, config.platform)) {
    throw new LcowError('IMAGE_PLATFORM_NOT_FOUND', `${files.given} is an image for ${formatPlatform(config.platform)}, not ${formatPlatform(query)}`);
  }
  const layers: LayerRef[] = layerNames.map((name, index) => {
    const what = `layer ${index}`;
    if (typeof name !== 'string') throw malformed(`${DOCKER_MANIFEST}[0].Layers[${index}] is not a file name`);
    const blob = files.canonical(name, what);
    return { index, blob, diffId: config.diffIds[index], digest: digestInName(blob) };
  });
  return { format: 'docker-archive', platform: config.platform, id, layers };
}
