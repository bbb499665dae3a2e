// The hcs backend above the FFI, against the in-process fake HCS (src/svm/hcs/fake-hcs.ts):
// hcsshim's JSON documents, the pending/notification model with its timeouts and
// unexpected exits, error documents, processes and pipes, the manager's flows over it,
// and the remote file system of spec §9. Runs everywhere; the same code runs against a
// fake vmcompute.dll under Wine in windows-wine.test.js.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { FakeHcs } from '../dist/svm/hcs/fake-hcs.js';
import { HcsBackend } from '../dist/svm/hcs/backend.js';
import { createSystemDocument, modifyDiskDocument, processDocument } from '../dist/svm/hcs/documents.js';
import { HcsError, hresultFromWin32 } from '../dist/svm/hcs/hresult.js';
import { NotificationQueue, Notification } from '../dist/svm/hcs/notifications.js';
import { scsiAddressOf } from '../dist/svm/hcs/scsi-address.js';
import { ServiceVmManager } from '../dist/svm/manager.js';
import { RemoteFs } from '../dist/svm/hcs/remotefs/client.js';
import { UnionViews } from '../dist/driver/views.js';
import { decodeHeader, encodeHeader, FileCommand } from '../dist/svm/hcs/remotefs/framing.js';

const FAST = { createSeconds: 0.2, startSeconds: 0.2 };

