// Diff of read-only layers (spec/driver.md §7.13) against the real converter and third-party
// tar readers, for every corpus tar hcsshim accepts with ApplyDiff's options:
//   apply-diff -> diff -> apply-diff of the exported tar: the two layer.vhd hold the same ext4 bytes;
//   Python's tarfile reads the export and finds the original tree (as hcsshim stored it);
//   GNU tar lists every entry; DiffGetter (layerFile) returns every regular file's bytes.

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';

import { layerTar, layerFile } from '../dist/driver/export/layer-tar.js';
import { corpusDir, golden, hasTool, tmpDir } from './helpers/corpus.js';
import { applyDiff, drainTo, firstExt4Difference, gnuTarList, openLayer, pythonTarMembers, sha256Stream } from './helpers/export-tar.js';

// Tars whose second image cannot equal the first, each for a reason inherent in the format:
const NOT_BYTE_IDENTICAL = {
  // A character device 0:0 in a tar is stored exactly like a whiteout would be, and overlayfs
  // reads it as one; the export therefore writes `.wh.zero0` (as Docker's overlay exporter
  // does), which converts into hcsshim's whiteout inode (mode 0, times 0) instead of the
  // device's own mode 0600 and times.
  'devices.tar': 'a char device 0:0 is a whiteout to overlayfs and is exported as .wh.zero0',
};

// Entries of the export that the original tar does not list, with why.
const EXTRA_ENTRIES = {
  // hcsshim stores a PAX global header as an empty file named after it (spec/compact-ext4.md §2.1).
  'paxglobal.tar': ['@PaxHeader'],
};

const accepted = golden().results.filter((r) => JSON.stringify(r.options) === '["-overlay","-vhd"]' && r.ok).map((r) => r.case);
const work = tmpDir('lcow-export-roundtrip-');
let corpus;

before(async () => {
  corpus = await corpusDir();
});

// ------------------------------------------------------------- the model ----
// What the image holds for a tar, per spec/compact-ext4.md, written independently of the exporter.

const TWO_32 = 2 ** 32;

/** Go's parsePAXTime: [-]secs[.frac], at most 9 fraction digits; -1.5 is -2 s + 0.5 s. */
function parsePaxTime(text) {
  const m = /^(-?)(\d+)(?:\.(\d*))?$/.exec(text);
  assert.ok(m, `bad PAX time ${text}`);
  let seconds = Number(m[2]);
  let nanoseconds = Number((m[3] ?? '').padEnd(9, '0').slice(0, 9));
  if (m[1]) {
    seconds = -seconds;
    if (nanoseconds > 0) {
      seconds -= 1;
      nanoseconds = 1e9 - nanoseconds;
    }
  }
  return { seconds, nanoseconds };
}

/** hcsshim's time encoding (§7.1) as [lo32, extra]. */
function encode({ seconds, nanoseconds }) {
  if (seconds < -(2 ** 31)) return [0x80000000, 0];
  if (seconds > 0x37fffffff) return [0x7fffffff, 3];
  if (seconds < 0) return [seconds + TWO_32, 0xffffffff];
  return [seconds % TWO_32, Math.floor(seconds / TWO_32) + nanoseconds * 4];
}

/** The time a stored value stands for, formatted as a PAX time (Go's formatPAXTime); null for 0. */
function storedAsText([lo, extra]) {
  if (lo === 0 && extra === 0) return null;
  let seconds;
  let nanoseconds = 0;
  if (extra === 0xffffffff && lo >= 0x80000000) seconds = lo - TWO_32;
  else {
    seconds = lo + (extra & 3) * TWO_32;
    nanoseconds = extra >>> 2;
  }
  if (nanoseconds === 0) return String(seconds);
  return `${seconds}.${String(nanoseconds).padStart(9, '0')}`.replace(/0+$/, '');
}

const imageTime = (text) => storedAsText(encode(parsePaxTime(text)));

function clean(name) {
  return path.posix.normalize(`/${name}`).replace(/^\/+/, '').replace(/\/+$/, '');
}

function xattrsOf(member) {
  const out = {};
  for (const [k, v] of Object.entries(member.pax)) if (k.startsWith('SCHILY.xattr.')) out[k.slice(13)] = v.toString('hex');
  return out;
}

const isZeroDevice = (m) => m.type === '3' && m.devmajor === 0 && m.devminor === 0;

/**
 * The tree hcsshim stores for `members` (Python's view of the original tar), as the export
 * should show it: names cleaned, the last entry for a name wins (a re-declared directory
 * merges in-inode xattrs, §3.5), whiteouts and opaque markers kept as names, hard links
 * grouped, a char device 0:0 read as the whiteout it is to overlayfs.
 */
