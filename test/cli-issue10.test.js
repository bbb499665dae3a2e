// Issue #10 items 1-8, one regression test each, named after the item: the command line
// and the library as a careless user meets them. Every refusal must be one line, with
// the exit status of the README's table, and must leave the files involved as they were.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { onTerminal } from './helpers/terminal.js';
import { REPO, tmpDir } from './helpers/corpus.js';

const LCOW = path.join(REPO, 'dist/host/cli/lcow.js');
const TAR2EXT4 = path.join(REPO, 'dist/host/cli/tar2ext4.js');
const SAMPLE = path.join(REPO, 'fixtures/sample-layer.tar');
const ROOT = process.getuid?.() === 0;
const { convertTar, computeRootDigest } = await import(path.join(REPO, 'dist/host/convert.js'));
const { verifyImage } = await import(path.join(REPO, 'dist/host/verify.js'));
const { inspectImage } = await import(path.join(REPO, 'dist/host/inspect.js'));

function run(cli, args, options = {}) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60_000, ...options });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, signal: r.signal };
}

/** One `lcow: CODE: ...` line with this code and exit status. */
function assertRefused(r, status, code, pattern) {
  assert.equal(r.signal, null, r.stderr);
  assert.equal(r.status, status, r.stderr);
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, `one line: ${JSON.stringify(r.stderr)}`);
  assert.match(lines[0], new RegExp(`^lcow: ${code}: `));
  if (pattern) assert.match(lines[0], pattern);
  assert.doesNotMatch(r.stderr, /\.tmp\b|\[object |\n\s+at /);
}

function hasFooter(file) {
  const bytes = fs.readFileSync(file);
  return bytes.subarray(bytes.length - 512, bytes.length - 504).toString('latin1') === 'conectix';
}

/** The ext4 image bytes of the sample, for comparing outputs. */
function sampleImage(dir, ...args) {
  const out = path.join(dir, `ref-${args.join('')}.img`);
  assert.equal(run(TAR2EXT4, ['-i', SAMPLE, '-o', out, ...args]).status, 0);
  return fs.readFileSync(out);
}


test('item 1: output equal to input is refused (same file, symlink, hard link, ./x, stdin) and the input survives', () => {
  const dir = tmpDir();
  const tar = path.join(dir, 'py.tar');
  fs.copyFileSync(SAMPLE, tar);
  fs.symlinkSync('py.tar', path.join(dir, 'link.tar'));
  fs.linkSync(tar, path.join(dir, 'hard.tar'));
  const original = fs.readFileSync(SAMPLE);
  const spellings = [tar, path.join(dir, 'link.tar'), path.join(dir, 'hard.tar'), `${dir}/./py.tar`, path.join(dir, '..', path.basename(dir), 'py.tar')];
  for (const output of spellings) {
    assertRefused(run(LCOW, ['convert', tar, '-o', output]), 2, 'USAGE', /is the input/);
    const t = run(TAR2EXT4, ['-i', tar, '-o', output]);
    assert.equal(t.status, 1, t.stderr);
    assert.match(t.stderr, /^the output .* is the input .*: converting would destroy it; choose another output\n$/);
    assertRefused(run(LCOW, ['convert', '-', '-o', output], { input: undefined, stdio: [fs.openSync(tar, 'r'), 'pipe', 'pipe'] }), 2, 'USAGE', /is the input standard input/);
    assert.equal(run(TAR2EXT4, ['-i', tar, '-o', output, '-only-vhd']).status, 1);
  }
  assert.ok(fs.readFileSync(tar).equals(original), 'the tar is intact');
  assert.deepEqual(fs.readdirSync(dir).sort(), ['hard.tar', 'link.tar', 'py.tar']);
  assert.equal(fs.lstatSync(path.join(dir, 'link.tar')).isSymbolicLink(), true);
});