function bootDir(t) {
  const dir = mkdtempSync(join(tmpdir(), 'lcow-hcs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'kernel'), 'k');
  writeFileSync(join(dir, 'initrd.img'), 'i');
  return dir;
}

async function readAll(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** A guest that answers commands from a table of (commandLine) => {stdout, stderr, exitCode}. */
function tableGuest(table, log = []) {
  return async ({ commandLine, stdin, stdout, stderr }) => {
    const input = await readAll(stdin);
    log.push(commandLine);
    const answer = (table[commandLine.split(' ')[0]] ?? (() => ({})))(commandLine, input);
    if (answer.stdout) stdout(answer.stdout);
    if (answer.stderr) stderr(answer.stderr);
    return answer.exitCode ?? 0;
  };
}

/** A data root with the folders Driver.init makes. */
function dataRootOf(t) {
  const dataRoot = mkdtempSync(join(tmpdir(), 'lcow-hcs-root-'));
  t.after(() => rmSync(dataRoot, { recursive: true, force: true }));
  for (const folder of ['scratch', 'cache']) mkdirSync(join(dataRoot, folder));
  return dataRoot;
}

function backendOf(t, behaviour = {}, options = {}) {
  const dir = bootDir(t);
  const hcs = new FakeHcs(behaviour);
  const granted = [];
  const grant = async (path) => void granted.push(path);
  const backend = new HcsBackend({ api: hcs, options: new Map([['lcow.kirdpath', dir], ...Object.entries(options)]), paths: posix, timeouts: FAST, env: {}, grant });
  return { hcs, backend, dir, granted };
}

test('documents are byte for byte what hcsshim marshals (windows-host.md §a.5)', () => {
  const boot = { imagePath: 'C:\\Program Files\\Linux Containers', initrdFile: 'initrd.img', kernelFile: 'kernel', bootParameters: '' };
  const disks = [
    { hostPath: 'D:\\docker\\lcow\\scratch\\abc.vhdx', containerPath: '/tmp/scratch', readOnly: false, attachOnly: false },
    { hostPath: 'D:\\docker\\lcow\\abc\\layer.vhd', containerPath: '/tmp/d2', readOnly: true, attachOnly: false },
  ];
  assert.equal(
    createSystemDocument('abc_svm', boot, disks),
    '{"SystemType":"container","Name":"abc_svm","Layers":null,"HvPartition":true,' +
      '"HvRuntime":{"ImagePath":"C:\\\\Program Files\\\\Linux Containers","LinuxInitrdFile":"initrd.img","LinuxKernelFile":"kernel"},' +
      '"ContainerType":"linux","TerminateOnLastHandleClosed":true,"MappedVirtualDisks":[' +
      '{"HostPath":"D:\\\\docker\\\\lcow\\\\scratch\\\\abc.vhdx","ContainerPath":"/tmp/scratch","CreateInUtilityVM":true,"AttachOnly":false},' +
      '{"HostPath":"D:\\\\docker\\\\lcow\\\\abc\\\\layer.vhd","ContainerPath":"/tmp/d2","CreateInUtilityVM":true,"ReadOnly":true,"AttachOnly":false}]}',
  );
  assert.match(createSystemDocument('x', { ...boot, bootParameters: 'console=ttyS0 a<b' }, []), /"LinuxKernelFile":"kernel","LinuxBootParameters":"console=ttyS0 a\\u003cb"\},"ContainerType":"linux","TerminateOnLastHandleClosed":true\}$/);
  assert.equal(
    modifyDiskDocument('Add', { hostPath: 'D:\\s.vhdx', containerPath: '', readOnly: false, attachOnly: true }),
    '{"ResourceType":"MappedVirtualDisk","Settings":{"HostPath":"D:\\\\s.vhdx","ContainerPath":"","CreateInUtilityVM":true,"AttachOnly":true},"RequestType":"Add"}',
  );
  assert.equal(
    processDocument('mkdir -p /tmp/abc-mount'),
    '{"CommandLine":"mkdir -p /tmp/abc-mount","WorkingDirectory":"/bin","Environment":{"PATH":"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:"},' +
      '"CreateStdInPipe":true,"CreateStdOutPipe":true,"CreateStdErrPipe":true,"ConsoleSize":[0,0],"CreateInUtilityVm":true}',
  );
});

test('HRESULTs decode into named errors with the result document', () => {
  const err = new HcsError('Start', 'x_svm', 0xc037010e, 'no such VM');
  assert.equal(err.code, 'HCS_CALL_FAILED');
  assert.equal(err.hresult, 0xc037010e);
  assert.equal(err.message, 'hcsshim::Start x_svm: a virtual machine or container with the specified identifier does not exist (HCS_E_SYSTEM_NOT_FOUND 0xc037010e): no such VM');
  assert.equal(hresultFromWin32(5), 0x80070005);
  assert.match(new HcsError('Modify', 'y', hresultFromWin32(5)).message, /Access is denied\. \(ERROR_ACCESS_DENIED 0x80070005\)$/);
  assert.match(new HcsError('Modify', 'y', 0x80991234).message, /unknown HRESULT \(0x80991234\)$/);
});

test('notifications: kept until waited for, a failing status is an error, the exit ends other waits', async () => {
  const queue = new NotificationQueue('v', Notification.SystemExited);
  queue.deliver(Notification.SystemCreateCompleted, 0, null);
  assert.equal((await queue.wait(Notification.SystemCreateCompleted, 'Create', 1)).type, Notification.SystemCreateCompleted);
  const start = queue.wait(Notification.SystemStartCompleted, 'Start', 1);
  queue.deliver(Notification.SystemStartCompleted, 0xc0370106 | 0, '{"Error":-1,"ErrorMessage":"boom"}');
  await assert.rejects(start, /hcsshim::Start v: .*HCS_E_UNEXPECTED_EXIT 0xc0370106\): boom/);
  await assert.rejects(queue.wait(Notification.SystemModifyCompleted, 'Modify', 0.05), { code: 'HCS_TIMEOUT', message: 'hcsshim::Modify v: hcsshim: timeout waiting for notification after 0.05 s' });
  const pause = queue.wait(Notification.SystemPauseCompleted, 'Pause', 1);
  queue.deliver(Notification.SystemExited, 0, null);
  await assert.rejects(pause, { code: 'HCS_UNEXPECTED_EXIT', message: 'hcsshim::Pause v: unexpected container exit' });
  await queue.wait(Notification.SystemExited, 'Wait');
  await queue.wait(Notification.SystemExited, 'Wait'); // the exit stays known
  const other = new NotificationQueue('w', Notification.SystemExited);
  const waiting = other.wait(Notification.SystemStartCompleted, 'Start', 1);
  other.deliver(Notification.ServiceDisconnect, 0, null);
  await assert.rejects(waiting, { code: 'HCS_SERVICE_DISCONNECT' });
  const closing = new NotificationQueue('z', Notification.ProcessExited);
  const closed = closing.wait(Notification.ProcessExited, 'Wait');
  closing.close();
  await assert.rejects(closed, { code: 'HCS_HANDLE_CLOSED' });
});

