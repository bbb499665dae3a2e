// The CLIs as scripts use them: flag spellings, input forms, failure behaviour.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, existsSync, readdirSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { REPO, tmpDir, corpusDir } from './helpers/corpus.js';

const TAR2EXT4 = path.join(REPO, 'dist/host/cli/tar2ext4.js');
const LCOW = path.join(REPO, 'dist/host/cli/lcow.js');
const SAMPLE = path.join(REPO, 'fixtures/sample-layer.tar');

function run(cli, args, input) {
  return spawnSync(process.execPath, [cli, ...args], { input, encoding: 'buffer', maxBuffer: 1 << 28 });
}

function sha(file) {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

test('single-dash and double-dash flags give the same image', () => {
  const dir = tmpDir();
  const a = path.join(dir, 'a.img');
  const b = path.join(dir, 'b.img');
  assert.equal(run(TAR2EXT4, ['-i', SAMPLE, '-o', a, '-overlay']).status, 0);
  assert.equal(run(TAR2EXT4, ['--i', SAMPLE, '--o', b, '--overlay']).status, 0);
  assert.equal(sha(a), sha(b));
});

test('gzip input and stdin input give the same image as the plain file', () => {
  const dir = tmpDir();
  const plain = path.join(dir, 'plain.img');
  const gz = path.join(dir, 'gz.img');
  const stdin = path.join(dir, 'stdin.img');
  const tgz = path.join(dir, 'layer.tar.gz');
  writeFileSync(tgz, gzipSync(readFileSync(SAMPLE)));
  assert.equal(run(TAR2EXT4, ['-i', SAMPLE, '-o', plain]).status, 0);
  assert.equal(run(TAR2EXT4, ['-i', tgz, '-o', gz]).status, 0);
  assert.equal(run(TAR2EXT4, ['-o', stdin], readFileSync(SAMPLE)).status, 0);
  assert.equal(sha(gz), sha(plain));
  assert.equal(sha(stdin), sha(plain));
});

test('truncated-in-file-data fails with unexpected EOF and leaves nothing behind', () => {
  const dir = tmpDir();
  const tar = readFileSync(SAMPLE);
  // Cut inside the first regular file's data (etc/hostname's data starts after 3 headers + PAX).
  const cut = path.join(dir, 'cut.tar');
  writeFileSync(cut, tar.subarray(0, 512 * 6 + 5));
  const out = path.join(dir, 'out.img');
  const r = run(TAR2EXT4, ['-i', cut, '-o', out]);
  assert.equal(r.status, 1);
  assert.equal(r.stderr.toString().trim(), 'unexpected EOF');
  assert.equal(existsSync(out), false);
  assert.deepEqual(readdirSync(dir).sort(), ['cut.tar']);
});

test('truncated-in-header fails with unexpected EOF', () => {
  const dir = tmpDir();
  const cut = path.join(dir, 'cut.tar');
  writeFileSync(cut, readFileSync(SAMPLE).subarray(0, 700));
  const r = run(TAR2EXT4, ['-i', cut, '-o', path.join(dir, 'out.img')]);
  assert.equal(r.status, 1);
  assert.equal(r.stderr.toString().trim(), 'unexpected EOF');
});

test('garbage-header fails with the tar reader error on one line', () => {
  const dir = tmpDir();
  const bad = path.join(dir, 'bad.tar');
  const binary = Buffer.alloc(1024, 0x41);
  binary[300] = 0; // a NUL: not text
  writeFileSync(bad, binary);
  const r = run(TAR2EXT4, ['-i', bad, '-o', path.join(dir, 'out.img')]);
  assert.equal(r.status, 1);
  assert.equal(r.stderr.toString(), 'archive/tar: invalid tar header\n');
  assert.deepEqual(readdirSync(dir), ['bad.tar']);
});

test('garbage-header that is text: Go\'s message, then what the input looked like', () => {
  const dir = tmpDir();
  const bad = path.join(dir, 'bad.tar');
  writeFileSync(bad, Buffer.alloc(1024, 0x41));
  const r = run(TAR2EXT4, ['-i', bad, '-o', path.join(dir, 'out.img')]);
  assert.equal(r.status, 1);
  assert.equal(r.stderr.toString(), `archive/tar: invalid tar header (the input looks like text, not a tar: it starts "${'A'.repeat(40)}...")\n`);
  assert.deepEqual(readdirSync(dir), ['bad.tar']);
});

test('maxsize-too-small fails with the disk size error', () => {
  const dir = tmpDir();
  const r = run(TAR2EXT4, ['-i', SAMPLE, '-o', path.join(dir, 'out.img'), '-maxsize', '20000']);
  assert.equal(r.status, 1);
  assert.equal(r.stderr.toString().trim(), 'disk exceeded maximum size of 20480 bytes');
});

test('maxsize 128 GiB moves the data after an 8-block descriptor area', () => {
  const dir = tmpDir();
  const out = path.join(dir, 'out.img');
  assert.equal(run(TAR2EXT4, ['-i', SAMPLE, '-o', out, '-maxsize', String(128 * 1024 ** 3)]).status, 0);
  const summary = JSON.parse(run(LCOW, ['inspect', out, '--json']).stdout.toString());
  const small = path.join(dir, 'small.img');
  assert.equal(run(TAR2EXT4, ['-i', SAMPLE, '-o', small]).status, 0);
  assert.equal(statSync(out).size - statSync(small).size, 7 * 4096);
  assert.ok(summary.ext4);
});

test('only-vhd appends a footer to the input unchanged', () => {
  const dir = tmpDir();
  const out = path.join(dir, 'out.vhd');
  assert.equal(run(TAR2EXT4, ['-i', SAMPLE, '-o', out, '-only-vhd']).status, 0);
  const bytes = readFileSync(out);
  const input = readFileSync(SAMPLE);
  assert.equal(bytes.length, input.length + 512);
  assert.ok(bytes.subarray(0, input.length).equals(input));
  assert.equal(bytes.subarray(input.length, input.length + 8).toString(), 'conectix');
});

test('unknown flag is a usage error', () => {
  const r = run(TAR2EXT4, ['-i', SAMPLE, '-o', '/dev/null', '-bogus']);
  assert.notEqual(r.status, 0);
});

test('lcow convert and inspect describe the layer; inspect --diff names the first difference', async () => {
  const dir = tmpDir();
  const vhd = path.join(dir, 'layer.vhd');
  const r = run(LCOW, ['convert', SAMPLE, '-o', vhd, '--vhd', '--overlay']);
  assert.equal(r.status, 0, r.stderr.toString());
  const text = run(LCOW, ['inspect', vhd]).stdout.toString();
  assert.match(text, /VHD footer: +present/);
  assert.match(text, /groups: +1/);
  const corpus = await corpusDir();
  const other = path.join(dir, 'other.img');
  const mine = path.join(dir, 'mine.img');
  assert.equal(run(TAR2EXT4, ['-i', path.join(corpus, 'basic.tar'), '-o', other]).status, 0);
  assert.equal(run(TAR2EXT4, ['-i', SAMPLE, '-o', mine]).status, 0);
  const diff = run(LCOW, ['inspect', mine, '--diff', other]);
  assert.equal(diff.status, 1);
  assert.match(diff.stdout.toString(), /^first difference at byte \d+ \(block \d+\): superblock/);
  assert.equal(run(LCOW, ['inspect', mine, '--diff', mine]).stdout.toString(), 'identical\n');
});

test('log-level info writes pino JSON on stderr, stdout stays empty', () => {
  const dir = tmpDir();
  const r = run(LCOW, ['convert', SAMPLE, '-o', path.join(dir, 'x.img'), '--log-level', 'info']);
  assert.equal(r.status, 0);
  assert.equal(r.stdout.length, 0);
  const line = JSON.parse(r.stderr.toString().trim().split('\n').pop());
  assert.equal(line.msg, 'converted');
  assert.equal(line.level, 30);
});

test('lcow names the entry and its header offset when a tar is cut inside file data', () => {
  const dir = tmpDir();
  const cut = path.join(dir, 'cut.tar');
  // etc/hostname's header is at 512 and its data at 1024.
  writeFileSync(cut, readFileSync(SAMPLE).subarray(0, 1030));
  const r = run(LCOW, ['convert', cut, '-o', path.join(dir, 'out.img')]);
  assert.equal(r.status, 1);
  assert.equal(r.stderr.toString(), 'lcow: TAR_UNEXPECTED_EOF: etc/hostname: unexpected EOF (at input offset 512)\n');
  assert.deepEqual(readdirSync(dir), ['cut.tar']);
});
