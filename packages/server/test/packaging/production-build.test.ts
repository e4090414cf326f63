import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { COMPILED_MAIN, freePort, spawnPombo } from '../helpers/child-pombo.ts';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

test('npm run build:server compiles the server to JavaScript that plain node starts (no tsx) and that answers GET /', { timeout: 240_000 }, async () => {
  await promisify(execFile)('npm', ['run', 'build:server'], { cwd: ROOT, timeout: 200_000 });
  assert.ok(existsSync(COMPILED_MAIN), COMPILED_MAIN);
  assert.doesNotMatch(readFileSync(COMPILED_MAIN, 'utf8'), /from ['"][^'"]+\.ts['"]/, 'relative imports point at .js files');
  const cwd = mkdtempSync(join(tmpdir(), 'pombo-compiled-'));
  const pombo = await spawnPombo({ SERVER_HOST: '127.0.0.1' }, await freePort(), { cwd, cleanEnv: true, compiled: true });
  try {
    const response = await fetch(`${pombo.url}/`);
    assert.equal(response.status, 200);
    const body = (await response.json()) as { version?: string; documentation?: string };
    assert.equal(new URL(body.documentation ?? '').pathname, '/docs', 'GET / points at the reference this server serves');
    assert.equal((await fetch(`${pombo.url}/docs`)).status, 200);
    const asset = await fetch(`${pombo.url}/manager/assets/manager.css`);
    assert.equal(asset.status, 200, 'files the sources read at run time (the manager\'s assets) are copied next to the compiled modules');
    assert.equal(body.version, JSON.parse(readFileSync(join(ROOT, 'packages/server/package.json'), 'utf8')).version);
    assert.match(pombo.stdout(), /A global API key was generated/, 'a first start with no configuration prints its key');
    const key = readFileSync(join(cwd, 'data', 'api-key'), 'utf8').trim();
    const created = await fetch(`${pombo.url}/instance/create`, {
      method: 'POST',
      headers: { apikey: key, 'content-type': 'application/json' },
      body: JSON.stringify({ instanceName: 'compiled', qrcode: true }),
    });
    assert.equal(created.status, 201, await created.text());
  } finally {
    await pombo.kill();
    rmSync(cwd, { recursive: true, force: true });
  }
});