test('manager over the hcs backend: start with boot disks, hot add, union mount, hot remove, terminate; every handle closed', async (t) => {
  const commands = [];
  const { hcs, backend, dir, granted } = backendOf(t, { guest: tableGuest({}, commands) }, { 'lcow.bootparameters': 'quiet' });
  const dataRoot = dataRootOf(t);
  const manager = new ServiceVmManager({ dataRoot, globalMode: false, options: new Map(), backend, createScratch: async (path) => writeFileSync(path, 'scratch') });
  const layer = join(dir, 'layer.vhd');
  writeFileSync(layer, 'l');
  const sandbox = join(dir, 'sandbox.vhdx');
  writeFileSync(sandbox, 's');
  const svm = await manager.startServiceVmIfNotRunning('abc', [{ hostPath: layer, containerPath: '/tmp/base', readOnly: true, sandbox: false }], 'get abc');
  const [created] = hcs.documentsOf('CreateComputeSystem');
  assert.equal(
    created,
    `{"SystemType":"container","Name":"abc_svm","Layers":null,"HvPartition":true,"HvRuntime":{"ImagePath":"${dir}","LinuxInitrdFile":"initrd.img","LinuxKernelFile":"kernel","LinuxBootParameters":"quiet"},` +
      `"ContainerType":"linux","TerminateOnLastHandleClosed":true,"MappedVirtualDisks":[{"HostPath":"${layer}","ContainerPath":"/tmp/d1","CreateInUtilityVM":true,"ReadOnly":true,"AttachOnly":false}]}`,
  );
  // The scratch did not exist yet: written, then hot added at /tmp/scratch.
  const [scratchAdd] = hcs.documentsOf('ModifyComputeSystem');
  assert.match(scratchAdd, /"ContainerPath":"\/tmp\/scratch","CreateInUtilityVM":true,"AttachOnly":false\},"RequestType":"Add"\}$/);
  const disks = [
    { hostPath: sandbox, containerPath: '/tmp/top', readOnly: false, sandbox: true },
    { hostPath: layer, containerPath: '/tmp/base', readOnly: true, sandbox: false },
  ];
  await manager.hotAddVhds(svm, disks);
  assert.deepEqual(await svm.vm.scsiAddressOf(sandbox), { controller: 0, lun: 2 });
  await manager.createUnionMount(svm, '/tmp/top-mount', disks);
  assert.deepEqual(commands, ['mkdir -p /tmp/top-mount', 'mkdir -p /tmp/d3/upper', 'mkdir -p /tmp/d3/work', 'mount -t overlay overlay -olowerdir=/tmp/d1,upperdir=/tmp/d3/upper,workdir=/tmp/d3/work /tmp/top-mount']);
  await manager.deleteUnionMount(svm, '/tmp/top-mount');
  await manager.hotRemoveVhds(svm, disks);
  assert.match(hcs.documentsOf('ModifyComputeSystem').at(-1), new RegExp(`"HostPath":"${sandbox}","ContainerPath":"","CreateInUtilityVM":true,"AttachOnly":false\\},"RequestType":"Remove"\\}$`));
  await manager.terminateServiceVm('abc', 'test', false);
  assert.equal(hcs.openHandles, 0);
  // Every disk is made readable by the VM group before HCS gets it: boot disk, scratch, hot adds.
  assert.deepEqual(granted, [layer, join(dataRoot, 'scratch', 'abc.vhdx'), sandbox]);
  const order = hcs.calls.map((c) => c.call).filter((c) => /ComputeSystem/.test(c));
  assert.deepEqual(order.slice(0, 3), ['CreateComputeSystem', 'RegisterComputeSystemCallback', 'StartComputeSystem']);
  assert.deepEqual(order.slice(-3), ['TerminateComputeSystem', 'UnregisterComputeSystemCallback', 'CloseComputeSystem']);
});

