// Hostile and malformed tars (issue #5): each input shape is refused with a non-zero exit,
// exactly one `lcow: CODE: entry: reason (at input offset N)` line on stderr, no stack
// trace, no temporary file left behind, and the file already at the target untouched.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { REPO, tmpDir } from './helpers/corpus.js';
import { header, entry, paxRecord, paxHeader, tar, base256 } from './helpers/raw-tar.js';

const LCOW = path.join(REPO, 'dist', 'host', 'cli', 'lcow.js');
const PREVIOUS = 'the layer.vhd of an earlier, successful conversion\n';
const LINE = /^lcow: ([A-Z0-9_]+): (.*)\n$/s;

const file = (name, data = '', fields = {}) => entry({ name, ...fields }, data);
const dir = (name) => entry({ name, type: '5', mode: 0o755 });
const link = (name, target) => entry({ name, type: '1', linkname: target });
const cut = (bytes, length) => bytes.subarray(0, length);

/**
 * Converts `input` over an existing target and checks the refusal. Returns the parsed
 * line so a test can check the entry and offset it names.
 */
function refuse(input, expectedCode, extraArgs = []) {
  const dir = tmpDir('lcow-hostile-');
  const source = path.join(dir, 'in.tar');
  const target = path.join(dir, 'layer.vhd');
  fs.writeFileSync(source, input);
  fs.writeFileSync(target, PREVIOUS);
  const r = spawnSync(process.execPath, [LCOW, 'convert', source, '-o', target, '--vhd', '--overlay', ...extraArgs], { timeout: 120_000 });
  const stderr = r.stderr.toString();
  assert.equal(r.signal, null, `killed by ${r.signal}: ${stderr}`);
  assert.equal(r.status, 1, stderr);
  const match = LINE.exec(stderr);
  assert.ok(match, `not one "lcow: CODE: ..." line: ${JSON.stringify(stderr)}`);
  assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
  assert.equal(match[1], expectedCode, stderr);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['in.tar', 'layer.vhd'], 'no temporary file left');
  assert.equal(fs.readFileSync(target, 'utf8'), PREVIOUS, 'the existing target is untouched');
  assert.equal(r.stdout.length, 0);
  fs.rmSync(dir, { recursive: true, force: true });
  return stderr.trimEnd();
}

const valid = tar(file('etc/hostname', 'lcow\n'), file('etc/motd', 'hello\n'));

test('truncated header: cut inside the second header', () => {
  const line = refuse(cut(valid, 1024 + 100), 'TAR_UNEXPECTED_EOF');
  assert.match(line, /\(at input offset 1024\)$/);
});

test('truncated data: cut inside a file body names the file', () => {
  const line = refuse(Buffer.concat([header({ name: 'big', size: 5000 }), Buffer.alloc(1000)]), 'TAR_UNEXPECTED_EOF');
  assert.equal(line, 'lcow: TAR_UNEXPECTED_EOF: big: unexpected EOF (at input offset 0)');
});

test('bad checksum', () => {
  refuse(tar(entry({ name: 'a', checksum: '0000001\0' })), 'TAR_INVALID_HEADER');
});

test('checksums: the unsigned and the signed sum are accepted, anything else is refused', () => {
  // High bytes in the name make the two sums differ; Go accepts either.
  const block = header({ name: Buffer.from('caf\xe9-\xff\x80', 'latin1') });
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < 512; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : block[i];
    unsigned += c;
    signed += c >= 0x80 ? c - 256 : c;
  }
  assert.notEqual(unsigned, signed);
  const withChecksum = (sum) => {
    const b = Buffer.from(block);
    Buffer.from(`${sum.toString(8).padStart(6, '0')}\0 `, 'latin1').copy(b, 148);
    return b;
  };
  for (const sum of [unsigned, signed]) {
    const d = tmpDir('lcow-hostile-');
    fs.writeFileSync(path.join(d, 'in.tar'), Buffer.concat([withChecksum(sum), Buffer.alloc(1024)]));
    const r = spawnSync(process.execPath, [LCOW, 'convert', path.join(d, 'in.tar'), '-o', path.join(d, 'out.img')]);
    assert.equal(r.status, 0, `checksum ${sum}: ${r.stderr}`);
    fs.rmSync(d, { recursive: true, force: true });
  }
  refuse(Buffer.concat([withChecksum(unsigned + 1), Buffer.alloc(1024)]), 'TAR_INVALID_HEADER');
});

test('non-numeric mode field', () => {
  refuse(tar(entry({ name: 'a', mode: 'abcdefg\0' })), 'TAR_INVALID_HEADER');
});

