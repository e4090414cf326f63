import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONFIGURATION_DOC as DOC, variablesRead } from '../helpers/config-variables.ts';

test('the source reads the core variables through the EnvReader (the scan below sees them)', () => {
  const read = variablesRead();
  for (const name of ['SERVER_PORT', 'AUTHENTICATION_API_KEY', 'DATABASE_PROVIDER', 'EVENTS_RETENTION_HOURS', 'LOG_LEVEL']) assert.ok(read.has(name), name);
});

test('docs/configuration.md documents every variable Pombo reads', () => {
  const missing = [...variablesRead()].filter(([name]) => !DOC.includes(`\`${name}\``)).map(([name, file]) => `${name} (read in ${file})`);
  assert.deepEqual(missing, [], 'add these to docs/configuration.md with their default');
});
