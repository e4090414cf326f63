import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { InTurn } from '../../src/core/in-turn.ts';

test('tasks run one at a time in the order handed over; a failure answers its caller and the next still runs; idle waits for all', async () => {
  const turns = new InTurn();
  const log: string[] = [];
  const task = (name: string, ms: number, fail = false) => async () => {
    log.push(`start ${name}`);
    await sleep(ms);
    log.push(`end ${name}`);
    if (fail) throw new Error(name);
    return name;
  };
  const a = turns.run(task('a', 20));
  const b = turns.run(task('b', 1, true));
  const c = turns.run(task('c', 5));
  const idle = turns.idle().then(() => log.push('idle'));
  assert.equal(await a, 'a');
  await assert.rejects(b, /b/);
  assert.equal(await c, 'c');
  await idle;
  assert.deepEqual(log, ['start a', 'end a', 'start b', 'end b', 'start c', 'end c', 'idle']);
  await turns.idle();
});
