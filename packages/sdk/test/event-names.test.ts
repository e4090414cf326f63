import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { EVENT_ALIASES, EVENT_FILTER_NAMES, EVENT_KEYS, EVENT_TYPES, LIFECYCLE_EVENTS, OTHER_EVENT_TYPES, PomboOptionError } from '../src/index.ts';
import { EVENT_ALIASES as SERVER_EVENT_ALIASES, EVENT_KEYS as SERVER_EVENT_KEYS } from '../../server/src/core/event-names.ts';
import { withPombo } from './sdk-fixtures.ts';

const TEST_DIR = fileURLToPath(new URL('.', import.meta.url));
const SDK_INDEX = fileURLToPath(new URL('../src/index.ts', import.meta.url));

/** A user's file: a subscription with `events` and handler lines (`sub.on(…)`). */
const usage = (events: readonly string[], lines: string[] = []): string => `import { PomboClient } from ${JSON.stringify(SDK_INDEX)};
const client = new PomboClient({ baseUrl: 'http://localhost:8080', apiKey: process.env.POMBO_API_KEY });
export async function main(): Promise<void> {
  const sub = await client.events.subscribe({ instanceId: 'alice', events: ${JSON.stringify(events)} });
  ${lines.join('\n  ')}
  await sub.close();
}
`;

/** Type-checks each file as the SDK's own tests are (packages/sdk/tsconfig.json); the errors of each, by name. */
function typeErrors(files: Record<string, string>): Record<string, string[]> {
  const dir = mkdtempSync(join(TEST_DIR, '.typecheck-'));
  try {
    const paths = Object.fromEntries(Object.entries(files).map(([name, text]) => [name, join(dir, `${name}.ts`)]));
    for (const [name, text] of Object.entries(files)) writeFileSync(paths[name] as string, text);
    const config = ts.getParsedCommandLineOfConfigFile(join(TEST_DIR, '..', 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined });
    const program = ts.createProgram(Object.values(paths), config?.options ?? {});
    return Object.fromEntries(
      Object.entries(paths).map(([name, path]) => [name, ts.getPreEmitDiagnostics(program, program.getSourceFile(path)).map((d) => ts.flattenDiagnosticMessageText(d.messageText, ' '))]),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('TypeScript accepts every documented events name and handler name without a cast, and refuses Gap as a filter and misspelt names', () => {
  const handlerNames = [...EVENT_TYPES, ...OTHER_EVENT_TYPES, 'All'];
  const errors = typeErrors({
    everyName: usage(EVENT_FILTER_NAMES, [
      ...handlerNames.map((name) => `sub.on(${JSON.stringify(name)}, (evt) => evt.id);`),
      `sub.on('Gap', (evt) => evt.data);`,
      `sub.on('error', (error, evt) => error.message + evt?.id);`,
      `sub.on('open', () => undefined);`,
      `sub.on('close', (error) => error?.message);`,
      ...[...handlerNames, 'error', ...LIFECYCLE_EVENTS].map((name) => `sub.off(${JSON.stringify(name)}, () => undefined);`),
    ]),
    contract: usage(['Message', 'Connected']),
    gapFilter: usage(['Message', 'Gap']),
    lowerCaseType: usage(['message']),
    misspeltKey: usage(['MESSAGE_UPSERT']),
    misspeltDotted: usage(['messages.upserted']),
    unknownHandler: usage([], [`sub.on('message', () => undefined);`]),
    unknownLifecycle: usage([], [`sub.on('connect', () => undefined);`]),
    unknownOff: usage([], [`sub.off('message', () => undefined);`]),
  });
  assert.deepEqual(errors.everyName, [], 'every documented name');
  assert.deepEqual(errors.contract, [], "the VZaps contract's example");
  for (const [name, wrong] of Object.entries({ gapFilter: 'Gap', lowerCaseType: 'message', misspeltKey: 'MESSAGE_UPSERT', misspeltDotted: 'messages.upserted', unknownHandler: 'message', unknownLifecycle: 'connect', unknownOff: 'message' })) {
    assert.ok(errors[name]?.some((message) => message.includes(`"${wrong}"`)), `${name}: ${JSON.stringify(errors[name])}`);
  }
});

test('Pombo accepts every name of EVENT_FILTER_NAMES as a filter; Gap as a filter is refused by subscribe() itself, saying why', async () => {
  await withPombo({}, async (_pombo, client, name) => {
    const sub = await client.events.subscribe({ instanceId: name, events: EVENT_FILTER_NAMES.filter((filter) => filter !== 'All'), maxRetries: 0 });
    await sub.close();
    await assert.rejects(
      client.events.subscribe({ instanceId: name, events: ['Message', 'Gap'] as never, maxRetries: 0 }),
      (error: unknown) => error instanceof PomboOptionError && error.option === 'subscribe.events' && /every subscription gets the Gap events/.test(error.message),
    );
  });
});

test("EVENT_KEYS are the server's event keys, no more, no fewer (a new event is typed as soon as Pombo has it)", () => {
  assert.deepEqual([...EVENT_KEYS].sort(), [...SERVER_EVENT_KEYS].sort());
  assert.deepEqual(EVENT_ALIASES, SERVER_EVENT_ALIASES.map((entry) => entry.alias));
});
