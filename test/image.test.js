// lcow image roothash / create (issue 17) over images written by the test itself
// (test/helpers/image-builder.js): a Docker 20.10 `docker save` archive, an OCI layout
// with gzip layers (as a directory, as a tar, and on standard input), a gzip-compressed
// archive, and a multi-platform index. Every root hash must equal `lcow root-digest` of
// the layer's own tar; created files must pass lcow verify and veritysetup; damaged
// images must fail with one line naming the layer. test/image-dockerd.test.js does the
// same with images made by a real dockerd and skopeo.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { spawn, spawnSync } from 'node:child_process';
import { REPO, hasTool, tmpDir, toolPath } from './helpers/corpus.js';
import {
  archiveBytes, dockerArchiveFiles, gzipOfZeros, packDirectory, sampleLayers, sha256, tarBytes, writeDockerArchive, writeLayerTars, writeOciLayout,
} from './helpers/image-builder.js';
import { imageRootHashes, createImageVhds } from '../dist/index.js';
import { onTerminal } from './helpers/terminal.js';

const LCOW = path.join(REPO, 'dist', 'host', 'cli', 'lcow.js');

function lcow(args, options = {}) {
  return spawnSync(process.execPath, [LCOW, ...args], { encoding: 'utf8', timeout: 120_000, ...options });
}

/** Exactly one `lcow: CODE: ...` line on stderr, the exit status, and the line matching `pattern`. */
function assertRefused(r, status, code, pattern) {
  assert.equal(r.status, status, `exit ${r.status}, stderr: ${r.stderr}`);
  assert.equal(r.stdout, '');
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, `expected one line, got:\n${r.stderr}`);
  assert.match(lines[0], new RegExp(`^lcow: ${code}: `));
  assert.match(lines[0], pattern);
}

const layers = sampleLayers();
const work = tmpDir('lcow-image-');
const layerTars = writeLayerTars(work, layers);
// The reference: lcow root-digest (hcsshim ConvertAndComputeRootDigest) of each layer's tar.
const expected = layerTars.map((file) => {
  const r = lcow(['root-digest', file]);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
});
const expectedText = expected.map((hash, i) => `Layer ${i} root hash: ${hash}\n`).join('');
const diffIds = layers.map((tar) => sha256(tar));

const dockerTar = path.join(work, 'docker.tar');
writeDockerArchive(dockerTar, layers);
const ociDir = path.join(work, 'oci');
const [ociImage] = writeOciLayout(ociDir, [{ layers, gzip: true }]);
const ociTar = packDirectory(ociDir, path.join(work, 'oci.tar'));

/** A scratch copy of the OCI layout to damage. */
function ociCopy() {
  const dir = path.join(tmpDir(), 'oci');
  fs.cpSync(ociDir, dir, { recursive: true });
  return dir;
}

test('the sample image has whiteouts, an opaque directory and a repeated empty layer', () => {
  assert.equal(layers.length, 5);
  assert.equal(diffIds[2], diffIds[4]);
  assert.equal(expected[2], expected[4]);
  assert.equal(new Set(expected).size, 4);
  assert.ok(layers[1].includes(Buffer.from('.wh..wh..opq')) && layers[1].includes(Buffer.from('.wh.delete.txt')));
});

for (const [label, image] of [['a docker save archive', () => dockerTar], ['an OCI layout directory (gzip layers)', () => ociDir], ['an OCI layout tar', () => ociTar]]) {
  test(`roothash of ${label} prints lcow root-digest of every layer, in dmverity-vhd's words`, () => {
    const r = lcow(['image', 'roothash', image()]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, expectedText);
    assert.equal(r.stderr, '', 'no progress bar or log line when stderr is not a terminal');
  });
}

