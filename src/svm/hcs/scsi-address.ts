// Where HCS put a mapped virtual disk: the MappedVirtualDisk properties of a compute
// system (windows-host.md §a.4) name, per SCSI controller, each LUN's host path. In the
// guest the disk is /sys/bus/scsi/devices/<controller>:0:0:<lun>.

import { LcowError } from '../../host/errors.js';

export interface ScsiAddress {
  controller: number;
  lun: number;
}

interface Properties {
  MappedVirtualDiskControllers?: Record<string, { MappedVirtualDisks?: Record<string, { HostPath?: string }> }>;
}

/** Windows paths compare without case. */
function samePath(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

export function scsiAddressOf(propertiesJson: string, hostPath: string): ScsiAddress {
  let properties: Properties;
  try {
    properties = JSON.parse(propertiesJson) as Properties;
  } catch {
    throw new LcowError('HCS_BAD_DOCUMENT', `the MappedVirtualDisk properties are not JSON: ${propertiesJson.slice(0, 200)}`);
  }
  for (const [controller, { MappedVirtualDisks: disks = {} } = {}] of Object.entries(properties.MappedVirtualDiskControllers ?? {})) {
    for (const [lun, disk] of Object.entries(disks)) {
      if (disk && typeof disk.HostPath === 'string' && samePath(disk.HostPath, hostPath)) return { controller: Number(controller), lun: Number(lun) };
    }
  }
  throw new LcowError('SVM_DISK_NOT_FOUND', `no controller/LUN found for ${hostPath} in the utility VM's mapped virtual disks`);
}

/** The guest's sysfs folder of a SCSI disk. */
export function guestScsiDevicePath(address: ScsiAddress): string {
  return `/sys/bus/scsi/devices/${address.controller}:0:0:${address.lun}`;
}
