// The Windows host pieces that need no Windows: long-path spelling, the EXPLICIT_ACCESS
// entry GrantVmGroupAccess hands SetEntriesInAclW, and one-line refusals off Windows.
// The calls themselves run under Wine in windows-wine.test.js.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { longPath } from '../dist/host/win32/long-path.js';
import { vmGroupGrant, GENERIC_READ, VM_GROUP_SID } from '../dist/host/win32/explicit-access.js';
import { grantVmGroupAccess } from '../dist/host/win32/grant-vm-group-access.js';
import { hcsBackendFor } from '../dist/svm/hcs/platform.js';

test('long paths: \\\\?\\ prefixes, normalised first because the prefix turns Windows normalisation off', () => {
  assert.equal(longPath('C:\\docker\\lcow\\abc\\layer.vhd'), '\\\\?\\C:\\docker\\lcow\\abc\\layer.vhd');
  assert.equal(longPath('C:/docker/lcow/./x/../abc/layer.vhd'), '\\\\?\\C:\\docker\\lcow\\abc\\layer.vhd');
  assert.equal(longPath('\\\\server\\share\\lcow\\layer.vhd'), '\\\\?\\UNC\\server\\share\\lcow\\layer.vhd');
  assert.equal(longPath('\\\\?\\C:\\already'), '\\\\?\\C:\\already');
  assert.equal(longPath('\\\\.\\pipe\\x'), '\\\\.\\pipe\\x');
  const deep = `D:\\${'a'.repeat(200)}\\${'b'.repeat(200)}\\layer.vhd`;
  assert.equal(longPath(deep), `\\\\?\\${deep}`);
});

test('the grant entry: GENERIC_READ for S-1-5-83-0 as a well-known group, inherited only for directories', () => {
  const sid = { pointer: 1 };
  const file = vmGroupGrant(sid, false);
  assert.equal(VM_GROUP_SID, 'S-1-5-83-0');
  assert.deepEqual(file, {
    grfAccessPermissions: GENERIC_READ,
    grfAccessMode: 1,
    grfInheritance: 0,
    Trustee: { pMultipleTrustee: null, MultipleTrusteeOperation: 0, TrusteeForm: 0, TrusteeType: 5, ptstrName: sid },
  });
  assert.equal(GENERIC_READ, 0x80000000);
  assert.equal(vmGroupGrant(sid, true).grfInheritance, 3);
});

test('off Windows: the grant and the hcs backend refuse with one line', { skip: process.platform === 'win32' ? 'this is Windows' : false }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lcow-win-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'layer.vhd');
  writeFileSync(file, 'x');
  await assert.rejects(grantVmGroupAccess(file), { code: 'WIN32_UNAVAILABLE', message: /^kernel32\.dll does not load: / });
  await assert.rejects(grantVmGroupAccess(join(dir, 'missing.vhd'), { computecore: null }), { code: 'WIN32_GRANT_FAILED', message: /^GrantVmGroupAccess: os\.Stat .*missing\.vhd: ENOENT/ });
  assert.throws(() => hcsBackendFor(new Map()), { code: 'SVM_BACKEND_UNAVAILABLE', message: `lcowdriver: init: lcow.backend=hcs: the HCS (Hyper-V) backend needs Windows (this is ${process.platform}); use lcow.backend=linux here` });
});