test('boot options are checked at each start with the reference messages', async (t) => {
  const { backend, dir } = backendOf(t);
  const start = (extra) => new HcsBackend({ api: new FakeHcs(), options: new Map([['lcow.kirdpath', dir], ...extra]), paths: posix, timeouts: FAST, env: {} }).start({ vmId: 'a', name: 'a_svm', disks: [], timeoutSeconds: 5 });
  await assert.rejects(start([['lcow.kernel', 'bzImage']]), { message: `kernel '${dir}/bzImage' not found` });
  await assert.rejects(start([['lcow.initrd', 'other.img']]), { message: `initrd '${dir}/other.img' not found` });
  await assert.rejects(backend.start({ vmId: 'a', name: 'a_svm', disks: [{ hostPath: join(dir, 'missing.vhdx'), guestPath: '/tmp/d1', readOnly: true }], timeoutSeconds: 5 }), { message: `mapped virtual disk '${dir}/missing.vhdx' not found` });
  await assert.rejects(backend.start({ vmId: 'a', name: 'a_svm', disks: [{ hostPath: join(dir, 'kernel'), guestPath: '', readOnly: true }], timeoutSeconds: 5 }), { message: `mapped virtual disk '${dir}/kernel' requested without a container path` });
  const windowsDefault = new HcsBackend({ api: new FakeHcs(), options: new Map(), env: { ProgramFiles: 'C:\\Program Files' }, exists: () => false });
  await assert.rejects(windowsDefault.start({ vmId: 'a', name: 'a_svm', disks: [], timeoutSeconds: 5 }), { message: /^kernel '.*Linux Containers.kernel' not found$/ });
});

test('failure paths: error JSON, create/start timeouts, unexpected exit, synchronous answers; nothing left open', async (t) => {
  const config = { vmId: 'f', name: 'f_svm', disks: [], timeoutSeconds: 5 };
  const fail = backendOf(t, { fail: (call) => (call === 'CreateComputeSystem' ? { hresult: 0xc037010d, result: '{"Error":-1070137075,"ErrorMessage":"The JSON document is invalid.","ErrorEvents":[{"Message":"unknown field Foo"}]}' } : undefined) });
  await assert.rejects(fail.backend.start(config), { code: 'HCS_CALL_FAILED', hresult: 0xc037010d, message: 'hcsshim::CreateComputeSystem f_svm: the JSON document is invalid (HCS_E_INVALID_JSON 0xc037010d): The JSON document is invalid.; unknown field Foo' });
  assert.equal(fail.hcs.openHandles, 0);

  const slowCreate = backendOf(t, { create: 'never' });
  await assert.rejects(slowCreate.backend.start(config), { code: 'HCS_TIMEOUT', message: 'hcsshim::CreateComputeSystem f_svm: hcsshim: timeout waiting for notification after 0.2 s' });
  assert.equal(slowCreate.hcs.openHandles, 0);

  const slowStart = backendOf(t, { start: 'never' });
  await assert.rejects(slowStart.backend.start(config), { code: 'HCS_TIMEOUT', message: /^hcsshim::Start f_svm: hcsshim: timeout/ });
  assert.deepEqual(slowStart.hcs.calls.map((c) => c.call).slice(-3), ['TerminateComputeSystem', 'UnregisterComputeSystemCallback', 'CloseComputeSystem']);
  assert.equal(slowStart.hcs.openHandles, 0);

  const exits = backendOf(t, { start: 'exit' });
  await assert.rejects(exits.backend.start(config), { code: 'HCS_UNEXPECTED_EXIT', message: 'hcsshim::Start f_svm: unexpected container exit' });
  assert.equal(exits.hcs.openHandles, 0);

  const startFails = backendOf(t, { completionStatus: (call) => (call === 'StartComputeSystem' ? { status: hresultFromWin32(5) | 0, data: '{"Error":-2147024891,"ErrorMessage":"no rights"}' } : { status: 0 }) });
  await assert.rejects(startFails.backend.start(config), { hresult: 0x80070005, message: 'hcsshim::Start f_svm: Access is denied. (ERROR_ACCESS_DENIED 0x80070005): no rights' });

  const sync = backendOf(t, { create: 'sync', start: 'sync' });
  const vm = await sync.backend.start(config);
  await vm.terminate();
  await vm.waitExited();
  await vm.terminate(); // already exited: nothing to do
  assert.equal(sync.hcs.openHandles, 0);
});

