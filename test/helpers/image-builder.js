// Images written by the tests themselves, so the whole-image tests run without a
// daemon: layer tars (ustar, written here byte by byte), `docker save` archives in
// Docker 20.10's layout (<id>/layer.tar, a repeated layer as a symlink to the first,
// <image id>.json, manifest.json, repositories), and OCI image layouts (blobs/sha256,
// gzip or plain layers, one or several platforms, optionally behind a nested index).

import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';

export const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

const TYPEFLAGS = { file: '0', link: '1', symlink: '2', dir: '5' };

function octal(value, width) {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

/** One ustar header block. */
function header({ name, type = 'file', size = 0, mode, linkname = '', mtime = 1_600_000_000 }) {
  const block = Buffer.alloc(512);
  block.write(name, 0, 100, 'utf8');
  block.write(octal(mode ?? (type === 'dir' ? 0o755 : 0o644), 8), 100, 'latin1');
  block.write(octal(0, 8), 108, 'latin1');
  block.write(octal(0, 8), 116, 'latin1');
  block.write(octal(size, 12), 124, 'latin1');
  block.write(octal(mtime, 12), 136, 'latin1');
  block.write(' '.repeat(8), 148, 'latin1');
  block.write(TYPEFLAGS[type], 156, 'latin1');
  block.write(linkname, 157, 100, 'utf8');
  block.write('ustar\0', 257, 'latin1');
  block.write('00', 263, 'latin1');
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return block;
}

/** A tar of `entries` ({ name, type, content, mode, linkname }), ended by two zero blocks. */
export function tarBytes(entries) {
  const parts = [];
  for (const entry of entries) {
    const content = entry.content === undefined ? Buffer.alloc(0) : Buffer.from(entry.content);
    parts.push(header({ ...entry, size: content.length }), content, Buffer.alloc((512 - (content.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/**
 * A gzip layer of one file of `bytes` zeros, made without ever holding the tar: a big
 * layer that is small on disk, for tests that need a conversion to take a while.
 * Resolves to { stored (the gzip bytes), diffId }.
 */
export async function gzipOfZeros(bytes) {
  const tarHash = createHash('sha256');
  const gzip = zlib.createGzip({ level: 1 });
  const out = [];
  gzip.on('data', (chunk) => out.push(chunk));
  const ended = new Promise((resolve, reject) => gzip.on('end', resolve).on('error', reject));
  const write = async (chunk) => {
    tarHash.update(chunk);
    if (!gzip.write(chunk)) await new Promise((resolve) => gzip.once('drain', resolve));
  };
  await write(header({ name: 'zeros.bin', size: bytes }));
  const zeros = Buffer.alloc(1 << 22);
  for (let left = bytes; left > 0; left -= zeros.length) await write(zeros.subarray(0, Math.min(left, zeros.length)));
  await write(Buffer.alloc(((512 - (bytes % 512)) % 512) + 1024));
  gzip.end();
  await ended;
  return { stored: Buffer.concat(out), diffId: `sha256:${tarHash.digest('hex')}` };
}

/** The layer Docker writes for a commit without changes: the end-of-archive blocks alone. */
export const EMPTY_LAYER = Buffer.alloc(1024);

/**
 * Four layers, as a build would make them: a base tree, a layer deleting a file
 * (.wh.) and replacing a directory's contents (.wh..wh..opq), an empty layer, and one
 * that adds a big file. The empty layer appears twice (Docker dedupes it in the archive).
 */
export function sampleLayers() {
  const big = Buffer.alloc(3 * 1024 * 1024 + 123);
  for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE(i * 2654435761 >>> 0, i);
  return [
    tarBytes([
      { name: 'etc/', type: 'dir' },
      { name: 'etc/hostname', content: 'lcow\n' },
      { name: 'etc/motd', content: 'hello\n' },
      { name: 'data/', type: 'dir' },
      { name: 'data/delete.txt', content: 'delete me\n' },
      { name: 'data/keep.txt', content: 'keep\n' },
      { name: 'opq/', type: 'dir' },
      { name: 'opq/old.txt', content: 'old\n' },
      { name: 'bin/', type: 'dir' },
      { name: 'bin/sh', content: '#!/bin/true\n', mode: 0o755 },
      { name: 'bin/ash', type: 'symlink', linkname: 'sh' },
      { name: 'bin/hard', type: 'link', linkname: 'bin/sh' },
    ]),
    tarBytes([
      { name: 'data/', type: 'dir' },
      { name: 'data/.wh.delete.txt' },
      { name: 'data/new.txt', content: 'new\n' },
      { name: 'opq/', type: 'dir' },
      { name: 'opq/.wh..wh..opq' },
      { name: 'opq/fresh.txt', content: 'fresh\n' },
    ]),
    EMPTY_LAYER,
    tarBytes([{ name: 'big.bin', content: big }, { name: 'etc/', type: 'dir' }, { name: 'etc/.wh.motd' }]),
    EMPTY_LAYER,
  ];
}

function configFor(diffIds, platform = { os: 'linux', architecture: 'amd64' }) {
  return Buffer.from(JSON.stringify({
    ...platform,
    config: { Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: diffIds.map((_, i) => ({ created_by: `layer ${i}` })),
  }));
}

/**
 * A `docker save` archive as Docker 20.10 writes it, into `file` (a tar made here). Returns
 * what the test needs to tamper with it: the files by name, so it can be rewritten.
 */
export function dockerArchiveFiles(layers, { platform } = {}) {
  const files = new Map();
  const config = configFor(layers.map((l) => `sha256:${sha256(l)}`), platform);
  const configName = `${sha256(config)}.json`;
  files.set(configName, config);
  const first = new Map();
  const layerNames = layers.map((tar, i) => {
    const id = sha256(`v1 layer ${i} ${sha256(tar)}`);
    files.set(`${id}/VERSION`, Buffer.from('1.0'));
    files.set(`${id}/json`, Buffer.from(JSON.stringify({ id })));
    const known = first.get(sha256(tar));
    if (known) files.set(`${id}/layer.tar`, { symlink: `../${known}/layer.tar` });
    else {
      files.set(`${id}/layer.tar`, tar);
      first.set(sha256(tar), id);
    }
    return `${id}/layer.tar`;
  });
  files.set('manifest.json', Buffer.from(JSON.stringify([{ Config: configName, RepoTags: ['lcow/test:1'], Layers: layerNames }])));
  files.set('repositories', Buffer.from(JSON.stringify({ 'lcow/test': { 1: layerNames.at(-1).split('/')[0] } })));
  return { files, configName, layerNames };
}

/** Packs a Map of name -> bytes | { symlink } into a tar (directories implied, as docker save lists them). */
export function archiveBytes(files) {
  const entries = [];
  const dirs = new Set();
  for (const [name, value] of files) {
    const dir = path.posix.dirname(name);
    if (dir !== '.' && !dirs.has(dir)) {
      dirs.add(dir);
      entries.push({ name: `${dir}/`, type: 'dir' });
    }
    entries.push(Buffer.isBuffer(value) ? { name, content: value } : { name, type: 'symlink', linkname: value.symlink });
  }
  return tarBytes(entries);
}

export function writeDockerArchive(file, layers, options) {
  const made = dockerArchiveFiles(layers, options);
  fs.writeFileSync(file, archiveBytes(made.files));
  return made;
}

const MEDIA = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
};

function putBlob(dir, bytes) {
  const hex = sha256(bytes);
  fs.mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'blobs', 'sha256', hex), bytes);
  return { digest: `sha256:${hex}`, size: bytes.length, hex };
}

/**
 * An OCI layout in `dir`: one manifest per entry of `images` ({ layers, gzip, platform }).
 * Several images, or `nested`, put the manifests behind an image index blob that
 * index.json points to. Returns per image the manifest digest and each layer's digests.
 */
export function writeOciLayout(dir, images, { nested = images.length > 1 } = {}) {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const made = images.map(({ layers, gzip = false, platform = { os: 'linux', architecture: 'amd64' } }) => {
    // A layer is its tar, or { stored, diffId } for one compressed beforehand (gzipOfZeros).
    const stored = layers.map((tar) => (Buffer.isBuffer(tar) ? (gzip ? zlib.gzipSync(tar) : tar) : tar.stored));
    const diffIds = layers.map((tar) => (Buffer.isBuffer(tar) ? `sha256:${sha256(tar)}` : tar.diffId));
    const layerBlobs = stored.map((bytes) => putBlob(dir, bytes));
    const config = putBlob(dir, configFor(diffIds, platform));
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.manifest,
      config: { mediaType: MEDIA.config, digest: config.digest, size: config.size },
      layers: layerBlobs.map((b) => ({ mediaType: gzip ? MEDIA.layerGzip : MEDIA.layer, digest: b.digest, size: b.size })),
    }));
    const m = putBlob(dir, manifest);
    return { platform, manifest: m, config, layers: layerBlobs.map((b, i) => ({ ...b, diffId: diffIds[i] })) };
  });
  const descriptors = made.map((m) => ({ mediaType: MEDIA.manifest, digest: m.manifest.digest, size: m.manifest.size, platform: m.platform }));
  let top = descriptors;
  if (nested) {
    const inner = putBlob(dir, Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.index, manifests: descriptors })));
    top = [{ mediaType: MEDIA.index, digest: inner.digest, size: inner.size }];
  }
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.index, manifests: top }));
  return made;
}

/** GNU tar of a directory's contents (members named ./...), as people pack layouts by hand. */
export function packDirectory(dir, file) {
  const r = spawnSync('tar', ['-C', dir, '-cf', file, '.'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tar -cf failed: ${r.stderr}`);
  return file;
}

/** Writes each layer tar to `dir/layer-N.tar`, for lcow root-digest to read. */
export function writeLayerTars(dir, layers) {
  return layers.map((tar, i) => {
    const file = path.join(dir, `layer-${i}.tar`);
    fs.writeFileSync(file, tar);
    return file;
  });
}
