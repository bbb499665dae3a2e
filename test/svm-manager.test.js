// The service-VM manager's rules (spec/driver.md §4–6) against the in-process fake
// backend, so they are checked where mounts are not allowed: reference counts, global
// mode, forced terminate, waiting for a stop in progress, a start failure delivered to
// every waiter, timeouts, short paths and the scratch's counter, hot-add roll-back,
// union mounts and the reference's error texts.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import { FakeBackend } from '../dist/svm/fake-backend.js';
import { GLOBAL_VM_ID, HCS_OPERATION_PENDING, ServiceVmManager, unionMountName } from '../dist/svm/manager.js';
import { backendNameOf, uvmTimeoutSeconds } from '../dist/svm/options.js';
import { UnionViews } from '../dist/driver/views.js';
import { tmpDir } from './helpers/corpus.js';

const ROOT = '/data/lcow';

function disk(id, { sandbox = false, readOnly = !sandbox } = {}) {
  return { hostPath: `${ROOT}/${id}/${sandbox ? 'sandbox.vhdx' : 'layer.vhd'}`, containerPath: `/tmp/${id}`, readOnly, sandbox };
}

function manager({ globalMode = false, options = {}, env = {}, behaviour, usesScratch = false, dataRoot = ROOT, createScratch } = {}) {
  const backend = new FakeBackend({ behaviour, usesScratch });
  const m = new ServiceVmManager({ dataRoot, globalMode, options: new Map(Object.entries(options)), env, backend, createScratch });
  return { m, backend };
}

