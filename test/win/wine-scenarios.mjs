// Runs under Wine with the Windows node.exe (see windows-wine.test.js): the hcs backend's
// own code over koffi and a fake vmcompute.dll, and GrantVmGroupAccess over Wine's
// advapi32 and a fake computecore.dll. Writes one JSON file of results, since Node for
// Windows under Wine writes badly to pipes; the Linux side checks them.
//
// argv[2]: the JSON settings file (Windows path): { repo, dll, computecore, work, results,
// only? (the scenarios to run) }. The driver scenario runs in a process of its own whose
// working directory holds the fake DLLs, so that the Driver finds them by name as it would
// find Windows' own; the others must not see them there (the grant's default is checked).

import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const settings = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const results = { platform: process.platform, node: process.version, scenarios: {} };
const save = () => writeFileSync(settings.results, JSON.stringify(results, null, 2));
const load = (module) => import(pathToFileURL(join(settings.repo, 'dist', module)).href);

async function scenario(name, body) {
  if (settings.only && !settings.only.includes(name)) return;
  const started = Date.now();
  try {
    results.scenarios[name] = { ok: true, value: await body(), ms: Date.now() - started };
  } catch (err) {
    results.scenarios[name] = { ok: false, error: { message: err.message, code: err.code, stack: err.stack }, ms: Date.now() - started };
  }
  save();
}

/** The error a promise rejects with, as plain data (or a note that it did not reject). */
async function failureOf(promise) {
  try {
    await promise;
    return { rejected: false };
  } catch (err) {
    return { rejected: true, message: err.message, code: err.code, hresult: err.hresult };
  }
}

const { Vmcompute } = await load('svm/hcs/vmcompute.js');
const { HcsBackend } = await load('svm/hcs/backend.js');
const { ServiceVmManager } = await load('svm/manager.js');
const { grantVmGroupAccess, daclSddlOf } = await load('host/win32/grant-vm-group-access.js');
const { longPath } = await load('host/win32/long-path.js');

const work = settings.work;
const boot = join(work, 'boot');
mkdirSync(boot, { recursive: true });
writeFileSync(join(boot, 'kernel'), 'kernel');
writeFileSync(join(boot, 'initrd.img'), 'initrd');
const api = new Vmcompute(settings.dll);
const backendWith = (extra = {}) => new HcsBackend({ api, options: new Map([['lcow.kirdpath', boot], ...Object.entries(extra)]), timeouts: { createSeconds: 2, startSeconds: 2 } });

function dataRoot(name) {
  const root = join(work, name);
  for (const folder of ['scratch', 'cache']) mkdirSync(join(root, folder), { recursive: true });
  return root;
}

await scenario('svm', async () => {
  const root = dataRoot('root');
  const layer = join(root, 'base', 'layer.vhd');
  const sandbox = join(root, 'top', 'sandbox.vhdx');
  for (const file of [layer, sandbox]) {
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, 'disk');
  }
  const manager = new ServiceVmManager({ dataRoot: root, globalMode: false, options: new Map(), backend: backendWith({ 'lcow.bootparameters': 'console=ttyS0' }), createScratch: async (path) => writeFileSync(path, 'scratch') });
  const disks = [
    { hostPath: sandbox, containerPath: '/tmp/top', readOnly: false, sandbox: true },
    { hostPath: layer, containerPath: '/tmp/base', readOnly: true, sandbox: false },
  ];
  const svm = await manager.startServiceVmIfNotRunning('top', [disks[1]], 'get top');
  await manager.hotAddVhds(svm, [disks[0]]);
  const scsi = await svm.vm.scsiAddressOf(sandbox);
  await manager.createUnionMount(svm, '/tmp/top-mount', disks);
  const echo = (await svm.vm.run('echo hello from the fake guest')).stdout.toString();
  const input = Buffer.alloc(1024 * 1024 + 17);
  for (let i = 0; i < input.length; i += 1) input[i] = (i * 7) & 0xff;
  const cat = (await svm.vm.run('cat', { stdin: input })).stdout;
  const failed = await failureOf(svm.vm.run('fail 3 boom on stderr'));
  await manager.deleteUnionMount(svm, '/tmp/top-mount');
  await manager.hotRemoveVhds(svm, disks);
  await manager.terminateServiceVm('top', 'test', false);
  return { root, layer, sandbox, scsi, echo, catLength: cat.length, catEqual: cat.equals(input), failed, vmIds: manager.vmIds() };
});

const config = (name) => ({ vmId: name, name: `${name}_svm`, disks: [], timeoutSeconds: 1 });

await scenario('failures', async () => {
  const backend = backendWith();
  const createError = await failureOf(backend.start(config('failcreate')));
  const startTimeout = await failureOf(backend.start(config('neverstart')));
  const unexpectedExit = await failureOf(backend.start(config('exitstart')));
  const vm = await backend.start(config('errors'));
  writeFileSync(join(work, 'baddisk.vhdx'), 'refused by the fake');
  const badDisk = await failureOf(vm.addDisk({ hostPath: join(work, 'baddisk.vhdx'), guestPath: '/tmp/d9', readOnly: true }));
  const missingDisk = await failureOf(vm.addDisk({ hostPath: join(work, 'missing.vhdx'), guestPath: '/tmp/d10', readOnly: true }));
  const hang = await failureOf(vm.run('hang'));
  await vm.terminate();
  await vm.waitExited();
  const missingKernel = await failureOf(backendWith({ 'lcow.kernel': 'bzImage' }).start(config('nokernel')));
  return { createError, startTimeout, unexpectedExit, badDisk, missingDisk, hang, missingKernel };
});