function expectedTree(members) {
  const entries = new Map();
  const markers = new Set();
  const groupOf = new Map();
  for (const m of members) {
    const name = clean(m.name.toString('latin1'));
    const slash = name.lastIndexOf('/');
    const dir = slash < 0 ? '' : name.slice(0, slash);
    const base = name.slice(slash + 1);
    if (base === '.wh..wh..opq') {
      markers.add(dir);
      continue;
    }
    if (base.startsWith('.wh.')) {
      entries.delete(path.posix.join(dir, base.slice(4)));
      entries.set(name, { whiteout: true });
      continue;
    }
    if (m.type === '1') {
      const target = clean(m.linkname.toString('latin1'));
      const group = groupOf.get(target) ?? new Set([target]);
      group.add(name);
      for (const n of group) groupOf.set(n, group);
      continue;
    }
    if (isZeroDevice(m)) {
      entries.set(path.posix.join(dir, `.wh.${base}`), { whiteout: true });
      continue;
    }
    const previous = entries.get(name);
    const xattrs = { ...(m.type === '5' && previous?.type === '5' ? previous.xattrs : {}), ...xattrsOf(m) };
    if (m.type === '5' && xattrs['trusted.overlay.opaque'] === Buffer.from('y').toString('hex')) {
      markers.add(name);
      delete xattrs['trusted.overlay.opaque'];
    }
    const pax = m.pax;
    entries.set(name, {
      type: m.type === 'g' ? '0' : m.type,
      mode: m.type === '2' ? (m.mode & 0o7777) | 0o777 : m.mode & 0o7777,
      uid: m.uid % TWO_32,
      gid: m.gid % TWO_32,
      mtime: imageTime(pax.mtime ? pax.mtime.toString('latin1') : String(m.mtime)) ?? '0',
      atime: pax.atime ? imageTime(pax.atime.toString('latin1')) : null,
      ctime: pax.ctime ? imageTime(pax.ctime.toString('latin1')) : null,
      size: m.type === '0' ? m.size : 0,
      sha256: m.sha256,
      linkname: m.type === '2' ? m.linkname.toString('hex') : undefined,
      dev: m.type === '3' || m.type === '4' ? `${m.devmajor}:${m.devminor}` : undefined,
      xattrs,
    });
  }
  return { entries, markers, groupOf };
}

function exportedView(m) {
  const pax = m.pax;
  return {
    type: m.type,
    mode: m.mode & 0o7777,
    uid: m.uid,
    gid: m.gid,
    mtime: pax.mtime ? pax.mtime.toString('latin1') : String(m.mtime),
    atime: pax.atime ? pax.atime.toString('latin1') : null,
    ctime: pax.ctime ? pax.ctime.toString('latin1') : null,
    size: m.size,
    sha256: m.sha256,
    linkname: m.type === '2' ? m.linkname.toString('hex') : undefined,
    dev: m.type === '3' || m.type === '4' ? `${m.devmajor}:${m.devminor}` : undefined,
    xattrs: xattrsOf(m),
  };
}

