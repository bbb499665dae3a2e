// Running a command with its stderr (and optionally stdin) on a pseudo-terminal, through
// python3's pty module, to see what a person at a terminal sees (progress bars, hints).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

/**
 * Runs `argv` with stderr (and, for `stdin: 'pty'`, stdin) on a pseudo-terminal through
 * python3's pty module; sends `send` once `waitFor` has appeared. Returns the status and
 * what reached the terminal.
 */
export function onTerminal(argv, { stdin = 'pty', waitFor = null, send = '' } = {}) {
  const script = `
import json, os, pty, select, subprocess, sys, time
cfg = json.loads(sys.argv[1])
master, slave = pty.openpty()
stdin = slave if cfg['stdin'] == 'pty' else open(cfg['stdin'], 'rb')
p = subprocess.Popen(cfg['argv'], stdin=stdin, stdout=subprocess.DEVNULL, stderr=slave)
os.close(slave)
seen, sent, deadline = b'', False, time.time() + 60
while time.time() < deadline:
    r, _, _ = select.select([master], [], [], 0.1)
    if r:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    if cfg['waitFor'] and not sent and cfg['waitFor'].encode() in seen:
        os.write(master, cfg['send'].encode())
        sent = True
    if p.poll() is not None and not r:
        break
status = p.wait(timeout=60)
print(json.dumps({'status': status, 'tty': seen.decode('utf-8', 'replace')}))
`;
  const r = spawnSync('python3', ['-c', script, JSON.stringify({ argv, stdin, waitFor, send })], { encoding: 'utf8', timeout: 90_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}
