// The graph driver's public shape (spec/driver.md §7), shared by the library, the
// `lcow driver` CLI and the Docker plugin endpoint. Every operation is asynchronous;
// operations on one id are serialized by the driver, different ids run concurrently.

import type { Readable } from 'node:stream';

/** Docker's archive.ChangeType values, as the plugin protocol carries them (§10.2). */
export enum ChangeKind {
  Modify = 0,
  Add = 1,
  Delete = 2,
}

export interface Change {
  /** Absolute path inside the layer, "/" separated (e.g. "/etc/hostname"). */
  path: string;
  kind: ChangeKind;
}

export interface CreateOptions {
  /** Per-layer options (`--storage-opt` of `docker run`), e.g. { 'lcow.sandboxsize': '30' }. */
  storageOpt?: Record<string, string>;
  /** SELinux label; accepted and ignored, as the reference does. */
  mountLabel?: string;
}

/** Reads single files of one read-only layer (§7.15), for Docker's tar-split reassembly. */
export interface FileGetter {
  /** The file's bytes, streamed; fails with a one-line error when the path is not a regular file of the layer. */
  get(path: string): Promise<Readable>;
  close(): Promise<void>;
}

export interface GraphDriver {
  /** The data root (spec §2). */
  readonly home: string;
  /** "lcow" (§7.16). */
  toString(): string;
  /** A read-only layer folder with its layerchain.json (§7.2). */
  create(id: string, parent: string, options?: CreateOptions): Promise<void>;
  /** A read-write layer: create() plus an empty ext4 sandbox.vhdx (§7.3). */
  createReadWrite(id: string, parent: string, options?: CreateOptions): Promise<void>;
  /** Releases any view, renames the folder to <id>-removing and deletes it (§7.4). */
  remove(id: string): Promise<void>;
  /** The host path of the union view of the layer and its parents (§7.5). */
  get(id: string, mountLabel?: string): Promise<string>;
  /** Releases one get() (§7.6). */
  put(id: string): Promise<void>;
  exists(id: string): Promise<boolean>;
  /** Pairs shown by `docker info` (§7.8). */
  status(): Promise<Array<[string, string]>>;
  getMetadata(id: string): Promise<Record<string, string>>;
  /** The layer's folder (§7.10). */
  getLayerPath(id: string): string;
  /** Deletes leftover -removing folders and stops every service VM (§7.11). */
  cleanup(): Promise<void>;
  /** Converts an uncompressed tar into <id>/layer.vhd; resolves to the file's size in bytes (§7.12). */
  applyDiff(id: string, parent: string, diff: Readable): Promise<number>;
  /** The layer as an OCI layer tar (§7.13), streamed. */
  diff(id: string, parent: string): Promise<Readable>;
  /** The layer's own changes against its parent chain (§7.14). */
  changes(id: string, parent: string): Promise<Change[]>;
  /** Bytes the layer adds, counted as Docker's archive.ChangesSize counts them (§7.14). */
  diffSize(id: string, parent: string): Promise<number>;
  diffGetter(id: string): Promise<FileGetter>;
}