test('hot add failure and a dead VM surface as the manager words them', async (t) => {
  const { backend, dir } = backendOf(t, { fail: (call, document) => (call === 'ModifyComputeSystem' && document.includes('bad.vhd') ? { hresult: hresultFromWin32(2), result: '{"Error":-2147024894,"ErrorMessage":"The system cannot find the file specified."}' } : undefined) });
  const dataRoot = dataRootOf(t);
  const manager = new ServiceVmManager({ dataRoot, globalMode: false, options: new Map(), backend, createScratch: async (path) => writeFileSync(path, 's') });
  const svm = await manager.startServiceVmIfNotRunning('hot', [], 'test');
  await assert.rejects(manager.hotAddVhds(svm, [{ hostPath: join(dir, 'bad.vhd'), containerPath: '/tmp/bad', readOnly: true, sandbox: false }]), {
    message: `failed to modify utility VM configuration for hot-add: hcsshim::Modify hot_svm: The system cannot find the file specified. (ERROR_FILE_NOT_FOUND 0x80070002): The system cannot find the file specified.`,
  });
  await manager.terminateServiceVm('hot', 'test', true);
});

test('processes: stdin in, stdout and stderr drained together, exit codes, copy timeouts kill the process', async (t) => {
  const big = Buffer.alloc(3 * 1024 * 1024, 0x61);
  const guest = async ({ commandLine, stdin, stdout, stderr }) => {
    if (commandLine === 'cat') {
      for await (const chunk of stdin) stdout(chunk);
      return 0;
    }
    if (commandLine === 'noisy') {
      stderr(big); // fills stderr first: a stdout-first drain would stall on a real pipe
      stdout('done');
      return 3;
    }
    if (commandLine === 'hang') {
      await new Promise(() => undefined);
    }
    return 0;
  };
  const { hcs, backend } = backendOf(t, { guest });
  const vm = await backend.start({ vmId: 'p', name: 'p_svm', disks: [], timeoutSeconds: 5 });
  const echoed = await vm.run('cat', { stdin: Readable.from([Buffer.from('hello '), Buffer.from('world')]) });
  assert.equal(echoed.stdout.toString(), 'hello world');
  const failed = await vm.run('noisy').catch((err) => err);
  assert.equal(failed.exitCode, 3);
  assert.equal(failed.stderr.length, big.length);
  assert.match(failed.message, /^svm\.runProcess: command noisy failed with exit code 3\. \(a{100}/);
  const quiet = await vm.run('noisy', { callerWantsStderr: true }).catch((err) => err);
  assert.equal(quiet.message, 'svm.runProcess: command noisy failed with exit code 3');
  const sink = [];
  await vm.run('cat', { stdin: big, stdout: new Writable({ write(chunk, _e, cb) { sink.push(chunk); cb(); } }) });
  assert.equal(Buffer.concat(sink).length, big.length);
  const hasty = new HcsBackend({ api: hcs, options: new Map([['lcow.kirdpath', bootDir(t)]]), paths: posix, timeouts: FAST, env: {} });
  const vm2 = await hasty.start({ vmId: 'q', name: 'q_svm', disks: [], timeoutSeconds: 0.2 });
  await assert.rejects(vm2.run('hang'), { code: 'SVM_TIMEOUT', message: 'opengcs: copyWithTimeout: timed out (hang)' });
  assert.ok(hcs.calls.some((c) => c.call === 'TerminateProcess'));
  const badCreate = new FakeHcs({ fail: (call) => (call === 'CreateProcess' ? { hresult: 0xc0370105 } : undefined) });
  const vm3 = await new HcsBackend({ api: badCreate, options: new Map([['lcow.kirdpath', bootDir(t)]]), paths: posix, timeouts: FAST, env: {} }).start({ vmId: 'r', name: 'r_svm', disks: [], timeoutSeconds: 5 });
  await assert.rejects(vm3.run('true'), { message: /^failed to create process \(\{"CommandLine":"true",.*\}\) in utility VM: hcsshim::CreateProcess r_svm: .*HCS_E_INVALID_STATE/ });
  for (const v of [vm, vm2, vm3]) {
    await v.terminate();
    await v.waitExited();
  }
  assert.equal(hcs.openHandles, 0);
  assert.equal(badCreate.openHandles, 0);
});

test('SCSI addresses come from the MappedVirtualDisk properties', () => {
  const props = JSON.stringify({ MappedVirtualDiskControllers: { 0: { MappedVirtualDisks: { 0: { HostPath: 'C:\\a.vhdx' }, 3: { HostPath: 'D:\\Data\\B.vhd' } } } } });
  assert.deepEqual(scsiAddressOf(props, 'd:\\data\\b.vhd'), { controller: 0, lun: 3 });
  assert.throws(() => scsiAddressOf(props, 'C:\\c.vhdx'), { code: 'SVM_DISK_NOT_FOUND' });
  assert.throws(() => scsiAddressOf('not json', 'C:\\c.vhdx'), { code: 'HCS_BAD_DOCUMENT' });
});

/** A remotefs guest tool over an in-memory tree, speaking the protocol of spec §9. */
function remotefsGuest(log) {
  const files = new Map([['/tmp/v-mount/etc/hostname', Buffer.from('box\n')]]);
  const exported = (stderr, text, errno) => stderr(JSON.stringify({ ErrString: text, ErrNum: errno }));
  return async ({ commandLine, stdin, stdout, stderr }) => {
    log.push(commandLine);
    const [, command, ...args] = commandLine.split(' ');
    if (command === 'openfile') {
      const path = args[0];
      let data = files.get(path) ?? Buffer.alloc(0);
      let offset = 0;
      let pending = Buffer.alloc(0);
      for await (const chunk of stdin) {
        pending = Buffer.concat([pending, chunk]);
        while (pending.length >= 12) {
          const { command: cmd, size } = decodeHeader(pending);
          const body = cmd === FileCommand.Read ? 0 : size;
          if (pending.length < 12 + body) break;
          const payload = pending.subarray(12, 12 + body);
          pending = pending.subarray(12 + body);
          if (cmd === FileCommand.Read) {
            const out = data.subarray(offset, offset + size);
            offset += out.length;
            stdout(Buffer.concat([encodeHeader(FileCommand.Ok, out.length), out]));
          } else if (cmd === FileCommand.Write) {
            if (args[1] === '0') {
              exported(stderr, 'bad file descriptor', 9);
              stdout(encodeHeader(FileCommand.Failed, 0));
              continue;
            }
            data = Buffer.concat([data.subarray(0, offset), payload, data.subarray(offset + payload.length)]);
            offset += payload.length;
            files.set(path, data);
            stdout(encodeHeader(FileCommand.Ok, 0));
          } else if (cmd === FileCommand.Seek) {
            const whence = payload.readInt32BE(8);
            offset = Number(payload.readBigInt64BE(0)) + (whence === 1 ? offset : whence === 2 ? data.length : 0);
            const answer = Buffer.alloc(8);
            answer.writeBigInt64BE(BigInt(offset));
            stdout(Buffer.concat([encodeHeader(FileCommand.Ok, 8), answer]));
          } else if (cmd === FileCommand.Close) {
            stdout(encodeHeader(FileCommand.Ok, 0));
            return 0;
          }
        }
      }
      return 0;
    }
    const input = await readAll(stdin);
    switch (command) {
      case 'stat':
        if (!files.has(args[0])) {
          exported(stderr, `stat ${args[0]}: no such file or directory`, 2);
          return 1;
        }
        stdout(`{"NameVar":"hostname","SizeVar":4,"ModeVar":420,"ModTimeVar":1700000000123456789,"IsDirVar":false}`);
        return 0;
      case 'readdir':
        stdout(`[{"NameVar":"etc","SizeVar":4096,"ModeVar":2147484141,"ModTimeVar":1,"IsDirVar":true},{"NameVar":"l","SizeVar":3,"ModeVar":134218239,"ModTimeVar":2,"IsDirVar":false}]`);
        return 0;
      case 'mkdir':
        exported(stderr, `mkdir ${args[0]}: file exists`, 17);
        return 1;
      case 'remove':
        exported(stderr, 'permission denied', 13);
        return 1;
      case 'resolvepath':
        stdout(args[0]);
        return 0;
      case 'extractarchive': {
        const length = Number(input.readBigUInt64BE(0));
        const options = JSON.parse(input.subarray(8, 8 + length).toString());
        files.set(`${args[0]}/extracted`, input.subarray(8 + length));
        stdout(JSON.stringify(options));
        return 0;
      }
      case 'archivepath':
        stdout(Buffer.alloc(200000, 7));
        return 0;
      default:
        return 0;
    }
  };
}

test('remote file system: commands, JSON stat and readdir, guest errors by errno, archives, the OpenFile framing', async (t) => {
  const log = [];
  const { hcs, backend } = backendOf(t, { guest: remotefsGuest(log) });
  const vm = await backend.start({ vmId: 'v', name: 'v_svm', disks: [], timeoutSeconds: 5 });
  const fs = vm.remoteFs('/tmp/v-mount');
  assert.ok(fs instanceof RemoteFs);
  const info = await fs.stat('/tmp/v-mount/etc/hostname');
  assert.deepEqual(info, { name: 'hostname', size: 4, mode: 420, modTimeNs: 1700000000123456789n, isDir: false });
  const entries = await fs.readdir('/tmp/v-mount', 0);
  assert.deepEqual(entries.map((e) => [e.name, e.isDir]), [['etc', true], ['l', false]]);
  await assert.rejects(fs.stat('/tmp/v-mount/nope'), { code: 'REMOTEFS_NOT_EXIST', errno: 2, message: 'remotefs stat: stat /tmp/v-mount/nope: no such file or directory' });
  await assert.rejects(fs.mkdir('/tmp/v-mount/etc', 0o755), { code: 'REMOTEFS_EXIST' });
  await assert.rejects(fs.remove('/tmp/v-mount/etc'), { code: 'REMOTEFS_PERMISSION' });
  assert.equal(await fs.resolveScopedPath('../../etc/../x', false), '/tmp/v-mount/x');
  await fs.extractArchive(Readable.from([Buffer.from('TARDATA')]), '/tmp/v-mount/dst', { NoLchown: true });
  assert.equal((await readAll(fs.archivePath('/tmp/v-mount/etc', {}))).length, 200000);
  const file = await fs.openFile('/tmp/v-mount/etc/hostname', 2, 0o644);
  assert.equal((await file.read(100)).toString(), 'box\n');
  assert.equal(await file.seek(0n, 0), 0n);
  assert.equal(await file.write(Buffer.from('BOX')), 3);
  assert.equal(await file.seek(-1n, 2), 3n);
  assert.equal((await file.read(10)).toString(), '\n');
  await file.close();
  const readOnly = await fs.openFile('/tmp/v-mount/etc/hostname', 0, 0);
  await assert.rejects(readOnly.write(Buffer.from('x')), { code: 'REMOTEFS_FAILED', errno: 9, message: 'remotefs openfile /tmp/v-mount/etc/hostname write: bad file descriptor' });
  await readOnly.close();
  assert.deepEqual(log.slice(0, 6), [
    'remotefs stat /tmp/v-mount/etc/hostname',
    'remotefs readdir /tmp/v-mount 0',
    'remotefs stat /tmp/v-mount/nope',
    'remotefs mkdir /tmp/v-mount/etc 755',
    'remotefs remove /tmp/v-mount/etc',
    'remotefs resolvepath /tmp/v-mount/x /tmp/v-mount',
  ]);
  assert.ok(log.includes('remotefs openfile /tmp/v-mount/etc/hostname 2 644'));
  await vm.terminate();
  await vm.waitExited();
  assert.equal(hcs.openHandles, 0);
});

test('Get and Put on the hcs backend: Get answers the guest path, remoteFs reaches the view, Put releases it all', async (t) => {
  const log = [];
  const { hcs, backend } = backendOf(t, { guest: remotefsGuest(log) });
  const dataRoot = dataRootOf(t);
  const layers = [['top', 'sandbox.vhdx'], ['base', 'layer.vhd']].map(([id, file]) => {
    mkdirSync(join(dataRoot, id));
    writeFileSync(join(dataRoot, id, file), 'disk');
    return { folder: join(dataRoot, id), hostPath: join(dataRoot, id, file), readOnly: file === 'layer.vhd' };
  });
  // A small scratch writer: the manager copies the scratch to the cache with copyFileSync,
  // which reads a 20 GB sparse VHDX in full (about 40 s here).
  const views = await UnionViews.open(dataRoot, new Map(), { backend, createScratch: async (path) => writeFileSync(path, 'scratch') });
  assert.equal(await views.get('top', layers), '/tmp/top-mount');
  const fs = await views.remoteFs('top');
  assert.equal(fs.root, '/tmp/top-mount');
  assert.deepEqual((await fs.readdir('/tmp/top-mount', 0)).map((entry) => entry.name), ['etc', 'l']);
  assert.ok(existsSync(join(dataRoot, 'cache', 'scratch.vhdx')), 'the scratch cache was seeded');
  assert.match(hcs.documentsOf('ModifyComputeSystem')[0], /scratch.top\.vhdx","ContainerPath":"\/tmp\/scratch"/);
  await views.put('top');
  assert.equal(await views.remoteFs('top'), undefined);
  assert.equal(hcs.openHandles, 0);
  assert.deepEqual(log.filter((c) => !c.startsWith('remotefs')), [
    'mkdir -p /tmp/top-mount',
    'mkdir -p /tmp/d1/upper',
    'mkdir -p /tmp/d1/work',
    'mount -t overlay overlay -olowerdir=/tmp/d2,upperdir=/tmp/d1/upper,workdir=/tmp/d1/work /tmp/top-mount',
    'umount /tmp/top-mount',
  ]);
});

test('a VM that exits by itself: later calls fail with HCS errors, terminate sends nothing, the wait ends at once', async (t) => {
  const { hcs, backend } = backendOf(t);
  const vm = await backend.start({ vmId: 'gone', name: 'gone_svm', disks: [], timeoutSeconds: 5 });
  hcs.exitSystem('gone_svm');
  await new Promise((resolve) => setImmediate(resolve));
  await assert.rejects(vm.addDisk({ hostPath: 'x.vhd', guestPath: '/tmp/d1', readOnly: true }), { code: 'HCS_CALL_FAILED', hresult: 0xc037010e });
  await vm.terminate();
  await vm.waitExited();
  assert.equal(hcs.calls.filter((c) => c.call === 'TerminateComputeSystem').length, 0);
  assert.equal(hcs.openHandles, 0);
});
