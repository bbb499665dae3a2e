// A private dockerd for the tests: its own data root, exec root, pid file and API socket,
// with a graph-driver plugin as its storage driver, so it never meets a developer's real
// docker. Also: the docker client with a transcript of every command, a busybox rootfs
// tar, and the leftovers check (mounts, loop devices, processes under a directory).
// No side effects on import.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { toolPath } from './corpus.js';

/** Why dockerd cannot run here, or null. */
export function dockerdUnavailable() {
  if (process.platform !== 'linux') return 'dockerd with a graph-driver plugin runs on Linux only';
  if (process.getuid?.() !== 0) return 'dockerd needs root (run the tests as root)';
  if (!toolPath('dockerd')) return 'dockerd is not installed (Debian docker.io; bash .ci/run installs it)';
  if (!dockerClient()) return 'no docker client (Debian docker.io)';
  if (!toolPath('runc')) return 'runc is not installed (Debian runc, a dependency of docker.io)';
  let cgroups = [];
  try {
    cgroups = fs.readdirSync('/sys/fs/cgroup');
  } catch {
    // no cgroup file system at all
  }
  if (cgroups.length === 0) return 'no cgroup file system at /sys/fs/cgroup: containers cannot run';
  const busybox = staticBusybox();
  if (typeof busybox !== 'string' || !busybox.startsWith('/')) return busybox;
  return null;
}

/** Debian's client first: it is the daemon's own version (20.10); any other client negotiates down. */
export function dockerClient() {
  if (fs.existsSync('/usr/bin/docker')) return '/usr/bin/docker';
  return toolPath('docker');
}

/** True when the ELF file has no program interpreter (PT_INTERP), i.e. it runs in an empty rootfs. */
function isStaticElf(file) {
  const bytes = fs.readFileSync(file);
  if (bytes.readUInt32BE(0) !== 0x7f454c46 || bytes[4] !== 2) return false; // ELF64 only
  const phoff = Number(bytes.readBigUInt64LE(0x20));
  const phentsize = bytes.readUInt16LE(0x36);
  const phnum = bytes.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i += 1) if (bytes.readUInt32LE(phoff + i * phentsize) === 3) return false;
  return true;
}

/** The path of a statically linked busybox, or the reason there is none. */
export function staticBusybox() {
  const busybox = ['/bin/busybox', toolPath('busybox')].find((p) => p && fs.existsSync(p));
  if (!busybox) return 'busybox is not installed (Debian busybox-static; bash .ci/run installs it)';
  if (!isStaticElf(fs.realpathSync(busybox))) return `${busybox} is dynamically linked: install Debian busybox-static`;
  return busybox;
}

export const BUSYBOX_APPLETS = ['sh', 'ls', 'cat', 'echo', 'rm', 'mkdir', 'printf', 'find', 'sort', 'sha256sum', 'test', 'wc'];

/**
 * A rootfs tar: busybox with its applets as symlinks in /bin, and /data/{keep,delete,
 * replace}.txt and /etc/motd for the containers to change. Made with GNU tar as root:0.
 */
export function makeBusyboxTar(dir) {
  const rootfs = path.join(dir, 'rootfs');
  for (const sub of ['bin', 'etc', 'tmp', 'data']) fs.mkdirSync(path.join(rootfs, sub), { recursive: true });
  fs.copyFileSync(staticBusybox(), path.join(rootfs, 'bin/busybox'));
  fs.chmodSync(path.join(rootfs, 'bin/busybox'), 0o755);
  for (const applet of BUSYBOX_APPLETS) fs.symlinkSync('busybox', path.join(rootfs, 'bin', applet));
  fs.writeFileSync(path.join(rootfs, 'data/keep.txt'), 'keep\n');
  fs.writeFileSync(path.join(rootfs, 'data/delete.txt'), 'delete me\n');
  fs.writeFileSync(path.join(rootfs, 'data/replace.txt'), 'old contents\n');
  fs.writeFileSync(path.join(rootfs, 'etc/motd'), 'lcow busybox\n');
  const tarFile = path.join(dir, 'busybox.tar');
  const made = spawnSync('tar', ['-C', rootfs, '--owner=0', '--group=0', '--numeric-owner', '-cf', tarFile, '.'], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`tar failed: ${made.stderr}`);
  return tarFile;
}