test('non-numeric size field', () => {
  refuse(tar(entry({ name: 'a', size: '1x3\0' })), 'TAR_INVALID_HEADER');
});

test('overflowing numeric field: base-256 size above 2^63', () => {
  refuse(tar(entry({ name: 'a', size: Buffer.from([0x80, 0x7f, ...Array(10).fill(0xff)]) })), 'TAR_INVALID_HEADER');
});

test('PAX record with a length that does not match the record', () => {
  refuse(tar(paxHeader('13 path=abc\n'), file('a')), 'TAR_INVALID_HEADER');
  refuse(tar(paxHeader('5 path=abc\n'), file('a')), 'TAR_INVALID_HEADER');
});

test('PAX record with a zero length', () => {
  refuse(tar(paxHeader('0 path=abc\n'), file('a')), 'TAR_INVALID_HEADER');
});

test('PAX record with a non-numeric length', () => {
  refuse(tar(paxHeader('xx path=abc\n'), file('a')), 'TAR_INVALID_HEADER');
});

test('PAX record with an enormous length', () => {
  refuse(tar(paxHeader('99999999999999999999 path=abc\n'), file('a')), 'TAR_INVALID_HEADER');
});

test('PAX path with a NUL byte', () => {
  refuse(tar(paxHeader(paxRecord('path', 'a\0b')), file('a')), 'TAR_INVALID_HEADER');
});

test('PAX header over 1 MiB is refused before its payload is read', () => {
  // Only 4 KiB of the claimed payload exist: refusing on the claim proves nothing was buffered.
  refuse(Buffer.concat([header({ name: 'p', type: 'x', size: (1 << 20) + 1 }), Buffer.alloc(4096)]), 'TAR_FIELD_TOO_LONG');
});

test('GNU long name over 1 MiB is refused before its payload is read', () => {
  const gnu = { magic: 'ustar ', version: ' \0' };
  refuse(Buffer.concat([header({ name: '././@LongLink', type: 'L', size: (1 << 20) + 1, ...gnu }), Buffer.alloc(4096)]), 'TAR_FIELD_TOO_LONG');
});

test('declared size beyond the maximum file size (128 GiB)', () => {
  const line = refuse(Buffer.concat([header({ name: 'huge', size: base256(129 * 2 ** 30, 12) }), Buffer.alloc(4096)]), 'EXT4_FILE_TOO_BIG', ['--max-size', '1TiB']);
  assert.match(line, /^lcow: EXT4_FILE_TOO_BIG: huge: /);
});

test('declared size beyond the maximum disk size', () => {
  refuse(Buffer.concat([header({ name: 'big', size: base256(17 * 2 ** 30, 12) }), Buffer.alloc(4096)]), 'EXT4_DISK_FULL');
});

test('hard link to itself', () => {
  refuse(tar(link('a', 'a')), 'EXT4_FILE_NOT_FOUND');
  refuse(tar(file('a', 'x'), link('a', 'a')), 'EXT4_LINK_ORPHANS');
});

test('hard link to a directory', () => {
  refuse(tar(dir('d/'), link('l', 'd')), 'EXT4_LINK_TO_DIR');
});

test('hard link to a missing target', () => {
  const line = refuse(tar(link('l', 'nothere')), 'EXT4_FILE_NOT_FOUND');
  assert.equal(line, 'lcow: EXT4_FILE_NOT_FOUND: l: nothere: file not found (at input offset 0)');
});

test('regular file used as a parent directory', () => {
  refuse(tar(file('a', 'x'), file('a/b', 'y')), 'EXT4_PATH_NOT_FOUND');
});

test('more subdirectories than ext4 allows in one directory (65,000 links)', () => {
  const parts = [dir('p/')];
  for (let i = 0; i < 65000; i++) parts.push(dir(`p/d${i}/`));
  refuse(tar(parts), 'EXT4_DIR_LINK_LIMIT');
});

test('more hard links to one file than ext4 allows (65,000)', () => {
  const parts = [file('f', 'x')];
  for (let i = 1; i <= 65000; i++) parts.push(link(`l${i}`, 'f'));
  refuse(tar(parts), 'EXT4_LINK_LIMIT');
});

test('name component over 255 bytes', () => {
  refuse(tar(paxHeader(paxRecord('path', `d/${'n'.repeat(256)}`)), file('ignored')), 'EXT4_INVALID_NAME');
});