test('item 2: special targets are not replaced: devices written in place, FIFOs refused, symlinks followed, mode and owner kept', (t) => {
  const dir = tmpDir();
  const image = sampleImage(dir, '-vhd');
  // A FIFO (and /dev/stdout on a pipe) is refused before anything is read.
  const fifo = path.join(dir, 'fifo');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
  assertRefused(run(LCOW, ['convert', SAMPLE, '-o', fifo]), 2, 'USAGE', /FIFO/);
  assert.equal(fs.statSync(fifo).isFIFO(), true);
  // Node's child pipes are sockets; a shell's are FIFOs.
  assertRefused(run(LCOW, ['convert', SAMPLE, '-o', '/dev/stdout']), 2, 'USAGE', /\/dev\/stdout: it is a socket/);
  const shell = spawnSync('bash', ['-c', 'set -o pipefail; "$@" | cat', 'bash', process.execPath, LCOW, 'convert', SAMPLE, '-o', '/dev/stdout'], { encoding: 'utf8' });
  assertRefused({ status: shell.status, stderr: shell.stderr, signal: null }, 2, 'USAGE', /\/dev\/stdout: it is a FIFO \(pipe\)/);
  assert.equal(run(TAR2EXT4, ['-i', SAMPLE, '-o', fifo]).status, 1);
  // /dev/null is written through (writes are discarded) and stays /dev/null.
  const before = fs.statSync('/dev/null');
  assert.equal(run(LCOW, ['convert', SAMPLE, '-o', '/dev/null', '--vhd']).status, 0);
  assert.equal(run(TAR2EXT4, ['-i', SAMPLE, '-o', '/dev/null', '-vhd']).status, 0);
  const after = fs.statSync('/dev/null');
  assert.ok(after.isCharacterDevice() && after.rdev === before.rdev && after.ino === before.ino);
  assertRefused(run(LCOW, ['convert', SAMPLE, '-o', '/dev/null', '--verity']), 2, 'USAGE', /character device/);
  // A symlink's target is replaced; the link stays a link.
  fs.writeFileSync(path.join(dir, 'target.vhd'), 'old');
  fs.symlinkSync('target.vhd', path.join(dir, 'link.vhd'));
  fs.symlinkSync('missing.vhd', path.join(dir, 'dangling.vhd'));
  assert.equal(run(LCOW, ['convert', SAMPLE, '-o', path.join(dir, 'link.vhd'), '--vhd', '--uuid-from-content']).status, 0);
  assert.equal(run(LCOW, ['convert', SAMPLE, '-o', path.join(dir, 'dangling.vhd'), '--vhd']).status, 0);
  assert.equal(fs.lstatSync(path.join(dir, 'link.vhd')).isSymbolicLink(), true);
  assert.equal(fs.lstatSync(path.join(dir, 'dangling.vhd')).isSymbolicLink(), true);
  assert.equal(fs.statSync(path.join(dir, 'target.vhd')).size, image.length);
  assert.ok(hasFooter(path.join(dir, 'missing.vhd')));
  // A replaced 0600 file stays 0600 (and keeps its owner when we are root).
  const secret = path.join(dir, 'secret.vhd');
  fs.writeFileSync(secret, 'old', { mode: 0o600 });
  fs.chmodSync(secret, 0o600);
  if (ROOT) fs.chownSync(secret, 1234, 5678);
  assert.equal(run(TAR2EXT4, ['-i', SAMPLE, '-o', secret, '-vhd']).status, 0);
  const s = fs.statSync(secret);
  assert.equal(s.mode & 0o7777, 0o600);
  if (ROOT) assert.deepEqual([s.uid, s.gid], [1234, 5678]);
  assert.equal(s.size, image.length);
  // A mknod copy of /dev/null stays a device node (root only: mknod needs CAP_MKNOD).
  if (!ROOT) return t.skip('mknod needs root');
  const node = path.join(dir, 'null-copy');
  assert.equal(spawnSync('mknod', [node, 'c', '1', '3']).status, 0);
  assert.equal(run(LCOW, ['convert', SAMPLE, '-o', node]).status, 0);
  assert.equal(fs.statSync(node).isCharacterDevice(), true);
});