/** Problems (strings) between the expected tree and the exported members; [] when they agree. */
function compareTrees(caseName, original, exported) {
  const want = expectedTree(original);
  const problems = [];
  const got = new Map();
  for (const m of exported) {
    const name = clean(m.name.toString('latin1'));
    if (got.has(name)) problems.push(`${name}: exported twice`);
    got.set(name, m);
  }
  const gotMarkers = new Set([...got.keys()].filter((n) => n === '.wh..wh..opq' || n.endsWith('/.wh..wh..opq')).map((n) => n.replace(/\/?\.wh\.\.wh\.\.opq$/, '')));
  for (const dir of want.markers) if (!gotMarkers.has(dir)) problems.push(`${dir || '/'}: opaque marker missing`);
  for (const dir of gotMarkers) if (!want.markers.has(dir)) problems.push(`${dir || '/'}: unexpected opaque marker`);
  for (const [name, w] of want.entries) {
    const m = got.get(name);
    if (!m) {
      problems.push(`${name}: missing`);
      continue;
    }
    if (w.whiteout) {
      if (m.type !== '0' || m.size !== 0) problems.push(`${name}: whiteout not an empty file`);
      continue;
    }
    const first = m.type === '1' && w.type !== '1' ? got.get(clean(m.linkname.toString('latin1'))) : m;
    if (!first) {
      problems.push(`${name}: link to a missing name`);
      continue;
    }
    const g = exportedView(first);
    for (const key of ['type', 'mode', 'uid', 'gid', 'mtime', 'atime', 'ctime', 'size', 'sha256', 'linkname', 'dev']) {
      if (key === 'mtime' && w.type === '5' && name === '') continue;
      if (w[key] !== g[key]) problems.push(`${name}: ${key} ${JSON.stringify(g[key])}, want ${JSON.stringify(w[key])}`);
    }
    if (JSON.stringify(Object.entries(g.xattrs).sort()) !== JSON.stringify(Object.entries(w.xattrs).sort())) {
      problems.push(`${name}: xattrs ${JSON.stringify(g.xattrs)}, want ${JSON.stringify(w.xattrs)}`);
    }
  }
  // Hard links: one name of each group carries the file, the others link to it.
  for (const group of new Set(want.groupOf.values())) {
    const names = [...group].filter((n) => !want.entries.get(n)?.whiteout);
    const files = names.filter((n) => got.get(n) && got.get(n).type !== '1');
    if (files.length !== 1) problems.push(`hard-link group ${names.join(',')}: ${files.length} non-link entries`);
    for (const n of names) {
      const m = got.get(n);
      if (!m) problems.push(`${n}: hard link missing`);
      else if (m.type === '1' && clean(m.linkname.toString('latin1')) !== files[0]) problems.push(`${n}: links to ${m.linkname}, want ${files[0]}`);
    }
  }
  const allowed = new Set(EXTRA_ENTRIES[caseName] ?? []);
  for (const [name, m] of got) {
    if (want.entries.has(name) || want.groupOf.has(name) || name.endsWith('.wh..wh..opq') || name === '.wh..wh..opq') continue;
    if (m.type === '5' || allowed.has(name)) continue; // implicit parents hcsshim created
    problems.push(`${name}: exported but not in the tar`);
  }
  return problems;
}

// ---------------------------------------------------------------- tests ----

test('the accepted corpus is what the round trip covers', () => {
  assert.ok(accepted.length >= 16, `accepted cases: ${accepted.join(', ')}`);
});

const roundTrips = [];

for (const caseName of accepted) {
  test(`round trip: ${caseName}`, { timeout: 5 * 60 * 1000 }, async (t) => {
    if (!hasTool('python3')) return t.skip('python3 is needed to read the tars');
    const original = path.join(corpus, caseName);
    const dir = path.join(work, caseName);
    const fs = await import('node:fs');
    fs.mkdirSync(dir, { recursive: true });
    const first = path.join(dir, 'layer.vhd');
    const exported = path.join(dir, 'export.tar');
    const second = path.join(dir, 'again.vhd');
    await applyDiff(original, first);
    const view = openLayer(first);
    t.after(() => view.reader.close());
    await drainTo(layerTar(view), exported);

    const listing = gnuTarList(exported);
    assert.equal(listing.status, 0, `GNU tar failed: ${listing.stderr}`);
    const members = pythonTarMembers(exported);
    assert.equal(listing.lines.length, members.length, 'GNU tar and Python list the same number of entries');

    const originalMembers = pythonTarMembers(original);
    const problems = compareTrees(caseName, originalMembers, members);
    assert.deepEqual(problems, [], problems.slice(0, 20).join('\n'));

    // DiffGetter: every regular file the original tar holds, by its own name.
    const whited = new Set();
    const last = new Map();
    for (const m of originalMembers) {
      const name = clean(m.name.toString('latin1'));
      if (path.posix.basename(name).startsWith('.wh.')) whited.add(path.posix.join(path.posix.dirname(name), path.posix.basename(name).slice(4)));
      else last.set(name, m);
    }
    for (const [name, m] of last) {
      if (m.type !== '0' || whited.has(name)) continue;
      assert.equal(await sha256Stream(layerFile(view, m.name.toString('utf8'))), m.sha256, `cat ${name}`);
    }

    await applyDiff(exported, second);
    const at = firstExt4Difference(first, second);
    roundTrips.push({ caseName, identical: at === -1 });
    if (NOT_BYTE_IDENTICAL[caseName]) {
      assert.notEqual(at, -1, `${caseName} now round-trips: drop it from NOT_BYTE_IDENTICAL`);
      t.diagnostic(`${caseName}: not byte-identical, as expected: ${NOT_BYTE_IDENTICAL[caseName]}`);
    } else {
      assert.equal(at, -1, `the re-converted image differs at byte ${at}`);
    }
  });
}

test('round-trip count', (t) => {
  if (roundTrips.length !== accepted.length) return t.skip(`only ${roundTrips.length} of ${accepted.length} round trips ran`);
  const identical = roundTrips.filter((r) => r.identical).length;
  t.diagnostic(`${identical} of ${accepted.length} accepted golden tars round-trip byte for byte`);
  assert.equal(identical, accepted.length - Object.keys(NOT_BYTE_IDENTICAL).length);
});