test('roothash reads an archive piped to standard input, and a gzip-compressed one, and removes its spool', () => {
  const spoolDir = tmpDir();
  const env = { ...process.env, TMPDIR: spoolDir };
  const piped = spawnSync('sh', ['-c', `cat "$1" | "${process.execPath}" "${LCOW}" image roothash -`, 'sh', dockerTar], { encoding: 'utf8', env });
  assert.equal(piped.status, 0, piped.stderr);
  assert.equal(piped.stdout, expectedText);
  const redirected = lcow(['image', 'roothash', '-'], { stdio: [fs.openSync(ociTar, 'r'), 'pipe', 'pipe'], env });
  assert.equal(redirected.status, 0, redirected.stderr);
  assert.equal(redirected.stdout, expectedText);
  const gz = path.join(work, 'docker.tar.gz');
  fs.writeFileSync(gz, zlib.gzipSync(fs.readFileSync(dockerTar)));
  const compressed = lcow(['image', 'roothash', gz], { env });
  assert.equal(compressed.status, 0, compressed.stderr);
  assert.equal(compressed.stdout, expectedText);
  assert.deepEqual(fs.readdirSync(spoolDir).filter((n) => n.startsWith('lcow-')), [], 'spool or scratch files left behind');
});

test('archives packed by GNU tar in gnu, posix (PAX) and ustar formats, with a 141-byte folder path, and the extracted folder itself', () => {
  const dir = path.join(tmpDir(), 'extracted');
  fs.mkdirSync(dir);
  assert.equal(spawnSync('tar', ['-xf', dockerTar, '-C', dir]).status, 0);
  const manifestPath = path.join(dir, 'manifest.json');
  const manifest = JSON.parse(fs.readFileSync(manifestPath));
  const long = `${'a'.repeat(70)}/${'b'.repeat(70)}`;
  // Layer 3's folder under a long name: GNU tar needs an L record, PAX a path record, ustar its prefix field.
  fs.mkdirSync(path.join(dir, path.dirname(long)));
  fs.renameSync(path.join(dir, path.dirname(manifest[0].Layers[3])), path.join(dir, long));
  manifest[0].Layers[3] = `${long}/layer.tar`;
  fs.writeFileSync(manifestPath, JSON.stringify(manifest));
  const folder = lcow(['image', 'roothash', dir]);
  assert.equal(folder.stdout, expectedText, folder.stderr);
  for (const format of ['gnu', 'posix', 'ustar']) {
    const file = path.join(tmpDir(), `${format}.tar`);
    const packed = spawnSync('tar', [`--format=${format}`, '-C', dir, '-cf', file, '.'], { encoding: 'utf8' });
    assert.equal(packed.status, 0, packed.stderr);
    const r = lcow(['image', 'roothash', file]);
    assert.equal(r.stdout, expectedText, `${format}: ${r.stderr}`);
  }
});

test('roothash --json gives each layer its index, diff id, stored digest, compression, sizes and root hash', () => {
  const r = lcow(['image', 'roothash', ociDir, '--json']);
  assert.equal(r.status, 0, r.stderr);
  const result = JSON.parse(r.stdout);
  assert.equal(result.format, 'oci-layout');
  assert.equal(result.platform, 'linux/amd64');
  assert.equal(result.id, ociImage.manifest.digest);
  assert.equal(result.layers.length, 5);
  result.layers.forEach((layer, i) => {
    assert.equal(layer.index, i);
    assert.equal(layer.diffId, `sha256:${diffIds[i]}`);
    assert.equal(layer.digest, ociImage.layers[i].digest);
    assert.equal(layer.blob, `blobs/sha256/${ociImage.layers[i].hex}`);
    assert.equal(layer.compression, 'gzip');
    assert.equal(layer.compressedSize, ociImage.layers[i].size);
    assert.equal(layer.uncompressedSize, layers[i].length);
    assert.equal(layer.rootHash, expected[i]);
  });
  const docker = JSON.parse(lcow(['image', 'roothash', dockerTar, '--json']).stdout);
  assert.equal(docker.format, 'docker-archive');
  assert.equal(docker.layers[1].compression, 'none');
  assert.equal(docker.layers[1].digest, `sha256:${diffIds[1]}`);
});

test('one worker and several give the same root hashes (library API)', async () => {
  const one = await imageRootHashes(ociTar, { workers: 1 });
  const many = await imageRootHashes(ociTar, { workers: 4 });
  assert.deepEqual(one.layers.map((l) => l.rootHash), expected);
  assert.deepEqual(many, one);
});

const veritysetup = hasTool('veritysetup') ? false : 'veritysetup is not installed (Debian cryptsetup-bin)';