test('item 3: flag values are used or refused, never ignored (-maxsize, -vhd=1|t|T|TRUE|true|True, --vhd=yes|maybe, library options)', async () => {
  const dir = tmpDir();
  for (const value of ['128GiB', 'potato']) {
    const r = run(TAR2EXT4, ['-i', SAMPLE, '-o', path.join(dir, 'x.img'), '-maxsize', value]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, new RegExp(`^invalid value "${value}" for flag -maxsize: parse error\nUsage of tar2ext4:\n`));
  }
  assert.equal(fs.existsSync(path.join(dir, 'x.img')), false);
  const big = path.join(dir, 'big.img');
  assert.equal(run(TAR2EXT4, ['-i', SAMPLE, '-o', big, '-maxsize', '0x2000000000']).status, 0); // 128 GiB in hex
  assert.equal(fs.statSync(big).size - sampleImage(dir).length, 7 * 4096);
  for (const value of ['1', 't', 'T', 'TRUE', 'true', 'True']) {
    const out = path.join(dir, `vhd-${value}.vhd`);
    assert.equal(run(TAR2EXT4, ['-i', SAMPLE, '-o', out, `-vhd=${value}`]).status, 0);
    assert.ok(hasFooter(out), `-vhd=${value} writes a footer`);
  }
  for (const value of ['yes', '1', 'true']) {
    const out = path.join(dir, `lcow-${value}.vhd`);
    assert.equal(run(LCOW, ['convert', SAMPLE, '-o', out, `--vhd=${value}`]).status, 0);
    assert.ok(hasFooter(out), `--vhd=${value} writes a footer`);
  }
  assert.equal(run(LCOW, ['convert', SAMPLE, '-o', path.join(dir, 'no.img'), '--vhd=no']).status, 0);
  assert.ok(!hasFooter(path.join(dir, 'no.img')));
  assertRefused(run(LCOW, ['convert', SAMPLE, '-o', path.join(dir, 'm.vhd'), '--vhd=maybe']), 2, 'USAGE', /--vhd is a switch.*"maybe"/);
  assert.equal(fs.existsSync(path.join(dir, 'm.vhd')), false);
  // The library names the key and the value.
  await assert.rejects(convertTar(SAMPLE, path.join(dir, 'lib.img'), { maxDiskSize: '128GiB' }), { code: 'INVALID_OPTION', message: /maxDiskSize .*"128GiB"/ });
  await assert.rejects(convertTar(SAMPLE, path.join(dir, 'lib.img'), { maxDiskSiz: 1 }), { code: 'INVALID_OPTION', message: /"maxDiskSiz" \(did you mean maxDiskSize\?\)/ });
  await assert.rejects(convertTar(SAMPLE, path.join(dir, 'lib.img'), { vhd: 'yes' }), { code: 'INVALID_OPTION', message: /vhd must be true or false/ });
  await assert.rejects(convertTar(SAMPLE, path.join(dir, 'lib.img'), { vhdUniqueId: Buffer.alloc(15) }), { code: 'INVALID_OPTION', message: /vhdUniqueId/ });
  await assert.rejects(convertTar(SAMPLE, path.join(dir, 'lib.img'), { engineMemoryLimit: 8 * 2 ** 30 }), { code: 'INVALID_OPTION', message: /engineMemoryLimit/ });
  assert.equal(fs.existsSync(path.join(dir, 'lib.img')), false);
});

test('item 4: ordinary mistakes are usage errors (exit 2), not bugs (exit 70)', () => {
  const dir = tmpDir();
  const img = path.join(dir, 'x.img');
  assert.equal(run(LCOW, ['convert', SAMPLE, '-o', img]).status, 0);
  for (const command of ['inspect', 'verify']) {
    assertRefused(run(LCOW, [command, path.join(dir, 'nosuch.vhd')]), 2, 'INPUT_OPEN_FAILED', /nosuch\.vhd: no such file or directory \(ENOENT\)$/);
    assertRefused(run(LCOW, [command, dir]), 2, 'INPUT_OPEN_FAILED', /is a directory/);
  }
  assertRefused(run(LCOW, ['inspect', img, '--diff']), 2, 'USAGE', /--diff needs a value/);
  assertRefused(run(LCOW, ['inspect', img, '--diff', path.join(dir, 'nosuch')]), 2, 'INPUT_OPEN_FAILED');
  assertRefused(run(LCOW, ['convert', SAMPLE, '-o', path.join(dir, 'a'), '-o', path.join(dir, 'b')]), 2, 'USAGE', /-o\/--output is given more than once/);
  assertRefused(run(LCOW, ['convert', SAMPLE, '-o', img, '--max-size', '1G', '--max-size', '2G']), 2, 'USAGE', /--max-size is given more than once/);
  assertRefused(run(LCOW, ['convert', path.join(dir, 'nosuch.tar'), '-o', img]), 2, 'INPUT_OPEN_FAILED');
  assertRefused(run(LCOW, ['root-digest', dir]), 2, 'INPUT_OPEN_FAILED', /is a directory/);
  // tar2ext4: as Go, the last -o wins.
  const r = run(TAR2EXT4, ['-i', SAMPLE, '-o', path.join(dir, 'a'), '-o', path.join(dir, 'b')]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual([fs.existsSync(path.join(dir, 'a')), fs.existsSync(path.join(dir, 'b'))], [false, true]);
  const missing = run(TAR2EXT4, ['-i', path.join(dir, 'nosuch.tar'), '-o', img]);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /^cannot open .*nosuch\.tar: no such file or directory \(ENOENT\)\n$/);
});

