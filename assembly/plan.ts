// The write plan handed to the host after each engine call: a reply record (what to
// do next with the input) and a list of metadata writes {file offset, pointer, length}
// into the staging area. Both are valid until the next engine call; the host drains
// them first. File data is never in here: the reply says where it goes instead.

export const ACTION_NEXT_HEADER: i32 = 0; // put the next 512-byte header in the header buffer
export const ACTION_READ: i32 = 1; // copy reply[1] bytes of input to reply[2] and call pushData
export const ACTION_COPY: i32 = 2; // consume reply[1] input bytes: the segments go to the output, the rest is skipped; then call copyDone
export const ACTION_END: i32 = 3; // end of archive: call closeStep until ACTION_DONE
export const ACTION_ERROR: i32 = 4; // see the failure exports
export const ACTION_MORE: i32 = 5; // close: drain the writes, call closeStep again
export const ACTION_DONE: i32 = 6; // close finished: reply[1] = image size in bytes

// reply[0] action, [1] length or size, [2] pointer, [3] segment count,
// then segments as (output offset, length) pairs from [4].
export const REPLY_SLOTS: i32 = 4 + 2 * 64;
export const MAX_SEGMENTS: i32 = 64;
export const reply = new StaticArray<f64>(REPLY_SLOTS);

// Each write is (file offset, pointer, length).
export const MAX_WRITES: i32 = 4096;
export const writes = new StaticArray<f64>(MAX_WRITES * 3);
export let writeCount: i32 = 0;

// Staging area for metadata bytes; reset at the start of each engine call.
export const STAGING_SIZE: i32 = 4 << 20;
const staging = new StaticArray<u8>(STAGING_SIZE);
let stagingUsed: i32 = 0;

export function resetPlan(): void {
  writeCount = 0;
  stagingUsed = 0;
  reply[3] = 0;
}


/** Zeroed staging bytes for one write of `length` bytes at `fileOffset`. */
export function stageWrite(fileOffset: f64, length: i32): usize {
  const ptr = changetype<usize>(staging) + <usize>stagingUsed;
  memory.fill(ptr, 0, <usize>length);
  stagingUsed += (length + 7) & ~7;
  writes[writeCount * 3] = fileOffset;
  writes[writeCount * 3 + 1] = <f64>ptr;
  writes[writeCount * 3 + 2] = <f64>length;
  writeCount++;
  return ptr;
}

export function canStage(length: i32): bool {
  return writeCount < MAX_WRITES && stagingUsed + length <= STAGING_SIZE;
}

export function writesPointer(): usize {
  return changetype<usize>(writes);
}

export function replyPointer(): usize {
  return changetype<usize>(reply);
}

export function setReply(action: i32, a: f64, b: f64): i32 {
  reply[0] = <f64>action;
  reply[1] = a;
  reply[2] = b;
  return action;
}

export function addSegment(outputOffset: f64, length: f64): void {
  const n = <i32>reply[3];
  reply[4 + 2 * n] = outputOffset;
  reply[5 + 2 * n] = length;
  reply[3] = <f64>(n + 1);
}
