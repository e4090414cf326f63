import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { EVENTS_DOC, eventsDoc } from '../../../../scripts/gen-events-doc.ts';
import { EVENT_NAMES } from '../../src/core/event-names.ts';

test('docs/events.md is what scripts/gen-events-doc.ts generates from the event names table', () => {
  const doc = readFileSync(EVENTS_DOC, 'utf8');
  assert.equal(doc, eventsDoc(), 'docs/events.md is stale: run `node --import tsx scripts/gen-events-doc.ts`');
});

test('the generated table has one row per event, with every wire form', () => {
  const doc = eventsDoc();
  for (const name of EVENT_NAMES) {
    assert.ok(doc.includes(`| \`${name.key}\` | \`${name.dotted}\` | \`${name.kebab}\` |`), name.key);
  }
});