test('item 5: non-images and non-tars are recognised (inspect text or a tar, convert a VHD or text)', () => {
  const dir = tmpDir();
  const text = path.join(dir, 'text.txt');
  fs.writeFileSync(text, 'hello, this is not a layer\n'.repeat(100));
  const vhd = path.join(dir, 'layer.vhd');
  assert.equal(run(LCOW, ['convert', SAMPLE, '-o', vhd, '--vhd']).status, 0);
  assertRefused(run(LCOW, ['inspect', text]), 1, 'IMAGE_NOT_EXT4', /not an ext4 image \(bad magic 0x[0-9a-f]{4} at byte 1080\); it looks like text \(it starts "hello, this is not a layer"\)$/);
  assertRefused(run(LCOW, ['inspect', SAMPLE]), 1, 'IMAGE_NOT_EXT4', /it looks like a tar: did you mean lcow convert\?$/);
  assertRefused(run(LCOW, ['verify', SAMPLE]), 1, 'IMAGE_NOT_EXT4');
  const out = path.join(dir, 'out.img');
  assertRefused(run(LCOW, ['convert', vhd, '-o', out]), 1, 'INPUT_NOT_TAR', /the input is a VHD, not a tar: did you mean lcow inspect\?$/);
  assertRefused(run(LCOW, ['convert', text, '-o', out]), 1, 'INPUT_NOT_TAR', /the input is text, not a tar: it starts "hello, this is not a layer"$/);
  assertRefused(run(LCOW, ['root-digest', vhd]), 1, 'INPUT_NOT_TAR');
  assert.equal(fs.existsSync(out), false);
  // tar2ext4 keeps Go's outcome (an image starts with zero blocks: an empty archive) and says what it saw.
  const t = run(TAR2EXT4, ['-i', vhd, '-o', out]);
  assert.equal(t.status, 0);
  assert.equal(t.stderr, 'tar2ext4: warning: the input looks like a VHD, not a tar; Go\'s tar reader sees an empty archive there, so it converts to an empty image\n');
  const empty = path.join(dir, 'empty.tar');
  fs.writeFileSync(empty, Buffer.alloc(1024));
  assert.equal(run(TAR2EXT4, ['-i', empty, '-o', path.join(dir, 'empty.img')]).status, 0);
  assert.ok(fs.readFileSync(out).equals(fs.readFileSync(path.join(dir, 'empty.img'))));
  const tt = run(TAR2EXT4, ['-i', text, '-o', path.join(dir, 't.img')]);
  assert.equal(tt.status, 1);
  assert.equal(tt.stderr, 'archive/tar: invalid tar header (the input looks like text, not a tar: it starts "hello, this is not a layer")\n');
});

