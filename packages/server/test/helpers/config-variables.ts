import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src', import.meta.url));

/** docs/configuration.md, the one place every variable is documented with its default. */
export const CONFIGURATION_DOC = readFileSync(new URL('../../../../docs/configuration.md', import.meta.url), 'utf8');

/** Every variable name the source reads literally through the EnvReader (`env.int('SERVER_PORT', …)`), with the file reading it. */
export function variablesRead(): Map<string, string> {
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

/** The rows of docs/configuration.md's tables: each documented name (`WEBHOOK_EVENTS_<EVENT>` included) with its default cell. */
export function documentedVariables(): Map<string, string> {
  const rows = new Map<string, string>();
  for (const line of CONFIGURATION_DOC.split('\n').filter((row) => row.startsWith('| `'))) {
    const [names = '', fallback = ''] = line.slice(1).split('|').map((cell) => cell.trim());
    for (const [, name] of names.matchAll(/`([A-Z][A-Z0-9_<>]*)`/g)) rows.set(name ?? '', fallback);
  }
  return rows;
}
