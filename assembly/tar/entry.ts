// One archive member as Go's tar.Reader.Next returns it (after PAX, long-name and
// sparse handling), which is what hcsshim's conversion loop sees.

import { TarTime } from "./header";
import { PaxRecords } from "./pax";
import { SparseMap } from "./sparse";

export class TarEntry {
  typeflag: u8 = 0;
  name: string = "";
  linkname: string = "";
  mode: i64 = 0;
  uid: i64 = 0;
  gid: i64 = 0;
  size: i64 = 0;
  devmajor: i64 = 0;
  devminor: i64 = 0;
  atime: TarTime = new TarTime();
  mtime: TarTime = new TarTime();
  ctime: TarTime = new TarTime();
  pax: PaxRecords = new PaxRecords();
  /** Bytes the archive stores for this member (before sparse expansion). */
  physicalSize: i64 = 0;
  padding: i64 = 0;
  /** Non-null for sparse members: the data fragments of the expanded file. */
  sparse: SparseMap | null = null;
}