/** A GET over a unix socket; resolves to the status code, or rejects. */
function ping(socketPath) {
  return new Promise((resolve, reject) => {
    const request = http.get({ socketPath, path: '/_ping', timeout: 2000 }, (response) => {
      response.resume();
      resolve(response.statusCode);
    });
    request.once('timeout', () => request.destroy(new Error('ping timed out')));
    request.once('error', reject);
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A private dockerd with `driverName` (a plugin) as its storage driver, logging into
 * `<dir>/dockerd.log`. start() waits until its API answers; stop() signals this pid only
 * and waits for it to exit (SIGKILL after the timeout).
 */
export class PrivateDockerd {
  constructor(dir, driverName) {
    this.dir = dir;
    this.dataRoot = path.join(dir, 'data');
    this.execRoot = path.join(dir, 'exec');
    this.pidFile = path.join(dir, 'dockerd.pid');
    this.socketPath = path.join(dir, 'docker.sock');
    this.logFile = path.join(dir, 'dockerd.log');
    this.driverName = driverName;
    this.child = undefined;
  }

  get host() {
    return `unix://${this.socketPath}`;
  }

  args() {
    return [
      '--data-root', this.dataRoot, '--exec-root', this.execRoot, '--pidfile', this.pidFile,
      '-H', this.host, '--experimental', '-s', this.driverName,
      '--iptables=false', '--ip6tables=false', '--bridge=none',
    ];
  }

  logTail(lines = 30) {
    try {
      return fs.readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  async start(timeoutMs = 60_000) {
    const log = fs.openSync(this.logFile, 'a');
    try {
      this.child = spawn(toolPath('dockerd'), this.args(), { stdio: ['ignore', log, log] });
    } finally {
      fs.closeSync(log);
    }
    const child = this.child;
    this.exited = new Promise((resolve) => child.once('exit', (status, signal) => resolve({ status, signal })));
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`dockerd exited (${child.exitCode ?? child.signalCode}) while starting:\n${this.logTail()}`);
      }
      if (await ping(this.socketPath).then((status) => status === 200, () => false)) return;
      await sleep(250);
    }
    await this.stop(5000);
    throw new Error(`dockerd did not answer within ${timeoutMs} ms:\n${this.logTail()}`);
  }

  /** SIGTERM, wait; resolves to { status, signal }. Containers get dockerd's 10 s stop timeout. */
  async stop(timeoutMs = 60_000) {
    const child = this.child;
    if (!child) return undefined;
    this.child = undefined;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** An argument as a shell would need it typed, for the transcript. */
function shellQuote(arg) {
  return /^[\w@%+=:,./^$-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\"'\"'")}'`;
}

/**
 * The docker client against one daemon. Every command and what it printed is kept in
 * `transcript` ({ command, status, stdout, stderr }); each run is bounded by a timeout.
 */
export class DockerClient {
  constructor(host, client = dockerClient()) {
    this.host = host;
    this.client = client;
    this.transcript = [];
  }

  run(args, { timeoutMs = 120_000, allowFailure = false } = {}) {
    const result = spawnSync(this.client, args, {
      env: { ...process.env, DOCKER_HOST: this.host },
      encoding: 'utf8',
      timeout: timeoutMs,
      killSignal: 'SIGKILL',
      maxBuffer: 1 << 26,
    });
    const entry = { command: `docker ${args.map(shellQuote).join(' ')}`, status: result.status ?? result.signal, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
    this.transcript.push(entry);
    if (result.error) throw new Error(`${entry.command}: ${result.error.message}`);
    if (!allowFailure && result.status !== 0) throw new Error(`${entry.command} exited ${entry.status}: ${entry.stderr.trim()}`);
    return entry;
  }

  /** The transcript as text: each command, its exit status and (shortened) output. */
  formatTranscript(maxLines = 12) {
    return this.transcript.map(({ command, status, stdout, stderr }) => {
      const shown = (stdout + stderr).trimEnd().split('\n');
      const body = shown.slice(0, maxLines).map((line) => `    ${line}`).join('\n');
      const more = shown.length > maxLines ? `\n    ... (${shown.length - maxLines} more lines)` : '';
      return `$ ${command}   [exit ${status}]\n${body}${more}`;
    }).join('\n');
  }
}

/** Mount points at or under `dir` (from /proc/self/mountinfo), deepest first. */
export function mountsUnder(dir) {
  const prefix = `${dir}/`;
  const decode = (field) => field.replace(/\\([0-7]{3})/g, (_, octal) => String.fromCharCode(parseInt(octal, 8)));
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean)
    .map((line) => decode(line.split(' ')[4]))
    .filter((point) => point === dir || point.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
}

/** Loop devices whose backing file is under `dir`: [{ device, backingFile }]. */
export function loopDevicesUnder(dir) {
  const found = [];
  for (const name of fs.readdirSync('/sys/block').filter((n) => /^loop\d+$/.test(n))) {
    let backingFile;
    try {
      backingFile = fs.readFileSync(`/sys/block/${name}/loop/backing_file`, 'utf8').trim();
    } catch {
      continue; // not attached
    }
    if (backingFile.startsWith(`${dir}/`)) found.push({ device: `/dev/${name}`, backingFile });
  }
  return found;
}

/** Processes (other than this one) whose command line mentions one of `needles`: [{ pid, commandLine }]. */
export function processesMentioning(needles) {
  const found = [];
  for (const entry of fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    const pid = Number(entry);
    if (pid === process.pid) continue;
    let commandLine;
    try {
      commandLine = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
    } catch {
      continue; // exited meanwhile
    }
    if (commandLine && needles.some((needle) => commandLine.includes(needle))) found.push({ pid, commandLine });
  }
  return found;
}

/**
 * Last-resort cleanup after a failed run: kills the processes this test started (found
 * by the test's own directory or plugin name on their command line), unmounts what is
 * mounted under `dir` and detaches loop devices backed by files under it.
 */
export function releaseEverythingUnder(dir, needles) {
  const released = [];
  for (const { pid, commandLine } of processesMentioning(needles)) {
    try {
      process.kill(pid, 'SIGKILL');
      released.push(`killed ${pid} ${commandLine.slice(0, 120)}`);
    } catch {
      // already gone
    }
  }
  for (const point of mountsUnder(dir)) {
    const result = spawnSync('umount', ['-l', point], { encoding: 'utf8' });
    released.push(`umount -l ${point}: ${result.status === 0 ? 'ok' : result.stderr.trim()}`);
  }
  for (const { device } of loopDevicesUnder(dir)) {
    const result = spawnSync('losetup', ['-d', device], { encoding: 'utf8' });
    released.push(`losetup -d ${device}: ${result.status === 0 ? 'ok' : result.stderr.trim()}`);
  }
  return released;
}
