// Changes and DiffSize (spec/driver.md §7.14) over layers made by the real converter from
// tars Python writes: Docker's overlay rules (whiteout and opaque directory = Delete, a path
// in a parent layer = Modify, else Add, unchanged parent directories left out, the parent of
// an Add or Delete reported as Modify), Docker's walk order, and ChangesSize's counting.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

import { changesSize, layerChanges } from '../dist/driver/export/layer-tar.js';
import { ChangeKind } from '../dist/driver/types.js';
import { hasTool, tmpDir, toolPath } from './helpers/corpus.js';
import { applyDiff, openLayer } from './helpers/export-tar.js';

const work = tmpDir('lcow-changes-');
const K = { [ChangeKind.Add]: 'A', [ChangeKind.Modify]: 'C', [ChangeKind.Delete]: 'D' };
const views = {};

// base <- middle <- top, as docker would stack them; times fixed so directories compare equal.
const MAKE_TARS = String.raw`
import io, sys, tarfile
out = sys.argv[1]
T = 1700000000
def tar(name, entries):
    with tarfile.open(f'{out}/{name}.tar', 'w', format=tarfile.PAX_FORMAT) as tf:
        for kind, path, *rest in entries:
            ti = tarfile.TarInfo(path)
            ti.mtime = T
            if kind == 'dir':
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(ti)
            elif kind == 'file':
                data = rest[0]
                ti.size, ti.mode = len(data), 0o644
                tf.addfile(ti, io.BytesIO(data))
            elif kind == 'link':
                ti.type, ti.linkname = tarfile.LNKTYPE, rest[0]
                tf.addfile(ti)
tar('base', [('dir', 'etc'), ('file', 'etc/hostname', b'base\n'), ('file', 'etc/passwd', b'root:x:0:0\n'),
             ('dir', 'usr'), ('dir', 'usr/bin'), ('file', 'usr/bin/tool', b'tool'),
             ('dir', 'var'), ('dir', 'var/log'), ('file', 'var/log/old.log', b'old'), ('file', 'rootfile', b'r'),
             ('file', 'opt/x', b'x')])
tar('middle', [('file', 'etc/motd', b'hi')])
tar('top', [('file', 'etc/hostname', b'container-1\n'), ('file', 'etc/new', b'new'), ('file', 'etc/.wh.passwd', b''),
            ('dir', 'newdir'), ('file', 'newdir/a', b'A' * 100), ('link', 'newdir/b', 'newdir/a'),
            ('dir', 'usr'), ('dir', 'usr/bin'), ('file', 'usr/bin/tool2', b'tool2'),
            ('file', 'var/log/.wh..wh..opq', b''), ('file', 'var/log/fresh.log', b'new!'),
            ('file', '.wh.rootfile', b''), ('file', 'opt/x', b'y')])
`;

before(async () => {
  if (!hasTool('python3')) return;
  const r = spawnSync(toolPath('python3'), ['-c', MAKE_TARS, work], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  for (const name of ['base', 'middle', 'top']) {
    const vhd = path.join(work, `${name}.vhd`);
    await applyDiff(path.join(work, `${name}.tar`), vhd);
    views[name] = openLayer(vhd);
  }
});

after(() => {
  for (const view of Object.values(views)) view.reader.close();
});

const skip = hasTool('python3') ? false : 'python3 is needed to write the layers';

test('changes of a layer against its parents, in Docker\'s walk order', { skip }, () => {
  const changes = layerChanges(views.top, [views.middle, views.base]).map((c) => `${K[c.kind]} ${c.path}`);
  assert.deepEqual(changes, [
    'C /etc/hostname',
    // The nearest parent (middle) has /etc as the same implicit directory as top: not a change
    // itself, so Docker reports it as the parent of the Add that follows, after the Modify above.
    'C /etc',
    'A /etc/new',
    'D /etc/passwd',
    'A /newdir',
    'A /newdir/a',
    'A /newdir/b',
    'C /opt/x', // present two layers down; /opt itself is the same directory in both
    'D /rootfile', // the root-level whiteout
    'C /usr/bin', // unchanged itself (same size, mode, mtime), reported as the parent of an Add
    'A /usr/bin/tool2',
    'C /var', // implicit in top (times 0), declared in base (the nearest with it): changed
    'D /var/log', // opaque
    'A /var/log/fresh.log',
  ]);
});

test('a base layer: everything is an Add, lost+found is not a change', { skip }, () => {
  const changes = layerChanges(views.base, []);
  assert.ok(changes.every((c) => c.kind === ChangeKind.Add));
  assert.ok(!changes.some((c) => c.path === '/lost+found'));
  assert.deepEqual(changes.map((c) => c.path), ['/etc', '/etc/hostname', '/etc/passwd', '/opt', '/opt/x', '/rootfile', '/usr', '/usr/bin', '/usr/bin/tool', '/var', '/var/log', '/var/log/old.log']);
});

test('DiffSize counts non-directory Adds and Modifies, a hard-linked inode once', { skip }, () => {
  // hostname 12 + new 3 + a/b 100 (once) + x 1 + tool2 5 + fresh.log 4
  assert.equal(changesSize(views.top, [views.middle, views.base]), 12 + 3 + 100 + 1 + 5 + 4);
  assert.equal(changesSize(views.base, []), 5 + 11 + 1 + 1 + 4 + 3);
});