test('item 6: output faults are found before the input is read, and messages name the user\'s path', async () => {
  const dir = tmpDir();
  fs.mkdirSync(path.join(dir, 'somedir'));
  const cases = [
    ['', /the output path is empty/],
    [path.join(dir, 'somedir'), /somedir is a directory/],
    [`${path.join(dir, 'new')}/`, /names a directory/],
    [path.join(dir, 'nodir', 'sub', 'x.vhd'), /cannot create .*nodir\/sub\/x\.vhd: no such directory .*nodir\/sub$/],
    [`${SAMPLE}/x.vhd`, /a part of the path is not a directory/],
  ];
  for (const [output, pattern] of cases) {
    // Standard input is a pipe that never ends: only a check made before reading can answer.
    const child = spawn(process.execPath, [LCOW, 'convert', '-', '-o', output], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    child.stdin.on('error', () => {});
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const status = await new Promise((resolve) => child.on('close', (code) => resolve(code)));
    clearTimeout(timer);
    child.stdin.destroy();
    assertRefused({ status, stderr, signal: null }, 2, 'USAGE', pattern);
    assert.equal(run(TAR2EXT4, ['-i', SAMPLE, '-o', output]).status, 1);
  }
  assert.deepEqual(fs.readdirSync(dir), ['somedir']);
});

test('item 7: help and version exit 0; tar2ext4 answers -h, --version and -bogus as Go; a terminal on stdin gets a hint', () => {
  const version = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')).version;
  for (const flag of ['-V', '--version']) assert.deepEqual(run(LCOW, [flag]), { status: 0, stdout: `lcow ${version}\n`, stderr: '', signal: null });
  for (const args of [['-h'], ['--help'], ['help'], ['convert', '--help'], ['inspect', '-h'], ['help', 'verify']]) {
    const r = run(LCOW, args);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^Usage: lcow /);
    assert.equal(r.stderr, '');
  }
  assert.match(run(LCOW, ['--help']).stdout, /\n {2}driver .*\n {2}plugin /);
  assertRefused(run(LCOW, ['-v']), 2, 'USAGE', /has no option "-v"; did you mean -V\?/);
  assertRefused(run(LCOW, []), 2, 'USAGE', /name a command first/);
  for (const flag of ['-h', '-help', '--help']) {
    const r = run(TAR2EXT4, [flag]);
    assert.equal(r.status, 0);
    assert.match(r.stderr, /^Usage of tar2ext4:\n {2}-convert-slash\n/);
    assert.equal(r.stdout, '');
  }
  for (const flag of ['--version', '-bogus']) {
    const r = run(TAR2EXT4, [flag]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, new RegExp(`^flag provided but not defined: -${flag.replace(/^-+/, '')}\nUsage of tar2ext4:\n`));
  }
  const noOutput = run(TAR2EXT4, ['-i', SAMPLE]);
  assert.equal(noOutput.status, 1);
  assert.match(noOutput.stderr, /^Usage of tar2ext4:\n/);
  // Standard input on a terminal: a hint, then Ctrl-D ends the (empty) tar.
  const dir = tmpDir();
  const out = path.join(dir, 'x.vhd');
  const t = onTerminal([process.execPath, TAR2EXT4, '-o', out, '-vhd'], { waitFor: 'Ctrl-D', send: '\x04' });
  assert.equal(t.status, 0, t.tty);
  assert.match(t.tty, /^tar2ext4: reading the tar from standard input, which is a terminal; press Ctrl-D to end it, or give -i FILE\r?\n/);
  assert.ok(hasFooter(out));
  const l = onTerminal([process.execPath, LCOW, 'convert', '-', '-o', path.join(dir, 'y.img')], { waitFor: 'Ctrl-D', send: '\x04' });
  assert.equal(l.status, 0, l.tty);
  assert.match(l.tty, /^lcow: reading the tar from standard input, which is a terminal/);
});

