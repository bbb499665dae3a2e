// The JSON documents the hcs backend hands HCS v1, key for key as hcsshim @ada9cb39
// marshals its Go structs (windows-host.md §a.5): the schema-1 container configuration
// of an LCOW utility VM, the MappedVirtualDisk modify requests, process parameters and
// the property query. Go writes struct fields in declaration order, so each object is
// built in that order; goString escapes as Go's encoding/json does.

import { goJson } from '../../driver/go-json.js';

/** One entry of MappedVirtualDisks, or the Settings of a modify request. */
export interface MappedVirtualDisk {
  hostPath: string;
  containerPath: string;
  readOnly: boolean;
  /** Attach without mounting (scratch formatting in the reference). */
  attachOnly: boolean;
}

export interface BootFiles {
  /** lcow.kirdpath. */
  imagePath: string;
  /** lcow.initrd, a file name inside imagePath. */
  initrdFile: string;
  /** lcow.kernel, a file name inside imagePath. */
  kernelFile: string;
  /** lcow.bootparameters; left out when empty. */
  bootParameters: string;
}

/** The PATH of every process the reference runs in the utility VM (§6.5). */
export const GUEST_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:';

/** JSON already marshalled (a nested struct), written as it is. */
class RawJson {
  constructor(readonly text: string) {}
}

function raw(text: string): RawJson {
  return new RawJson(text);
}

/** Go marshals a struct by writing its fields in declaration order; plain values go through goJson. */
function struct(fields: Array<[string, unknown]>): string {
  return `{${fields.map(([key, value]) => `${goJson(key)}:${value instanceof RawJson ? value.text : goJson(value)}`).join(',')}}`;
}

/** hcsshim's MappedVirtualDisk: ReadOnly is omitempty; AttachOnly is always written (its tag is malformed). */
function diskJson(disk: MappedVirtualDisk): string {
  const fields: Array<[string, unknown]> = [
    ['HostPath', disk.hostPath],
    ['ContainerPath', disk.containerPath],
    ['CreateInUtilityVM', true],
  ];
  if (disk.readOnly) fields.push(['ReadOnly', true]);
  fields.push(['AttachOnly', disk.attachOnly]);
  return struct(fields);
}

/** ContainerConfig of an LCOW utility VM booted from kernel + initrd. */
export function createSystemDocument(name: string, boot: BootFiles, disks: readonly MappedVirtualDisk[]): string {
  const runtime: Array<[string, unknown]> = [
    ['ImagePath', boot.imagePath],
    ['LinuxInitrdFile', boot.initrdFile],
    ['LinuxKernelFile', boot.kernelFile],
  ];
  if (boot.bootParameters !== '') runtime.push(['LinuxBootParameters', boot.bootParameters]);
  const fields: Array<[string, unknown]> = [
    ['SystemType', 'container'],
    ['Name', name],
    ['Layers', null],
    ['HvPartition', true],
    ['HvRuntime', raw(struct(runtime))],
    ['ContainerType', 'linux'],
    ['TerminateOnLastHandleClosed', true],
  ];
  // MappedVirtualDisks is omitempty.
  if (disks.length > 0) fields.push(['MappedVirtualDisks', raw(`[${disks.map(diskJson).join(',')}]`)]);
  return struct(fields);
}

/** ResourceModificationRequestResponse for a MappedVirtualDisk. */
export function modifyDiskDocument(request: 'Add' | 'Remove', disk: MappedVirtualDisk): string {
  return struct([
    ['ResourceType', 'MappedVirtualDisk'],
    ['Settings', raw(diskJson(disk))],
    ['RequestType', request],
  ]);
}

/** ProcessConfig of a command in the utility VM, with all three pipes (§6.5). */
export function processDocument(commandLine: string): string {
  return struct([
    ['CommandLine', commandLine],
    ['WorkingDirectory', '/bin'],
    ['Environment', { PATH: GUEST_PATH }],
    ['CreateStdInPipe', true],
    ['CreateStdOutPipe', true],
    ['CreateStdErrPipe', true],
    ['ConsoleSize', [0, 0]],
    ['CreateInUtilityVm', true],
  ]);
}

export const MAPPED_VIRTUAL_DISK_QUERY = '{"PropertyTypes":["MappedVirtualDisk"]}';

/** HcsModifyProcess request that closes the guest side of stdin (hcsshim CloseStdin). */
export const CLOSE_STDIN_DOCUMENT = '{"Operation":"CloseHandle","CloseHandle":{"Handle":"StdIn"}}';
