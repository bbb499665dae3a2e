// A real client for the plugin endpoint: Debian's dockerd 20.10, private to this test,
// with `lcow plugin` as its storage driver (spec/driver.md §10.4), running busybox
// containers through the driver's layer.vhd / sandbox.vhdx layers and linux views.
// Every docker command and what it printed is reported as a diagnostic at the end.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { tmpDir, toolPath } from './helpers/corpus.js';
import { startPlugin } from './helpers/dockerd-plugin.js';
import {
  DockerClient, PrivateDockerd, dockerdUnavailable, loopDevicesUnder, makeBusyboxTar, mountsUnder, processesMentioning, releaseEverythingUnder,
} from './helpers/dockerd.js';

const unavailable = dockerdUnavailable();
if (unavailable) console.log(`dockerd test skipped: ${unavailable}`);

// A plugin name of our own, so parallel runs and a developer's docker do not collide.
const PLUGIN_NAME = `lcowtest${process.pid}`;
const PLUGIN_SOCKET = `/run/docker/plugins/${PLUGIN_NAME}.sock`;

/** The changes the "changer" container makes, and what docker diff must say about them. */
const CHANGES_SCRIPT = 'echo new > /data/new.txt; rm /data/delete.txt; echo replaced > /data/replace.txt; mkdir /data/dir; printf x > /data/dir/f';
const EXPECTED_DIFF = ['A /data/dir', 'A /data/dir/f', 'A /data/new.txt', 'C /data', 'C /data/replace.txt', 'D /data/delete.txt'];
/** Bytes the container adds, as Docker's archive.ChangesSize counts them: regular files added or changed. */
const CHANGED_BYTES = 'new\n'.length + 'replaced\n'.length + 'x'.length;
/** Reads back the committed changes from a new container. */
const CHECK_SCRIPT = 'cat /data/new.txt /data/replace.txt /data/dir/f /data/keep.txt; echo; test -e /data/delete.txt && echo delete.txt is back || echo delete.txt stays deleted';
const CHECK_OUTPUT = 'new\nreplaced\nxkeep\n\ndelete.txt stays deleted\n';
/** Files dockerd bind-mounts into every container: inside, they are not the layer's files. */
const BIND_MOUNTED = new Set(['/etc/hosts', '/etc/hostname', '/etc/resolv.conf']);
/** Lists the container's tree (names) and hashes its regular files, from inside. */
const TREE_SCRIPT = "echo more > /data/more.txt; find / -xdev | sort; echo ---; find / -xdev -type f -exec sha256sum {} + | sort -k 2";