/** A promise and its resolver, to hold a fake step until the test lets it go. */
function gate() {
  let open;
  const promise = new Promise((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

test('safe mode: one VM per layer id, named <id>_svm, stopped by its last reference', async () => {
  const { m, backend } = manager();
  const a1 = await m.startServiceVmIfNotRunning('A', [disk('L')], 'get A');
  const a2 = await m.startServiceVmIfNotRunning('A', [disk('L')], 'get A');
  await m.startServiceVmIfNotRunning('B', [], 'get B');
  assert.equal(a1, a2);
  assert.deepEqual(backend.running().map((vm) => vm.name).sort(), ['A_svm', 'B_svm']);
  assert.equal(a1.attachedVhds.get(disk('L').hostPath).refCount, 2, 'the second start adds a disk reference, not a second attach');
  await m.terminateServiceVm('A', 'Put A', false);
  assert.ok(backend.vms.get('A_svm').running, 'one reference left');
  await m.terminateServiceVm('A', 'Put A', false);
  assert.equal(backend.vms.get('A_svm').running, false);
  assert.deepEqual(m.vmIds(), ['B']);
  await m.terminateServiceVm('A', 'Put A', false); // unknown: success
  assert.equal(backend.log.filter((line) => line === 'A_svm: terminate').length, 1);
});

test('global mode: every id shares _lcow_global_svm_, which only a forced terminate stops', async () => {
  const { m, backend } = manager({ globalMode: true });
  const a = await m.startServiceVmIfNotRunning('A', [disk('L')], 'get A');
  const b = await m.startServiceVmIfNotRunning('B', [disk('L')], 'get B');
  assert.equal(a, b);
  assert.deepEqual(m.vmIds(), [GLOBAL_VM_ID]);
  assert.deepEqual(backend.running().map((vm) => vm.name), [GLOBAL_VM_ID], 'named without the _svm suffix');
  await m.terminateServiceVm('A', 'Put A', false);
  await m.terminateServiceVm('B', 'Put B', false);
  await m.terminateServiceVm('B', 'Put B', false);
  assert.equal(backend.running().length, 1, 'reference drops never stop the global VM');
  await m.cleanup();
  assert.equal(backend.running().length, 0);
  assert.deepEqual(m.vmIds(), []);
});

test('forced terminate stops a VM whatever its reference count', async () => {
  const { m, backend } = manager();
  for (let i = 0; i < 3; i += 1) await m.startServiceVmIfNotRunning('A', [disk('L')], 'get A');
  await m.terminateServiceVm('A', 'Remove A', true);
  assert.equal(backend.running().length, 0);
  assert.deepEqual(m.vmIds(), []);
  await m.terminateServiceVm('A', 'Put A', false); // the remaining holders' drops are no-ops
});

test('a start waits for a stop in progress, then starts a new VM', async () => {
  const stopping = gate();
  const { m, backend } = manager({ behaviour: { terminateGate: () => stopping.promise } });
  const first = await m.startServiceVmIfNotRunning('A', [], 'get A');
  const stop = m.terminateServiceVm('A', 'Put A', false);
  await new Promise((resolve) => setImmediate(resolve));
  let started = false;
  const restart = m.startServiceVmIfNotRunning('A', [], 'get A').then((svm) => {
    started = true;
    return svm;
  });
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(started, false, 'the new start must wait for the stop signal');
  stopping.open();
  await stop;
  const second = await restart;
  assert.notEqual(second, first);
  assert.deepEqual(backend.log.filter((line) => / start /.test(line)).length, 2);
  assert.ok(backend.log.indexOf('A_svm: terminate') < backend.log.lastIndexOf('A_svm: start timeout=300'));
});

test('a stop error is delivered to the callers that waited for it', async () => {
  const stopping = gate();
  const { m } = manager({ behaviour: { terminateGate: () => stopping.promise, failTerminate: () => new Error('HCS says no') } });
  await m.startServiceVmIfNotRunning('A', [], 'get A');
  const stop = m.terminateServiceVm('A', 'Put A', false);
  await new Promise((resolve) => setImmediate(resolve));
  const waiter = m.startServiceVmIfNotRunning('A', [], 'get A');
  stopping.open();
  await assert.rejects(stop, { message: 'failed to terminate utility VM (Put A): HCS says no' });
  await assert.rejects(waiter, { message: 'failed to terminate utility VM (Put A): HCS says no' });
});

test('a start failure is delivered to every waiter, and the entry leaves the map', async () => {
  const starting = gate();
  const { m, backend } = manager({ behaviour: { startGate: () => starting.promise, failStart: () => new Error('no kernel') } });
  const callers = [1, 2, 3].map(() => m.startServiceVmIfNotRunning('A', [disk('L')], 'get A'));
  await new Promise((resolve) => setImmediate(resolve));
  starting.open();
  const results = await Promise.allSettled(callers);
  assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected', 'rejected']);
  assert.equal(results[0].reason.message, 'failed to start service utility VM (get A): no kernel');
  for (const r of results.slice(1)) {
    assert.equal(r.reason.message, 'lcowdriver: startServiceVMIfNotRunning A: failed to hot add vhds on service vm: failed to start service utility VM (get A): no kernel');
  }
  assert.deepEqual(m.vmIds(), [], 'no zombie entry');
  backend.behaviour.failStart = undefined;
  await m.startServiceVmIfNotRunning('A', [], 'get A');
  assert.equal(backend.running().length, 1);
});

test('global mode: a failed start is evicted instead of failing every later operation', async () => {
  let fail = true;
  const { m } = manager({ globalMode: true, behaviour: { failStart: () => (fail ? new Error('boom') : undefined) } });
  await assert.rejects(m.startServiceVmIfNotRunning('A', [], 'get A'), { message: 'failed to start service utility VM (get A): boom' });
  assert.deepEqual(m.vmIds(), []);
  fail = false;
  await m.startServiceVmIfNotRunning('B', [], 'get B');
});

test('timeouts: lcow.timeout, then OPENGCS_UVM_TIMEOUT_SECONDS, then 300', () => {
  const opts = (o) => new Map(Object.entries(o));
  assert.equal(uvmTimeoutSeconds(opts({}), {}), 300);
  assert.equal(uvmTimeoutSeconds(opts({}), { OPENGCS_UVM_TIMEOUT_SECONDS: '7' }), 7);
  assert.equal(uvmTimeoutSeconds(opts({ 'lcow.timeout': '9' }), { OPENGCS_UVM_TIMEOUT_SECONDS: '7' }), 9);
  assert.equal(uvmTimeoutSeconds(opts({ 'lcow.timeout': '0' }), { OPENGCS_UVM_TIMEOUT_SECONDS: '7' }), 7, '0 means "not set"');
  assert.equal(uvmTimeoutSeconds(opts({ 'lcow.timeout': '0' }), { OPENGCS_UVM_TIMEOUT_SECONDS: '0' }), 300);
  assert.throws(() => uvmTimeoutSeconds(opts({ 'lcow.timeout': 'ten' }), {}), { message: 'lcow.timeout option could not be interpreted as an integer' });
  assert.throws(() => uvmTimeoutSeconds(opts({ 'lcow.timeout': '-1' }), {}), { message: 'lcow.timeout option cannot be negative' });
  assert.throws(() => uvmTimeoutSeconds(opts({}), { OPENGCS_UVM_TIMEOUT_SECONDS: '1.5' }), { message: 'OPENGCS_UVM_TIMEOUT_SECONDS could not be interpreted as an integer' });
  assert.throws(() => uvmTimeoutSeconds(opts({}), { OPENGCS_UVM_TIMEOUT_SECONDS: '-3' }), { message: 'OPENGCS_UVM_TIMEOUT_SECONDS cannot be negative' });
});

test('timeouts reach the VM at start; a bad value fails the start with the reference text', async () => {
  const { m, backend } = manager({ env: { OPENGCS_UVM_TIMEOUT_SECONDS: '42' } });
  await m.startServiceVmIfNotRunning('A', [], 'get A');
  assert.ok(backend.log.includes('A_svm: start timeout=42'), backend.log.join('\n'));
  const bad = manager({ options: { 'lcow.timeout': 'x' } });
  await assert.rejects(bad.m.startServiceVmIfNotRunning('A', [], 'diff A'), {
    code: 'SVM_INVALID_OPTION',
    message: "lcowdriver: startServiceVMIfNotRunning A: failed to generate default gogcs configuration for global svm (diff A): lcow.timeout option could not be interpreted as an integer",
  });
  assert.deepEqual(bad.m.vmIds(), []);
});

test('a VM that does not exit in lcow.timeout seconds fails the terminate', async () => {
  const { m } = manager({ options: { 'lcow.timeout': '1' }, behaviour: { neverExits: () => true } });
  await m.startServiceVmIfNotRunning('A', [], 'get A');
  const began = Date.now();
  await assert.rejects(m.terminateServiceVm('A', 'Put A', false), {
    code: 'SVM_TIMEOUT',
    message: 'failed waiting for utility VM to terminate (Put A): timed out after 1 s',
  });
  const waited = Date.now() - began;
  assert.ok(waited >= 950 && waited < 5000, `waited ${waited} ms`);
  assert.deepEqual(m.vmIds(), [], 'the entry is gone even so');
});

test('terminate: "operation pending" counts as success, other failures are wrapped', async () => {
  const pending = Object.assign(new Error('HCS operation pending'), { hresult: HCS_OPERATION_PENDING });
  const { m } = manager({ behaviour: { failTerminate: () => pending } });
  await m.startServiceVmIfNotRunning('A', [], 'get A');
  await m.terminateServiceVm('A', 'Put A', false);
});

test('short paths /tmp/dN in attach order; counters are not reused', async () => {
  const { m, backend } = manager();
  const [C, I, L] = [disk('C', { sandbox: true }), disk('I', { sandbox: true, readOnly: true }), disk('L')];
  const svm = await m.startServiceVmIfNotRunning('C', [C, I, L], 'get C');
  assert.deepEqual([C, I, L].map((d) => m.shortPath(svm, d)), ['/tmp/d1', '/tmp/d2', '/tmp/d3']);
  assert.ok(backend.log.includes(`C_svm: start timeout=300 ${C.hostPath}@/tmp/d1 ${I.hostPath}@/tmp/d2:ro ${L.hostPath}@/tmp/d3:ro`), backend.log.join('\n'));
  await m.hotRemoveVhds(svm, [I]);
  assert.equal(m.shortPath(svm, I), '', 'not attached: no short path');
  await m.hotAddVhds(svm, [I]);
  assert.equal(m.shortPath(svm, I), '/tmp/d4');
  assert.equal(m.shortPath(svm, { ...disk('X'), containerPath: '' }), '');
});

test('scratch: copied from cache/scratch.vhdx at boot as /tmp/scratch, consuming the first counter', async () => {
  const dataRoot = tmpDir('lcow-svm-scratch-');
  fs.mkdirSync(path.join(dataRoot, 'cache'));
  fs.mkdirSync(path.join(dataRoot, 'scratch'));
  const created = [];
  const createScratch = async (file) => {
    created.push(file);
    fs.writeFileSync(file, 'empty ext4');
  };
  const { m, backend } = manager({ usesScratch: true, dataRoot, createScratch });
  const L = { ...disk('L'), hostPath: path.join(dataRoot, 'L', 'layer.vhd') };
  // No cache yet: the VM boots with the layer only, then the scratch is created, seeds the cache and is hot-added.
  const a = await m.startServiceVmIfNotRunning('A', [L], 'diff A');
  const scratchA = path.join(dataRoot, 'scratch', 'A.vhdx');
  assert.deepEqual(created, [scratchA]);
  assert.equal(fs.readFileSync(path.join(dataRoot, 'cache', 'scratch.vhdx'), 'utf8'), 'empty ext4');
  assert.equal(m.shortPath(a, L), '/tmp/d1');
  assert.equal(a.attachedVhds.get(scratchA).attachCounter, 2, 'the hot-added scratch consumes a counter');
  assert.ok(backend.log.includes(`A_svm: add ${scratchA} at /tmp/scratch`), backend.log.join('\n'));
  // With the cache: the scratch is a copy attached at boot, so the first layer gets /tmp/d2.
  const b = await m.startServiceVmIfNotRunning('B', [L], 'diff B');
  const scratchB = path.join(dataRoot, 'scratch', 'B.vhdx');
  assert.equal(created.length, 1, 'the cache is copied, not re-created');
  assert.ok(backend.log.includes(`B_svm: start timeout=300 ${scratchB}@/tmp/scratch ${L.hostPath}@/tmp/d2:ro`), backend.log.join('\n'));
  assert.equal(m.shortPath(b, L), '/tmp/d2');
  await m.terminateServiceVm('A', 'Put A', false);
  await m.terminateServiceVm('B', 'Put B', false);
  assert.equal(fs.existsSync(scratchA) || fs.existsSync(scratchB), false, 'scratch disks are deleted with their VM');
});

test('scratch creation failure fails the start with the reference text and stops the VM', async () => {
  const dataRoot = tmpDir('lcow-svm-scratch-');
  fs.mkdirSync(path.join(dataRoot, 'cache'));
  fs.mkdirSync(path.join(dataRoot, 'scratch'));
  const { m, backend } = manager({ usesScratch: true, dataRoot, createScratch: async () => { throw new Error('disk full'); } });
  await assert.rejects(m.startServiceVmIfNotRunning('A', [], 'get A'), { message: 'failed to create SVM scratch VHDX (get A): disk full' });
  assert.equal(backend.running().length, 0);
  assert.deepEqual(m.vmIds(), []);
});

test('a failing hot add rolls back the disks this call added, ref-count aware', async () => {
  const { m, backend } = manager({ behaviour: { failAddDisk: (d) => (d.hostPath.includes('/Z/') ? new Error('no free LUN') : undefined) } });
  const [X, Y, Z] = [disk('X'), disk('Y'), disk('Z')];
  const svm = await m.startServiceVmIfNotRunning('A', [X], 'get A');
  await assert.rejects(m.startServiceVmIfNotRunning('A', [X, Y, Z], 'get A'), {
    message: 'lcowdriver: startServiceVMIfNotRunning A: failed to hot add vhds on service vm: failed to modify utility VM configuration for hot-add: no free LUN',
  });
  assert.equal(svm.attachedVhds.get(X.hostPath).refCount, 1, 'X keeps the first caller\'s reference');
  assert.equal(svm.attachedVhds.has(Y.hostPath), false, 'Y is removed again');
  assert.equal(svm.attachedVhds.has(Z.hostPath), false);
  assert.ok(backend.log.includes(`A_svm: remove ${Y.hostPath}`));
  assert.ok(!backend.log.includes(`A_svm: remove ${X.hostPath}`));
  backend.behaviour.failAddDisk = undefined;
  await m.hotAddVhds(svm, [Z]);
  assert.equal(m.shortPath(svm, Z), '/tmp/d4', 'the failed attach used counter 3, which is not reused');
  assert.ok(backend.vms.get('A_svm').running, 'the failed caller dropped its VM reference, the first caller still holds one');
  await m.terminateServiceVm('A', 'Put A', false);
  assert.equal(backend.running().length, 0);
});

test('hot remove: unknown disks are skipped, shared ones decremented, failures reported after trying all', async () => {
  const { m, backend } = manager();
  const [X, Y] = [disk('X'), disk('Y')];
  const svm = await m.startServiceVmIfNotRunning('A', [X, Y], 'get A');
  await m.hotAddVhds(svm, [X]);
  await m.hotRemoveVhds(svm, [disk('never'), X]);
  assert.equal(svm.attachedVhds.get(X.hostPath).refCount, 1);
  const vm = backend.vms.get('A_svm');
  const removeDisk = vm.removeDisk.bind(vm);
  vm.removeDisk = async (hostPath) => {
    if (hostPath === X.hostPath) throw new Error('device busy');
    return removeDisk(hostPath);
  };
  await assert.rejects(m.hotRemoveVhds(svm, [X, Y]), { message: `failed modifying utility VM for hot-remove ${X.hostPath}: device busy` });
  assert.equal(svm.attachedVhds.has(X.hostPath), true, 'kept on failure');
  assert.equal(svm.attachedVhds.has(Y.hostPath), false, 'the loop went on');
});

test('union mounts: the mounts of §6.4, with ":" between lowers, shared by reference count', async () => {
  const { m, backend } = manager();
  const [C, I, L] = [disk('C', { sandbox: true }), disk('I', { sandbox: true, readOnly: true }), disk('L')];
  backend.diskDirectories(I.hostPath).add('/upper');
  const chain = [C, I, L];
  const svm = await m.startServiceVmIfNotRunning('C', chain, 'get C');
  assert.equal(unionMountName(chain), '/tmp/C-mount');
  await m.createUnionMount(svm, '/tmp/C-mount', chain);
  await m.createUnionMount(svm, '/tmp/C-mount', chain);
  const mounts = backend.log.filter((line) => line.includes('mount -t') || line.includes('mkdir'));
  assert.deepEqual(mounts, [
    'C_svm: mkdir -p /tmp/C-mount',
    'C_svm: mkdir -p /tmp/d1/upper',
    'C_svm: mkdir -p /tmp/d1/work',
    'C_svm: mount -t overlay overlay -olowerdir=/tmp/d2/upper:/tmp/d3,upperdir=/tmp/d1/upper,workdir=/tmp/d1/work /tmp/C-mount',
  ], 'one mount for two creates; the -init parent contributes its upper/');
  await m.deleteUnionMount(svm, '/tmp/C-mount');
  assert.ok(!backend.log.includes('C_svm: umount /tmp/C-mount'));
  await m.deleteUnionMount(svm, '/tmp/C-mount');
  assert.ok(backend.log.includes('C_svm: umount /tmp/C-mount'));
  await m.deleteUnionMount(svm, '/tmp/C-mount'); // absent: success
});

test('union mounts: read-only chains, single disks, and a sandbox parent that never had a view', async () => {
  const { m, backend } = manager();
  const [L2, L1] = [disk('L2'), disk('L1')];
  const svm = await m.startServiceVmIfNotRunning('L2', [L2, L1], 'get L2');
  await m.createUnionMount(svm, '/tmp/L2-mount', [L2, L1]);
  assert.ok(backend.log.includes('L2_svm: mount -t overlay overlay -olowerdir=/tmp/d1:/tmp/d2 /tmp/L2-mount'), backend.log.join('\n'));
  assert.equal(backend.vms.get('L2_svm').mounts.get('/tmp/L2-mount').upper, undefined, 'a read-only view');
  const S = disk('S', { sandbox: true });
  const s = await m.startServiceVmIfNotRunning('S', [S], 'get S');
  await m.createUnionMount(s, '/tmp/S-mount', [S]);
  assert.ok(backend.log.includes('S_svm: mount /tmp/d1 /tmp/S-mount'), 'FROM scratch: the disk itself');
  const [C, I] = [disk('C', { sandbox: true }), disk('I', { sandbox: true, readOnly: true })];
  const c = await m.startServiceVmIfNotRunning('C', [C, I, L1], 'get C');
  await m.createUnionMount(c, '/tmp/C-mount', [C, I, L1]);
  assert.ok(backend.log.includes('C_svm: mount -t overlay overlay -olowerdir=/tmp/d3,upperdir=/tmp/d1/upper,workdir=/tmp/d1/work /tmp/C-mount'), backend.log.join('\n'));
  await assert.rejects(m.createUnionMount(c, '/tmp/x', []), { message: 'createUnionMount: error must have at least 1 layer' });
});

test('union mount failure: "<command> failed (<stderr>): <err>"', async () => {
  const failure = Object.assign(new Error('exit status 255'), { stderr: 'mount: mounting overlay failed: Invalid argument\n' });
  const { m } = manager({ behaviour: { failMount: () => failure } });
  const L = disk('L');
  const svm = await m.startServiceVmIfNotRunning('L', [L, disk('B')], 'get L');
  await assert.rejects(m.createUnionMount(svm, '/tmp/L-mount', [L, disk('B')]), {
    message: 'mount -t overlay overlay -olowerdir=/tmp/d1:/tmp/d2 /tmp/L-mount failed (mount: mounting overlay failed: Invalid argument): exit status 255',
  });
  assert.equal(svm.unionMounts.size, 0);
});

test('a disk attached read-only is not reused for a read-write request', async () => {
  const { m } = manager({ globalMode: true });
  const I = disk('I', { sandbox: true });
  const svm = await m.startServiceVmIfNotRunning('C', [{ ...I, readOnly: true }], 'get C');
  await assert.rejects(m.startServiceVmIfNotRunning('I', [I], 'get I'), { code: 'SVM_DISK_READ_ONLY' });
  assert.equal(svm.attachedVhds.get(I.hostPath).refCount, 1);
});

test('lcow.backend: linux or hcs, by default the platform\'s own; hcs is refused off Windows', async () => {
  assert.equal(backendNameOf(new Map(), 'linux'), 'linux');
  assert.equal(backendNameOf(new Map(), 'win32'), 'hcs');
  assert.equal(backendNameOf(new Map([['lcow.backend', 'HCS']]), 'linux'), 'hcs');
  assert.throws(() => backendNameOf(new Map([['lcow.backend', 'qemu']])), {
    message: "lcowdriver: init: invalid value 'qemu' for 'lcow.backend' - must be 'linux' or 'hcs'",
  });
  await assert.rejects(UnionViews.open(tmpDir('lcow-svm-'), new Map([['lcow.backend', 'hcs']])), {
    code: 'SVM_BACKEND_UNAVAILABLE',
    message: /^lcowdriver: init: lcow\.backend=hcs: the HCS \(Hyper-V\) backend needs Windows \(this is linux\)/,
  });
  await assert.rejects(UnionViews.open(tmpDir('lcow-svm-'), new Map([['lcow.globalmode', 'yes']]), { backend: new FakeBackend() }), {
    message: "lcowdriver: init: failed to parse value for 'lcow.globalmode' - must be 'true' or 'false'",
  });
});

function layerDisk(root, id, readOnly) {
  return { folder: `${root}/${id}`, hostPath: `${root}/${id}/${readOnly ? 'layer.vhd' : 'sandbox.vhdx'}`, readOnly };
}

test('views: Get/Put pairs, a Put without our Get does nothing, Remove releases every Get', async () => {
  const backend = new FakeBackend();
  const ROOT = tmpDir('lcow-svm-views-');
  const views = await UnionViews.open(ROOT, new Map([['lcow.globalmode', 'true']]), { backend });
  const chainA = [layerDisk(ROOT, 'A', false), layerDisk(ROOT, 'L', true)];
  const chainB = [layerDisk(ROOT, 'B', false), layerDisk(ROOT, 'L', true)];
  assert.equal(await views.get('A', chainA), `/fake/${GLOBAL_VM_ID}/tmp/A-mount`);
  await views.get('A', chainA);
  await views.put('B', chainB); // never got: must not drop A's disk references
  const [vm] = backend.running();
  const svm = await views.manager.lookup('A');
  assert.equal(svm.attachedVhds.get(`${ROOT}/L/layer.vhd`).refCount, 2);
  await views.get('B', chainB);
  assert.equal(svm.attachedVhds.get(`${ROOT}/L/layer.vhd`).refCount, 3, 'the base layer is attached once in the global VM');
  await views.release('A');
  assert.deepEqual([...views.openViews()], [['B', 1]]);
  assert.equal(vm.mounts.has('/tmp/A-mount'), false);
  assert.equal(svm.attachedVhds.get(`${ROOT}/L/layer.vhd`).refCount, 1);
  await views.flush('B');
  assert.ok(backend.log.includes(`${GLOBAL_VM_ID}: sync -f /tmp/d3`), backend.log.join('\n'));
  await views.cleanup();
  assert.equal(backend.running().length, 0);
  await views.put('B'); // after Cleanup: nothing left to release
});

test('views: parents are attached read-only; a failed union mount releases the Get', async () => {
  const backend = new FakeBackend({ behaviour: { failMount: () => new Error('EINVAL') } });
  const ROOT = tmpDir('lcow-svm-views-');
  const views = await UnionViews.open(ROOT, new Map(), { backend });
  const chain = [layerDisk(ROOT, 'C', false), layerDisk(ROOT, 'I', false), layerDisk(ROOT, 'L', true)];
  await assert.rejects(views.get('C', chain), { message: /failed: EINVAL$/ });
  assert.ok(backend.log.includes(`C_svm: start timeout=300 ${ROOT}/C/sandbox.vhdx@/tmp/d1 ${ROOT}/I/sandbox.vhdx@/tmp/d2:ro ${ROOT}/L/layer.vhd@/tmp/d3:ro`), backend.log.join('\n'));
  assert.equal(backend.running().length, 0);
  assert.deepEqual(views.manager.vmIds(), []);
});
