// The remote file system of a union view in an HCS utility VM (spec/driver.md §9,
// opengcs lcowfs): every operation runs `remotefs <command> <args>` in the VM (arguments
// joined by single spaces, unquoted, as the reference does); stat and readdir answer
// JSON, archives travel over stdin and stdout after an options header, and a failure's
// `{"ErrString","ErrNum"}` on stderr becomes a RemoteFsError. Paths are POSIX paths in
// the guest; `root` is the union mount (Path() of the reference).

import { posix } from 'node:path';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { exportedErrorOf } from './errors.js';
import { parseFileInfo, parseFileInfos, type RemoteFileInfo } from './file-info.js';
import { encodeArchiveOptions } from './framing.js';
import { RemoteFile, type RemoteProcess } from './remote-file.js';

export interface RemoteRunner {
  readonly timeoutSeconds: number;
  /** Runs to the end; a non-zero exit rejects with an error carrying `stderr`. */
  run(commandLine: string, options?: { stdin?: Buffer | Readable; stdout?: Writable; callerWantsStderr?: boolean }): Promise<{ stdout: Buffer; stderr: string }>;
  spawn(commandLine: string): Promise<RemoteProcess>;
}

/** Docker's archive.TarOptions as the guest tool reads them (only what lcowfs sends). */
export interface TarOptions {
  [key: string]: unknown;
}

const octal = (mode: number): string => mode.toString(8);

export class RemoteFs {
  /** The union mount in the guest: Path() of the reference. */
  readonly root: string;
  private readonly runner: RemoteRunner;

  constructor(runner: RemoteRunner, root: string) {
    this.runner = runner;
    this.root = root;
  }

  /** Runs one remotefs command; the guest's error JSON wins over the exit-code error. */
  private async remote(command: string, args: Array<string | number>, options: { stdin?: Buffer | Readable; stdout?: Writable } = {}): Promise<Buffer> {
    try {
      const { stdout } = await this.runner.run(['remotefs', command, ...args].join(' '), { ...options, callerWantsStderr: true });
      return stdout;
    } catch (err) {
      throw exportedErrorOf(command, (err as { stderr?: string }).stderr ?? '') ?? err;
    }
  }

  /** ResolveScopedPath: the guest resolves symlinks within root. */
  async resolveScopedPath(path: string, rawPath: boolean): Promise<string> {
    const target = rawPath ? posix.join(this.root, path) : posix.join(this.root, posix.normalize(`/${path}`));
    return (await this.remote('resolvepath', [target, this.root])).toString('utf8');
  }

  async stat(path: string): Promise<RemoteFileInfo> {
    return parseFileInfo((await this.remote('stat', [path])).toString('utf8'), 'stat');
  }

  async lstat(path: string): Promise<RemoteFileInfo> {
    return parseFileInfo((await this.remote('lstat', [path])).toString('utf8'), 'lstat');
  }

  /** At most `n` entries (n <= 0: all), as Go's File.Readdir. */
  async readdir(path: string, n: number): Promise<RemoteFileInfo[]> {
    return parseFileInfos((await this.remote('readdir', [path, n])).toString('utf8'), 'readdir');
  }

  async readlink(path: string): Promise<string> {
    return (await this.remote('readlink', [path])).toString('utf8');
  }

  async mkdir(path: string, mode: number): Promise<void> {
    await this.remote('mkdir', [path, octal(mode)]);
  }

  async mkdirAll(path: string, mode: number): Promise<void> {
    await this.remote('mkdirall', [path, octal(mode)]);
  }

  async remove(path: string): Promise<void> {
    await this.remote('remove', [path]);
  }

  async removeAll(path: string): Promise<void> {
    await this.remote('removeall', [path]);
  }

  async link(oldName: string, newName: string): Promise<void> {
    await this.remote('link', [oldName, newName]);
  }

  async symlink(oldName: string, newName: string): Promise<void> {
    await this.remote('symlink', [oldName, newName]);
  }

  async lchown(path: string, uid: number, gid: number): Promise<void> {
    await this.remote('lchown', [path, uid, gid]);
  }

  async lchmod(path: string, mode: number): Promise<void> {
    await this.remote('lchmod', [path, octal(mode)]);
  }

  async mknod(path: string, mode: number, major: number, minor: number): Promise<void> {
    await this.remote('mknod', [path, octal(mode), major, minor]);
  }

  async mkfifo(path: string, mode: number): Promise<void> {
    await this.remote('mkfifo', [path, octal(mode)]);
  }

  /** ExtractArchive: the tar of `source` unpacked at `destination` in the guest. */
  async extractArchive(source: Readable, destination: string, options: TarOptions): Promise<void> {
    const stdin = new PassThrough();
    stdin.write(encodeArchiveOptions(options));
    source.pipe(stdin);
    await this.remote('extractarchive', [destination], { stdin });
  }

  /** ArchivePath: a tar of `source` in the guest, streamed as the guest writes it. */
  archivePath(source: string, options: TarOptions): Readable {
    const tar = new PassThrough();
    this.remote('archivepath', [source], { stdin: encodeArchiveOptions(options), stdout: tar }).catch((err) => tar.destroy(err));
    return tar;
  }

  /** OpenFile: a long-lived `remotefs openfile` speaking the framed protocol. */
  async openFile(path: string, flag: number, perm: number): Promise<RemoteFile> {
    const process = await this.runner.spawn(`remotefs openfile ${path} ${flag} ${octal(perm)}`);
    return new RemoteFile(process, path, this.runner.timeoutSeconds);
  }
}