await scenario('terminateTimeout', async () => {
  const root = dataRoot('root-noexit');
  const manager = new ServiceVmManager({ dataRoot: root, globalMode: false, options: new Map([['lcow.timeout', '1']]), backend: backendWith(), createScratch: async (path) => writeFileSync(path, 'scratch') });
  await manager.startServiceVmIfNotRunning('noexit', [], 'test');
  return failureOf(manager.terminateServiceVm('noexit', 'test', false));
});

await scenario('remotefs', async () => {
  const vm = await backendWith().start(config('remote'));
  try {
    const fs = vm.remoteFs('/tmp/v-mount');
    const stat = await fs.stat('/tmp/v-mount/etc/hostname');
    const missing = await failureOf(fs.stat('/tmp/v-mount/nope'));
    const file = await fs.openFile('/tmp/v-mount/etc/hostname', 2, 0o644);
    const first = (await file.read(100)).toString();
    const big = Buffer.alloc(300000);
    for (let i = 0; i < big.length; i += 1) big[i] = (i * 13) & 0xff;
    await file.seek(0n, 0);
    await file.write(big);
    const end = await file.seek(0n, 2);
    await file.seek(-10n, 2);
    const tail = await file.read(100);
    await file.seek(0n, 0);
    const chunks = [];
    for (let chunk = await file.read(65536); chunk.length > 0; chunk = await file.read(65536)) chunks.push(chunk);
    await file.close();
    const readOnly = await fs.openFile('/tmp/v-mount/etc/hostname', 0, 0);
    const refused = await failureOf(readOnly.write(Buffer.from('x')));
    await readOnly.close();
    return {
      stat: { ...stat, modTimeNs: String(stat.modTimeNs) },
      missing,
      first,
      end: String(end),
      tailEqual: tail.equals(big.subarray(big.length - 10)),
      readBackEqual: Buffer.concat(chunks).equals(big),
      refused,
    };
  } finally {
    await vm.terminate();
    await vm.waitExited();
  }
});

await scenario('grant', async () => {
  const file = join(work, 'layer.vhd');
  writeFileSync(file, 'layer');
  const folder = join(work, 'layer-folder');
  mkdirSync(folder, { recursive: true });
  const denied = join(work, 'denied.vhd');
  writeFileSync(denied, 'x');
  const deep = join(work, ...Array.from({ length: 12 }, (_, i) => `a-rather-long-folder-name-${i}`));
  mkdirSync(longPath(deep), { recursive: true });
  const deepFile = join(deep, 'layer.vhd');
  writeFileSync(longPath(deepFile), 'deep');
  // Before the fake computecore.dll is loaded: once it is, Windows hands it out by name.
  const defaultDll = (await grantVmGroupAccess(file)).method;
  return {
    defaultDll,
    before: daclSddlOf(file),
    file: await grantVmGroupAccess(file, { computecore: null, describe: true }),
    after: daclSddlOf(file),
    folder: await grantVmGroupAccess(folder, { computecore: null, describe: true }),
    deep: { length: deepFile.length, report: await grantVmGroupAccess(deepFile, { computecore: null, describe: true }) },
    missing: await failureOf(grantVmGroupAccess(join(work, 'missing.vhd'), { computecore: null })),
    hcs: await grantVmGroupAccess(file, { computecore: settings.computecore }),
    hcsDenied: await failureOf(grantVmGroupAccess(denied, { computecore: settings.computecore })),
  };
});

await scenario('driver', async () => {
  const { Driver } = await load('driver/driver.js');
  const home = join(work, 'data');
  // Small stand-ins in the caches: the fake VM reads no disk, and under Wine writing the
  // 20 GB sandbox takes about 24 s and the manager's scratch copy (copyFileSync) about 9 s
  // and 20 GB of real blocks. Copies from the cache are granted like new disks.
  for (const name of ['sandbox.vhdx', 'scratch.vhdx']) {
    mkdirSync(join(home, 'cache'), { recursive: true });
    writeFileSync(join(home, 'cache', name), `cached ${name}`);
  }
  const driver = await Driver.init(home, [`lcow.kirdpath=${boot}`], { reexec: false });
  const status = await driver.status();
  await driver.create('dbase', '');
  const size = await driver.applyDiff('dbase', '', createReadStream(join(settings.repo, 'fixtures', 'sample-layer.tar')));
  const layer = readFileSync(join(home, 'dbase', 'layer.vhd'));
  await driver.createReadWrite('dtop', 'dbase');
  const path = await driver.get('dtop');
  const fs = await driver.remoteFs('dtop');
  await driver.put('dtop');
  const afterPut = await driver.remoteFs('dtop');
  await driver.remove('dtop');
  await driver.cleanup();
  return {
    home,
    status,
    size,
    // The footer's unique id and time differ per run; the ext4 before it must not.
    ext4Sha256: createHash('sha256').update(layer.subarray(0, layer.length - 512)).digest('hex'),
    path,
    root: fs?.root,
    afterPut: afterPut === undefined,
    layers: driver.layerIds(),
  };
});

results.done = true;
save();
process.on('exit', (code) => {
  results.exitCode = code;
  save();
});
