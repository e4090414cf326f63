import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { EVENT_ALIASES, EVENT_FILTER_NAMES, EVENT_KEYS, EVENT_TYPES, LIFECYCLE_EVENTS, OTHER_EVENT_TYPES, PomboOptionError, PomboRealtimeError } from '../src/index.ts';
import { EVENT_ALIASES as SERVER_EVENT_ALIASES, EVENT_KEYS as SERVER_EVENT_KEYS } from '../../server/src/core/event-names.ts';
import { withPombo } from './sdk-fixtures.ts';

const TEST_DIR = fileURLToPath(new URL('.', import.meta.url));
const SDK_INDEX = fileURLToPath(new URL('../src/index.ts', import.meta.url));

/** A user's file: a subscription with `events` (its source: a literal list, or a variable) and handler lines (`sub.on(…)`). */
const usage = (events: readonly string[] | string, lines: string[] = []): string => `import { PomboClient, type PomboEvent } from ${JSON.stringify(SDK_INDEX)};
const client = new PomboClient({ baseUrl: 'http://localhost:8080', apiKey: process.env.POMBO_API_KEY });
export const fromConfig: string[] = (process.env.POMBO_EVENTS ?? '').split(',');
export type Received = PomboEvent;
export async function main(): Promise<void> {
  const sub = await client.events.subscribe({ instanceId: 'alice', events: ${typeof events === 'string' ? events : JSON.stringify(events)} });
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

test('TypeScript accepts every documented name, and any string (a string[] read from configuration, the spellings the server also accepts) as events and handler names; the handlers of error, open, close and events keep their types', () => {
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
    fromConfig: usage('fromConfig', ['for (const name of fromConfig) sub.on(name, (evt) => evt.id).off(name, () => undefined);']),
    otherSpellings: usage(['messages_upsert', 'group_update', 'message']),
    errorHandler: usage([], [`sub.on('error', (error) => error.id);`]),
    closeHandler: usage([], [`sub.on('close', (error) => error.id);`]),
    eventHandler: usage([], [`sub.on('Message', (evt) => evt.message);`]),
    typedErrorHandler: usage([], [`sub.on('error', (evt: PomboEvent) => evt.id);`]),
    typedCloseHandler: usage([], [`sub.on('close', async (evt: PomboEvent) => evt.id);`]),
  });
  for (const name of ['everyName', 'contract', 'fromConfig', 'otherSpellings']) assert.deepEqual(errors[name], [], name);
  assert.deepEqual(errors.errorHandler, ["Property 'id' does not exist on type 'Error'."]);
  assert.deepEqual(errors.closeHandler, ["'error' is possibly 'undefined'.", "Property 'id' does not exist on type 'Error'."]);
  assert.deepEqual(errors.eventHandler, ["Property 'message' does not exist on type 'PomboEvent<any>'."]);
  // An event handler given to error or close (typed by hand) is refused, not taken by the any-string signature.
  assert.equal(errors.typedErrorHandler?.length, 1, `error with an event handler: ${errors.typedErrorHandler}`);
  assert.equal(errors.typedCloseHandler?.length, 1, `close with an event handler: ${errors.typedCloseHandler}`);
});

test('Pombo accepts every name of EVENT_FILTER_NAMES as a filter; Gap as a filter is refused by subscribe() itself, saying why', async () => {
  await withPombo({}, async (_pombo, client, name) => {
    const sub = await client.events.subscribe({ instanceId: name, events: EVENT_FILTER_NAMES.filter((filter) => filter !== 'All'), maxRetries: 0 });
    await sub.close();
    await assert.rejects(
      client.events.subscribe({ instanceId: name, events: ['Message', 'Gap'], maxRetries: 0 }),
      (error: unknown) => error instanceof PomboOptionError && error.option === 'subscribe.events' && /every subscription gets the Gap events/.test(error.message),
    );
  });
});

test('an events name the server does not know, typed as any string, rejects subscribe() naming it; the other spellings it accepts subscribe', async () => {
  await withPombo({}, async (_pombo, client, name) => {
    const fromConfig: string[] = 'messages_upsert,group_update, Message '.split(',');
    const sub = await client.events.subscribe({ instanceId: name, events: fromConfig, maxRetries: 0 });
    await sub.close();
    for (const unknown of ['MESSAGE_UPSERT', 'message', 'Messages.Upsert']) {
      await assert.rejects(client.events.subscribe({ instanceId: name, events: ['Message', unknown], maxRetries: 0 }), (error: unknown) => {
        assert.ok(error instanceof PomboRealtimeError, String(error));
        assert.equal(error.status, 400);
        assert.match(error.message, new RegExp(`Unknown event "${unknown}": use one of the names in docs/events.md`));
        return true;
      });
    }
  });
});

test("EVENT_KEYS are the server's event keys, no more, no fewer (a new event is typed as soon as Pombo has it)", () => {
  assert.deepEqual([...EVENT_KEYS].sort(), [...SERVER_EVENT_KEYS].sort());
  assert.deepEqual(EVENT_ALIASES, SERVER_EVENT_ALIASES.map((entry) => entry.alias));
});
