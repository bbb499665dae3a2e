// No partial output, ever (issue #5): a full disk, a file-size limit, SIGINT and SIGTERM
// all leave the output directory as it was, with an earlier file at the target untouched.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';
import { REPO, tmpDir } from './helpers/corpus.js';
import { header, entry, tar } from './helpers/raw-tar.js';

const LCOW = path.join(REPO, 'dist', 'host', 'cli', 'lcow.js');
const PREVIOUS = 'the layer.vhd of an earlier, successful conversion\n';
const EIGHT_MIB = 8 << 20;

/** A tar with one 8 MiB file: more than the small file systems below can hold. */
function bigTar(dir) {
  const source = path.join(dir, 'big.tar');
  fs.writeFileSync(source, tar(entry({ name: 'data.bin' }, Buffer.alloc(EIGHT_MIB, 1))));
  return source;
}

function assertRefusedWrite(r, outDir) {
  const stderr = r.stderr.toString();
  assert.equal(r.status, 3, stderr);
  assert.match(stderr, /^lcow: OUTPUT_WRITE_FAILED: cannot write .*(ENOSPC|EFBIG)[^\n]*\n$/);
  assert.deepEqual(fs.readdirSync(outDir), ['layer.vhd'], 'no temporary file left');
  assert.equal(fs.readFileSync(path.join(outDir, 'layer.vhd'), 'utf8'), PREVIOUS);
}

/** Mounts a 2 MiB tmpfs, or says why it cannot. */
function smallFileSystem(dir) {
  const mountPoint = path.join(dir, 'small');
  fs.mkdirSync(mountPoint);
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mountPoint]);
  if (r.status !== 0) return { skip: `cannot mount a tmpfs here: ${(r.stderr || '').toString().trim() || r.error?.message}` };
  return { mountPoint };
}

test('disk full (ENOSPC mid-write on a 2 MiB tmpfs): exit 3, no partial output', (t) => {
  const dir = tmpDir('lcow-enospc-');
  const fsys = smallFileSystem(dir);
  if (fsys.skip) {
    t.skip(fsys.skip);
    return;
  }
  try {
    fs.writeFileSync(path.join(fsys.mountPoint, 'layer.vhd'), PREVIOUS);
    const r = spawnSync(process.execPath, [LCOW, 'convert', bigTar(dir), '-o', path.join(fsys.mountPoint, 'layer.vhd'), '--vhd']);
    assertRefusedWrite(r, fsys.mountPoint);
  } finally {
    spawnSync('umount', [fsys.mountPoint]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('file-size limit (RLIMIT_FSIZE, EFBIG mid-write): exit 3, no partial output', () => {
  const dir = tmpDir('lcow-efbig-');
  const outDir = path.join(dir, 'out');
  fs.mkdirSync(outDir);
  fs.writeFileSync(path.join(outDir, 'layer.vhd'), PREVIOUS);
  // ulimit -f counts 1024-byte units: 2 MiB.
  const r = spawnSync('bash', ['-c', 'ulimit -f 2048 && exec "$@"', 'bash', process.execPath, LCOW, 'convert', bigTar(dir), '-o', path.join(outDir, 'layer.vhd')]);
  assertRefusedWrite(r, outDir);
  fs.rmSync(dir, { recursive: true, force: true });
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  test(`${signal} mid-conversion removes the temporary file and keeps the old target`, async () => {
    const dir = tmpDir('lcow-signal-');
    const target = path.join(dir, 'layer.vhd');
    fs.writeFileSync(target, PREVIOUS);
    const child = spawn(process.execPath, [LCOW, 'convert', '-', '-o', target], { stdio: ['pipe', 'ignore', 'pipe'] });
    // Half of a 1 MiB file: the converter has created its temporary file and waits for more.
    child.stdin.write(header({ name: 'slow.bin', size: 1 << 20 }));
    child.stdin.write(Buffer.alloc(1 << 19, 7));
    const deadline = Date.now() + 20_000;
    while (!fs.readdirSync(dir).some((name) => name.endsWith('.tmp'))) {
      assert.ok(Date.now() < deadline, 'the temporary file never appeared');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    child.kill(signal);
    const [code, gotSignal] = await once(child, 'exit');
    assert.equal(code, null);
    assert.equal(gotSignal, signal, 'dies of the signal, as a shell expects');
    assert.deepEqual(fs.readdirSync(dir), ['layer.vhd'], 'temporary file removed');
    assert.equal(fs.readFileSync(target, 'utf8'), PREVIOUS);
    fs.rmSync(dir, { recursive: true, force: true });
  });
}
