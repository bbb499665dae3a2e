// lcow image over images a real Docker made: a private Debian dockerd 20.10 (its own data
// root, exec root, pid file and socket; overlay2) builds a multi-layer image with
// `docker import`, `docker run` + `docker commit` (a deleted file, a replaced file, a
// directory removed and made again, which overlay2 records as opaque) and a commit
// without changes (Docker records it as an empty_layer history entry: no layer, so no
// "Layer N" line, as in dmverity-vhd), then `docker save`s it; skopeo turns the archive
// into OCI layouts (plain, gzip and zstd layers, and an oci-archive tar). Every root
// hash must equal `lcow root-digest` of the layer tar that docker saved.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { REPO, hasTool, tmpDir, toolPath } from './helpers/corpus.js';
import { DockerClient, PrivateDockerd, dockerdUnavailable, loopDevicesUnder, makeBusyboxTar, mountsUnder, releaseEverythingUnder } from './helpers/dockerd.js';
import { sha256 } from './helpers/image-builder.js';

const LCOW = path.join(REPO, 'dist', 'host', 'cli', 'lcow.js');
const lcow = (args, options = {}) => spawnSync(process.execPath, [LCOW, ...args], { encoding: 'utf8', timeout: 300_000, ...options });

const unavailable = dockerdUnavailable() ?? (hasTool('skopeo') ? null : 'skopeo is not installed (Debian skopeo; bash .ci/run installs it)');
const ZSTD = typeof (await import('node:zlib')).createZstdDecompress === 'function';

