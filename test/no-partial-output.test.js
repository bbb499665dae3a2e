// No partial output, ever (issue #5): a full disk, a file-size limit, SIGINT and SIGTERM
// all leave the output directory as it was, with an earlier file at the target untouched.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
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

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Writes `bytes` to a child's stdin; resolves once the kernel pipe has taken all of them. */
function writeAll(stream, bytes) {
  return new Promise((resolve, reject) => stream.write(bytes, (err) => (err ? reject(err) : resolve())));
}

/** The one `.tmp` file in `dir` with its stat, or null. */
function temporaryIn(dir) {
  const name = fs.readdirSync(dir).find((n) => n.endsWith('.tmp'));
  if (!name) return null;
  try {
    return fs.statSync(path.join(dir, name));
  } catch {
    return null; // removed between readdir and stat
  }
}

// Issue #10 item 11: this test was flaky (an uncaught `write EPIPE`: it went on writing to
// the child's stdin after killing it). Now every write has finished before the signal,
// a stdin error is an error of the test only until the kill, and "mid-conversion" is a
// state we observe (file data written to the temporary file, the rest of the body not yet
// sent), not a sleep. 20 runs in a row passed with both cores kept busy.
for (const signal of ['SIGINT', 'SIGTERM']) {
  test(`${signal} mid-conversion removes the temporary file and keeps the old target`, { timeout: 60_000 }, async (t) => {
    const dir = tmpDir('lcow-signal-');
    const target = path.join(dir, 'layer.vhd');
    fs.writeFileSync(target, PREVIOUS);
    const child = spawn(process.execPath, [LCOW, 'convert', '-', '-o', target], { stdio: ['pipe', 'ignore', 'pipe'] });
    const exited = new Promise((resolve) => child.once('exit', (code, gotSignal) => resolve({ code, gotSignal })));
    t.after(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    let signalled = false;
    let stdinError = null;
    // After the kill the pipe may break under a write still queued: that is expected.
    child.stdin.on('error', (err) => { if (!signalled) stdinError = err; });

    // Half of an 8 MiB file: more than the converter holds before it writes file data
    // (at most 1 MiB is gathered), so some must reach the temporary file while the
    // converter waits for the other half.
    const fileBytes = EIGHT_MIB;
    const sentBytes = fileBytes / 2;
    await writeAll(child.stdin, header({ name: 'slow.bin', size: fileBytes }));
    await writeAll(child.stdin, Buffer.alloc(sentBytes, 7));
    const written = 1 << 20;
    for (;;) {
      assert.equal(stdinError, null, `writing to the converter failed: ${stdinError?.message}; stderr: ${stderr}`);
      assert.ok(child.exitCode === null && child.signalCode === null, `the converter exited early: ${stderr}`);
      const tmp = temporaryIn(dir);
      if (tmp && tmp.blocks * 512 >= written) break;
      await sleep(10);
    }

    signalled = true;
    child.kill(signal);
    const { code, gotSignal } = await exited;
    assert.equal(code, null, stderr);
    assert.equal(gotSignal, signal, 'dies of the signal, as a shell expects');
    assert.deepEqual(fs.readdirSync(dir), ['layer.vhd'], 'temporary file removed');
    assert.equal(fs.readFileSync(target, 'utf8'), PREVIOUS);
  });
}