function sha256(file) {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** `find / -xdev | sort` and `sha256sum` output → { names: Set, hashes: Map(path → hex) }. */
function parseTree(output) {
  const [names, sums] = output.split('\n---\n');
  const hashes = new Map();
  for (const line of sums.trim().split('\n')) {
    const match = /^([0-9a-f]{64})\s+(.+)$/.exec(line);
    if (match && !BIND_MOUNTED.has(match[2])) hashes.set(match[2], match[1]);
  }
  return { names: new Set(names.trim().split('\n')), hashes };
}

/** An extracted export → { names: Set, hashes: Map } in the same form. */
function exportedTree(tarFile, dir) {
  fs.mkdirSync(dir);
  const extracted = spawnSync('tar', ['-C', dir, '-xf', tarFile], { encoding: 'utf8' });
  assert.equal(extracted.status, 0, extracted.stderr);
  const names = new Set();
  const hashes = new Map();
  const walk = (relative) => {
    for (const entry of fs.readdirSync(path.join(dir, relative), { withFileTypes: true })) {
      const name = `${relative}/${entry.name}`;
      names.add(name);
      if (entry.isDirectory()) walk(name);
      else if (entry.isFile() && !BIND_MOUNTED.has(name)) hashes.set(name, sha256(path.join(dir, name)));
    }
  };
  walk('');
  return { names, hashes };
}

describe('dockerd 20.10 with lcow plugin as its storage driver', { skip: unavailable ?? false, timeout: 10 * 60_000 }, () => {
  let dir;
  let lcowRoot;
  let plugin;
  let dockerd;
  let docker;
  const ids = {};

  before(async () => {
    dir = tmpDir('lcow-dockerd-');
    lcowRoot = path.join(dir, 'lcow');
    plugin = await startPlugin(['--root', lcowRoot, '--socket', PLUGIN_SOCKET]);
    dockerd = new PrivateDockerd(dir, PLUGIN_NAME);
    docker = new DockerClient(dockerd.host);
    await dockerd.start();
  });

  after(async () => {
    if (docker) console.log(`docker commands run (client ${docker.client}):\n${docker.formatTranscript()}`);
    // After a failure part-way, stop whatever is still running and release what it held.
    await dockerd?.stop(30_000);
    await plugin?.stop();
    if (dir) {
      const released = releaseEverythingUnder(dir, [dir]);
      if (released.length) console.log(`released after the run:\n${released.map((r) => `  ${r}`).join('\n')}`);
    }
  });

  it('starts with the plugin as its storage driver; docker info shows the Status pairs', () => {
    const info = docker.run(['info', '--format', '{{.Driver}} {{json .DriverStatus}}']).stdout.trim();
    assert.equal(info.split(' ')[0], PLUGIN_NAME);
    const pairs = JSON.parse(info.slice(info.indexOf(' ') + 1));
    assert.deepEqual(pairs.find(([key]) => key === 'Data Root'), ['Data Root', lcowRoot]);
    assert.deepEqual(pairs.find(([key]) => key === 'Layers'), ['Layers', '0']);
    assert.deepEqual(pairs.find(([key]) => key === 'Backend'), ['Backend', 'linux']);
    // The handshake of §10.4, one log line per request; Init's Home is <data-root>/<plugin name>.
    const methods = plugin.logs().filter((l) => l.method).map((l) => l.method);
    assert.deepEqual(methods.slice(0, 3), ['Plugin.Activate', 'GraphDriver.Init', 'GraphDriver.Capabilities']);
    const init = plugin.logs().find((l) => l.msg === 'driver initialised');
    assert.equal(init.home, path.join(dockerd.dataRoot, PLUGIN_NAME));
  });

  it('docker import, then docker run --rm prints the expected output', () => {
    const tarFile = makeBusyboxTar(dir);
    ids.base = docker.run(['import', tarFile, 'lcowtest:base']).stdout.trim();
    assert.match(ids.base, /^sha256:[0-9a-f]{64}$/);
    const run = docker.run(['run', '--rm', '--network', 'none', 'lcowtest:base', 'sh', '-c', 'echo hello from lcow; cat /etc/motd /data/keep.txt; ls /data']);
    assert.equal(run.stdout, 'hello from lcow\nlcow busybox\nkeep\ndelete.txt\nkeep.txt\nreplace.txt\n');
  });

  it('a container that writes, deletes and replaces files: docker diff shows exactly those, docker ps -s their size', () => {
    docker.run(['run', '--name', 'changer', '--network', 'none', 'lcowtest:base', 'sh', '-c', CHANGES_SCRIPT]);
    const diff = docker.run(['diff', 'changer']).stdout.trim().split('\n').sort();
    assert.deepEqual(diff, EXPECTED_DIFF);
    const size = docker.run(['ps', '-a', '-s', '--filter', 'name=^changer$', '--format', '{{.Size}}']).stdout.trim();
    const match = /^(\d+)B \(virtual ([\d.]+)([kM]B)\)$/.exec(size);
    assert.ok(match, `docker ps -s size: ${size}`);
    assert.equal(Number(match[1]), CHANGED_BYTES);
    // The virtual size adds the image: about busybox's size.
    const busyboxMB = fs.statSync(path.join(dir, 'rootfs/bin/busybox')).size / 1e6;
    const virtualMB = Number(match[2]) / (match[3] === 'kB' ? 1000 : 1);
    assert.ok(virtualMB >= busyboxMB && virtualMB < busyboxMB + 1, `virtual ${virtualMB} MB against busybox ${busyboxMB} MB`);
  });

  it('docker commit, save, rmi, load: the same image id comes back, with the changes', () => {
    ids.committed = docker.run(['commit', 'changer', 'lcowtest:committed']).stdout.trim();
    const saved = path.join(dir, 'saved.tar');
    docker.run(['save', '-o', saved, 'lcowtest:committed']);
    docker.run(['rm', 'changer']);
    docker.run(['rmi', 'lcowtest:committed', 'lcowtest:base']);
    assert.equal(docker.run(['images', '-q']).stdout.trim(), '', 'no image left before the load');
    const layerFolders = fs.readdirSync(lcowRoot).filter((n) => /^[0-9a-f]{64}/.test(n));
    assert.deepEqual(layerFolders, [], 'rmi removed every layer folder');
    assert.match(docker.run(['load', '-i', saved]).stdout, /Loaded image: lcowtest:committed/);
    assert.equal(docker.run(['image', 'inspect', '-f', '{{.Id}}', 'lcowtest:committed']).stdout.trim(), ids.committed);
    const check = docker.run(['run', '--rm', '--network', 'none', 'lcowtest:committed', 'sh', '-c', CHECK_SCRIPT]);
    assert.equal(check.stdout, CHECK_OUTPUT);
  });

  it('docker export of a container equals its tree', () => {
    const listed = docker.run(['run', '--name', 'exporter', '--network', 'none', 'lcowtest:committed', 'sh', '-c', TREE_SCRIPT]).stdout;
    ids.exporterTree = listed;
    const inside = parseTree(listed);
    const tarFile = path.join(dir, 'exporter.tar');
    docker.run(['export', '-o', tarFile, 'exporter']);
    const exported = exportedTree(tarFile, path.join(dir, 'exported'));
    // find -xdev does not descend into the container's /dev (a tmpfs); the export holds
    // the init layer's /dev entries instead. Everything else must be the same tree.
    const outsideDev = ([name]) => !name.startsWith('/dev/');
    const insideNames = [...inside.names].filter((n) => n !== '/').sort();
    const exportedNames = [...exported.names].filter((n) => outsideDev([n])).sort();
    assert.deepEqual(exportedNames, insideNames);
    assert.deepEqual(new Map([...exported.hashes].filter(outsideDev).sort()), new Map([...inside.hashes].sort()));
    assert.ok(exported.hashes.has('/data/more.txt') && !exported.names.has('/data/delete.txt'));
  });

  it('on disk, the layers are layer.vhd and sandbox.vhdx files', () => {
    const folderOf = (args) => JSON.parse(docker.run([...args, '-f', '{{json .GraphDriver.Data}}']).stdout).dir;
    const imageLayer = folderOf(['image', 'inspect', 'lcowtest:committed']);
    const containerLayer = folderOf(['container', 'inspect', 'exporter']);
    assert.equal(path.dirname(imageLayer), lcowRoot);
    assert.ok(fs.existsSync(path.join(imageLayer, 'layer.vhd')), `${imageLayer}/layer.vhd`);
    assert.ok(fs.existsSync(path.join(containerLayer, 'sandbox.vhdx')), `${containerLayer}/sandbox.vhdx`);
    // Every layer folder holds exactly one disk: base, committed, and the container's init and own layer.
    const folders = fs.readdirSync(lcowRoot).filter((n) => /^[0-9a-f]{64}/.test(n));
    const disks = folders.map((n) => fs.readdirSync(path.join(lcowRoot, n)).filter((f) => /\.(vhd|vhdx)$/.test(f)));
    assert.equal(folders.length, 4);
    assert.ok(disks.every((d) => d.length === 1), JSON.stringify(disks));
    assert.deepEqual(disks.flat().sort(), ['layer.vhd', 'layer.vhd', 'sandbox.vhdx', 'sandbox.vhdx']);
    const qemuImg = toolPath('qemu-img');
    if (qemuImg) {
      const info = spawnSync(qemuImg, ['info', '--output=json', path.join(containerLayer, 'sandbox.vhdx')], { encoding: 'utf8' });
      assert.equal(JSON.parse(info.stdout).format, 'vhdx');
    }
    // The committed layer holds the changes, the deletion as an overlay whiteout (0:0 device).
    const debugfs = toolPath('debugfs');
    if (debugfs) {
      const listing = spawnSync(debugfs, ['-R', 'ls -l /data', path.join(imageLayer, 'layer.vhd')], { encoding: 'utf8' }).stdout;
      for (const name of ['new.txt', 'replace.txt', 'dir', 'delete.txt']) assert.match(listing, new RegExp(`\\s${name.replace('.', '\\.')}\\s*$`, 'm'));
      assert.match(listing, /^\s*\d+\s+20000\s.*\sdelete\.txt\s*$/m, 'a character device without permissions');
      const whiteout = spawnSync(debugfs, ['-R', 'stat /data/delete.txt', path.join(imageLayer, 'layer.vhd')], { encoding: 'utf8' }).stdout;
      assert.match(whiteout, /Device major\/minor number: 00:00/);
    }
  });

  it('a dockerd restart keeps images and containers', async () => {
    const stopped = await dockerd.stop();
    assert.equal(stopped.status, 0, `dockerd exit: ${JSON.stringify(stopped)}`);
    await dockerd.start();
    assert.equal(docker.run(['image', 'inspect', '-f', '{{.Id}}', 'lcowtest:committed']).stdout.trim(), ids.committed);
    assert.equal(docker.run(['ps', '-a', '--filter', 'name=^exporter$', '--format', '{{.Names}} {{.Status}}']).stdout.trim().split(' ')[0], 'exporter');
    // The container's own layer came through: starting it again lists the same tree.
    assert.deepEqual(parseTree(docker.run(['start', '-a', 'exporter']).stdout), parseTree(ids.exporterTree));
    const check = docker.run(['run', '--rm', '--network', 'none', 'lcowtest:committed', 'sh', '-c', CHECK_SCRIPT]);
    assert.equal(check.stdout, CHECK_OUTPUT);
  });

  it('after dockerd and the plugin stop: no mount, no loop device and no process of the test left', async () => {
    assert.equal((await dockerd.stop()).status, 0);
    // dockerd's own mounts in its private roots are dockerd's business; release them
    // before looking, and say what they were.
    const dockerdLeft = [...mountsUnder(dockerd.dataRoot), ...mountsUnder(dockerd.execRoot)];
    for (const point of dockerdLeft) spawnSync('umount', ['-l', point]);
    if (dockerdLeft.length) console.log(`dockerd left mounted: ${dockerdLeft.join(', ')}`);
    const stopped = await plugin.stop();
    assert.deepEqual(stopped, { status: 0, signal: null }, plugin.stderr().slice(-2000));
    assert.ok(!fs.existsSync(PLUGIN_SOCKET), 'the socket file is removed');
    assert.ok(!fs.existsSync(path.join(lcowRoot, 'plugin.pid')), 'the pid file is removed');
    assert.deepEqual(mountsUnder(dir), []);
    assert.deepEqual(loopDevicesUnder(dir), []);
    assert.deepEqual(processesMentioning([dir]), []);
    // The plugin logged every request of the run, and none failed.
    const failed = plugin.logs().filter((l) => l.method && l.level !== 30);
    assert.deepEqual(failed, []);
  });
});
