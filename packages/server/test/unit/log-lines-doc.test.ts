import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * docs/manager.md lists the log lines an operator sees at `info` and above: every message the source
 * logs at info, warn, error or fatal is in its table, so a new line cannot be added without saying
 * what it means. A message built at run time is listed by its fixed beginning (`socket.io client
 * joined, but …`); one passed in a variable is listed by hand and named in VARIABLE_MESSAGES.
 */
const SRC = fileURLToPath(new URL('../../src', import.meta.url));
const MANAGER_DOC = readFileSync(new URL('../../../../docs/manager.md', import.meta.url), 'utf8');
const LOGS_SECTION = MANAGER_DOC.slice(MANAGER_DOC.indexOf('## Logs'), MANAGER_DOC.indexOf('## Stopping'));

/** Calls whose message is a variable, and the text docs/manager.md gives for each. */
const VARIABLE_MESSAGES = [
  'the driver could not start', // driver-thread-main.ts: `${driver}: the driver could not start: …`
  'could not save delivery state at stop', // ledger-writer.ts: `message`
  'cluster: leases not renewed in time', // cluster-node.ts: dropAll(reason)
  'boot warnings', // pombo.ts: each configuration warning
];

/** The text of a call from its opening parenthesis to the matching closing one (strings skipped). */
function callText(source: string, open: number): string {
  let depth = 0;
  for (let i = open; i < source.length; i++) {
    const c = source[i];
    if (c === "'" || c === '"' || c === '`') {
      for (i++; i < source.length && source[i] !== c; i++) if (source[i] === '\\') i++;
    } else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return source.slice(open + 1, i);
  }
  return source.slice(open + 1);
}

/** The call's last argument (after its last top-level comma). */
function lastArgument(args: string): string {
  let depth = 0;
  let start = 0;
  for (let i = 0; i < args.length; i++) {
    const c = args[i];
    if (c === "'" || c === '"' || c === '`') {
      for (i++; i < args.length && args[i] !== c; i++) if (args[i] === '\\') i++;
    } else if ('({['.includes(c ?? '')) depth++;
    else if (')}]'.includes(c ?? '')) depth--;
    else if (c === ',' && depth === 0 && args.slice(i + 1).trim()) start = i + 1;
  }
  return args.slice(start).trim().replace(/,$/, '');
}

/** The messages logged at info and above: the string literals of each call's last argument (a template's fixed beginning). */
function loggedMessages(): Array<{ file: string; message: string }> {
  const files = readdirSync(SRC, { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.ts'));
  const found: Array<{ file: string; message: string }> = [];
  for (const file of files) {
    const source = readFileSync(join(SRC, file), 'utf8');
    for (const match of source.matchAll(/\blog\??\.(?:info|warn|error|fatal)\(/g)) {
      const last = lastArgument(callText(source, (match.index ?? 0) + match[0].length - 1));
      for (const literal of last.matchAll(/'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|`([^`$]*)/g)) {
        const message = (literal[1] ?? literal[2] ?? literal[3] ?? '').replace(/\\'/g, "'").trim();
        if (message) found.push({ file, message });
      }
    }
  }
  return found;
}

test('docs/manager.md lists every message logged at info and above', () => {
  const messages = loggedMessages();
  assert.ok(messages.length > 40, `the scan finds the logger calls (${messages.length})`);
  const missing = messages.filter(({ message }) => !LOGS_SECTION.includes(message)).map(({ file, message }) => `${file}: ${message}`);
  assert.deepEqual(missing, [], 'add these to the table in docs/manager.md#logs');
  for (const text of VARIABLE_MESSAGES) assert.ok(LOGS_SECTION.includes(text), `docs/manager.md#logs describes "${text}"`);
});

test('the scan reads a message out of a call over several lines, a template and a conditional', () => {
  const source = "log.info(\n  { a: 'not this', b: f(1, 2) },\n  ok ? 'first' : `second ${x} tail`,\n);";
  const last = lastArgument(callText(source, source.indexOf('(')));
  assert.equal(last, "ok ? 'first' : `second ${x} tail`");
});