test('xattrs that do not fit the inode and one block', () => {
  refuse(tar(paxHeader(paxRecord('SCHILY.xattr.user.big', 'v'.repeat(5000))), file('a')), 'EXT4_XATTR_NO_ROOM');
});

test('corrupt compressed input: gzip cut short and gzip with garbage', () => {
  const gz = gzipSync(valid);
  refuse(cut(gz, gz.length - 20), 'INPUT_CORRUPT_COMPRESSION');
  const garbage = Buffer.from(gz);
  garbage.fill(0x55, 10, 40);
  refuse(garbage, 'INPUT_CORRUPT_COMPRESSION');
});

/** A PAX 1.0 sparse member: the map text in whole blocks, then `data`. */
function sparse10(mapText, data, realSize) {
  const map = Buffer.from(mapText, 'latin1');
  const mapBlocks = Buffer.concat([map, Buffer.alloc((512 - (map.length % 512)) % 512)]);
  const records = paxRecord('GNU.sparse.major', '1') + paxRecord('GNU.sparse.minor', '0') + paxRecord('GNU.sparse.name', 'sparse.bin') + paxRecord('GNU.sparse.realsize', String(realSize));
  return [paxHeader(records), entry({ name: 'GNUSparseFile.0/sparse.bin' }, Buffer.concat([mapBlocks, data]))];
}

test('sparse 1.0 map: a long map is read in linear time', () => {
  // 200,000 fragments of one byte each, every other byte: 2.6 MB of map text.
  const n = 200000;
  const lines = [String(n)];
  for (let i = 0; i < n; i++) lines.push(String(2 * i), '1');
  const d = tmpDir('lcow-hostile-');
  fs.writeFileSync(path.join(d, 'in.tar'), tar(sparse10(`${lines.join('\n')}\n`, Buffer.alloc(n, 0x61), 2 * n)));
  // The timeout only guards against the quadratic parser this replaced, which took
  // minutes here; it is not a speed assertion.
  const r = spawnSync(process.execPath, [LCOW, 'convert', path.join(d, 'in.tar'), '-o', path.join(d, 'out.img')], { timeout: 120_000 });
  assert.equal(r.signal, null, 'did not finish');
  assert.equal(r.status, 0, r.stderr.toString());
  fs.rmSync(d, { recursive: true, force: true });
});

test('sparse 1.0 map: an entry count the data cannot hold ends as a truncated tar', () => {
  refuse(tar(sparse10('1000000000000000\n1\n2\n', Buffer.alloc(0), 10)), 'TAR_UNEXPECTED_EOF');
});

test('sparse 1.0 map: a malformed number or an over-long token', () => {
  refuse(tar(sparse10('2\n0\n1\nx\n1\n', Buffer.alloc(2, 0x61), 10)), 'TAR_INVALID_HEADER');
  refuse(tar(sparse10(`1\n${'9'.repeat(5000)}\n1\n`, Buffer.alloc(1, 0x61), 10)), 'TAR_INVALID_HEADER');
  refuse(tar(sparse10('-1\n', Buffer.alloc(0), 10)), 'TAR_INVALID_HEADER');
});

test('random bytes', () => {
  let x = 12345;
  const bytes = Buffer.alloc(64 * 1024, 0).map(() => (x = (x * 1103515245 + 12345) >>> 0) >>> 24);
  refuse(bytes, 'TAR_INVALID_HEADER');
});

test('engine memory over its cap fails with ENGINE_OUT_OF_MEMORY, not a trap', () => {
  const parts = [];
  for (let i = 0; i < 20000; i++) parts.push(file(`f${i}`));
  refuse(tar(parts), 'ENGINE_OUT_OF_MEMORY', ['--engine-memory', '12MiB']);
});

test('the valid control case converts (the checks above are not vacuous)', () => {
  const d = tmpDir('lcow-hostile-');
  fs.writeFileSync(path.join(d, 'in.tar'), valid);
  fs.writeFileSync(path.join(d, 'layer.vhd'), PREVIOUS);
  const r = spawnSync(process.execPath, [LCOW, 'convert', path.join(d, 'in.tar'), '-o', path.join(d, 'layer.vhd'), '--vhd', '--overlay']);
  assert.equal(r.status, 0, r.stderr.toString());
  assert.equal(r.stderr.length, 0);
  assert.notEqual(fs.readFileSync(path.join(d, 'layer.vhd'), 'utf8'), PREVIOUS);
  assert.deepEqual(fs.readdirSync(d).sort(), ['in.tar', 'layer.vhd']);
  fs.rmSync(d, { recursive: true, force: true });
});