test('item 8: the smaller faults (sizes, log levels, progress, help, messages, -o -, streams, root digests)', async () => {
  const dir = tmpDir();
  const out = path.join(dir, 'x.img');
  for (const value of ['0', '1KiB', '8GiB', '4097MiB']) {
    assertRefused(run(LCOW, ['convert', SAMPLE, '-o', out, '--engine-memory', value]), 2, 'USAGE', /--engine-memory .* is out of range: allowed are 10 MiB to 4 GiB$/);
  }
  for (const value of ['0', '1000', '17TiB']) {
    assertRefused(run(LCOW, ['convert', SAMPLE, '-o', out, '--max-size', value]), 2, 'USAGE', /--max-size .* is out of range: allowed are 28 KiB to 16 TiB$/);
  }
  assertRefused(run(LCOW, ['convert', SAMPLE, '-o', out, '--max-size', 'lots']), 2, 'USAGE', /--max-size "lots" is not a size/);
  assert.equal(run(LCOW, ['convert', SAMPLE, '-o', out, '--max-size', '128 GiB', '--engine-memory', '64MiB']).status, 0);
  assert.equal(fs.statSync(out).size - sampleImage(dir).length, 7 * 4096);
  assertRefused(run(LCOW, ['convert', SAMPLE, '-o', out, '--log-level', 'bogus']), 2, 'USAGE', /--log-level must be one of fatal, error, warn, info, debug, trace, silent \(got "bogus"\)/);
  // debug and trace say more than info.
  // Progress for standard input of known size, ending at 100% of it, with log lines never glued to the bar.
  const big = path.join(dir, 'big.tar');
  const tar = spawnSync('python3', ['-c', `
import io, tarfile
with tarfile.open(${JSON.stringify(big)}, 'w') as t:
    for i in range(5):
        data = bytes([i]) * (3 << 20)
        info = tarfile.TarInfo('f%d' % i); info.size = len(data); t.addfile(info, io.BytesIO(data))
`]);
  assert.equal(tar.status, 0, tar.stderr?.toString());
  const lines = (level) => run(LCOW, ['convert', big, '-o', out, '--log-level', level]).stderr.trim().split('\n').map((l) => JSON.parse(l).msg);
  assert.deepEqual(lines('info'), ['converted']);
  assert.deepEqual(lines('debug'), ['output target', 'input opened', 'tar converted', 'output committed', 'converted']);
  // Progress samples come at most once a MiB; a kernel-copied body counts as one step.
  assert.ok(lines('trace').filter((m) => m === 'progress').length >= 5, 'a progress sample per 3 MiB body');
  const p = onTerminal([process.execPath, LCOW, 'convert', '-', '-o', out, '--log-level', 'debug'], { stdin: big });
  assert.equal(p.status, 0, p.tty);
  const total = `${(fs.statSync(big).size / 1048576).toFixed(1)} MiB`;
  assert.match(p.tty, new RegExp(`100% ${total}/${total}`));
  const starts = [...p.tty.matchAll(/\{"level"/g)].map((m) => p.tty.slice(Math.max(0, m.index - 4), m.index));
  assert.ok(starts.length >= 5);
  // Each log line starts a line, or follows the escape that erased the bar's line.
  for (const before of starts) assert.match(before, /(^|\n|\r\x1b\[K)$/, `log line glued to the bar: ${JSON.stringify(before)}`);
  assert.match(p.tty, /\x1b\[K\{"level"/, 'the bar was drawn and erased before a log line');
  // --help tells the truth about zstd on this Node.
  const zstd = typeof (await import('node:zlib')).createZstdDecompress === 'function';
  assert.match(run(LCOW, ['convert', '--help']).stdout, zstd ? /gzip and zstd are detected/ : new RegExp(`zstd needs Node.js 22.15\\+ \\(this is ${process.version}\\)`));
  // Unknown options are named once, as typed, with a hint.
  assertRefused(run(LCOW, ['convert', SAMPLE, '-o', out, '--only-vhd']), 2, 'USAGE', /lcow convert has no option "--only-vhd": lcow converts only/);
  assert.doesNotMatch(run(LCOW, ['convert', SAMPLE, '-o', out, '--only-vhd']).stderr, /onlyVhd/);
  assertRefused(run(LCOW, ['convert', SAMPLE, '-o', out, '--overlya']), 2, 'USAGE', /did you mean --overlay\?/);
  assertRefused(run(LCOW, ['convert', SAMPLE, '-overlay']), 2, 'USAGE', /write --overlay with two dashes/);
  // verify --root-digest must be a SHA-256.
  const vhd = path.join(dir, 'v.vhd');
  assert.equal(run(LCOW, ['convert', SAMPLE, '-o', vhd, '--verity', '--vhd']).status, 0);
  assertRefused(run(LCOW, ['verify', vhd, '--root-digest', '00']), 2, 'USAGE', /--root-digest must be 64 hex digits/);
  assert.throws(() => verifyImage(vhd, '00'), { code: 'INVALID_OPTION' });
  assert.equal(run(LCOW, ['verify', vhd, '--root-digest', inspectImage(vhd).verity.rootDigestHex.toUpperCase()]).status, 0);
  // -o - is refused, and no file named "-" appears.
  assertRefused(run(LCOW, ['convert', SAMPLE, '-o', '-'], { cwd: dir }), 2, 'USAGE', /standard output/);
  assert.equal(run(TAR2EXT4, ['-i', SAMPLE, '-o', '-'], { cwd: dir }).status, 1);
  assert.equal(fs.existsSync(path.join(dir, '-')), false);
  // The library takes a Readable (a ReadStream) as input and refuses what it cannot use.
  const viaStream = path.join(dir, 'stream.img');
  await convertTar(fs.createReadStream(SAMPLE), viaStream);
  assert.ok(fs.readFileSync(viaStream).equals(sampleImage(dir)));
  assert.equal(await computeRootDigest(fs.createReadStream(SAMPLE)), await computeRootDigest(SAMPLE));
  await assert.rejects(convertTar({ path: SAMPLE }, path.join(dir, 'obj.img')), { code: 'INVALID_OPTION', message: /not an object/ });
  await assert.rejects(convertTar(fs.createReadStream(SAMPLE, 'utf8'), path.join(dir, 'utf8.img')), { code: 'INVALID_OPTION', message: /strings, not bytes/ });
  // The README documents the library's options and what verifyImage returns.
  const readme = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');
  const library = readme.slice(readme.indexOf('## Library'), readme.indexOf('\n## ', readme.indexOf('## Library') + 3));
  for (const word of ['onProgress', 'sync', 'engineMemoryLimit', 'rootDigest', 'verifyImage', 'problems', 'INVALID_OPTION']) assert.ok(library.includes(word), `README Library section mentions ${word}`);
});