function veritysetupVerify(args) {
  return spawnSync(toolPath('veritysetup'), ['verify', ...args], { encoding: 'utf8' });
}

test('create writes <diff id>.vhd per layer that lcow verify and veritysetup accept, and leaves other files alone', () => {
  const out = path.join(tmpDir(), 'layers');
  fs.mkdirSync(out);
  fs.writeFileSync(path.join(out, 'notes.txt'), 'mine\n');
  fs.writeFileSync(path.join(out, `${diffIds[0]}.vhd`), 'stale\n'); // replaced, atomically
  fs.symlinkSync('notes.txt', path.join(out, 'link'));
  const r = lcow(['image', 'create', dockerTar, '-o', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, diffIds.map((id) => `Layer VHD created at ${path.join(out, `${id}.vhd`)}\n`).join(''));
  assert.deepEqual(fs.readdirSync(out).sort(), [...new Set(diffIds)].map((id) => `${id}.vhd`).concat(['link', 'notes.txt']).sort());
  assert.equal(fs.readFileSync(path.join(out, 'notes.txt'), 'utf8'), 'mine\n');
  assert.equal(fs.readlinkSync(path.join(out, 'link')), 'notes.txt');
  diffIds.forEach((id, i) => {
    const vhd = path.join(out, `${id}.vhd`);
    const v = lcow(['verify', vhd, '--root-digest', expected[i]]);
    assert.equal(v.status, 0, `${vhd}: ${v.stdout}`);
    const info = JSON.parse(lcow(['inspect', vhd, '--json']).stdout);
    assert.ok(info.vhdFooter, 'the VHD footer is there');
    if (!veritysetup) {
      const ok = veritysetupVerify([vhd, vhd, expected[i], `--hash-offset=${info.ext4Bytes}`]);
      assert.equal(ok.status, 0, ok.stderr);
      assert.notEqual(veritysetupVerify([vhd, vhd, '0'.repeat(64), `--hash-offset=${info.ext4Bytes}`]).status, 0);
    }
  });
});

test('create --hash-device writes the tree to <diff id>.hash-dev.vhd (superblock, tree, footer) and the data VHD without one', { skip: veritysetup }, () => {
  const out = path.join(tmpDir(), 'hdv');
  const r = lcow(['image', 'create', ociTar, '-o', out, '--hash-device']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, diffIds.map((id) => `hash device created at ${path.join(out, `${id}.hash-dev.vhd`)}\nLayer VHD created at ${path.join(out, `${id}.vhd`)}\n`).join(''));
  diffIds.forEach((id, i) => {
    const data = path.join(out, `${id}.vhd`);
    const hash = path.join(out, `${id}.hash-dev.vhd`);
    const info = JSON.parse(lcow(['inspect', data, '--json']).stdout);
    assert.equal(info.verity ?? null, null, 'no verity superblock in the data VHD');
    assert.equal(fs.statSync(data).size, info.ext4Bytes + 512);
    const hashBytes = fs.readFileSync(hash);
    assert.equal(hashBytes.subarray(0, 8).toString('latin1'), 'verity\0\0');
    assert.equal(hashBytes.subarray(hashBytes.length - 512, hashBytes.length - 504).toString('latin1'), 'conectix');
    const ok = veritysetupVerify([data, hash, expected[i]]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.notEqual(veritysetupVerify([data, hash, 'f'.repeat(64)]).status, 0);
  });
});

test('create --uuid-from-content gives the same files twice; the library reports paths and sizes', async () => {
  const a = path.join(tmpDir(), 'a');
  const b = path.join(tmpDir(), 'b');
  const first = await createImageVhds(ociDir, a, { uuidFromContent: true, sync: false });
  await createImageVhds(dockerTar, b, { uuidFromContent: true, sync: false });
  for (const layer of first.layers) {
    assert.equal(layer.vhd, path.join(a, `${layer.diffId.slice(7)}.vhd`));
    assert.equal(layer.vhdSize, fs.statSync(layer.vhd).size);
    assert.ok(fs.readFileSync(layer.vhd).equals(fs.readFileSync(path.join(b, path.basename(layer.vhd)))), `${layer.vhd} differs between the OCI layout and the docker archive`);
  }
});

// ---------------------------------------------------------------- refusals ----

/** The damaged image is refused by roothash and create alike; create leaves no temporary and no file for the layer. */
function assertBothRefuse(image, code, pattern, missingVhd) {
  assertRefused(lcow(['image', 'roothash', image]), 1, code, pattern);
  const out = path.join(tmpDir(), 'out');
  fs.mkdirSync(out);
  fs.writeFileSync(path.join(out, 'keep'), 'x');
  assertRefused(lcow(['image', 'create', image, '-o', out]), 1, code, pattern);
  const left = fs.readdirSync(out);
  assert.deepEqual(left.filter((n) => n.endsWith('.tmp')), [], 'temporary files left');
  assert.ok(left.includes('keep'));
  if (missingVhd) assert.ok(!left.includes(`${missingVhd}.vhd`), 'the damaged layer was written');
}

test('a changed byte in a layer of a docker save archive is refused naming the layer', () => {
  const { files, layerNames } = dockerArchiveFiles(layers);
  const tar = Buffer.from(files.get(layerNames[1]));
  const at = tar.indexOf('new\n');
  tar[at] ^= 0x20; // "New": the tar stays valid, its digest does not
  files.set(layerNames[1], tar);
  const file = path.join(tmpDir(), 'changed.tar');
  fs.writeFileSync(file, archiveBytes(files));
  assertBothRefuse(file, 'IMAGE_DIGEST_MISMATCH', new RegExp(`layer 1 \\(${layerNames[1]}\\): the tar has digest sha256:[0-9a-f]{64}, not the diff_id sha256:${diffIds[1]}`), diffIds[1]);
});

test('a wrong diff_id in a consistent config is refused naming the layer', () => {
  const { files, configName } = dockerArchiveFiles(layers);
  const config = JSON.parse(files.get(configName));
  config.rootfs.diff_ids[3] = `sha256:${'ab'.repeat(32)}`;
  const bytes = Buffer.from(JSON.stringify(config));
  files.delete(configName);
  files.set(`${sha256(bytes)}.json`, bytes);
  const manifest = JSON.parse(files.get('manifest.json'));
  manifest[0].Config = `${sha256(bytes)}.json`;
  files.set('manifest.json', Buffer.from(JSON.stringify(manifest)));
  const file = path.join(tmpDir(), 'diffid.tar');
  fs.writeFileSync(file, archiveBytes(files));
  assertBothRefuse(file, 'IMAGE_DIGEST_MISMATCH', new RegExp(`layer 3 .*not the diff_id sha256:${'ab'.repeat(32)}`), 'ab'.repeat(32));
});

test('a config edited without renaming it (its digest is the image id) is refused', () => {
  const { files, configName } = dockerArchiveFiles(layers);
  files.set(configName, Buffer.from(files.get(configName).toString().replace('"amd64"', '"arm64"')));
  const file = path.join(tmpDir(), 'config.tar');
  fs.writeFileSync(file, archiveBytes(files));
  assertBothRefuse(file, 'IMAGE_DIGEST_MISMATCH', new RegExp(`the image config: ${configName} has digest sha256:[0-9a-f]{64}, not sha256:${configName.slice(0, 64)}`));
});

test('a missing layer blob is refused naming the layer (OCI layout and docker archive)', () => {
  const dir = ociCopy();
  fs.rmSync(path.join(dir, 'blobs', 'sha256', ociImage.layers[1].hex));
  assertBothRefuse(dir, 'IMAGE_BLOB_MISSING', new RegExp(`layer 1: blobs/sha256/${ociImage.layers[1].hex} is not in `));
  const { files, layerNames } = dockerArchiveFiles(layers);
  files.delete(layerNames[0]);
  const file = path.join(tmpDir(), 'missing.tar');
  fs.writeFileSync(file, archiveBytes(files));
  assertBothRefuse(file, 'IMAGE_BLOB_MISSING', new RegExp(`layer 0: ${layerNames[0]} is not in `));
});

test('a changed byte in a gzip layer blob is refused naming the layer', () => {
  const dir = ociCopy();
  const blob = path.join(dir, 'blobs', 'sha256', ociImage.layers[3].hex);
  const bytes = fs.readFileSync(blob);
  bytes[bytes.length - 6] ^= 0xff; // inside the CRC-32 / ISIZE trailer
  fs.writeFileSync(blob, bytes);
  assertBothRefuse(dir, '(INPUT_CORRUPT_COMPRESSION|IMAGE_DIGEST_MISMATCH)', new RegExp(`layer 3 \\(blobs/sha256/${ociImage.layers[3].hex}\\): `), diffIds[3]);
});

test('a layer blob whose size differs from its descriptor is refused', () => {
  const dir = ociCopy();
  const manifestPath = path.join(dir, 'blobs', 'sha256', ociImage.manifest.hex);
  const manifest = JSON.parse(fs.readFileSync(manifestPath));
  manifest.layers[0].size += 1;
  const bytes = Buffer.from(JSON.stringify(manifest));
  fs.writeFileSync(path.join(dir, 'blobs', 'sha256', sha256(bytes)), bytes);
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: manifest.mediaType, digest: `sha256:${sha256(bytes)}`, size: bytes.length }] }));
  assertBothRefuse(dir, 'IMAGE_DIGEST_MISMATCH', /layer 0 .*the blob is \d+ bytes, but the manifest says \d+/);
});

