import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import jsqr from 'jsqr';
import { PNG } from 'pngjs';
import { startPombo, uniqueName, type Harness } from '../helpers/pombo-harness.ts';
import { logOf } from './http-assert.ts';

let pombo: Harness;
before(async () => {
  pombo = await startPombo();
});
after(async () => {
  await pombo.close();
});

// jsqr is CommonJS with an ES `default` member: under NodeNext the default import is the module object.
const jsQR = jsqr.default;

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Checks the data URI is a square PNG and reads the QR code drawn in it back to its text. */
function decode(dataUri: string): string {
  const match = /^data:image\/png;base64,([A-Za-z0-9+/]+={0,2})$/.exec(dataUri);
  assert.ok(match, `a PNG data URI: ${dataUri.slice(0, 40)}…`);
  const bytes = Buffer.from(match[1] ?? '', 'base64');
  assert.deepEqual(bytes.subarray(0, 8), PNG_SIGNATURE, 'starts with the PNG signature');
  assert.equal(bytes.subarray(12, 16).toString('latin1'), 'IHDR');
  const width = bytes.readUInt32BE(16);
  const height = bytes.readUInt32BE(20);
  assert.equal(width, height, 'a QR code is square');
  // Version 1 at scale 4 with margin 3 is (21 + 6) * 4 = 108 pixels; a 51-character code needs more modules.
  assert.ok(width >= 108 && width <= 1000, `a scannable size: ${width} px`);
  const image = PNG.sync.read(bytes);
  assert.equal(image.width, width);
  const read = jsQR(new Uint8ClampedArray(image.data), image.width, image.height);
  assert.ok(read, 'a QR decoder finds a code in the image');
  return read.data;
}

test('the QR code is a real PNG that decodes back to `code`, in the answer and in QRCODE_UPDATED', async () => {
  const name = uniqueName('qr');
  const created = await pombo.api('POST', '/instance/create', { instanceName: name, qrcode: true });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const { code, base64 } = created.body.qrcode;
  assert.match(code, /^2@[A-Za-z0-9+/]+=*$/);
  assert.equal(decode(base64), code);

  const [qrEvent] = (await logOf(pombo, name)).filter((e) => e.event === 'qrcode.updated');
  assert.equal(qrEvent.data.qrcode.instance, name);
  assert.equal(qrEvent.data.qrcode.code, code);
  assert.equal(qrEvent.data.qrcode.base64, base64);

  const again = await pombo.api('GET', `/instance/connect/${name}`);
  assert.equal(again.status, 200);
  assert.notEqual(again.body.code, code, 'every connect shows a fresh code');
  assert.equal(decode(again.body.base64), again.body.code);
});
