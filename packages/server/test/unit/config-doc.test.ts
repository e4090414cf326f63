import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src', import.meta.url));
const DOC = readFileSync(new URL('../../../../docs/configuration.md', import.meta.url), 'utf8');

/** Every variable name the source reads literally through the EnvReader (`env.int('SERVER_PORT', …)`). */
function variablesRead(): Map<string, string> {
  const found = new Map<string, string>();
  const files = readdirSync(SRC, { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.ts'));
  for (const file of files) {
    const text = readFileSync(join(SRC, file), 'utf8');
    for (const match of text.matchAll(/\b(?:env|reader)\.(?:str|int|num|bool|list|url|oneOf|has|raw)\(\s*'([A-Z][A-Z0-9_]*)'/g)) {
      found.set(match[1] ?? '', file);
    }
  }
  return found;
}

test('the source reads the core variables through the EnvReader (the scan below sees them)', () => {
  const read = variablesRead();
  for (const name of ['SERVER_PORT', 'AUTHENTICATION_API_KEY', 'DATABASE_PROVIDER', 'EVENTS_RETENTION_HOURS', 'LOG_LEVEL']) assert.ok(read.has(name), name);
});

test('docs/configuration.md documents every variable Pombo reads', () => {
  const missing = [...variablesRead()].filter(([name]) => !DOC.includes(`\`${name}\``)).map(([name, file]) => `${name} (read in ${file})`);
  assert.deepEqual(missing, [], 'add these to docs/configuration.md with their default');
});