test('images made by dockerd and skopeo: every layer root hash equals lcow root-digest of the saved layer tar', { skip: unavailable ?? false, timeout: 600_000 }, async (t) => {
  const dir = tmpDir('lcow-image-dockerd-');
  const dockerd = new PrivateDockerd(dir, 'overlay2');
  const docker = new DockerClient(dockerd.host);
  t.after(async () => {
    await dockerd.stop();
    const left = releaseEverythingUnder(dir, [dir]);
    if (left.length) process.stderr.write(`image-dockerd: released after the test:\n${left.join('\n')}\n`);
  });
  await dockerd.start();
  const archive = path.join(dir, 'image.tar');
  try {
    docker.run(['import', makeBusyboxTar(dir), 'lcow/base:1']);
    docker.run(['create', '--name', 'unchanged', 'lcow/base:1', 'true']);
    docker.run(['commit', '--change', 'ENV LCOW=1', 'unchanged', 'lcow/env:1']);
    docker.run(['run', '--network', 'none', '--name', 'whiteouts', 'lcow/env:1', 'sh', '-c', 'rm /data/delete.txt && echo new > /data/replace.txt && rm /etc/motd']);
    docker.run(['commit', 'whiteouts', 'lcow/whiteouts:1']);
    docker.run(['run', '--network', 'none', '--name', 'opaque', 'lcow/whiteouts:1', 'sh', '-c', 'rm -r /data && mkdir /data && echo only > /data/only.txt']);
    docker.run(['commit', 'opaque', 'lcow/opaque:1']);
    docker.run(['run', '--network', 'none', '--name', 'big', 'lcow/opaque:1', '/bin/busybox', 'dd', 'if=/dev/urandom', 'of=/big.bin', 'bs=1048576', 'count=3']);
    docker.run(['commit', 'big', 'lcow/image:1']);
    docker.run(['save', '-o', archive, 'lcow/image:1']);
  } catch (err) {
    throw new Error(`${err.message}\n${docker.formatTranscript()}\n${dockerd.logTail()}`);
  }
  await dockerd.stop();
  assert.deepEqual(mountsUnder(dir), [], 'dockerd left mounts behind');
  assert.deepEqual(loopDevicesUnder(dir), []);

  // What docker saved: the layer tars in manifest order, and the config's diff ids.
  const saved = path.join(dir, 'saved');
  fs.mkdirSync(saved);
  assert.equal(spawnSync('tar', ['-xf', archive, '-C', saved]).status, 0);
  const [manifest] = JSON.parse(fs.readFileSync(path.join(saved, 'manifest.json')));
  const config = JSON.parse(fs.readFileSync(path.join(saved, manifest.Config)));
  assert.equal(manifest.Layers.length, 4, 'import + three commits with changes');
  assert.ok(config.history.some((h) => h.empty_layer), 'the commit without changes is an empty_layer history entry');
  const layerTars = manifest.Layers.map((name) => path.join(saved, name));
  const listing = (file) => spawnSync('tar', ['-tf', file], { encoding: 'utf8' }).stdout;
  assert.match(listing(layerTars[1]), /data\/\.wh\.delete\.txt/);
  assert.match(listing(layerTars[1]), /etc\/\.wh\.motd/);
  assert.match(listing(layerTars[2]), /data\/\.wh\.\.wh\.\.opq/);
  const diffIds = layerTars.map((file) => sha256(fs.readFileSync(file)));
  assert.deepEqual(diffIds.map((h) => `sha256:${h}`), config.rootfs.diff_ids);
  const expected = layerTars.map((file) => {
    const r = lcow(['root-digest', file]);
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim();
  });
  const expectedText = expected.map((hash, i) => `Layer ${i} root hash: ${hash}\n`).join('');

  const skopeo = (args) => {
    const r = spawnSync(toolPath('skopeo'), ['--insecure-policy', 'copy', ...args], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, `skopeo copy ${args.join(' ')}: ${r.stderr}`);
  };
  const layouts = {
    'docker save archive': archive,
    'OCI layout (skopeo, layers as saved)': path.join(dir, 'oci-plain'),
    'OCI layout (skopeo --dest-compress, gzip)': path.join(dir, 'oci-gzip'),
    'OCI archive (skopeo oci-archive:, gzip)': path.join(dir, 'oci.tar'),
  };
  skopeo([`docker-archive:${archive}`, `oci:${layouts['OCI layout (skopeo, layers as saved)']}:latest`]);
  skopeo(['--dest-compress', `docker-archive:${archive}`, `oci:${layouts['OCI layout (skopeo --dest-compress, gzip)']}:latest`]);
  skopeo(['--dest-compress', `docker-archive:${archive}`, `oci-archive:${layouts['OCI archive (skopeo oci-archive:, gzip)']}:latest`]);
  for (const [label, image] of Object.entries(layouts)) {
    const r = lcow(['image', 'roothash', image]);
    assert.equal(r.status, 0, `${label}: ${r.stderr}`);
    assert.equal(r.stdout, expectedText, label);
  }
  const gzipJson = JSON.parse(lcow(['image', 'roothash', layouts['OCI layout (skopeo --dest-compress, gzip)'], '--json']).stdout);
  assert.deepEqual(gzipJson.layers.map((l) => l.compression), ['gzip', 'gzip', 'gzip', 'gzip']);
  assert.deepEqual(gzipJson.layers.map((l) => l.diffId), config.rootfs.diff_ids);
  const piped = spawnSync('sh', ['-c', `cat "$1" | "${process.execPath}" "${LCOW}" image roothash -`, 'sh', archive], { encoding: 'utf8' });
  assert.equal(piped.stdout, expectedText, piped.stderr);

  const zstdLayout = path.join(dir, 'oci-zstd');
  skopeo(['--dest-compress', '--dest-compress-format', 'zstd', `docker-archive:${archive}`, `oci:${zstdLayout}:latest`]);
  const zstd = lcow(['image', 'roothash', zstdLayout]);
  if (ZSTD) {
    assert.equal(zstd.stdout, expectedText, zstd.stderr);
  } else {
    assert.equal(zstd.status, 1);
    assert.match(zstd.stderr, /^lcow: INPUT_UNSUPPORTED_COMPRESSION: layer \d \(blobs\/sha256\/[0-9a-f]{64}\): the layer is zstd-compressed, which needs Node\.js 22\.15 or newer/);
    assert.equal(zstd.stderr.split('\n').filter(Boolean).length, 1);
  }

  // create: <diff id>.vhd per layer, accepted by lcow verify and veritysetup with those root hashes.
  const out = path.join(dir, 'vhds');
  const created = lcow(['image', 'create', layouts['OCI archive (skopeo oci-archive:, gzip)'], '-o', out]);
  assert.equal(created.status, 0, created.stderr);
  assert.equal(created.stdout, diffIds.map((id) => `Layer VHD created at ${path.join(out, `${id}.vhd`)}\n`).join(''));
  for (const [i, id] of diffIds.entries()) {
    const vhd = path.join(out, `${id}.vhd`);
    const v = lcow(['verify', vhd, '--root-digest', expected[i]]);
    assert.equal(v.status, 0, v.stdout);
    if (hasTool('veritysetup')) {
      const { ext4Bytes } = JSON.parse(lcow(['inspect', vhd, '--json']).stdout);
      const r = spawnSync(toolPath('veritysetup'), ['verify', vhd, vhd, expected[i], `--hash-offset=${ext4Bytes}`], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    }
  }
});