test('malformed manifests are refused with one line', () => {
  const cases = [];
  const notJson = dockerArchiveFiles(layers);
  notJson.files.set('manifest.json', Buffer.from('[{"Config": '));
  cases.push([archiveBytes(notJson.files), 'IMAGE_MALFORMED', /manifest\.json is not valid JSON/]);
  const fewer = dockerArchiveFiles(layers);
  const m = JSON.parse(fewer.files.get('manifest.json'));
  m[0].Layers.pop();
  fewer.files.set('manifest.json', Buffer.from(JSON.stringify(m)));
  cases.push([archiveBytes(fewer.files), 'IMAGE_MALFORMED', /lists 4 layers but the config .* has 5 diff_ids/]);
  const escape = dockerArchiveFiles(layers);
  const e = JSON.parse(escape.files.get('manifest.json'));
  e[0].Layers[2] = '../../../etc/passwd';
  escape.files.set('manifest.json', Buffer.from(JSON.stringify(e)));
  cases.push([archiveBytes(escape.files), 'IMAGE_MALFORMED', /layer 2: the file name "\.\.\/\.\.\/\.\.\/etc\/passwd" points outside the image/]);
  const two = dockerArchiveFiles(layers);
  const t = JSON.parse(two.files.get('manifest.json'));
  two.files.set('manifest.json', Buffer.from(JSON.stringify([t[0], { ...t[0], RepoTags: ['other:2'] }])));
  cases.push([archiveBytes(two.files), 'IMAGE_AMBIGUOUS', /holds 2 images \(lcow\/test:1; other:2\)/]);
  cases.push([tarBytes([{ name: 'etc/hostname', content: 'x' }]), 'IMAGE_NOT_RECOGNISED', /neither a docker save archive/]);
  cases.push([fs.readFileSync(dockerTar).subarray(0, 3000), 'IMAGE_MALFORMED', /truncated/]);
  cases.push([Buffer.from('hello, this is not a tar at all\n'.repeat(40)), 'IMAGE_MALFORMED', /not a tar archive, or a damaged one: bad header checksum at byte 0/]);
  for (const [bytes, code, pattern] of cases) {
    const file = path.join(tmpDir(), 'bad.tar');
    fs.writeFileSync(file, bytes);
    assertRefused(lcow(['image', 'roothash', file]), 1, code, pattern);
  }
  const dir = ociCopy();
  const manifestPath = path.join(dir, 'blobs', 'sha256', ociImage.manifest.hex);
  const manifest = JSON.parse(fs.readFileSync(manifestPath));
  manifest.layers = 'none';
  fs.writeFileSync(manifestPath, JSON.stringify(manifest)); // now its digest is wrong too: that is found first
  assertRefused(lcow(['image', 'roothash', dir]), 1, 'IMAGE_DIGEST_MISMATCH', new RegExp(`the manifest sha256:${ociImage.manifest.hex}: blobs/sha256/${ociImage.manifest.hex} is \\d+ bytes, but its descriptor says`));
  const bytes = Buffer.from(JSON.stringify(manifest));
  fs.writeFileSync(path.join(dir, 'blobs', 'sha256', sha256(bytes)), bytes);
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: manifest.mediaType, digest: `sha256:${sha256(bytes)}`, size: bytes.length }] }));
  assertRefused(lcow(['image', 'roothash', dir]), 1, 'IMAGE_MALFORMED', /has no array "layers"/);
  const config = JSON.parse(fs.readFileSync(path.join(ociDir, 'blobs', 'sha256', ociImage.config.hex)));
  config.rootfs.diff_ids[0] = 'sha256:../../../../etc/passwd';
  const configBytes = Buffer.from(JSON.stringify(config));
  const dir2 = ociCopy();
  fs.writeFileSync(path.join(dir2, 'blobs', 'sha256', sha256(configBytes)), configBytes);
  const m2 = JSON.parse(fs.readFileSync(path.join(ociDir, 'blobs', 'sha256', ociImage.manifest.hex)));
  m2.config = { ...m2.config, digest: `sha256:${sha256(configBytes)}`, size: configBytes.length };
  const m2Bytes = Buffer.from(JSON.stringify(m2));
  fs.writeFileSync(path.join(dir2, 'blobs', 'sha256', sha256(m2Bytes)), m2Bytes);
  fs.writeFileSync(path.join(dir2, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: m2.mediaType, digest: `sha256:${sha256(m2Bytes)}`, size: m2Bytes.length }] }));
  assertRefused(lcow(['image', 'create', dir2, '-o', path.join(tmpDir(), 'o')]), 1, 'IMAGE_MALFORMED', /rootfs\.diff_ids\[0\] "sha256:\.\.\/\.\.\/\.\.\/\.\.\/etc\/passwd" is not a digest/);
});

