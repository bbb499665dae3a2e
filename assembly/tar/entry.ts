// One archive member as Go's tar.Reader.Next returns it (after PAX, long-name and
// sparse handling), which is what hcsshim's conversion loop sees: the decoded header
// plus what the reader learned around it.

import { TarHeader } from "./header";
import { PaxRecords, NO_PAX_RECORDS } from "./pax";
import { SparseMap } from "./sparse";

export class TarEntry extends TarHeader {
  pax: PaxRecords = NO_PAX_RECORDS;
  /** Bytes the archive stores for this member (before sparse expansion). */
  physicalSize: i64 = 0;
  padding: i64 = 0;
  /** Non-null for sparse members: the data fragments of the expanded file. */
  sparse: SparseMap | null = null;
}
