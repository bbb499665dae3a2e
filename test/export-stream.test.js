// The export streams: it reads ahead only as far as its buffer (backpressure), and a consumer
// that stops early destroys it without an error and without reading the rest.

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { once } from 'node:events';

import { layerTar, layerFile } from '../dist/driver/export/layer-tar.js';
import { corpusDir, tmpDir } from './helpers/corpus.js';
import { applyDiff, openLayer } from './helpers/export-tar.js';

const work = tmpDir('lcow-export-stream-');
let layer;

before(async () => {
  layer = path.join(work, 'bigfile.vhd');
  await applyDiff(path.join(await corpusDir(), 'bigfile.tar'), layer);
});

async function pausedAfterFirstChunk(stream) {
  stream.once('data', () => stream.pause());
  stream.resume();
  await new Promise((r) => setTimeout(r, 200));
  return stream.readableLength;
}

for (const [what, make] of [
  ['diff', (view) => layerTar(view)],
  ['cat', (view) => layerFile(view, 'big/file')],
]) {
  test(`${what} of a 128 MiB file reads only what its consumer takes`, async (t) => {
    const view = openLayer(layer);
    t.after(() => view.reader.close());
    const stream = make(view);
    const buffered = await pausedAfterFirstChunk(stream);
    assert.ok(buffered <= stream.readableHighWaterMark + (1 << 20), `${buffered} bytes buffered ahead`);
    stream.destroy();
    await once(stream, 'close');
    assert.equal(stream.errored, null);
  });
}
