import assert from 'node:assert/strict';
import { logOf } from '../core/http-assert.ts';
import type { Harness } from './pombo-harness.ts';

/** Runs `act` (refused requests) and asserts that the instances' logs and the instance list did not change. */
export async function storesNothing(pombo: Harness, instances: readonly string[], act: () => Promise<void>): Promise<void> {
  const snapshot = async () => [...(await Promise.all(instances.map((name) => logOf(pombo, name)))), (await pombo.api('GET', '/instance/fetchInstances')).body];
  const before = await snapshot();
  await act();
  assert.deepEqual(await snapshot(), before, 'a refused request stores nothing');
}