// ---------------------------------------------------------------- platforms ----

test('--platform picks from a multi-platform index; none, several or no match are clear errors', () => {
  const armLayers = [tarBytes([{ name: 'arm.txt', content: 'arm64\n' }]), layers[1]];
  const dir = path.join(tmpDir(), 'multi');
  writeOciLayout(dir, [
    { layers, gzip: true, platform: { os: 'linux', architecture: 'amd64' } },
    { layers: armLayers, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
  ]);
  assertRefused(lcow(['image', 'roothash', dir]), 1, 'IMAGE_AMBIGUOUS', /holds 2 images \(linux\/amd64, linux\/arm64\/v8\); choose one with --platform/);
  const amd = lcow(['image', 'roothash', dir, '--platform', 'linux/amd64']);
  assert.equal(amd.status, 0, amd.stderr);
  assert.equal(amd.stdout, expectedText);
  const armTars = writeLayerTars(tmpDir(), armLayers);
  const armText = armTars.map((file, i) => `Layer ${i} root hash: ${lcow(['root-digest', file]).stdout.trim()}\n`).join('');
  for (const platform of ['linux/arm64', 'linux/arm64/v8']) {
    const arm = lcow(['image', 'roothash', dir, '--platform', platform]);
    assert.equal(arm.status, 0, arm.stderr);
    assert.equal(arm.stdout, armText);
  }
  assertRefused(lcow(['image', 'roothash', dir, '--platform', 'linux/s390x']), 1, 'IMAGE_PLATFORM_NOT_FOUND', /has no image for linux\/s390x; it has linux\/amd64, linux\/arm64\/v8/);
  assertRefused(lcow(['image', 'roothash', dir, '--platform', 'linux/arm64/v7']), 1, 'IMAGE_PLATFORM_NOT_FOUND', /no image for linux\/arm64\/v7/);
  assertRefused(lcow(['image', 'roothash', dir, '--platform', 'linux']), 2, 'USAGE', /--platform "linux" is not os\/arch/);
  assertRefused(lcow(['image', 'roothash', dockerTar, '--platform', 'linux/arm64']), 1, 'IMAGE_PLATFORM_NOT_FOUND', /is an image for linux\/amd64, not linux\/arm64/);
  const packed = packDirectory(dir, path.join(tmpDir(), 'multi.tar'));
  assert.equal(lcow(['image', 'roothash', packed, '--platform', 'linux/arm64']).stdout, armText);
});

// ---------------------------------------------------------------- command line ----

test('usage errors: no command, no image, no -o, unknown command, bad --workers, library options', async () => {
  const help = lcow(['image']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /Usage: lcow image <command>/);
  assert.match(lcow(['image', 'create', '--help']).stdout, /--hash-device/);
  assert.match(lcow(['--help']).stdout, /image +Layer VHDs and dm-verity root hashes/);
  assertRefused(lcow(['image', 'roothash']), 2, 'USAGE', /needs an <image>/);
  assertRefused(lcow(['image', 'create', dockerTar]), 2, 'USAGE', /needs -o\/--output DIR/);
  assertRefused(lcow(['image', 'roothsh', dockerTar]), 2, 'USAGE', /did you mean roothash\?/);
  assertRefused(lcow(['image', 'roothash', dockerTar, '--workers', '0']), 2, 'USAGE', /--workers must be a whole number/);
  assertRefused(lcow(['image', 'roothash', path.join(work, 'nope.tar')]), 2, 'INPUT_OPEN_FAILED', /cannot open the image .*nope\.tar: no such file or directory/);
  const file = path.join(tmpDir(), 'file');
  fs.writeFileSync(file, 'x');
  assertRefused(lcow(['image', 'create', dockerTar, '-o', file]), 2, 'USAGE', /is not a directory/);
  await assert.rejects(imageRootHashes(dockerTar, { platfrom: 'linux/amd64' }), { code: 'INVALID_OPTION', message: /did you mean platform\?/ });
  await assert.rejects(createImageVhds(dockerTar, '', {}), { code: 'INVALID_OPTION' });
  await assert.rejects(imageRootHashes(dockerTar, { workers: 1.5 }), { code: 'INVALID_OPTION' });
});

test('the progress bar appears on a terminal only', () => {
  const { status, tty } = onTerminal([process.execPath, LCOW, 'image', 'roothash', ociTar], { stdin: '/dev/null' });
  assert.equal(status, 0);
  assert.match(tty, /image \[=+\] 100%/);
});

// ---------------------------------------------------------------- signals ----

/** Waits until `check()` is true (polling), or fails after `ms`. */
async function until(check, ms, what) {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

test('SIGTERM during create removes the temporaries the workers have open; nothing is published', async (t) => {
  const big = await gzipOfZeros(512 * 2 ** 20); // 512 MiB of tar, 2 MiB of gzip: the conversion takes a while
  const dir = path.join(tmpDir(), 'big');
  writeOciLayout(dir, [{ layers: [layers[0], big] }]);
  const out = path.join(tmpDir(), 'out');
  fs.mkdirSync(out);
  fs.writeFileSync(path.join(out, 'keep'), 'x');
  const child = spawn(process.execPath, [LCOW, 'image', 'create', dir, '-o', out], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  const exited = new Promise((resolve) => child.once('exit', (status, signal) => resolve({ status, signal })));
  const bigTemporary = new RegExp(`^\\.${big.diffId.slice(7)}\\.vhd\\.[0-9a-f]+\\.tmp$`);
  await until(() => fs.readdirSync(out).some((n) => bigTemporary.test(n)), 30_000, 'the big layer\'s temporary file');
  child.kill('SIGTERM');
  const { signal } = await exited;
  assert.equal(signal, 'SIGTERM');
  assert.deepEqual(fs.readdirSync(out).filter((n) => n !== 'keep' && n !== `${diffIds[0]}.vhd`), [], 'temporaries or the big layer left behind');
});

test('SIGTERM while standard input is spooled removes the spool', async (t) => {
  const spoolDir = tmpDir();
  const child = spawn(process.execPath, [LCOW, 'image', 'roothash', '-'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, TMPDIR: spoolDir } });
  t.after(() => child.kill('SIGKILL'));
  const exited = new Promise((resolve) => child.once('exit', (status, signal) => resolve({ status, signal })));
  child.stdin.on('error', () => {});
  child.stdin.write(fs.readFileSync(dockerTar).subarray(0, 4096)); // and keep the pipe open
  await until(() => fs.readdirSync(spoolDir).some((n) => n.startsWith('lcow-image-')), 30_000, 'the spool folder');
  child.kill('SIGTERM');
  assert.equal((await exited).signal, 'SIGTERM');
  assert.deepEqual(fs.readdirSync(spoolDir), []);
});
